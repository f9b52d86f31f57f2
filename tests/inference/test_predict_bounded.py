"""``ecn predict`` at bounded cost (issue 25 item 4): a cell above ``--max-atoms`` and an
``--average`` above ``--max-passes`` get an error row naming the limit before any work on them;
averaged descriptions are built and predicted a batch at a time, never all at once.

Crystals are built here; the model is the shipped ``perov5-heat_all``."""

from __future__ import annotations

import csv
import inspect
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from ecn.cli import app
from ecn.data.validate import MAX_ATOMS
from ecn.graphs import canonical as canonical_mod
from ecn.inference import averaging as averaging_mod
from ecn.inference import predictor as predictor_mod
from ecn.inference import prepare as prepare_mod
from ecn.inference.inputs import InputItem
from ecn.inference.predictor import (
    MAX_PASSES,
    Limits,
    Predictor,
    description_set,
    predict_graphs,
    structure_units,
)

MODEL = "perov5-heat_all"


def _srtio3() -> Structure:
    return Structure(
        Lattice.cubic(3.9),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


def _rattled(scale: tuple[int, int, int], seed: int = 0) -> Structure:
    """A supercell of SrTiO3 with every atom moved a little: its own primitive cell (P1)."""
    s = _srtio3() * scale
    rng = np.random.default_rng(seed)
    return Structure(
        s.lattice,
        s.species,
        s.cart_coords + rng.normal(scale=0.03, size=(len(s), 3)),
        coords_are_cartesian=True,
    )


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.load(MODEL)


def _item(s: Structure, id: str = "x") -> InputItem:
    return InputItem(id, f"{id}.cif", structure=s)


def test_max_atoms_rejects_up_front_with_the_limit_named(predictor, monkeypatch):
    big = _rattled((2, 2, 2))  # 40 atoms
    calls = []
    for mod in (prepare_mod, averaging_mod):  # every place a graph record is built
        monkeypatch.setattr(mod, "unit_graph", lambda *a, **k: calls.append(1))
    predictor.limits = Limits(max_atoms=39)
    try:
        (row,) = predictor.predict_items([_item(big)])
    finally:
        predictor.limits = Limits()
    assert row["prediction"] == "" and "40" in row["error"] and "--max-atoms" in row["error"]
    assert "39" in row["error"] and not calls  # rejected before the canonical step
    monkeypatch.undo()
    (row,) = predictor.predict_items([_item(big)])  # negative control: default limit
    assert row["error"] == "" and np.isfinite(float(row["prediction"]))


def test_max_passes_caps_averaging_with_a_message(predictor):
    s = _rattled((2, 1, 1))  # 10 atoms: origins = 10 passes
    predictor.limits = Limits(max_passes=9)
    try:
        (over,) = predictor.predict_items([_item(s)], average="origins")
        (plain,) = predictor.predict_items([_item(s)], average="none")
        with pytest.raises(ValueError, match="max-passes"):
            predictor.predict([s], average="origins")
    finally:
        predictor.limits = Limits()
    assert over["prediction"] == "" and "10 model passes" in over["error"]
    assert "--max-passes" in over["error"] and "9" in over["error"]
    assert plain["error"] == ""  # the cap concerns averaging only
    (ok,) = predictor.predict_items([_item(s)], average="origins")  # default cap: predicted
    assert ok["error"] == "" and float(ok["spread"]) >= 0
    with pytest.raises(ValueError, match="at least 1"):
        Limits(max_passes=0)


def test_averaging_is_streamed_and_equals_the_mean_over_all_descriptions(predictor, monkeypatch):
    """Batches of 4 graphs: fewer than 2 batches of descriptions built ahead of the model; the
    rows equal the mean / std of one prediction per description built all at once."""
    s = _rattled((3, 1, 1), seed=1)  # 15 atoms, 15 origins
    built, predicted, ahead = [0], [0], []
    real_desc, real_predict = canonical_mod.origin_description, predictor_mod.predict_member_graphs

    def counting_desc(*a, **k):
        built[0] += 1
        ahead.append(built[0] - predicted[0])
        return real_desc(*a, **k)

    def counting_predict(model, graphs, *a, **k):
        predicted[0] += len(graphs)
        return real_predict(model, graphs, *a, **k)

    monkeypatch.setattr(averaging_mod, "origin_description", counting_desc)
    monkeypatch.setattr(predictor_mod, "predict_member_graphs", counting_predict)
    rows = predictor.predict_items([_item(s), _item(s, "y")], batch_size=4, average="origins")
    monkeypatch.undo()
    assert built[0] == predicted[0] == 30 and max(ahead) < 2 * 4
    units = structure_units(s, predictor.settings, "x", "origins")
    assert len(units) == len(description_set(s, predictor.settings, "origins")) == 15
    ref = predict_graphs(predictor.model, units, 256, False, predictor.settings)[:, 0]
    for row in rows:
        assert float(row["prediction"]) == pytest.approx(ref.mean(), abs=1e-6)
        assert float(row["spread"]) == pytest.approx(ref.std(), abs=1e-4)
    assert ref.std() > 0  # the descriptions differ, so the mean is not one pass repeated


def test_a_failing_description_gives_an_error_row_not_a_crash(predictor, monkeypatch):
    s = _rattled((2, 1, 1))

    def broken(*a, **k):
        raise ValueError("no neighbours within reach")

    monkeypatch.setattr(averaging_mod, "origin_description", broken)
    (bad,) = predictor.predict_items([_item(s)], average="origins")
    assert bad["prediction"] == "" and "no neighbours" in bad["error"]


def test_cli_limits(tmp_path: Path):
    cif = tmp_path / "big.cif"
    _rattled((2, 2, 2)).to(filename=str(cif))
    out = tmp_path / "p.csv"
    res = CliRunner().invoke(app, ["predict", MODEL, str(cif), "-o", str(out), "--max-atoms", "30"])
    assert res.exit_code == 0, res.output
    (row,) = list(csv.DictReader(out.open()))
    assert "--max-atoms" in row["error"] and "40" in row["error"]
    res = CliRunner().invoke(app, ["predict", MODEL, str(cif), "-o", str(out), "--max-passes", "0"])
    assert res.exit_code == 2 and "--max-passes must be at least 1" in res.output
    # the help states the defaults the library applies
    from ecn.cli.train import predict_command

    params = inspect.signature(predict_command).parameters
    assert f"default {MAX_ATOMS}" in params["max_atoms"].default.help
    assert f"default {MAX_PASSES}" in params["max_passes"].default.help
