"""Packaging an ensemble with calibrated uncertainty (issue 29 item 3): the std recalibration
(factor a and floor b, or a factor alone) is fitted on the validation split only, the scaled+floor
fit recovers the variance synthetic errors were drawn from, the calibration metrics are what they
say on constructed cases,
incompatible runs are refused naming the difference, and a real packaging (two tiny trainings)
gives a file whose mean is the members' mean, a card, a registry entry and the JSON report.

Most runs here are records written in code (``write_record``) with chosen prediction CSVs and a
small untrained model file each, so the numbers are known; one end-to-end test trains two tiny
members on the real Perov-5 slice (skipped without the shared data)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

import ecn
from ecn.cli import app
from ecn.experiments import ensembles
from ecn.experiments.ensembles import (
    METHODS,
    ONE_SIGMA,
    calibration_metrics,
    fit_calibration,
    fit_scale_and_floor,
    fit_std_scale,
    package_ensemble,
    uncertainty_metrics,
)
from ecn.graphs import build_graph
from ecn.inference import PropertyModel, TargetInfo, load_any_model_file, save_model_file
from ecn.inference import pretrained as pretrained_mod
from ecn.nn import ModelConfig
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.train.config import load_config
from ecn.train.run import train
from train_helpers import tiny_overrides, write_record

HEAT = TargetInfo(("heat_all",), ("eV/cell",), "regression", (1.5,), (0.75,))
SETTINGS = resolve_graph_settings("ecn", "perov5")
N_VAL, N_TEST = 40, 30


def _member(seed: int, **options) -> PropertyModel:
    s = Structure(Lattice.cubic(4.0), ["Sr", "Ti"], [[0, 0, 0], [0.5] * 3])
    g = build_graph(s, SETTINGS)
    opts = {"group": "slambda", "width": 8, "layers": 1, **options}
    cfg = ModelConfig("ecn", g.x.shape[1], g.edge_attr.shape[1], 1, False, opts)
    torch.manual_seed(seed)
    return PropertyModel.build(cfg, HEAT).eval()


def _write_preds(path: Path, ids: list[str], y: np.ndarray, p: np.ndarray) -> None:
    pd.DataFrame({"id": ids, "target": y, "prediction": p}).to_csv(path, index=False)


def _data(seed: int = 0) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """Per split: ids, targets and (3, n) member predictions with errors that grow with the
    members' disagreement (so the std carries information), plus an error they share (so the
    floor is not 0)."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("val", N_VAL), ("test", N_TEST)):
        y = rng.normal(1.0, 0.5, n)
        width = rng.uniform(0.01, 0.2, n)
        mu = y + width * rng.normal(0, 2.0, n) + rng.normal(0, 0.1, n)
        preds = mu + width * rng.normal(0, 1.0, (3, n))
        out[split] = ([f"{split}{k}" for k in range(n)], y, preds)
    return out


def _runs(root: Path, data, models=None, **record) -> list[Path]:
    runs = []
    for k in range(3):
        run = write_record(
            root / f"seed{k}",
            {"mae": 0.1, "rmse": 0.2, "r2": 0.9},
            seed=k,
            epochs_run=3,
            best_epoch=2,
            stopped_by="max_epochs",
            **record,
        )
        save_model_file(run / "model.pt", (models or {}).get(k, _member(k)), SETTINGS, "perov5")
        for split, (ids, y, preds) in data.items():
            _write_preds(run / f"predictions_{split}.csv", ids, y, preds[k])
        runs.append(run)
    return runs


@pytest.fixture()
def no_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The card's slice check reads the real test split: not needed for records made in code."""
    fake = {"split": "test", "n": 0, "metric": "mae", "value": 0.0, "ids": []}
    monkeypatch.setattr(ensembles, "slice_metric", lambda *a, **k: fake)


def _package(runs: list[Path], tmp_path: Path, name: str = "ens", **kw) -> dict:
    return package_ensemble(
        runs, name, root=tmp_path / "reg", compare_n=0, json_out=tmp_path / f"{name}.json", **kw
    )


def _stored_scale(tmp_path: Path, name: str = "ens") -> float:
    return load_any_model_file(tmp_path / "reg" / f"{name}.pt")[2]["std_scale"][0]


def _stored(tmp_path: Path, name: str = "ens") -> tuple[float, float]:
    """(a, b) of the first target as the packaged file holds them."""
    meta = load_any_model_file(tmp_path / "reg" / f"{name}.pt")[2]
    return meta["std_scale"][0], meta["std_floor"][0]


def _val_members(runs: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y, mean, std) of the validation split as the members' CSVs hold it now."""
    p = np.stack([pd.read_csv(r / "predictions_val.csv")["prediction"] for r in runs])
    y = pd.read_csv(runs[0] / "predictions_val.csv")["target"].to_numpy()
    return y, p.mean(0), p.std(0)


def test_scale_and_floor_is_the_default_and_fitted_on_validation_only(
    tmp_path: Path, no_slice: None
) -> None:
    data = _data()
    runs = _runs(tmp_path / "runs", data)
    entry = _package(runs, tmp_path)
    a, b, _ = fit_scale_and_floor(*_val_members(runs))
    assert _stored(tmp_path) == (pytest.approx(a, rel=1e-9), pytest.approx(b, rel=1e-9))
    assert a > 0 and b > 0.01  # both parts carry something on this data
    assert entry["std_scale"] == [pytest.approx(a)] and entry["std_floor"] == [pytest.approx(b)]
    assert entry["calibration_method"] == "scaled+floor"
    after = entry["report"]["calibration"]["test"]["heat_all"]["after"]

    # other test predictions: a and b stay, the test metrics move (they do read test)
    t_ids, t_y, t_preds = data["test"]
    _write_preds(runs[1] / "predictions_test.csv", t_ids, t_y, t_preds[1] + 0.3)
    entry2 = _package(runs, tmp_path, "ens2")
    assert _stored(tmp_path, "ens2") == _stored(tmp_path)
    assert entry2["report"]["calibration"]["test"]["heat_all"]["after"] != after

    # other validation predictions: another a and another b
    ids, y, preds = data["val"]
    _write_preds(runs[1] / "predictions_val.csv", ids, y, preds[1] + 0.3)
    _package(runs, tmp_path, "ens3")
    (a3, b3), (a1, b1) = _stored(tmp_path, "ens3"), _stored(tmp_path)
    assert abs(a3 - a1) > 1e-3 and abs(b3 - b1) > 1e-3
    assert (a3, b3) == pytest.approx(fit_scale_and_floor(*_val_members(runs))[:2], rel=1e-9)

    # the report, the registry entry and the card compare every method on test
    report = json.loads((tmp_path / "ens.json").read_text())
    cal = report["calibration"]
    assert cal["method"] == "scaled+floor" and cal["split"] == "val"
    assert cal["fit"]["heat_all"]["std_floor"] == pytest.approx(b)
    assert set(cal["methods"]["heat_all"]) == set(METHODS) == {"scaled+floor", "coverage", "nll"}
    applied = cal["methods"]["heat_all"]["scaled+floor"]
    assert applied["test"] == cal["test"]["heat_all"]["after"]
    assert cal["methods"]["heat_all"]["coverage"]["std_floor"] == 0.0
    assert set(entry["calibration_methods_test"]) == {"before", *METHODS}
    assert entry["calibration_methods_test"]["scaled+floor"]["std_floor"] == pytest.approx(b)
    assert report["registry_entry"]["calibration_method"] == "scaled+floor"
    card = (tmp_path / "reg" / "ens.md").read_text()
    assert "sqrt((a x the members' std)² + b²)" in card and "`scaled+floor`" in card
    assert "scaled+floor (a = " in card and "(applied)" in card and "coverage (a = " in card


def test_affine_is_an_alias_and_unknown_methods_are_refused(tmp_path: Path, no_slice: None):
    runs = _runs(tmp_path / "runs", _data())
    entry = _package(runs, tmp_path, method="affine")
    assert entry["calibration_method"] == "scaled+floor" and _stored(tmp_path)[1] > 0
    with pytest.raises(ValueError, match="scaled\\+floor"):
        _package(runs, tmp_path, "bad", method="median")
    assert not (tmp_path / "reg" / "bad.pt").exists()


def test_floor_alone_is_the_validation_rms_when_members_always_agree(
    tmp_path: Path, no_slice: None
) -> None:
    data = _data()
    ids, y, preds = data["val"]
    same = {**data, "val": (ids, y, np.repeat(preds[:1], 3, axis=0))}
    runs = _runs(tmp_path / "runs", same)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        entry = _package(runs, tmp_path)
    rms = float(np.sqrt(np.mean((y - preds[0]) ** 2)))
    assert _stored(tmp_path) == (1.0, pytest.approx(rms, rel=1e-12))
    fit = entry["report"]["calibration"]["fit"]["heat_all"]
    assert fit["degenerate"] and fit["n_zero_std"] == N_VAL
    # the same directly, for several targets at once
    y2 = np.stack([y, 2 * y], axis=1)
    mu2 = np.stack([preds[0], preds[0]], axis=1)
    a2, b2, info = fit_calibration(y2, mu2, np.zeros_like(y2))
    assert list(a2) == [1.0, 1.0] and all(i["degenerate"] for i in info)
    np.testing.assert_allclose(b2, np.sqrt(np.mean((y2 - mu2) ** 2, axis=0)), rtol=1e-12)


def test_std_factor_is_fitted_on_validation_only(tmp_path: Path, no_slice: None) -> None:
    """The factor-only fits, on request: the same rule (validation only) for coverage."""
    data = _data()
    runs = _runs(tmp_path / "runs", data)
    entry = _package(runs, tmp_path, method="coverage")
    ids, y, preds = data["val"]
    z = np.abs(y - preds.mean(0)) / preds.std(0)
    expected = np.quantile(z, ONE_SIGMA)  # 68.27 % of the validation errors within s sigma
    assert _stored_scale(tmp_path) == pytest.approx(expected, rel=1e-6)
    assert entry["std_scale"] == [pytest.approx(expected, rel=1e-6)]
    test_before = entry["report"]["calibration"]["test"]["heat_all"]["after"]

    # other test predictions: the factor stays, the test metrics move (they do read test)
    t_ids, t_y, t_preds = data["test"]
    _write_preds(runs[1] / "predictions_test.csv", t_ids, t_y, t_preds[1] + 0.3)
    entry2 = _package(runs, tmp_path, "ens2", method="coverage")
    assert _stored_scale(tmp_path, "ens2") == _stored_scale(tmp_path)
    assert entry2["report"]["calibration"]["test"]["heat_all"]["after"] != test_before

    # other validation predictions: another factor
    _write_preds(runs[1] / "predictions_val.csv", ids, y, preds[1] + 0.3)
    _package(runs, tmp_path, "ens3", method="coverage")
    assert abs(_stored_scale(tmp_path, "ens3") - _stored_scale(tmp_path)) > 1e-3
    assert _stored(tmp_path, "ens3")[1] == 0.0  # a factor alone: no floor
    # the likelihood fit, on request: s^2 = mean(z^2) of the validation split
    package_ensemble(runs, "nll", root=tmp_path / "reg", compare_n=0,
                     json_out=tmp_path / "nll.json", method="nll")  # fmt: skip
    _, y1, _ = data["val"]
    p1 = np.stack([pd.read_csv(r / "predictions_val.csv")["prediction"] for r in runs])
    z1 = (y1 - p1.mean(0)) / p1.std(0)
    assert _stored_scale(tmp_path, "nll") == pytest.approx(np.sqrt(np.mean(z1**2)), rel=1e-6)

    report = json.loads((tmp_path / "ens.json").read_text())
    cal = report["calibration"]
    assert cal["split"] == "val" and cal["method"] == "coverage"
    assert cal["fit"]["heat_all"]["n"] == len(ids)
    assert set(cal["methods"]["heat_all"]) == {"coverage", "nll", "scaled+floor"}
    card = (tmp_path / "reg" / "ens.md").read_text()
    assert "fitted on `val` only" in card and "±1σ" in card and "ensemble of 3" in card


def test_predictor_std_is_the_stored_recalibration_of_the_members_std(
    tmp_path: Path, no_slice: None
) -> None:
    runs = _runs(tmp_path / "runs", _data())
    _package(runs, tmp_path)
    a, b = _stored(tmp_path)
    assert b > 0
    ens = ecn.load_model(str(tmp_path / "reg" / "ens.pt"))
    s = Structure(Lattice.cubic(3.9), ["Sr", "Ti", "O", "O", "O"],
                  [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])  # fmt: skip
    mean, std = ens.predict([s], return_std=True)
    each = [ecn.load_model(str(r / "model.pt")).predict([s])[0] for r in runs]
    assert mean[0] == pytest.approx(np.mean(each), abs=1e-12)
    assert std[0] == pytest.approx(np.sqrt((a * np.std(each)) ** 2 + b**2), rel=1e-9)
    assert std[0] != pytest.approx(a * np.std(each), rel=1e-3)  # negative control: b counts


def test_fit_and_metrics_on_a_constructed_case() -> None:
    sigma = np.arange(1.0, 11.0)
    z = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1.5, 1.5, 2.5, 2.5])
    y, mu = sigma * z, np.zeros(10)  # |error| = z sigma, increasing with sigma
    m = uncertainty_metrics(y, mu, sigma)
    assert m["within_1sigma"] == 0.6 and m["within_2sigma"] == 0.8
    assert m["spearman"] == pytest.approx(1.0)
    assert m["n_confident"] == 1 and m["mae_confident"] == 0.5 and m["mae"] == np.mean(z * sigma)
    m2 = uncertainty_metrics(y, mu, sigma, scale=2.0)
    assert m2["within_1sigma"] == 0.8 and m2["within_2sigma"] == 1.0
    assert m2["spearman"] == m["spearman"] and m2["mae_confident"] == m["mae_confident"]
    scale, info = fit_std_scale(y[:, None], mu[:, None], sigma[:, None])
    assert scale[0] == 1.5  # the 68.27 % quantile of z (between the 7th and 8th of 10: 1.5)
    assert info[0] == {"n": 10, "n_zero_std": 0, "degenerate": False}
    cal = calibration_metrics(y[:, None], mu[:, None], sigma[:, None], scale)["0"]
    assert cal["before"] == m and cal["after"]["within_1sigma"] == 0.8
    nll_scale, _ = fit_std_scale(y[:, None], mu[:, None], sigma[:, None], "nll")
    assert nll_scale[0] == pytest.approx(np.sqrt(np.mean(z**2)))
    # the likelihood fit minimises the Gaussian NLL: a bit more or less is worse
    nll = [uncertainty_metrics(y, mu, sigma, nll_scale[0] * f)["nll"] for f in (0.9, 1.0, 1.1)]
    assert nll[1] < nll[0] and nll[1] < nll[2]
    with pytest.raises(ValueError, match="coverage"):
        fit_std_scale(y[:, None], mu[:, None], sigma[:, None], "median")


def test_scale_and_floor_recovers_the_variance_it_was_drawn_from() -> None:
    rng = np.random.default_rng(3)
    sigma = rng.uniform(0.01, 0.3, 4000)
    mu = rng.normal(1.0, 0.5, 4000)
    y = rng.normal(mu, np.sqrt((2.0 * sigma) ** 2 + 0.3**2))
    a, b, info = fit_scale_and_floor(y, mu, sigma)
    assert a == pytest.approx(2.0, rel=0.1) and b == pytest.approx(0.3, rel=0.1)
    assert not info["degenerate"] and info["n"] == 4000
    # it is the NLL minimum: moving a or b either way is worse
    nll = [uncertainty_metrics(y, mu, sigma, a * fa, b * fb)["nll"]
           for fa, fb in ((1, 1), (0.95, 1), (1.05, 1), (1, 0.95), (1, 1.05))]  # fmt: skip
    assert all(nll[0] < v for v in nll[1:])
    assert info["nll"] == pytest.approx(nll[0], rel=1e-12)
    # negative controls: a factor alone (b = 0) or a floor alone (a = 0) is a worse fit
    assert uncertainty_metrics(y, mu, sigma, a, 0.0)["nll"] > nll[0] + 0.05
    assert uncertainty_metrics(y, mu, sigma, 0.0, b)["nll"] > nll[0] + 0.05
    # on errors drawn without a floor the fit finds (almost) none
    y0 = rng.normal(mu, 2.0 * sigma)
    a0, b0, _ = fit_scale_and_floor(y0, mu, sigma)
    assert a0 == pytest.approx(2.0, rel=0.1) and b0 < 0.05


def test_members_that_agree_give_sigma_zero_without_a_division() -> None:
    y = np.array([[1.0], [2.0], [3.0]])
    mu = np.array([[1.1], [2.0], [2.5]])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        scale, info = fit_std_scale(y, mu, np.zeros_like(y))
        m = uncertainty_metrics(y[:, 0], mu[:, 0], np.zeros(3))
        part, part_info = fit_std_scale(y, mu, np.array([[0.0], [0.1], [0.5]]), "nll")
        a, b, ab_info = fit_scale_and_floor(y[:, 0], mu[:, 0], np.array([0.0, 0.1, 0.5]))
    assert scale[0] == 1.0 and info[0] == {"n": 0, "n_zero_std": 3, "degenerate": True}
    assert m["nll"] is None and m["spearman"] is None and m["n_zero_std"] == 3
    assert m["within_1sigma"] == pytest.approx(1 / 3)  # the exact prediction only
    # sigma 0 left out: s^2 = mean((0 / 0.1)^2, (0.5 / 0.5)^2) = 0.5
    assert part[0] == pytest.approx(np.sqrt(0.5)) and part_info[0]["n"] == 2
    # the scaled+floor fit uses the structure with sigma = 0 (it tells b), without dividing
    assert ab_info["n"] == 3 and ab_info["n_zero_std"] == 1 and b > 0 and np.isfinite(a)


def test_incompatible_runs_are_refused_naming_the_difference(
    tmp_path: Path, no_slice: None
) -> None:
    data = _data()
    runs = _runs(tmp_path / "a", data, models={2: _member(2, width=16)})
    with pytest.raises(
        ValueError, match=r"member 3 \(.*seed2\) vs member 1 .*option width 8 vs 16"
    ):
        _package(runs, tmp_path)
    runs = _runs(tmp_path / "b", data)
    write_record(runs[2], {"mae": 0.1}, units=["eV/atom"], seed=2)
    with pytest.raises(ValueError, match=r"units \['eV/cell'\] vs \['eV/atom'\]"):
        _package(runs, tmp_path)
    runs = _runs(tmp_path / "c", data)
    ids, y, preds = data["val"]
    _write_preds(runs[1] / "predictions_val.csv", ids[:-1], y[:-1], preds[1][:-1])
    with pytest.raises(ValueError, match="val structures differ"):
        _package(runs, tmp_path)
    with pytest.raises(ValueError, match="at least 2 runs"):
        _package(runs[:1], tmp_path)
    assert not (tmp_path / "reg" / "ens.pt").exists()  # nothing written for a refused set


@pytest.fixture(scope="module")
def tiny_members(tiny_perov5: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("ens")
    return [
        train(load_config(None, tiny_overrides(tiny_perov5, root / f"s{s}", run={"seed": s})))
        for s in (7, 8)
    ]


def test_package_real_runs_from_the_cli(tiny_members, tmp_path, monkeypatch) -> None:
    reg = tmp_path / "pretrained"
    monkeypatch.setattr(pretrained_mod, "PRETRAINED_DIR", reg)
    out = tmp_path / "tiny-ens.json"
    args = ["models", "package", *map(str, tiny_members), "--name", "tiny-ens", "--root",
            str(reg), "--json", str(out), "--slice", "5", "--compare", "5",
            "--note", "members chosen on validation"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "std scaled+floor, factor a" in res.output and str(out) in res.output
    report = json.loads(out.read_text())
    comp = report["spread_comparison"]
    assert comp["n"] == 5 and comp["average"] == "origins"
    # the packaged file predicts what the members' CSVs hold (float32 printed to 8 digits)
    assert comp["n_checked_vs_csv"] == 5 and comp["max_abs_diff_vs_csv"] < 1e-5
    entry = next(m for m in pretrained_mod.list_models(reg) if m["name"] == "tiny-ens")
    assert entry["members"] == 2 and "ensemble of 2" in entry["model"]
    ens = ecn.load_model("tiny-ens")
    s = Structure(Lattice.cubic(4.0), ["Sr", "Ti", "O", "O", "O"],
                  [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])  # fmt: skip
    mean, std = ens.predict([s], return_std=True)
    each = [ecn.load_model(str(r)).predict([s])[0] for r in tiny_members]
    assert mean[0] == pytest.approx(np.mean(each), abs=1e-9)
    a, b = entry["std_scale"][0], entry["std_floor"][0]
    assert std[0] == pytest.approx(np.sqrt((a * np.std(each)) ** 2 + b**2), rel=1e-6)
    card = (reg / "tiny-ens.md").read_text()
    assert "Against `--average origins`" in card and "ensemble of 2" in card
    assert "- **Why this model:** members chosen on validation" in card
    assert entry["note"] == "members chosen on validation"


def test_card_names_the_source_of_fine_tuned_members() -> None:
    """Members fine-tuned from a shipped model (``results.init_from``): the card names it, its
    sha256 prefix, each member's starting member and the options changed; members trained from
    scratch (one without a source is enough) get no such clause (the control)."""
    from types import SimpleNamespace

    def rec(init_from):
        return SimpleNamespace(results=SimpleNamespace(init_from=init_from))

    src = {
        "name": "mp-e_form",
        "sha256": "19b6ffd65031" + "0" * 52,
        "changed_options": {"cell_colors": ["hard", "soft"]},
    }
    text = ensembles._finetuned_from([rec({**src, "member": k}) for k in range(3)])
    assert "fine-tuned from `mp-e_form` (sha256 19b6ffd65031, members 0, 1, 2)" in text
    assert "cell_colors 'hard' -> 'soft'" in text
    assert ensembles._finetuned_from([rec({**src, "member": 0}), rec(None)]) == ""
