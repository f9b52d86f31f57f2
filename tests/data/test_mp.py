"""The `mp` dataset: readers (CSV, summary-doc dump, mp-api replay), targets, curation, splits."""

from __future__ import annotations

import gzip
import json
import math
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecn.data import mp
from ecn.data.checksums import ChecksumError
from ecn.settings import data_dir

FIXTURE = Path(__file__).parent / "fixtures" / "mp_summary_docs.json"
CSV = data_dir() / mp.MP_CSV
needs_csv = pytest.mark.skipif(not CSV.is_file(), reason="mp_cgcnn_36k CSV not available")
# the paper's MP id lists live in the data directory too (a fresh clone without data has none)
IDS = data_dir() / "kaba_mp_v2021_05_split_ids"
needs_ids = pytest.mark.skipif(
    not IDS.is_dir(), reason=f"the paper's MP id lists are not available ({IDS} absent)"
)


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ECN_CACHE_DIR", str(tmp_path / "cache"))


# --- readers ----------------------------------------------------------------------------------


@needs_csv
def test_csv_reader_real_rows_and_string_none():
    src = mp.read_cgcnn_csv(limit=1470)  # row 1462 (mp-10810) has efermi == "None"
    f = src.frame
    assert list(f.columns) == ["id", *mp.RAW_TARGETS, "structure"]
    assert f["id"].iloc[0] == "mp-1" and f["structure"].iloc[0].startswith("# generated")
    row = f.set_index("id").loc["mp-10810"]
    assert math.isnan(row["efermi"]) and row["formation_energy_per_atom"] == pytest.approx(
        -2.8587, abs=1e-4
    )
    assert f["efermi"].isna().sum() == 1
    assert src.sha256 == "3ef92c8d1313bb55d0a08af49295150dfe7c4451594079fb1e2b072f3a339cbe"


def test_csv_checksum_mismatch_is_an_error(tmp_path):
    p = tmp_path / "mp_cgcnn_36k" / "mp_cgcnn_36k.csv.gz"
    p.parent.mkdir()
    with gzip.open(p, "wt") as f:
        f.write(",".join(mp.CSV_COLUMNS) + "\n")
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        mp.read_cgcnn_csv(p)
    assert len(mp.read_cgcnn_csv(p, verify=False).frame) == 0


def test_summary_docs_reader_all_shapes(tmp_path):
    docs = json.loads(FIXTURE.read_text())
    ref = mp.read_summary_docs(FIXTURE).frame
    assert len(ref) == 10 and ref["id"].tolist()[:2] == ["mp-1", "mp-10810"]
    assert math.isnan(ref.set_index("id").loc["mp-10810", "efermi"])  # null in the dump
    shapes = {
        "rest.json": json.dumps({"data": docs, "meta": {"total_doc": len(docs)}}),
        "lines.jsonl": "\n".join(json.dumps(d) for d in docs) + "\n",
    }
    for name, text in shapes.items():
        p = tmp_path / name
        p.write_text(text)
        pd.testing.assert_frame_equal(mp.read_summary_docs(p).frame, ref)
    gz = tmp_path / "lines.jsonl.gz"
    gz.write_bytes(gzip.compress(shapes["lines.jsonl"].encode()))
    pd.testing.assert_frame_equal(mp.read_source(gz).frame, ref)
    assert len(mp.read_summary_docs(FIXTURE, limit=3).frame) == 3


def test_summary_docs_reader_rejects_bad_files(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"structure": {}}\n')
    with pytest.raises(ValueError, match="no material_id"):
        mp.read_summary_docs(p)
    p.write_text('{"material_id": "mp-1"}\n{"material_id": "mp-1"}\n')
    with pytest.raises(ValueError, match="more than once"):
        mp.read_summary_docs(p)
    with pytest.raises(ValueError, match="unknown Materials Project source"):
        mp.read_source(tmp_path / "x.parquet")


# --- targets ----------------------------------------------------------------------------------


def test_targets_per_target_nan():
    raw = pd.DataFrame(
        {
            "formation_energy_per_atom": [-1.0, -2.0, np.nan, -0.5],
            "band_gap": [0.0, 1.5, 2.0, -1.0],
            "efermi": [3.0, np.nan, 1.0, 2.0],
            "total_magnetization": [-4.0, 0.0, 1.0, np.nan],
        }
    )
    t = mp.derive_targets(raw, [2, 4, 1, 3])
    assert list(t.columns) == list(mp.TARGET_NAMES)
    np.testing.assert_array_equal(t["e_form"], [-1.0, -2.0, np.nan, -0.5])
    np.testing.assert_array_equal(t["e_fermi"], [3.0, np.nan, 1.0, 2.0])
    np.testing.assert_array_equal(t["band_gap"], [np.nan, 1.5, 2.0, np.nan])  # metals -> NaN
    np.testing.assert_array_equal(t["is_metal"], [1.0, 0.0, 0.0, np.nan])  # negative gap: unknown
    np.testing.assert_array_equal(t["magmom_per_atom"], [2.0, 0.0, 1.0, np.nan])  # |M| / n
    # a missing Fermi energy removes the row from e_fermi only
    assert t.notna().sum().to_dict() == {
        "e_form": 3,
        "e_fermi": 3,
        "band_gap": 2,
        "is_metal": 3,
        "magmom_per_atom": 3,
    }


def test_target_specs():
    by = {t.name: t for t in mp.TARGETS}
    assert by["is_metal"].task == "classification"
    assert {by[n].unit for n in ("e_form", "e_fermi", "band_gap", "magmom_per_atom")} == {
        "eV/atom",
        "eV",
        "μB/atom",
    }
    assert mp.GRAPH_SETTINGS == {"strategy": "voronoi_radii", "hubbard_u": True}


# --- curation on real rows ----------------------------------------------------------------------


@needs_csv
def test_curate_real_slice_counts_add_up():
    src = mp.read_cgcnn_csv(limit=80)
    cur = mp.curate(src, processes=1)
    f = cur.funnel
    assert f.rows_in == 80
    names = [s.name for s in f.steps]
    assert names == [
        "readable structure",
        "energy outliers",
        "deduplicate",
        "3D only",
        "<= 50 atoms",
    ]
    for a, b in zip(f.steps, f.steps[1:], strict=False):
        assert a.rows_out == b.rows_in
    assert f.rows_out == len(cur.table) and 60 < len(cur.table) <= 80
    assert (cur.table["nsites"] <= 50).all() and (cur.table["dimensionality"] == 3).all()
    assert not cur.table.duplicated(["reduced_formula", "spacegroup", "nsites"]).any()
    assert f.targets["band_gap"] < f.targets["e_form"] == len(cur.table)
    # second run: facts come from the cache keyed by the file checksum
    assert mp.facts_cache_path(src.sha256, mp.CurationOptions()).exists()
    again = mp.curate(src, processes=1)
    assert again.ids == cur.ids


def test_outlier_dropped_before_dedup_so_bogus_energy_cannot_win():
    """The same NaCl twice: the bogus -13 eV/atom entry must not evict the real one."""
    docs = json.loads(FIXTURE.read_text())
    nacl = next(d for d in docs if d["material_id"] == "mp-22862")
    frame = pd.DataFrame(
        {
            "id": ["real", "bogus"],
            "formation_energy_per_atom": [-2.1, -13.57],
            "band_gap": [5.0, 5.0],
            "efermi": [1.0, 1.0],
            "total_magnetization": [0.0, 0.0],
            "structure": [nacl["structure"], nacl["structure"]],
        }
    )
    src = mp.SourceTable(frame, "0" * 64, "mem", "test")
    assert mp.curate(src, processes=1, use_cache=False).ids == ["real"]
    kept = mp.curate(src, mp.CurationOptions(drop_outliers=False), processes=1, use_cache=False)
    assert kept.ids == ["bogus"] and kept.table["outlier"].tolist() == [True]


def test_default_dedupe_is_the_papers_unit_cell_formula():
    """Paper §8: "same unit cell chemical formula and the same space group". A primitive (2-atom)
    and a conventional (8-atom) rock-salt cell survive by default; the coarser 'reduced' key keeps
    only the lower energy."""
    from pymatgen.core import Lattice, Structure

    conv = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    prim = conv.get_primitive_structure()
    frame = pd.DataFrame(
        {
            "id": ["conv", "prim"],
            "formation_energy_per_atom": [-2.0, -2.2],
            "band_gap": [5.0, 5.0],
            "efermi": [1.0, 1.0],
            "total_magnetization": [0.0, 0.0],
            "structure": [conv.to(fmt="cif"), prim.to(fmt="cif")],
        }
    )
    src = mp.SourceTable(frame, "1" * 64, "mem", "test")
    assert mp.CurationOptions().dedupe_key == "cell"
    assert mp.curate(src, processes=1, use_cache=False).ids == ["conv", "prim"]
    reduced = mp.CurationOptions(dedupe_key="reduced")
    assert mp.curate(src, reduced, processes=1, use_cache=False).ids == ["prim"]


@needs_ids
def test_curate_summary_docs_fixture():
    cur = mp.curate(mp.read_summary_docs(FIXTURE), processes=1)
    # Dropped as not 3D by covalent-radii bonds: SeBr (mp-570589, molecular, 0D), A7 bismuth
    # (mp-23152, puckered bilayers, 2D) and TiAgF6 (mp-10810, 2D). CrystalNN bonds call the last
    # two 3D; neither id is in the paper's curated lists either.
    assert cur.ids == ["mp-1", "mp-1143", "mp-13", "mp-149", "mp-19717", "mp-22862", "mp-81"]
    step = next(s for s in cur.funnel.steps if s.name == "3D only")
    assert set(step.dropped_ids) == {"mp-570589", "mp-23152", "mp-10810"}
    final = set().union(*map(set, mp.paper_split_ids().values()))
    assert not set(step.dropped_ids) & final
    t = cur.table.set_index("id")
    assert t.loc["mp-13", "magmom_per_atom"] == pytest.approx(2.18094, abs=1e-4)
    assert t.loc["mp-13", "is_metal"] == 1.0 and math.isnan(t.loc["mp-13", "band_gap"])
    assert t.loc["mp-1143", "band_gap"] > 5 and t.loc["mp-1143", "is_metal"] == 0.0
    assert not t["hubbard_u"].any()  # no oxide/fluoride of Co, Cr, Fe, Mn, Mo, Ni, V, W here


# --- splits -----------------------------------------------------------------------------------


def test_parse_split_forms():
    assert mp.parse_split("train") == ("paper", 0, "train")
    assert mp.parse_split("val") == ("paper", 0, "valid")
    assert mp.parse_split("paper:test") == ("paper", 0, "test")
    assert mp.parse_split("random:valid") == ("random", 0, "valid")
    assert mp.parse_split("random7:test") == ("random", 7, "test")
    for bad in ("random:x", "kfold:train", "randomx:train"):
        with pytest.raises(ValueError):
            mp.parse_split(bad)


def test_random_split_80_10_10_seeded_and_order_free():
    ids = [f"mp-{k}" for k in range(1000)]
    a = mp.make_splits(ids, "random", seed=3)
    assert [len(a[p]) for p in mp.PARTS] == [800, 100, 100]
    assert set().union(*map(set, a.values())) == set(ids)
    assert mp.make_splits(ids[::-1], "random", seed=3) == a
    assert mp.make_splits(ids, "random", seed=4)["test"] != a["test"]


def test_paper_split_is_an_intersection():
    lists = {"train": ["mp-1", "mp-2"], "valid": ["mp-3"], "test": ["mp-4", "mp-9"]}
    parts = mp.make_splits(["mp-4", "mp-1", "mp-3", "mp-7"], "paper", paper_ids=lists)
    assert parts == {"train": ["mp-1"], "valid": ["mp-3"], "test": ["mp-4"]}


@needs_ids
def test_real_paper_id_lists():
    lists = mp.paper_split_ids()
    assert [len(lists[p]) for p in mp.PARTS] == [62919, 7864, 7866]
    assert not set(lists["train"]) & set(lists["test"])


# --- loading ------------------------------------------------------------------------------------


def test_load_mp_from_dump_random_split():
    parts = {p: mp.load_mp(f"random0:{p}", path=FIXTURE) for p in mp.PARTS}
    assert sum(len(s) for s in parts.values()) == 7
    tr = parts["train"]
    assert tr.name == "mp" and tr.target_names == mp.TARGET_NAMES and len(tr) == 6
    assert "random seed 0" in tr.source_note and "§8" in tr.source_note
    rec = tr.records[0]
    assert set(rec.targets) == set(mp.TARGET_NAMES) and len(rec.structure) > 0
    assert tr.checksum != parts["test"].checksum
    # cached on the second load, and `limit` keeps the first records
    again = mp.load_mp("random0:train", path=FIXTURE, limit=2)
    assert again.ids == tr.ids[:2]


@needs_ids
def test_load_mp_paper_split_from_dump():
    tr = mp.load_mp("train", path=FIXTURE)
    lists = mp.paper_split_ids()
    assert set(tr.ids) <= set(lists["train"]) and len(tr) > 0
    assert "paper" in tr.source_note


# --- fetch (recorded mp-api response replayed; never the network) -----------------------------


class _FakeDoc:
    """Stands in for mp-api's pydantic SummaryDoc: model_dump() returns live pymatgen objects."""

    def __init__(self, d: dict):
        from pymatgen.core import Structure

        self._d = dict(d, structure=Structure.from_dict(d["structure"]))

    def model_dump(self) -> dict:
        return dict(self._d)


def _install_fake_mp_api(monkeypatch, docs: list[dict], calls: list[dict]) -> None:
    class _Summary:
        def search(self, **kwargs):
            calls.append(kwargs)
            want = kwargs.get("material_ids")
            return [_FakeDoc(d) for d in docs if want is None or d["material_id"] in want]

    class MPRester:
        def __init__(self, api_key=None, **kwargs):
            calls.append({"api_key": api_key})
            self.materials = types.SimpleNamespace(summary=_Summary())

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    client = types.ModuleType("mp_api.client")
    client.MPRester = MPRester
    pkg = types.ModuleType("mp_api")
    pkg.client = client
    monkeypatch.setitem(sys.modules, "mp_api", pkg)
    monkeypatch.setitem(sys.modules, "mp_api.client", client)


def test_fetch_replays_recorded_response(tmp_path, monkeypatch):
    docs = json.loads(FIXTURE.read_text())
    calls: list[dict] = []
    _install_fake_mp_api(monkeypatch, docs, calls)
    ids = tmp_path / "ids.txt"
    ids.write_text("# wanted\nmp-13\nmp-22862\nmp-404  # unknown id\n")
    out, n = mp.fetch_summary_docs("KEY", tmp_path / "docs.jsonl.gz", mp.read_id_file(ids))
    assert n == 2 and calls[0] == {"api_key": "KEY"}
    assert calls[1]["material_ids"] == ["mp-13", "mp-22862", "mp-404"]
    assert "structure" in calls[1]["fields"] and "efermi" in calls[1]["fields"]
    got = mp.read_summary_docs(out).frame
    ref = mp.read_summary_docs(FIXTURE).frame.set_index("id").loc[["mp-13", "mp-22862"]]
    pd.testing.assert_frame_equal(
        got.set_index("id").drop(columns="structure"), ref.drop(columns="structure")
    )
    assert mp.curate(mp.read_source(out), processes=1).ids == ["mp-13", "mp-22862"]


def test_fetch_without_client_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mp_api", None)
    monkeypatch.setitem(sys.modules, "mp_api.client", None)
    with pytest.raises(ImportError, match=r"ecn\[mp\]"):
        mp.fetch_summary_docs("KEY", tmp_path / "x.jsonl")
    with pytest.raises(ValueError, match="API key"):
        mp.fetch_summary_docs("", tmp_path / "x.jsonl")


def test_id_file_formats(tmp_path):
    gz = tmp_path / "ids.json.gz"
    gz.write_bytes(gzip.compress(b'["mp-1", "mp-2"]'))
    assert mp.read_id_file(gz) == ["mp-1", "mp-2"]
    split_file = data_dir() / mp.PAPER_SPLIT_DIR / mp.PAPER_SPLIT_FILE.format(part="valid")
    if split_file.is_file():
        assert len(mp.read_id_file(split_file)) == 7864


@needs_ids
def test_curate_report_writes_funnel(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "docs.json")
    _, paths = mp.curate_report(
        tmp_path / "docs.json", out_dir=tmp_path / "out", processes=1, progress=False
    )
    md = paths["markdown"].read_text()
    assert "| 3D only | 10 | 7 | 3 |" in md and "random (seed 0" in md
    js = json.loads(paths["json"].read_text())
    assert js["rows_in"] == 10 and js["rows_out"] == 7 and "paper" in js["splits"]
    assert len(pd.read_csv(paths["ids"])) == 7


# --- registry ---------------------------------------------------------------------------------


def test_registered_in_dataset_registry():
    from ecn.data import DATASETS, load_split

    spec = DATASETS["mp"]
    assert spec.target_names == mp.TARGET_NAMES and spec.default_target == "e_form"
    assert spec.tasks["is_metal"] == "classification" and spec.units["e_form"] == "eV/atom"
    assert spec.graph_defaults == {"strategy": "voronoi_radii", "hubbard_u": True}
    loaded = load_split("mp", "random:train", path=str(FIXTURE), required=("e_fermi",))
    assert loaded.split == "random:train" and len(loaded) == 6
    assert all(math.isfinite(r.targets["e_fermi"]) for r in loaded.records)
    with pytest.raises(ValueError, match="no target"):
        mp.load_mp("train", path=FIXTURE, required=("heat_all",))


def test_required_target_rejects_per_target():
    """band_gap is NaN for metals: requiring it rejects the metals only, with a reason."""
    gaps = mp.load_mp("random0:train", path=FIXTURE, required=("band_gap",))
    every = mp.load_mp("random0:train", path=FIXTURE, required=())
    assert len(gaps) + len(gaps.rejected) == len(every)
    assert all(r.targets["is_metal"] == 0.0 for r in gaps.records)
    assert all("band_gap" in r.reason for r in gaps.rejected)


# --- command line -----------------------------------------------------------------------------


def test_cli_curate_and_fetch(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ecn.cli import app

    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "data",
            "curate",
            "mp",
            "--path",
            str(FIXTURE),
            "--processes",
            "1",
            "--split",
            "random",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "| 3D only | 10 | 7 | 3 |" in res.output and "seed 3" in res.output
    assert (tmp_path / "o" / "funnel.json").exists() and (tmp_path / "o" / "funnel.md").exists()

    monkeypatch.setitem(sys.modules, "mp_api", None)
    monkeypatch.setitem(sys.modules, "mp_api.client", None)
    res = runner.invoke(
        app, ["data", "fetch", "mp", "--api-key", "K", "--out", str(tmp_path / "d.jsonl")]
    )
    assert res.exit_code == 2 and "ecn[mp]" in res.output

    calls: list[dict] = []
    _install_fake_mp_api(monkeypatch, json.loads(FIXTURE.read_text()), calls)
    ids = tmp_path / "ids.json"
    ids.write_text('["mp-149", "mp-81"]')
    res = runner.invoke(
        app,
        [
            "data",
            "fetch",
            "mp",
            "--api-key",
            "K",
            "--ids",
            str(ids),
            "--out",
            str(tmp_path / "d.jsonl"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert mp.read_summary_docs(tmp_path / "d.jsonl").frame["id"].tolist() == ["mp-149", "mp-81"]


def test_curation_options_validate():
    with pytest.raises(ValueError, match="dedupe_key"):
        mp.CurationOptions(dedupe_key="formula")
    with pytest.raises(ValueError, match="dim_method"):
        mp.CurationOptions(dim_method="gorai")
    assert "dedupe=cell" in mp.CurationOptions(dedupe_key="cell").key()
