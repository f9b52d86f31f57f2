"""The fine-tuning study (``ecn reproduce finetune``): a paired queue (the two arms differ only in
where the weights start), claims that let two processes share it, nested training subsets, and a
table written from run records whatever they show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ecn.experiments.finetune_study import (
    PEROV5_SIZES,
    StudyRun,
    _write,
    claim,
    study_config,
    study_runs,
)
from ecn.inference.pretrained import pretrained_path
from ecn.train.data import train_subset
from ecn.train.finetune import portable_path


def test_queue_is_paired_seed_major_and_complete() -> None:
    runs = study_runs()
    names = [r.name for r in runs]
    assert len(names) == len(set(names))
    small = [s for s in PEROV5_SIZES if s is not None]
    assert len(runs) == 2 * (3 * len(small) + 1) + 2  # + MP band gap
    # every (data, size, seed) has both arms, one after the other
    for a, b in zip(runs[::2], runs[1::2], strict=True):
        assert (a.dataset, a.size, a.seed) == (b.dataset, b.size, b.seed)
        assert (a.arm, b.arm) == ("scratch", "finetuned")
    # seed-major: every size has its seed 0 before any seed 1
    first_seed1 = next(i for i, r in enumerate(runs) if r.seed == 1)
    assert {r.size for r in runs[:first_seed1]} == set(PEROV5_SIZES)
    assert all(r.seed == 0 for r in runs if r.size is None)


def test_arms_differ_only_in_where_the_weights_start(tmp_path: Path) -> None:
    if not pretrained_path("mp-e_form").is_file():
        pytest.skip("mp-e_form is not shipped in this checkout")
    cfgs = {
        arm: study_config(StudyRun("perov5", "heat_all", 300, arm, 2), "mp-e_form", tmp_path, 5)
        for arm in ("scratch", "finetuned")
    }
    a, b = (cfgs[k] for k in ("scratch", "finetuned"))
    assert a.model == b.model and a.graph == b.graph and a.optim == b.optim and a.data == b.data
    assert a.data.train_size == 300 and a.data.subset_seed == 2 and a.run.seed == 2
    assert a.graph["strategy"] == "voronoi_radii"  # the source's graph, not Perov-5's default
    assert a.finetune.init_from is None and b.finetune.init_from == "mp-e_form"
    assert b.finetune.head == "auto"


class _Store:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def subset(self, keep: np.ndarray) -> np.ndarray:
        return keep


def test_train_size_subsets_are_nested_and_exact() -> None:
    s100, s300 = (train_subset(_Store(3890), None, 7, size) for size in (100, 300))
    assert len(s100) == 100 and len(s300) == 300
    assert set(s100) <= set(s300)
    assert set(train_subset(_Store(3890), None, 8, 100)) != set(s100)  # the seed picks it
    assert len(train_subset(_Store(50), None, 0, 100)) == 50


def test_claims_keep_two_processes_apart(tmp_path: Path) -> None:
    out = tmp_path / "run"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        out.mkdir()
        (out / ".claim").write_text(str(other.pid))
        assert not claim(out)  # a live process holds it
    finally:
        other.kill()
        other.wait()
    assert claim(out)  # its process is gone: taken over
    assert (out / ".claim").read_text() == str(__import__("os").getpid())
    assert claim(out)  # this process's own claim


def test_shipped_sources_are_recorded_without_this_machines_paths() -> None:
    if not pretrained_path("mp-e_form").is_file():
        pytest.skip("mp-e_form is not shipped in this checkout")
    assert portable_path(pretrained_path("mp-e_form")) == "ecn:pretrained/mp-e_form.pt"


def _record(name: str, mae: float, n: int, init: bool) -> SimpleNamespace:
    results = SimpleNamespace(
        metric=lambda split, metric, v=mae: v,
        epochs_run=50,
        best_epoch=25,
        stopped_by="early_stopping",
        train_time_s=360.0,
        split_sizes={"train": n},
        units=["eV/cell"],
        dataset="perov5",
        source_note="Perov-5 assembled (perov_5/)",
        graph_settings={"strategy": "voronoi_radii"},
        init_from={"name": "mp-e_form", "sha256": "ab" * 32} if init else None,
    )
    config = SimpleNamespace(model=SimpleNamespace(name="ecn", options={"group": "slambda"}))
    return SimpleNamespace(results=results, config=config, threads=1, path=Path(name))


def test_table_is_written_from_the_records(tmp_path: Path) -> None:
    cells = {
        ("perov5", "heat_all", None, "scratch"): [_record("a", 0.09, 3890, False)],
        ("perov5", "heat_all", 100, "scratch"): [
            _record(f"s{k}", v, 100, False) for k, v in enumerate((0.40, 0.44, 0.48))
        ],
        ("perov5", "heat_all", 100, "finetuned"): [
            _record(f"f{k}", v, 100, True) for k, v in enumerate((0.20, 0.22, 0.24))
        ],
    }
    payload = _write(cells, ["perov5_heat_all_nall_finetuned_seed0"], "mp-e_form", tmp_path)
    rows = payload["rows"]
    assert [r["train_n"] for r in rows] == [100, 3890]  # ordered by size
    assert rows[0]["ratio"] == pytest.approx(0.22 / 0.44)
    assert "ratio" not in rows[1]
    assert payload["source_sha256"] == "ab" * 32
    md = (tmp_path / "finetune.md").read_text()
    assert "0.4400 ± 0.0400" in md and "0.2200 ± 0.0200" in md and "| 0.50 |" in md
    assert "Pending (1 runs" in md and "Perov-5 assembled" in md
    assert (tmp_path / "finetune.png").stat().st_size > 0
    assert json.loads((tmp_path / "finetune.json").read_text())["pending"]
