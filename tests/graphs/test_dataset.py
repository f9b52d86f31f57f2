"""``build_dataset`` / ``dataset_info`` (behind ``ecn data build | info``): assertions on the
returned reports and the files written, never on console text."""

from __future__ import annotations

import csv

import pytest
from pymatgen.core import Lattice, Structure

from ecn.graphs.dataset import build_dataset, dataset_info, resolve_splits
from ecn.nn.graph_settings import resolve_graph_settings


@pytest.fixture
def cif_folder(tmp_path, BaTiO3, NaCl, Si):
    d = tmp_path / "cifs"
    d.mkdir()
    for k, s in enumerate([BaTiO3, NaCl, Si]):
        (d / f"ok{k}.cif").write_text(s.to(fmt="cif"))
    (d / "broken.cif").write_text("data_x\nnonsense\n")
    overlap = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0.01, 0, 0], [0.99, 0, 0]])
    (d / "overlap.cif").write_text(overlap.to(fmt="cif"))
    (d / "id_prop.csv").write_text("ok0,1.0\nok1,2.0\nok2,3.0\nbroken,4.0\noverlap,5.0\n")
    return d


def test_build_cif_folder_report_rejected_csv_and_cache(cif_folder, tmp_path):
    settings = resolve_graph_settings("ecn", "cif")
    out = tmp_path / "out"
    kw = {"path": str(cif_folder), "n_jobs": 1, "progress": False, "out": out}
    first = build_dataset("cif", settings, "all", **kw)
    assert [s.split for s in first.splits] == ["all"]
    assert first.n_graphs == 3 and len(first.rejected) == 2 and not first.all_cached
    assert first.rejected_csv == out / "rejected.csv"
    with open(out / "rejected.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["id"] for r in rows} == {"broken", "overlap"}
    assert all(r["split"] == "all" and r["reason"] for r in rows)
    second = build_dataset("cif", settings, "all", **kw)
    assert second.all_cached and second.n_graphs == 3
    assert second.splits[0].cache_path == first.splits[0].cache_path


def test_info_cif_folder_counts_targets_and_fallback(cif_folder):
    rep = dataset_info("cif", "all", str(cif_folder), settings=resolve_graph_settings("ecn", "cif"))
    (sp,) = rep.splits
    assert sp.n_records == 3 and sp.rejections.startswith("2 rejected")
    assert sp.targets["target"]["count"] == 3 and sp.targets["target"]["mean"] == pytest.approx(2)
    assert sp.n_isolated is not None and sp.sizes == {5: 1, 8: 2}
    assert dict(rep.elements)["Na"] == 1 and rep.n_elements == 6  # Ba Ti O Na Cl Si


def test_info_perov5_reports_assembly(perov5_dir):
    rep = dataset_info("perov5", "test", str(perov5_dir), limit=40)
    assert rep.settings is None and rep.splits[0].n_isolated is None
    assert "assembled" in rep.training_source and "3890" in rep.training_source.replace(",", "")
    o2f = rep.assembly
    assert (o2f["o2f_e_form_ne_heat_all"], o2f["o2f_matched"]) == (270, 446)
    assert rep.units["heat_all"] == "eV/cell"


def test_unknown_split_is_a_value_error():
    with pytest.raises(ValueError, match="splits"):
        resolve_splits("perov5", "nope")
