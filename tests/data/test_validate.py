"""Bad input: each case becomes a Rejection with a clear reason; a load never aborts."""

from __future__ import annotations

import logging
import math

import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.core.periodic_table import DummySpecies

from ecn.data import load_split
from ecn.data.types import Record, Rejection
from ecn.data.validate import BadInput, make_record, parse_cif, structure_problem

GOOD_TARGETS = {"target": 1.0}


def cif_of(structure: Structure) -> str:
    return structure.to(fmt="cif")


def test_good_structure_passes(BaTiO3, NaCl, Si):
    for s in (BaTiO3, NaCl, Si):
        assert structure_problem(s) is None
        out = make_record("x", cif_of(s), GOOD_TARGETS, ["target"])
        assert isinstance(out, Record) and len(out.structure) == len(s)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "this is not a CIF",
        "data_x\n_cell_length_a 4\n",
        "data_broken\nloop_\n_atom_site_label\nNa1 0 0\n",
    ],
)
def test_broken_cif_text(text):
    out = make_record("bad", text, GOOD_TARGETS, ["target"])
    assert isinstance(out, Rejection)
    assert "CIF" in out.reason


def test_truncated_cif(BaTiO3):
    text = cif_of(BaTiO3)
    out = make_record("cut", text[: len(text) // 2], GOOD_TARGETS, ["target"])
    assert isinstance(out, Rejection)


def test_parse_cif_raises_badinput():
    with pytest.raises(BadInput, match="CIF"):
        parse_cif("garbage")


def test_partial_occupancy_cif(BaTiO3):
    text = cif_of(BaTiO3)
    lines = text.splitlines()
    # set the occupancy of the Ba site (last column) to 0.5
    k = next(i for i, ln in enumerate(lines) if ln.strip().startswith("Ba "))
    lines[k] = lines[k].rsplit(" ", 1)[0] + " 0.5"
    out = make_record("half", "\n".join(lines) + "\n", GOOD_TARGETS, ["target"])
    assert isinstance(out, Rejection)
    assert "disorder" in out.reason


def test_disordered_structure_in_code():
    s = Structure(Lattice.cubic(4.0), [{"Ba": 0.5, "Sr": 0.5}, "Ti"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert "disorder" in structure_problem(s)


def test_zero_atoms():
    s = Structure(Lattice.cubic(4.0), [], [])
    assert structure_problem(s) == "structure has zero atoms"
    out = make_record("empty", s, GOOD_TARGETS, ["target"])
    assert isinstance(out, Rejection) and "zero atoms" in out.reason


def test_zero_atoms_cif():
    text = (
        "data_empty\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n"
        "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n"
        "_symmetry_space_group_name_H-M 'P 1'\n"
    )
    out = make_record("empty", text, GOOD_TARGETS, ["target"])
    assert isinstance(out, Rejection)


def test_overlapping_atoms_across_boundary():
    # 0.01 and 0.99 along a 4 Å axis are 0.08 Å apart only through the periodic boundary
    s = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0.01, 0, 0], [0.99, 0, 0]])
    reason = structure_problem(s)
    assert reason is not None and "overlapping" in reason and "0.080" in reason


def test_coincident_atoms():
    s = Structure(
        Lattice.cubic(4.0), ["Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
    )
    assert "overlapping" in structure_problem(s)


def test_close_but_not_overlapping_is_kept():
    s = Structure(Lattice.cubic(4.0), ["H", "H"], [[0, 0, 0], [0.2, 0, 0]])  # 0.8 Å
    assert structure_problem(s) is None


@pytest.mark.parametrize("value", [math.nan, None, "", "None", "abc"])
def test_nan_or_missing_target(BaTiO3, value):
    out = make_record("t", BaTiO3, {"target": value}, ["target"])
    assert isinstance(out, Rejection)
    assert "target 'target'" in out.reason


def test_absent_target_column(BaTiO3):
    out = make_record("t", BaTiO3, {}, ["target"])
    assert isinstance(out, Rejection) and "missing" in out.reason


def test_non_required_nan_target_is_kept(BaTiO3):
    out = make_record("t", BaTiO3, {"a": 1.0, "b": math.nan}, ["a"])
    assert isinstance(out, Record) and math.isnan(out.targets["b"])


def test_element_beyond_table():
    s = Structure(Lattice.cubic(4.0), ["Bk", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # Z = 97
    reason = structure_problem(s)
    assert reason is not None and "Bk" in reason and "supported" in reason


def test_element_beyond_table_from_cif():
    s = Structure(Lattice.cubic(4.0), ["Cf", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # Z = 98
    out = make_record("cf", cif_of(s), GOOD_TARGETS, ["target"])
    assert isinstance(out, Rejection) and "Cf" in out.reason


def test_dummy_species():
    s = Structure(Lattice.cubic(4.0), [DummySpecies("X"), "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert "supported" in structure_problem(s)


def test_degenerate_lattice():
    s = Structure(Lattice([[4, 0, 0], [0, 4, 0], [4, 4, 1e-6]]), ["Na"], [[0, 0, 0]])
    assert "degenerate" in structure_problem(s)


def test_folder_load_never_aborts(tmp_path, BaTiO3, NaCl, caplog):
    """One folder with every kind of bad row: good rows load, bad rows get reasons."""
    (tmp_path / "good1.cif").write_text(cif_of(BaTiO3))
    (tmp_path / "good2.cif").write_text(cif_of(NaCl))
    (tmp_path / "broken.cif").write_text("data_x\nnot a cif at all\n")
    (tmp_path / "nan.cif").write_text(cif_of(NaCl))
    overlap = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0.01, 0, 0], [0.99, 0, 0]])
    (tmp_path / "overlap.cif").write_text(cif_of(overlap))
    bk = Structure(Lattice.cubic(4.0), ["Bk", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    (tmp_path / "bk.cif").write_text(cif_of(bk))
    (tmp_path / "id_prop.csv").write_text(
        "good1,1.5\ngood2,-0.5\nbroken,1.0\nnan,nan\noverlap,2.0\nbk,3.0\nmissing,4.0\n"
    )
    with caplog.at_level(logging.INFO, logger="ecn.data"):
        split = load_split("cif", "all", path=str(tmp_path))
    assert [r.id for r in split.records] == ["good1", "good2"]
    assert split.records[0].targets == {"target": 1.5}
    reasons = {r.id: r.reason for r in split.rejected}
    assert set(reasons) == {"broken", "nan", "overlap", "bk", "missing"}
    assert "CIF" in reasons["broken"]
    assert "NaN" in reasons["nan"]
    assert "overlapping" in reasons["overlap"]
    assert "Bk" in reasons["bk"]
    assert "missing.cif" in reasons["missing"]
    summary = [r.message for r in caplog.records if "cif/all" in r.message]
    assert summary and "2 structures loaded, 5 rejected" in summary[-1]
