"""`ecn data info | build` end to end on small inputs (a CIF folder, a Perov-5 slice)."""

from __future__ import annotations

import csv

import pytest
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from ecn.cli import app

runner = CliRunner()


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


def test_data_build_cif_folder(cif_folder, tmp_path):
    out = tmp_path / "out"
    args = [
        "data",
        "build",
        "cif",
        "--path",
        str(cif_folder),
        "--split",
        "all",
        "--n-jobs",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "3 graphs" in first.output and "2 rejected" in first.output
    assert "built and cached" in first.output
    with open(out / "rejected.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["id"] for r in rows} == {"broken", "overlap"}
    assert all(r["split"] == "all" and r["reason"] for r in rows)
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "loaded from cache" in second.output


def test_data_info_cif_folder(cif_folder):
    res = runner.invoke(app, ["data", "info", "cif", "--path", str(cif_folder), "--split", "all"])
    assert res.exit_code == 0, res.output
    assert "target" in res.output and "elements" in res.output
    assert "isolated-atom" in res.output


def test_data_info_perov5(perov5_dir):
    res = runner.invoke(
        app,
        ["data", "info", "perov5", "--split", "test", "--limit", "40", "--path", str(perov5_dir)],
    )
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "training source: assembled" in out and "3890" in out
    assert "270/446" in out and "heat_all" in out and "eV/cell" in out


def test_data_build_bad_split():
    res = runner.invoke(app, ["data", "build", "perov5", "--split", "nope"])
    assert res.exit_code != 0


def test_console_keeps_split_names_literal():
    """'mp/random:train: 5 graphs' once printed as 'mp/random🚋 5 graphs' (rich emoji codes)."""
    from ecn.data.commands import console

    with console.capture() as cap:
        console.print("mp/random:train: 5 graphs")
    assert "random:train: 5" in cap.get()
