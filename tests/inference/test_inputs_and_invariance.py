"""Prediction inputs (CIF, .cif.gz, POSCAR/CONTCAR, extxyz; format from content; bounded cost;
non-physical cells rejected) and description averaging / `ecn check invariance` (issue 14)."""

from __future__ import annotations

import gzip
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from ecn.graphs import GraphSettings, neighbor_list
from ecn.inference import PropertyModel, TargetInfo, read_inputs, save_model_file
from ecn.inference import inputs as inputs_mod
from ecn.inference.check import check_invariance
from ecn.inference.inputs import InputItem, detect_format
from ecn.inference.predictor import Predictor
from ecn.nn import ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings


def _predictor(group: str = "p1", canonical: str = "unique") -> Predictor:
    gs = resolve_graph_settings("ecn", "perov5", {"canonical": canonical})
    torch.manual_seed(0)
    opts = {"group": group, "width": 16, "layers": 2}
    net = build_model(ModelConfig("ecn", gs.node_feature_dim, gs.n_gaussians, 1, False, opts))
    return Predictor(PropertyModel(net, TargetInfo(("y",), ("eV",))), gs)


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return _predictor()


@pytest.fixture(scope="module")
def perov5_crystals(shared_data_dir: Path) -> list[tuple[str, Structure]]:
    import pandas as pd

    df = pd.read_csv(shared_data_dir / "perov_5" / "test.csv", nrows=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [(str(r.material_id), Structure.from_str(r.cif, fmt="cif")) for r in df.itertuples()]


def _write_inputs(NaCl: Structure, folder: Path) -> None:
    prim = NaCl.get_primitive_structure()
    (folder / "nacl_conv.cif").write_text(NaCl.to(fmt="cif"))
    (folder / "nacl_gz.cif.gz").write_bytes(gzip.compress(NaCl.to(fmt="cif").encode()))
    (folder / "POSCAR").write_text(prim.to(fmt="poscar"))
    (folder / "CONTCAR.relaxed").write_text((NaCl * (2, 1, 1)).to(fmt="poscar"))
    (folder / "notes.txt").write_text("not a structure")  # not picked up by the folder scan


def test_every_input_kind_reads_and_predicts_the_same_crystal(NaCl, tmp_path, predictor):
    _write_inputs(NaCl, tmp_path)
    items = read_inputs([tmp_path])
    assert sorted(it.source.split("/")[-1] for it in items) == [
        "CONTCAR.relaxed",
        "POSCAR",
        "nacl_conv.cif",
        "nacl_gz.cif.gz",
    ]
    assert not any(it.error for it in items)
    rows = predictor.predict_items(items)
    assert all(r["error"] == "" for r in rows)
    preds = [float(r["prediction"]) for r in rows]
    # conventional CIF, gzipped CIF, primitive POSCAR, 2x1x1 CONTCAR: one crystal, one value
    assert max(preds) - min(preds) <= 1e-5 * max(1.0, abs(preds[0]))


def test_format_is_detected_from_content_not_name(NaCl, tmp_path, predictor):
    odd = tmp_path / "structure.txt"
    odd.write_text(NaCl.get_primitive_structure().to(fmt="poscar"))
    gz_no_suffix = tmp_path / "compressed"
    gz_no_suffix.write_bytes(gzip.compress(NaCl.to(fmt="cif").encode()))
    items = read_inputs([odd, gz_no_suffix])
    assert items[0].structure is not None and items[1].cif is not None
    assert detect_format(NaCl.to(fmt="cif")) == "cif"
    assert detect_format(NaCl.to(fmt="poscar")) == "poscar"
    assert detect_format('2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3\n') == (
        "extxyz"
    )
    assert detect_format("hello") is None
    rows = predictor.predict_items(items)
    assert rows[0]["error"] == "" and rows[1]["error"] == ""


def test_extxyz_with_ase(NaCl, tmp_path, predictor):
    pytest.importorskip("ase")
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(NaCl)
    f = tmp_path / "nacl.extxyz"
    atoms.write(f, format="extxyz")
    (item,) = read_inputs([f])
    assert item.error is None and item.structure is not None
    assert predictor.predict([atoms]).shape == (1,)


def test_unusable_inputs_get_one_clear_line(tmp_path, predictor, monkeypatch):
    bad_cif = tmp_path / "neg.cif"
    bad_cif.write_text(
        "data_x\n_cell_length_a -4.0\n_cell_length_b 4\n_cell_length_c 4\n_cell_angle_alpha 90\n"
        "_cell_angle_beta 90\n_cell_angle_gamma 90\n_symmetry_space_group_name_H-M 'P 1'\n"
        "loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n"
        "_atom_site_fract_y\n_atom_site_fract_z\nCu1 Cu 0 0 0\n"
    )
    corrupt = tmp_path / "broken.cif.gz"
    corrupt.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    bad_poscar = tmp_path / "POSCAR_bad"
    bad_poscar.write_text("title\n1.0\n1 0 0\n0 1 0\n0 0 1\nCu\nnot-a-number\nDirect\n0 0 0\n")
    big = tmp_path / "big.cif"
    big.write_text("data_x\n" + "#" * 5000)
    monkeypatch.setattr(inputs_mod, "MAX_INPUT_BYTES", 1000)
    items = read_inputs([bad_cif, corrupt, bad_poscar, big, tmp_path / "missing.cif"])
    rows = predictor.predict_items(items)
    errors = [r["error"] for r in rows]
    assert "non-physical cell" in errors[0]
    assert "gzip" in errors[1]
    assert errors[2].startswith("unparseable POSCAR")
    assert "larger than" in errors[3]
    assert errors[4] == "file not found"
    assert all("\n" not in e for e in errors)


@pytest.mark.parametrize(
    "lattice",
    [
        np.full((3, 3), np.nan),
        np.array([[4.0, 0, 0], [4.0, 1e-9, 0], [0, 0, 4.0]]),
        np.array([[1e-3, 0, 0], [0, 4.0, 0], [0, 0, 4.0]]),
    ],
    ids=["nan", "flat", "zero-length"],
)
def test_non_physical_cells_are_rejected(lattice, predictor):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = Structure(Lattice(lattice), ["Cu"], [[0.1, 0.2, 0.3]])
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="non-physical cell|degenerate lattice"):
        predictor.predict([s])
    assert time.perf_counter() - t0 < 1.0


def test_nearest_neighbour_fallback_is_bounded():
    s = Structure(Lattice.cubic(60.0), ["Cu"], [[0, 0, 0]])
    t0 = time.perf_counter()
    edges = neighbor_list(s, GraphSettings(strategy="cutoff", cutoff=1.0, canonical="off"))
    assert edges.n_isolated == 1 and np.allclose(edges.dist[edges.fallback], 60.0)
    nan = Structure(Lattice.cubic(4.0), ["Cu", "Cu"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    nan._sites[1]._frac_coords = np.array([np.nan, 0.5, 0.5])  # a hostile, non-finite site
    with pytest.raises(ValueError, match="non-finite"):
        neighbor_list(nan, GraphSettings(strategy="cutoff", cutoff=1.0, canonical="off"))
    assert time.perf_counter() - t0 < 1.0


def test_averaging_modes_cost_and_invariance(perov5_crystals):
    pred = _predictor("p1", canonical="primitive")  # spglib only: origin choice left open
    _, s = perov5_crystals[0]
    assert pred.passes(s, "none") == 1
    assert pred.passes(s, "origins") == 5
    assert pred.passes(s, "full") == 5 * 48
    with pytest.raises(ValueError, match="average must be one of"):
        pred.predict([s], average="sometimes")
    rep_none = check_invariance(pred, perov5_crystals, average="none", kinds=("origin",))
    rep_full = check_invariance(pred, perov5_crystals[:1], average="full", kinds=("origin",))
    assert rep_none.max_change > 1e-5  # bites: spglib's origin follows the input
    assert rep_full.max_change < 1e-5  # exact up to float32 noise
    assert rep_full.passes == 240
    # the spread column: std over the averaged origins (> 0 where the origin matters)
    items = [InputItem(id=k, source="mem", structure=st) for k, st in perov5_crystals]
    rows = pred.predict_items(items, average="origins")
    assert all(float(r["spread"]) > 1e-6 for r in rows)
    assert "spread" not in pred.predict_items(items)[0]


def test_check_invariance_report(perov5_crystals, predictor):
    bad = Structure(Lattice.cubic(4.0), ["Cu", "Cu"], [[0, 0, 0], [0, 0, 0.001]])
    rep = check_invariance(predictor, [*perov5_crystals[:2], ("overlap", bad)])
    kinds = rep.by_kind()
    assert set(kinds) == {
        "supercell",
        "conventional_primitive",
        "atom_order",
        "rotation_reflection",
        "origin",
        "basis",
    }
    assert rep.max_change < 1e-5 and rep.canonical == "unique" and rep.passes == 1.0
    assert "overlapping atoms" in rep.errors["overlap"]
    assert "origin" in rep.format()


def test_ecn_check_invariance_command(NaCl, tmp_path, predictor):
    from ecn.cli import app

    model = save_model_file(tmp_path / "model.pt", predictor.model, predictor.settings)
    (tmp_path / "nacl.cif").write_text(NaCl.to(fmt="cif"))
    res = CliRunner().invoke(app, ["check", "invariance", str(model), str(tmp_path / "nacl.cif")])
    assert res.exit_code == 0, res.output
