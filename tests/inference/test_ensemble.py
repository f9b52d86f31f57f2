"""Ensembles (issue 29 item 3): the mean is the members' mean, the std their recalibrated
spread sqrt((a x spread)^2 + b^2) (b, not NaN, when they agree; 0 without a floor), an ensemble
file written before the floor existed reads as b = 0 and predicts what it always did,
incompatible members are refused naming the difference, ``ecn predict`` writes a ``std`` column
(the same rows with ``--workers``), and single-model files load and predict exactly as before.

Members are small untrained models built in code (different seeds: different functions); the
crystals are real perovskites written out here."""

from __future__ import annotations

import csv
import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

import ecn
from ecn.cli import app
from ecn.graphs import build_graph
from ecn.graphs.graph import collate
from ecn.inference import (
    EnsembleModel,
    Predictor,
    PropertyModel,
    TargetInfo,
    load_any_model_file,
    load_model_file,
    save_model_file,
)
from ecn.inference.ensemble import check_members
from ecn.inference.model_file import ENSEMBLE_FORMAT_VERSION, FORMAT_VERSION
from ecn.nn import ModelConfig
from ecn.nn.graph_settings import resolve_graph_settings

HEAT = TargetInfo(("heat_all",), ("eV/cell",), "regression", (1.5,), (0.75,))
TWO = TargetInfo(("a", "b"), ("eV", "eV"), "regression", (0.5, -1.0), (2.0, 0.5))


def _perovskite(a: float, b: str = "Ti") -> Structure:
    return Structure(
        Lattice.cubic(a),
        ["Sr", b, "O", "O", "O"],
        [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


CRYSTALS = [_perovskite(a, b) for a, b in [(3.9, "Ti"), (4.0, "Zr"), (3.95, "Hf"), (4.1, "Sn")]]
SETTINGS = resolve_graph_settings("ecn", "perov5")


def _member(seed: int, targets: TargetInfo = HEAT, **options) -> PropertyModel:
    g = build_graph(CRYSTALS[0], SETTINGS)
    opts = {"group": "slambda", "width": 8, "layers": 2, **options}
    cfg = ModelConfig("ecn", g.x.shape[1], g.edge_attr.shape[1], targets.out_dim, False, opts)
    torch.manual_seed(seed)
    return PropertyModel.build(cfg, targets).eval()


def _ensemble(seeds=(0, 1, 2), targets: TargetInfo = HEAT, scale=None, floor=None) -> EnsembleModel:
    return EnsembleModel([_member(s, targets) for s in seeds], scale, floor)


def test_mean_is_the_members_mean_and_std_their_scaled_spread(tmp_path: Path) -> None:
    members = [_member(s) for s in (0, 1, 2)]
    path = save_model_file(tmp_path / "ens.pt", EnsembleModel(members, [1.7]), SETTINGS)
    ens = ecn.load_model(str(path))
    assert ens.n_members == 3 and ens.meta["std_scale"] == [1.7]
    mean, std = ens.predict(CRYSTALS, return_std=True)
    each = np.stack([Predictor(m, SETTINGS).predict(CRYSTALS) for m in members])  # (K, n)
    np.testing.assert_allclose(mean, each.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(std, 1.7 * each.std(0), rtol=1e-9, atol=1e-12)
    assert np.all(std > 0)  # different seeds: the members disagree
    assert np.array_equal(ens.predict(CRYSTALS), mean)  # without return_std: the mean alone
    # negative control: the mean is not any one member's prediction
    assert all(not np.allclose(mean, e) for e in each)


def test_std_is_the_scaled_spread_plus_the_floor_in_quadrature(tmp_path: Path) -> None:
    members = [_member(s) for s in (0, 1, 2)]
    ens_model = EnsembleModel(members, [1.7], [0.05])
    path = save_model_file(tmp_path / "ens.pt", ens_model, SETTINGS)
    ens = ecn.load_model(str(path))
    assert ens.meta["std_scale"] == [1.7] and ens.meta["std_floor"] == [0.05]
    mean, std = ens.predict(CRYSTALS, return_std=True)
    each = np.stack([Predictor(m, SETTINGS).predict(CRYSTALS) for m in members])  # (K, n)
    np.testing.assert_allclose(std, np.sqrt((1.7 * each.std(0)) ** 2 + 0.05**2), rtol=1e-9)
    assert np.all(std > 1.7 * each.std(0))  # negative control: the floor is applied
    # identical members: the floor alone, never 0
    same = save_model_file(tmp_path / "same.pt", _ensemble((4, 4), floor=[0.05]), SETTINGS)
    assert np.all(ecn.load_model(str(same)).predict(CRYSTALS, return_std=True)[1] == 0.05)
    for bad in ([-0.1], [float("nan")], [float("inf")], [0.1, 0.2]):
        with pytest.raises(ValueError, match="std_floor needs one finite value >= 0"):
            EnsembleModel(members, [1.0], bad)


def test_factor_only_ensemble_file_reads_with_no_floor(tmp_path: Path) -> None:
    """An ensemble file as the first ensemble release wrote it (format 2, ``std_scale`` but no
    ``std_floor``): read as a = s, b = 0, the std exactly s x the members' std as before."""
    members = [_member(s) for s in (0, 1, 2)]
    path = save_model_file(tmp_path / "ens.pt", EnsembleModel(members, [1.7]), SETTINGS)
    raw = torch.load(path, weights_only=True)
    del raw["ensemble"]["std_floor"]
    raw["ecn_version"] = "0.3.0"
    raw["ensemble"]["calibration"] = {"method": "coverage", "split": "val"}
    torch.save(raw, tmp_path / "old.pt")
    model, _, meta = load_any_model_file(tmp_path / "old.pt")
    assert isinstance(model, EnsembleModel)
    assert meta["std_scale"] == [1.7] and meta["std_floor"] == [0.0]
    assert model.std_floor.tolist() == [0.0]
    mean, std = ecn.load_model(str(tmp_path / "old.pt")).predict(CRYSTALS, return_std=True)
    each = np.stack([Predictor(m, SETTINGS).predict(CRYSTALS) for m in members])
    assert np.array_equal(std, each.std(0) * 1.7)  # bit for bit the factor-only std
    np.testing.assert_allclose(mean, each.mean(0), rtol=1e-12, atol=1e-12)


def test_several_targets_give_one_std_per_target(tmp_path: Path) -> None:
    path = save_model_file(tmp_path / "ens.pt", _ensemble(targets=TWO, scale=[1.0, 2.0]), SETTINGS)
    ens = ecn.load_model(str(path))
    mean, std = ens.predict(CRYSTALS, return_std=True)
    assert mean.shape == std.shape == (len(CRYSTALS), 2)
    assert ens.columns() == ["id", "source", "prediction_a", "prediction_b", "std_a", "std_b",
                             "error"]  # fmt: skip
    assert ens.columns("origins")[-3:] == ["spread_a", "spread_b", "error"]


def test_identical_members_give_zero_std_without_a_division(tmp_path: Path) -> None:
    path = save_model_file(tmp_path / "same.pt", _ensemble(seeds=(4, 4, 4)), SETTINGS)
    ens = ecn.load_model(str(path))
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        mean, std = ens.predict(CRYSTALS, return_std=True)
        rows = ens.predict_items([_item(s, f"c{k}") for k, s in enumerate(CRYSTALS)])
    assert np.all(std == 0) and np.all(np.isfinite(mean))
    assert [r["std"] for r in rows] == ["0"] * len(CRYSTALS)
    np.testing.assert_allclose(mean, Predictor(_member(4), SETTINGS).predict(CRYSTALS))


def _item(s: Structure, id: str):
    from ecn.inference.inputs import InputItem

    return InputItem(id, "crafted", structure=s)


def test_incompatible_members_are_refused_naming_the_difference() -> None:
    with pytest.raises(ValueError, match="option width 8 vs 16"):
        EnsembleModel([_member(0), _member(1, width=16)])
    with pytest.raises(ValueError, match=r"option group 'slambda' vs 'p1'"):
        EnsembleModel([_member(0), _member(1), _member(2, group="p1")])
    other_unit = dataclasses.replace(HEAT, units=("eV/atom",))
    with pytest.raises(ValueError, match=r"target units \['eV/cell'\] vs \['eV/atom'\]"):
        EnsembleModel([_member(0), _member(1, other_unit)])
    with pytest.raises(ValueError, match="target names"):
        EnsembleModel([_member(0), _member(1, dataclasses.replace(HEAT, names=("e_form",)))])
    cutoff6 = dataclasses.replace(SETTINGS, cutoff=SETTINGS.cutoff + 1)
    with pytest.raises(ValueError, match=r"member 2 \(runs/b\) vs member 1 \(runs/a\): graph "):
        check_members([_member(0), _member(1)], [SETTINGS, cutoff6], ["runs/a", "runs/b"])
    with pytest.raises(ValueError, match="at least 2 members"):
        EnsembleModel([_member(0)])
    gap = TargetInfo(("is_metal",), ("",), "classification")
    with pytest.raises(ValueError, match="regression"):
        EnsembleModel([_member(0, gap), _member(1, gap)])
    # negative control: members that differ only in weights and standardisation are accepted
    restd = dataclasses.replace(HEAT, mean=(0.1,), std=(3.0,))
    assert EnsembleModel([_member(0), _member(1, restd)]).n_members == 2


def test_old_single_model_file_loads_and_predicts_identically(tmp_path: Path) -> None:
    """A file as every earlier ecn wrote it (format 1, no ``kind``): read as one model, the same
    numbers as the model itself, and rows without any new column."""
    model = _member(3)
    inner = model.to_dict()
    old = {
        "format": "ecn-model",
        "format_version": 1,
        "ecn_version": "0.2.0",
        **inner,
        "graph_settings": dataclasses.asdict(SETTINGS),
        "dataset": "perov5",
        "metadata": {},
    }
    torch.save(old, tmp_path / "old.pt")
    loaded, settings, meta = load_model_file(tmp_path / "old.pt")
    assert isinstance(loaded, PropertyModel) and settings == SETTINGS and "members" not in meta
    pred = ecn.load_model(str(tmp_path / "old.pt"))
    assert pred.n_members == 1 and not pred.with_std
    with torch.no_grad():
        direct = model.predict_batch(collate([build_graph(s, SETTINGS) for s in CRYSTALS]))
    assert np.array_equal(pred.predict(CRYSTALS), direct.double().numpy()[:, 0])
    assert pred.columns() == ["id", "source", "prediction", "error"]
    assert pred.columns("origins") == ["id", "source", "prediction", "spread", "error"]
    with pytest.raises(ValueError, match="needs a graph-level ensemble"):
        pred.predict(CRYSTALS, return_std=True)
    # and the file written today for one model is still format 1, the same keys
    raw = torch.load(save_model_file(tmp_path / "new.pt", model, SETTINGS, "perov5"),
                     weights_only=True)  # fmt: skip
    assert raw["format_version"] == FORMAT_VERSION == 1 and set(raw) == set(old)


def test_ensemble_file_format_and_who_reads_it(tmp_path: Path) -> None:
    path = save_model_file(tmp_path / "ens.pt", _ensemble(scale=[0.5]), SETTINGS, "perov5",
                           calibration={"method": "test"})  # fmt: skip
    raw = torch.load(path, weights_only=True)
    assert raw["format_version"] == ENSEMBLE_FORMAT_VERSION and raw["kind"] == "ensemble"
    assert len(raw["ensemble"]["members"]) == 3 and raw["ensemble"]["std_scale"] == [0.5]
    assert raw["ensemble"]["std_floor"] == [0.0]
    model, settings, meta = load_any_model_file(path)
    assert isinstance(model, EnsembleModel) and settings == SETTINGS
    assert meta["calibration"] == {"method": "test"} and meta["members"] == 3
    # one model is needed for fine-tuning or evaluation: refused, saying why
    with pytest.raises(ValueError, match="is an ensemble of 3 models"):
        load_model_file(path)
    # a newer ensemble format asks for a newer ecn
    raw["format_version"] = ENSEMBLE_FORMAT_VERSION + 1
    torch.save(raw, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="upgrade ecn"):
        load_any_model_file(tmp_path / "future.pt")


def _predict(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["predict", *args])
    return res.exit_code, res.stdout + res.stderr


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


@pytest.fixture()
def cifs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for k, s in enumerate(CRYSTALS):
        (folder / f"c{k}.cif").write_text(s.to(fmt="cif"))
    (folder / "broken.cif").write_text("data_x\n_cell_length_a 3.9\n")
    return folder


def test_csv_has_a_std_column_and_workers_give_the_same_rows(cifs: Path, tmp_path: Path):
    ens_path = save_model_file(tmp_path / "ens.pt", _ensemble(scale=[2.0]), SETTINGS)
    one, two = tmp_path / "w1.csv", tmp_path / "w2.csv"
    code, text = _predict("--model", str(ens_path), str(cifs), "-o", str(one), "--batch-size", "2")
    assert code == 0, text
    header, rows = _rows(one)
    assert header == ["id", "source", "prediction", "std", "error"]
    _, std = ecn.load_model(str(ens_path)).predict(CRYSTALS, return_std=True)
    good = {r["id"]: r for r in rows if not r["error"]}
    got = np.array([float(good[f"c{k}"]["std"]) for k in range(len(CRYSTALS))])
    np.testing.assert_allclose(got, std, rtol=1e-3)
    broken = next(r for r in rows if r["id"] == "broken")
    assert broken["error"] and broken["std"] == "" and broken["prediction"] == ""
    code, text = _predict("--model", str(ens_path), str(cifs), "-o", str(two), "--batch-size",
                          "2", "--workers", "2")  # fmt: skip
    assert code == 0, text
    assert one.read_bytes() == two.read_bytes()
    # with --average: std beside the prediction, spread after it
    avg = tmp_path / "avg.csv"
    code, text = _predict(str(ens_path), str(cifs), "-o", str(avg), "--average", "origins")
    assert code == 0, text
    assert _rows(avg)[0] == ["id", "source", "prediction", "std", "spread", "error"]
    # --no-std: the single-model layout
    plain = tmp_path / "plain.csv"
    assert _predict(str(ens_path), str(cifs), "-o", str(plain), "--no-std")[0] == 0
    assert _rows(plain)[0] == ["id", "source", "prediction", "error"]


def test_csv_std_is_sqrt_of_scaled_spread_squared_plus_floor_squared(cifs: Path, tmp_path: Path):
    """Through ``ecn predict``: the std column against each member run on its own (not against
    the ensemble's own predict, so a wrong formula in both places still fails)."""
    members = [_member(s) for s in (0, 1, 2)]
    path = save_model_file(tmp_path / "ens.pt", EnsembleModel(members, [2.0], [0.04]), SETTINGS)
    out = tmp_path / "p.csv"
    code, text = _predict("--model", str(path), str(cifs), "-o", str(out))
    assert code == 0, text
    header, rows = _rows(out)
    assert header == ["id", "source", "prediction", "std", "error"]
    good = {r["id"]: r for r in rows if not r["error"]}
    got = np.array([float(good[f"c{k}"]["std"]) for k in range(len(CRYSTALS))])
    each = np.stack([Predictor(m, SETTINGS).predict(CRYSTALS) for m in members])  # (K, n)
    expected = np.sqrt((2.0 * each.std(0)) ** 2 + 0.04**2)
    np.testing.assert_allclose(got, expected, rtol=1e-3)  # the CSV prints 4 digits
    assert not np.allclose(got, 2.0 * each.std(0), rtol=1e-3)  # the floor shows in the CSV


def test_single_model_csv_is_unchanged_and_std_is_refused(cifs: Path, tmp_path: Path):
    single = save_model_file(tmp_path / "one.pt", _member(0), SETTINGS)
    out = tmp_path / "one.csv"
    code, text = _predict(str(single), str(cifs), "-o", str(out))
    assert code == 0, text
    header, rows = _rows(out)
    assert header == ["id", "source", "prediction", "error"]
    direct = Predictor(_member(0), SETTINGS).predict(CRYSTALS)
    got = [float(next(r for r in rows if r["id"] == f"c{k}")["prediction"]) for k in range(4)]
    np.testing.assert_allclose(got, direct, rtol=1e-7)
    code, text = _predict(str(single), str(cifs), "-o", str(tmp_path / "x.csv"), "--std")
    assert code == 2 and "needs an ensemble" in text
    assert not (tmp_path / "x.csv").exists()
