"""``ecn bench predict`` on a few real MP CIFs: the files it writes, and the in-process stage
measurements it reports (no timing asserted: speed lives in results/bench/predict.json)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecn.bench.predict import MP_FILE, _in_process, write_mp_cifs
from ecn.settings import data_dir


@pytest.fixture(scope="module")
def mp_cifs(tmp_path_factory) -> list[Path]:
    if not (data_dir() / MP_FILE).is_file():
        pytest.skip(f"MP data file absent: {data_dir() / MP_FILE}")
    return write_mp_cifs(tmp_path_factory.mktemp("mp"), 6)


def test_write_mp_cifs_spreads_over_the_file(mp_cifs: list[Path]):
    assert len(mp_cifs) == 6 and len({p.name for p in mp_cifs}) == 6
    assert all(p.read_text().lstrip().startswith(("#", "data_")) for p in mp_cifs)
    assert mp_cifs[0].stem == "mp-1"  # row 0, then every 36737 // 6 rows, not the first six
    assert mp_cifs[1].stem != "mp-10"


def test_in_process_stages(mp_cifs: list[Path]):
    r = _in_process("mp-e_form", mp_cifs, batch_size=4)
    assert r["errors"] == 0
    assert set(r["stages_s"]) == {"parse", "graph_records", "model"}
    total = sum(r["stages_s"].values())
    assert r["pipeline_per_core_per_s"] == pytest.approx(6 / total, rel=0.05)
    assert r["pymatgen_parse_per_s"] > 0 and r["ratio_pipeline_per_core_to_pymatgen_parse"] > 0
