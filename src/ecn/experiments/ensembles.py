"""Ensembles with calibrated uncertainty (issue 29 item 3): package K runs, fit the std
recalibration on validation, measure calibration on test (``ecn models package RUN1 RUN2 ...
--name NAME``).

Why each step is where it is:

* The members' predictions on the validation and test splits are read from their runs'
  ``predictions_{val,test}.csv`` (through ``RunRecord``): the numbers their test metrics were
  computed from, with no re-run of K models over thousands of crystals.
* Ensemble mean mu and member std sigma (population std, as ``ecn.inference.ensemble``) per
  structure and target. The reported std is a recalibration fitted on the validation split only
  and stored in the file, per target: sqrt((a sigma)^2 + b^2). Three fits (:data:`METHODS`):

  - ``scaled+floor`` (default; alias ``affine``): a and b >= 0 minimise the Gaussian NLL of the
    validation errors under variance (a sigma)^2 + b^2 (:func:`fit_scale_and_floor`). Why: with
    2-3 members sigma is itself a noisy estimate (for Gaussian members z = (y - mu) / sigma is a
    scaled Student t with K - 1 degrees of freedom, infinite variance for K <= 3), and it cannot
    see the error the members share (common bias, label noise): where they happen to agree,
    sigma ~ 0 but the error is not. The floor b carries that shared error, the factor a the part
    that grows with the members' disagreement, so one fit gives both the 68 % within 1 std and
    the 95 % within 2 std that a single factor cannot. Structures with sigma = 0 are used (they
    tell b); all of them sigma = 0: a = 1 (flagged degenerate) and b = the validation RMS error.
  - ``coverage``: b = 0 and a = s, the 68.27 % quantile of |y - mu| / sigma (68.27 % of the
    validation errors within 1 s sigma; sigma = 0 left out, all of them: s = 1, flagged). Right
    at 1 std, too narrow in the tails (the heavy tails of z).
  - ``nll``: b = 0 and s^2 = mean((y - mu)^2 / sigma^2), the Gaussian-NLL factor, set by the few
    structures where the members happen to agree: far too wide with few members.

  Measured on Perov-5 (runs/finetune scratch members; 3,787 validation, 3,785 test structures),
  test errors within 1 / 2 std and mean test NLL. 2 members, 300 training structures: raw spread
  35.9 % / 58.2 %; coverage (a = 2.90) 67.9 % / 82.6 %, NLL 285; nll (a = 361) 99.7 % / 99.8 %,
  NLL 4.54; scaled+floor (a = 0.63, b = 0.31 eV/cell) 70.9 % / 95.4 %, NLL 0.32. 2 members, 100
  structures: coverage 66.2 % / 81.4 %, scaled+floor (a = 0.52, b = 0.50) 69.5 % / 95.2 %. 3
  members, 100 structures: coverage 67.1 % / 88.0 %, scaled+floor (a = 0.80, b = 0.47)
  69.3 % / 95.5 %. The report, card and registry entry give the test metrics of all three and
  of the raw spread, whichever is applied.
* Test metrics, before (a = 1, b = 0) and after recalibration: Spearman correlation between
  |error| and sigma (a recalibration with a > 0 keeps it), the fraction of errors within 1 and
  2 sigma (68 % / 95 % for a calibrated Gaussian), the MAE of the 10 % most confident
  predictions against all, the Gaussian NLL.
* The description spread of ``ecn predict --average`` is measured on the first N test crystals
  by running the packaged file itself (so the same file is also checked against the CSVs), with
  the same errors: only the uncertainty measure differs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecn._version import __version__
from ecn.experiments.packaging import CARD_GRAPH_KEYS, slice_metric
from ecn.inference import MODEL_FILE, EnsembleModel, pretrained
from ecn.inference.ensemble import calibrated_std, check_members, member_std
from ecn.inference.model_file import load_model_file, save_model_file
from ecn.inference.predictor import Predictor, load_model
from ecn.io import atomic_write_text, sha256_file, write_json
from ecn.settings import display_path
from ecn.train.record import RunRecord

__all__ = [
    "CONFIDENT_FRACTION",
    "METHODS",
    "MemberPredictions",
    "calibrate",
    "calibration_metrics",
    "DEFAULT_METHOD",
    "ensemble_card",
    "fit_calibration",
    "fit_scale_and_floor",
    "fit_std_scale",
    "member_predictions",
    "package_ensemble",
    "resolve_method",
    "spread_comparison",
    "uncertainty_metrics",
]

#: The "most confident" slice: this fraction of the predictions with the smallest std.
CONFIDENT_FRACTION = 0.10
#: How the std is recalibrated on validation (module docstring); the first is the default.
METHODS = ("scaled+floor", "coverage", "nll")
DEFAULT_METHOD = METHODS[0]
#: Other names accepted for a method (``--calibration affine``: affine in the variance).
ALIASES = {"affine": "scaled+floor"}
#: Fraction of a Gaussian within one standard deviation.
ONE_SIGMA = math.erf(1 / math.sqrt(2))


@dataclass(frozen=True)
class MemberPredictions:
    """The members' predictions on one split, aligned by structure id.

    Attributes:
        ids: (n,) structure ids, in member 1's order.
        y: (n, T) targets.
        preds: (K, n, T) each member's predictions.
        targets: the T target names.
    """

    ids: list[str]
    y: np.ndarray
    preds: np.ndarray
    targets: list[str]

    @property
    def mean(self) -> np.ndarray:
        """(n, T) ensemble mean."""
        return self.preds.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        """(n, T) members' std (population, not recalibrated; exactly 0 where they agree)."""
        return member_std(self.preds)


def _columns(targets: Sequence[str]) -> list[tuple[str, str]]:
    """(target column, prediction column) per target, as ``ecn.train`` writes them."""
    if len(targets) == 1:
        return [("target", "prediction")]
    return [(f"target_{t}", f"prediction_{t}") for t in targets]


def member_predictions(recs: Sequence[RunRecord], split: str) -> MemberPredictions:
    """Read the members' ``predictions_<split>.csv`` and align them by id.

    Raises:
        ValueError: a file lacks a column, the members saw other structures, or their targets
            for one structure disagree (they were not trained on the same data).
    """
    targets = list(recs[0].results.targets)
    cols = _columns(targets)
    tables = []
    for rec in recs:
        df = rec.predictions(split)
        missing = [c for pair in cols for c in pair if c not in df.columns]
        if missing:
            raise ValueError(f"{rec.path}: predictions_{split}.csv has no column(s) {missing}")
        if df["id"].duplicated().any():
            raise ValueError(f"{rec.path}: predictions_{split}.csv repeats ids")
        tables.append(df.set_index("id"))
    ids = list(tables[0].index)
    for rec, df in zip(recs[1:], tables[1:], strict=True):
        if set(df.index) != set(ids):
            extra, lost = sorted(set(df.index) - set(ids)), sorted(set(ids) - set(df.index))
            raise ValueError(
                f"{split} structures differ between {recs[0].path} and {rec.path}: "
                f"{len(extra)} only in the second (e.g. {extra[:3]}), {len(lost)} only in the "
                f"first (e.g. {lost[:3]}); members must share the data and splits"
            )
    y = tables[0].loc[ids, [c for c, _ in cols]].to_numpy(float)
    preds = np.stack([df.loc[ids, [p for _, p in cols]].to_numpy(float) for df in tables])
    for rec, df in zip(recs[1:], tables[1:], strict=True):
        other = df.loc[ids, [c for c, _ in cols]].to_numpy(float)
        if not np.allclose(other, y, rtol=1e-6, atol=1e-6, equal_nan=True):
            k = int(np.argmax(np.any(~np.isclose(other, y, rtol=1e-6, atol=1e-6), axis=1)))
            raise ValueError(
                f"{split} target of {ids[k]} differs between {recs[0].path} ({y[k].tolist()}) "
                f"and {rec.path} ({other[k].tolist()}): members must share the data"
            )
    return MemberPredictions(ids, y, preds, targets)


def resolve_method(method: str) -> str:
    """The canonical name of a calibration method (:data:`METHODS`, or an :data:`ALIASES` key).

    Raises:
        ValueError: an unknown method, naming the known ones.
    """
    name = ALIASES.get(method, method)
    if name not in METHODS:
        raise ValueError(
            f"calibration method must be one of {METHODS} (or {', '.join(ALIASES)}), got {method!r}"
        )
    return name


def fit_std_scale(
    y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, method: str = "coverage"
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The factor s per target of a pure-factor recalibration s sigma on (y, mu): ``coverage``,
    68.27 % of |y - mu| within s sigma; ``nll``, the minimum of the Gaussian NLL under
    N(mu, (s sigma)^2), s^2 = mean((y - mu)^2 / sigma^2) (module docstring: why neither is the
    default).

    Args:
        y, mu, sigma: (n, T) targets, ensemble means, members' std (validation split).
        method: ``coverage`` or ``nll``.

    Returns:
        (T,) factors, and per target how it was fitted (``n`` used, ``n_zero_std`` left out,
        ``degenerate`` when no structure had sigma > 0: then s = 1).
    """
    if method not in ("coverage", "nll"):
        raise ValueError(f"a factor-only fit is coverage or nll, got {method!r}")
    y, mu, sigma = (np.asarray(a, float).reshape(len(y), -1) for a in (y, mu, sigma))
    scale, info = [], []
    for j in range(y.shape[1]):
        ok = np.isfinite(y[:, j]) & (sigma[:, j] > 0)
        n_zero = int(np.sum(np.isfinite(y[:, j]) & (sigma[:, j] <= 0)))
        if not ok.any():
            scale.append(1.0)
            info.append({"n": 0, "n_zero_std": n_zero, "degenerate": True})
            continue
        z = np.abs(y[ok, j] - mu[ok, j]) / sigma[ok, j]
        s = np.quantile(z, ONE_SIGMA) if method == "coverage" else np.sqrt(np.mean(z**2))
        scale.append(float(s))
        info.append({"n": int(ok.sum()), "n_zero_std": n_zero, "degenerate": False})
    return np.array(scale), info


#: Grid of r = b^2 / (a^2 mean(sigma^2)) searched before the local refinement (log10 r).
_LOG_RATIO_GRID = np.linspace(-8.0, 8.0, 161)


def fit_scale_and_floor(
    y: np.ndarray, mu: np.ndarray, sigma: np.ndarray
) -> tuple[float, float, dict[str, Any]]:
    """(a, b, info) minimising the mean Gaussian NLL of one target's (n,) validation errors
    under variance (a sigma)^2 + b^2, a >= 0, b >= 0 (module docstring: why).

    How, robustly: write the variance as A (sigma^2 / m + r) with m = mean(sigma^2) and
    r = b^2 / (a^2 m) >= 0. For a fixed r the best A is closed-form, A = mean(e^2 / u) with
    u = sigma^2 / m + r, so the NLL is a function of r alone. It is evaluated at r = 0 (factor
    only; not when some sigma = 0, where it is infinite), on a log grid 1e-8 ... 1e8 and at
    r = inf (floor only, b^2 = mean(e^2)), and the best grid point is refined by a bounded
    scalar search between its neighbours. No start point to get wrong, both boundaries exact,
    no division by sigma.

    Args:
        y, mu, sigma: (n,) targets, ensemble means, members' std (NaN targets left out).

    Returns:
        a, b and ``n``, ``n_zero_std`` (structures with sigma = 0, used: they tell b),
        ``degenerate`` (True when a cannot be fitted: every sigma = 0 gives a = 1 and b = the
        RMS error; no error at all gives a = 1, b = 0), ``nll`` (the mean validation NLL at
        the optimum, with the 0.5 log(2 pi); None when degenerate without errors).
    """
    from scipy.optimize import minimize_scalar

    y, mu, sigma = (np.asarray(v, float).reshape(-1) for v in (y, mu, sigma))
    keep = np.isfinite(y) & np.isfinite(mu) & np.isfinite(sigma)
    e2, s2 = (y[keep] - mu[keep]) ** 2, sigma[keep] ** 2
    info: dict[str, Any] = {"n": int(len(e2)), "n_zero_std": int(np.sum(s2 <= 0))}
    const = 0.5 * math.log(2 * math.pi) + 0.5
    if not np.any(e2 > 0):  # no error to size: keep the members' spread as it is
        return 1.0, 0.0, {**info, "degenerate": True, "nll": None}
    mean_e2 = float(np.mean(e2))
    m = float(np.mean(s2))
    if m == 0:  # the members agree everywhere: the floor alone, at the validation RMS error
        b = math.sqrt(mean_e2)
        return 1.0, b, {**info, "degenerate": True, "nll": 0.5 * math.log(mean_e2) + const}
    s2n = s2 / m

    def profile(log_r: float) -> float:
        """NLL (up to the constant) at r = 10^log_r with the best A."""
        u = s2n + 10.0**log_r
        return 0.5 * math.log(float(np.mean(e2 / u))) + 0.5 * float(np.mean(np.log(u)))

    # (NLL, log10 r): the grid, r = inf (floor only) and r = 0 (factor only, needs sigma > 0)
    candidates = [(profile(float(v)), float(v)) for v in _LOG_RATIO_GRID]
    candidates.append((0.5 * math.log(mean_e2), math.inf))
    if np.all(s2n > 0):
        factor_only = 0.5 * math.log(float(np.mean(e2 / s2n))) + 0.5 * float(np.mean(np.log(s2n)))
        candidates.append((factor_only, -math.inf))
    best, log_r = min(candidates)
    if math.isfinite(log_r):
        i = int(np.argmin(np.abs(_LOG_RATIO_GRID - log_r)))
        lo = _LOG_RATIO_GRID[max(i - 1, 0)]
        hi = _LOG_RATIO_GRID[min(i + 1, len(_LOG_RATIO_GRID) - 1)]
        res = minimize_scalar(profile, bounds=(lo, hi), method="bounded",
                              options={"xatol": 1e-8})  # fmt: skip
        if res.fun < best:
            best, log_r = float(res.fun), float(res.x)
    if log_r == math.inf:
        a, b = 0.0, math.sqrt(mean_e2)
    else:
        r = 0.0 if log_r == -math.inf else 10.0**log_r
        big_a = float(np.mean(e2 / (s2n + r)))
        a, b = math.sqrt(big_a / m), math.sqrt(big_a * r)
    return a, b, {**info, "degenerate": False, "nll": best + const}


def fit_calibration(
    y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, method: str = DEFAULT_METHOD
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """The recalibration std = sqrt((a sigma)^2 + b^2) per target fitted on (y, mu, sigma) by
    `method` (:data:`METHODS`; the factor-only fits give b = 0).

    Args:
        y, mu, sigma: (n, T) targets, ensemble means, members' std (the validation split).

    Returns:
        (T,) factors a, (T,) floors b, per target how it was fitted (``n``, ``n_zero_std``,
        ``degenerate``, ...).
    """
    method = resolve_method(method)
    y, mu, sigma = (np.asarray(v, float).reshape(len(y), -1) for v in (y, mu, sigma))
    if method != "scaled+floor":
        scale, info = fit_std_scale(y, mu, sigma, method)
        return scale, np.zeros_like(scale), info
    fits = [fit_scale_and_floor(y[:, j], mu[:, j], sigma[:, j]) for j in range(y.shape[1])]
    return (
        np.array([f[0] for f in fits]),
        np.array([f[1] for f in fits]),
        [f[2] for f in fits],
    )


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation; None when either side is constant (undefined)."""
    from scipy.stats import spearmanr

    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def uncertainty_metrics(
    y: np.ndarray, mu: np.ndarray, u: np.ndarray, scale: float = 1.0, floor: float = 0.0
) -> dict[str, Any]:
    """How well the uncertainty sd = sqrt((scale u)^2 + floor^2) ranks and sizes the errors
    ``|y - mu|`` (one target, (n,) arrays; NaN targets left out).

    Returns ``n``, ``mae``, ``spearman`` (|error| vs u; None if u is constant),
    ``within_1sigma`` / ``within_2sigma`` (fraction of |error| <= k sd),
    ``mae_confident`` (MAE of the :data:`CONFIDENT_FRACTION` with the smallest u, ties in input
    order) with ``n_confident``, ``nll`` (mean Gaussian NLL over sd > 0, None without any) and
    ``n_zero_std`` (sd = 0). Spearman and the confident MAE rank by u: the same for every
    recalibration with scale > 0 (sd is then increasing in u).
    """
    y, mu, u = (np.asarray(a, float).reshape(-1) for a in (y, mu, u))
    keep = np.isfinite(y)
    y, mu, u = y[keep], mu[keep], u[keep]
    err = np.abs(y - mu)
    sd = calibrated_std(u, scale, floor)
    n_conf = max(1, math.ceil(CONFIDENT_FRACTION * len(err))) if len(err) else 0
    order = np.argsort(u, kind="stable")
    pos = sd > 0
    nll = 0.5 * np.log(2 * np.pi * sd[pos] ** 2) + 0.5 * (err[pos] / sd[pos]) ** 2
    return {
        "n": int(len(err)),
        "mae": float(err.mean()) if len(err) else None,
        "spearman": _spearman(err, u),
        "within_1sigma": float(np.mean(err <= sd)) if len(err) else None,
        "within_2sigma": float(np.mean(err <= 2 * sd)) if len(err) else None,
        "mae_confident": float(err[order[:n_conf]].mean()) if n_conf else None,
        "n_confident": n_conf,
        "nll": float(nll.mean()) if pos.any() else None,
        "n_zero_std": int(np.sum(~pos)),
    }


def calibration_metrics(
    y: np.ndarray,
    mu: np.ndarray,
    sigma: np.ndarray,
    scale: Sequence[float],
    floor: Sequence[float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per target (index j of the (n, T) arrays): ``before`` (the members' std as it is) and
    ``after`` (sqrt((a sigma)^2 + b^2) with a = `scale`, b = `floor`, default 0)
    :func:`uncertainty_metrics`, with ``std_scale`` and ``std_floor``."""
    y, mu, sigma = (np.asarray(a, float).reshape(len(y), -1) for a in (y, mu, sigma))
    floor = [0.0] * y.shape[1] if floor is None else floor
    return {
        str(j): {
            "std_scale": float(scale[j]),
            "std_floor": float(floor[j]),
            "before": uncertainty_metrics(y[:, j], mu[:, j], sigma[:, j]),
            "after": uncertainty_metrics(
                y[:, j], mu[:, j], sigma[:, j], float(scale[j]), float(floor[j])
            ),
        }
        for j in range(y.shape[1])
    }


def _split_structures(
    dataset: str, split: str, targets: Sequence[str], n: int, ids: Sequence[str], path: str | None
) -> tuple[list[str], list[Any], np.ndarray]:
    """(ids, structures, (n, T) targets) of the first `n` crystals of `split`: for Materials
    Project the first `n` of `ids` read by id (no curation of the whole file)."""
    if dataset == "mp":
        from ecn.data.mp.loader import records_by_id

        rows = records_by_id(list(ids[:n]))
        y = np.array([[t[name] for name in targets] for _, _, t in rows], dtype=float)
        return [r for r, _, _ in rows], [s for _, s, _ in rows], y
    from ecn.data import load_split

    loaded = load_split(dataset, split, limit=n, path=path, required=tuple(targets))
    y = np.array([[r.targets[t] for t in targets] for r in loaded.records], dtype=float)
    return [r.id for r in loaded.records], [r.structure for r in loaded.records], y


def spread_comparison(
    predictor: Predictor,
    structures: Sequence[Any],
    y: np.ndarray,
    ids: Sequence[str],
    average: str = "origins",
    csv_mean: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The ensemble std against the description spread of ``--average`` on the same crystals.

    Both are scored against the same errors (the ensemble's plain prediction, as ``ecn
    predict`` gives it); the spread is not recalibrated (it is a lower bound by design, so only
    its ranking, Spearman and the confident MAE, compares fairly). Crystals above the
    predictor's limits (``--max-passes``, ``--max-atoms``) are left out and counted.

    Args:
        predictor: the packaged ensemble.
        structures, y, ids: the crystals, their (n, T) targets and ids.
        average: ``origins`` or ``full``.
        csv_mean: {id: (T,) ensemble mean from the members' CSVs}: the file's predictions are
            checked against it (``max_abs_diff_vs_csv``).
    """
    keep, skipped = [], {}
    for k, s in enumerate(structures):
        try:
            n_pass = predictor.passes(s, average)
        except ValueError as exc:
            skipped[str(ids[k])] = str(exc)
            continue
        if n_pass > predictor.limits.max_passes or len(s) > predictor.limits.max_atoms:
            skipped[str(ids[k])] = f"{n_pass} passes / {len(s)} atoms above the limits"
            continue
        keep.append(k)
    kept = [structures[k] for k in keep]
    y = np.asarray(y, float).reshape(len(structures), -1)[keep]
    plain = predictor.predict_stats(kept)
    averaged = predictor.predict_stats(kept, average=average)
    out: dict[str, Any] = {"n": len(keep), "average": average, "skipped": skipped, "targets": {}}
    for j, t in enumerate(predictor.targets):
        mu = plain["mean"][:, j]
        out["targets"][t] = {
            "ensemble_std": uncertainty_metrics(y[:, j], mu, plain["std"][:, j]),
            "description_spread": uncertainty_metrics(y[:, j], mu, averaged["spread"][:, j]),
            "mean_std": float(plain["std"][:, j].mean()) if keep else None,
            "mean_spread": float(averaged["spread"][:, j].mean()) if keep else None,
        }
    if csv_mean is not None:
        diffs = [
            np.abs(plain["mean"][i] - csv_mean[str(ids[k])]).max()
            for i, k in enumerate(keep)
            if str(ids[k]) in csv_mean
        ]
        out["max_abs_diff_vs_csv"] = float(max(diffs)) if diffs else None
        out["n_checked_vs_csv"] = len(diffs)
    return out


def _regression_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """``mae``, ``rmse``, ``r2`` and ``n`` of one target (NaN targets left out)."""
    keep = np.isfinite(y)
    y, p = y[keep], p[keep]
    ss = float(np.sum((y - y.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(p - y))),
        "rmse": float(np.sqrt(np.mean((p - y) ** 2))),
        "r2": float(1 - np.sum((p - y) ** 2) / ss) if ss > 0 else None,
        "n": int(len(y)),
    }


def _check_records(recs: Sequence[RunRecord]) -> None:
    """Refuse runs that differ in data, splits or targets (what the model files cannot show)."""
    problems = []
    for rec in recs[1:]:
        a, b = recs[0], rec
        pairs = {
            "dataset": (a.results.dataset, b.results.dataset),
            "targets": (a.results.targets, b.results.targets),
            "units": (a.results.units, b.results.units),
            "task": (a.results.task, b.results.task),
            "val split": (a.config.data.val_split, b.config.data.val_split),
            "test split": (a.config.data.test_split, b.config.data.test_split),
        }
        diffs = [f"{k} {va!r} vs {vb!r}" for k, (va, vb) in pairs.items() if va != vb]
        if diffs:
            problems.append(f"{b.path} vs {a.path}: " + "; ".join(diffs))
    if problems:
        raise ValueError(
            "ensemble members must share data, splits and targets: " + " | ".join(problems)
        )


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _num(x: float | None, fmt: str = ".4g") -> str:
    return "n/a" if x is None else format(x, fmt)


#: How each method fits, in the card's words.
METHOD_NOTES = {
    "scaled+floor": "a and b >= 0 minimise the Gaussian NLL of the validation errors",
    "coverage": "b = 0, a puts 68.27 % of the validation errors within a σ",
    "nll": "b = 0, a minimises the Gaussian NLL of the validation errors",
}


def _params(a: float, b: float, unit: str = "") -> str:
    return f"a = {a:.4g}" + (f", b = {b:.4g}{' ' + unit if unit else ''}" if b else "")


def _methods_sentence(report: dict, target: str, unit: str = "") -> str:
    """One sentence: the test coverage and NLL of the raw spread and of every method's fit
    (all fitted on validation), the applied one marked, so a reader can compare."""
    cal = report["calibration"]
    before = cal["test"][target]["before"]
    parts = [
        f"members' std as it is {_pct(before['within_1sigma'])} / "
        f"{_pct(before['within_2sigma'])}, NLL {_num(before['nll'], '.3f')}"
    ]
    for m, f in cal["methods"][target].items():
        t = f["test"]
        parts.append(
            f"{m} ({_params(f['std_scale'], f['std_floor'], unit)}) {_pct(t['within_1sigma'])} / "
            f"{_pct(t['within_2sigma'])}, NLL {_num(t['nll'], '.3f')}"
            + (" (applied)" if m == cal["method"] else "")
        )
    return "Test errors within ±1σ / ±2σ by recalibration: " + "; ".join(parts) + "."


def ensemble_card(name: str, entry: dict[str, Any], recs: Sequence[RunRecord], report: dict) -> str:
    """Model card text (markdown) of an ensemble: members, test metrics of the mean, and the
    calibration numbers of `report` (:func:`package_ensemble`)."""
    from ecn.data import get_spec

    spec = get_spec(entry["dataset"])
    cfg, res = recs[0].config, recs[0].results
    sl = entry["slice"]
    members = "; ".join(
        f"`{m['run']}` (seed {m['seed']}, test MAE {_num(m['test_mae'])}, {m['epochs']} epochs, "
        f"stopped by {m['stopped_by']})"
        for m in report["members"]
    )
    lines = [
        f"# Model card: `{name}` (ensemble of {len(recs)})",
        "",
        f"- **Predicts:** `{entry['target']}` ({entry['unit'] or 'no unit'}), {entry['task']}: "
        f"{spec.target(entry['target']).description}; the mean of {len(recs)} members and "
        "a standard deviation (`std`).",
        f"- **Model:** {cfg.model.name} {cfg.model.options}, {len(recs)} members trained from "
        "different seeds on the same data.",
        f"- **Members:** {members}.",
        f"- **Data:** {res.source_note}",
        f"- **Splits:** train `{cfg.data.train_split}`, early stopping and std calibration on "
        f"`{cfg.data.val_split}`, test `{cfg.data.test_split}`; sizes {res.split_sizes}.",
        "- **Test metrics (ensemble mean):** "
        + ", ".join(f"{k} {_num(v)}" for k, v in entry["test"].items() if k != "n")
        + f" on {entry['test']['n']} structures; members' mean test MAE "
        f"{_num(float(np.mean([m['test_mae'] for m in report['members']])))}.",
    ]
    units = dict(zip(report["targets"], report["units"], strict=True))
    method = report["calibration"]["method"]
    for t, cal in report["calibration"]["test"].items():
        a, b = cal["after"], cal["before"]
        fit = report["calibration"]["fit"][t]
        lines += [
            f"- **Uncertainty ({t}):** std = sqrt((a x the members' std)² + b²), "
            f"{_params(cal['std_scale'], cal['std_floor'], units[t])}, fitted on "
            f"`{cfg.data.val_split}` only ({fit['n']} structures, method `{method}`: "
            f"{METHOD_NOTES[method]}"
            f"{'; degenerate: members identical' if fit['degenerate'] else ''}). On "
            f"`{cfg.data.test_split}` ({a['n']} structures): errors within ±1σ "
            f"{_pct(a['within_1sigma'])} and ±2σ {_pct(a['within_2sigma'])} (a calibrated "
            f"Gaussian: 68.3 % / 95.4 %; before recalibration {_pct(b['within_1sigma'])} / "
            f"{_pct(b['within_2sigma'])}); Spearman(|error|, σ) {_num(a['spearman'], '.3f')}; "
            f"MAE of the {CONFIDENT_FRACTION:.0%} most confident {_num(a['mae_confident'])} "
            f"against {_num(a['mae'])} for all. {_methods_sentence(report, t, units[t])}",
        ]
    comp = report.get("spread_comparison")
    if comp:
        for t, c in comp["targets"].items():
            e, d = c["ensemble_std"], c["description_spread"]
            lines.append(
                f"- **Against `--average {comp['average']}` ({t}, first {comp['n']} test "
                f"crystals):** Spearman(|error|, ·) ensemble std {_num(e['spearman'], '.3f')}, "
                f"description spread {_num(d['spearman'], '.3f')}; MAE of the "
                f"{CONFIDENT_FRACTION:.0%} most confident {_num(e['mae_confident'])} (std) vs "
                f"{_num(d['mae_confident'])} (spread), all {_num(e['mae'])}; within ±1 / ±2: "
                f"std {_pct(e['within_1sigma'])} / {_pct(e['within_2sigma'])}, spread (not "
                f"recalibrated) {_pct(d['within_1sigma'])} / {_pct(d['within_2sigma'])}; mean "
                f"std {_num(c['mean_std'])}, mean spread {_num(c['mean_spread'])}."
            )
    lines += [
        f"- **Slice check (test suite):** {sl['metric']} {sl['value']:.5f} on the first "
        f"{sl['n']} structures of `{sl['split']}`.",
        f"- **Graph:** {entry['graph']}",
        f"- **ecn version:** trained with {res.ecn_version or '?'}, packaged with {__version__} "
        f"(an ensemble file is model-file format 2: ecn before ensembles cannot read it).",
        f"- **Data licence:** {spec.licence or 'not stated by the source'}.",
        f"- **File:** `{entry['file']}`, {entry['bytes']} bytes, sha256 `{entry['sha256']}`.",
        f"- **Numbers:** `{report.get('json', '')}`.",
        "",
        "Generated by `ecn models package RUN1 RUN2 ...`; do not edit by hand.",
        "",
    ]
    return "\n".join(lines)


def calibrate(
    val: MemberPredictions,
    test: MemberPredictions,
    method: str = DEFAULT_METHOD,
    split: str = "val",
) -> tuple[np.ndarray, np.ndarray, dict[str, Any], dict[str, Any]]:
    """Fit the std recalibration on `val` only by every method, apply `method`'s, and measure
    each on `test`.

    Returns:
        (T,) factors a and (T,) floors b of `method`; the record stored in the file
        (``method``, ``std``: the formula, ``split``, per-target ``fit`` with ``std_scale`` and
        ``std_floor``); the report section: that record, ``test`` per target (``std_scale``,
        ``std_floor``, metrics ``before`` and ``after``) and ``methods`` per target and method
        (its a, b, fit and test metrics; the applied method's test metrics are ``after``).
    """
    method = resolve_method(method)
    targets = val.targets
    fits = {m: fit_calibration(val.y, val.mean, val.std, m) for m in METHODS}
    scale, floor, info = fits[method]
    record = {
        "method": method,
        "std": "sqrt((std_scale * members_std)^2 + std_floor^2)",
        "split": split,
        "fit": {
            t: {**info[j], "std_scale": float(scale[j]), "std_floor": float(floor[j])}
            for j, t in enumerate(targets)
        },
    }
    measured = calibration_metrics(test.y, test.mean, test.std, scale, floor)
    methods: dict[str, Any] = {t: {} for t in targets}
    for m, (a, b, m_info) in fits.items():
        for j, t in enumerate(targets):
            methods[t][m] = {
                "std_scale": float(a[j]),
                "std_floor": float(b[j]),
                "fit": m_info[j],
                "test": uncertainty_metrics(
                    test.y[:, j], test.mean[:, j], test.std[:, j], float(a[j]), float(b[j])
                ),
            }
    section = {
        **record,
        "confident_fraction": CONFIDENT_FRACTION,
        "test": {targets[int(j)]: v for j, v in measured.items()},
        "methods": methods,
    }
    return scale, floor, record, section


def package_ensemble(
    runs: Sequence[str | Path],
    name: str,
    root: Path | None = None,
    slice_n: int = 200,
    compare_n: int = 300,
    average: str = "origins",
    json_out: str | Path | None = None,
    method: str = DEFAULT_METHOD,
) -> dict[str, Any]:
    """Package finished runs as ensemble `name`: one file with every member and the std
    recalibration fitted on validation, a card and a registry entry, and the calibration report
    as JSON.

    Args:
        runs: the members' run directories (same architecture, graph, data and targets).
        name: the model name (``ecn predict --model NAME``).
        root: registry folder (default: the package's).
        slice_n: test structures of the card's slice check.
        compare_n: first test crystals of the ``--average`` comparison (0: skip it).
        average: the description averaging compared against.
        json_out: where the report goes (default ``results/ensembles/<name>.json``).
        method: the std recalibration fitted on validation and applied (:data:`METHODS`;
            every method's test metrics are reported whichever is applied).

    Returns:
        The registry entry with ``name``, ``report`` (everything in the JSON) and
        ``json_path`` (where it was written).

    Raises:
        ValueError: fewer than 2 runs, or members that differ (every difference named).
    """
    if len(runs) < 2:
        raise ValueError(f"an ensemble needs at least 2 runs, got {len(runs)}")
    method = resolve_method(method)
    recs = [RunRecord.load(r) for r in runs]
    labels = [display_path(r.path) for r in recs]
    if len(set(r.path.resolve() for r in recs)) < len(recs):
        raise ValueError(f"a run is listed twice: {labels}")
    _check_records(recs)
    loaded = [load_model_file(r.path / (r.results.model_file or MODEL_FILE)) for r in recs]
    models = [m for m, _, _ in loaded]
    check_members(models, [s for _, s, _ in loaded], labels)

    val = member_predictions(recs, "val")
    test = member_predictions(recs, "test")
    scale, floor, calibration, cal_section = calibrate(
        val, test, method, recs[0].config.data.val_split
    )
    targets = val.targets
    root = root or pretrained.PRETRAINED_DIR
    root.mkdir(parents=True, exist_ok=True)
    dest = root / f"{name}.pt"
    json_path = (
        Path(json_out) if json_out is not None else Path("results/ensembles") / f"{name}.json"
    )
    members_info = [
        {
            "run": label,
            "seed": rec.results.seed if rec.results.seed is not None else rec.config.run.seed,
            "sha256": sha256_file(rec.path / (rec.results.model_file or MODEL_FILE)),
            "test_mae": _regression_metrics(test.y[:, 0], test.preds[k][:, 0])["mae"],
            "epochs": rec.results.epochs_run,
            "best_epoch": rec.results.best_epoch,
            "stopped_by": rec.results.stopped_by,
        }
        for k, (rec, label) in enumerate(zip(recs, labels, strict=True))
    ]
    save_model_file(
        dest,
        EnsembleModel(models, scale, floor),
        loaded[0][1],
        dataset=recs[0].results.dataset,
        metadata={"members": members_info, "source_note": recs[0].results.source_note},
        calibration=calibration,
    )
    cfg, res = recs[0].config, recs[0].results
    report: dict[str, Any] = {
        "name": name,
        "ecn_version": __version__,
        "dataset": res.dataset,
        "targets": targets,
        "units": list(res.units),
        "members": members_info,
        "test_metrics": {
            t: _regression_metrics(test.y[:, j], test.mean[:, j]) for j, t in enumerate(targets)
        },
        "calibration": cal_section,
        "json": display_path(json_path),
    }
    predictor = load_model(dest)
    if compare_n > 0:
        ids, structures, y = _split_structures(
            res.dataset, cfg.data.test_split, targets, compare_n, test.ids, cfg.data.path
        )
        csv_mean = dict(zip(test.ids, test.mean, strict=True))
        report["spread_comparison"] = spread_comparison(
            predictor, structures, y, ids, average, csv_mean
        )
    entry: dict[str, Any] = {
        "file": dest.name,
        "card": f"{name}.md",
        "sha256": sha256_file(dest),
        "bytes": dest.stat().st_size,
        "dataset": res.dataset,
        "target": targets[0],
        "unit": res.units[0],
        "task": res.task,
        "model": f"{cfg.model.name} {cfg.model.options.get('group', '')}".strip()
        + f", ensemble of {len(recs)}",
        "members": len(recs),
        "test": report["test_metrics"][targets[0]],
        "std_scale": [float(s) for s in scale],
        "std_floor": [float(b) for b in floor],
        "calibration_method": method,
        "calibration_test": {
            k: report["calibration"]["test"][targets[0]]["after"][k]
            for k in ("within_1sigma", "within_2sigma", "spearman", "mae_confident", "mae", "nll")
        },
        # the first target's test coverage and NLL of the raw spread and of each method's fit
        "calibration_methods_test": {
            m: {
                **({} if m == "before" else {k: f[k] for k in ("std_scale", "std_floor")}),
                **{k: f["test"][k] for k in ("within_1sigma", "within_2sigma", "nll")},
            }
            for m, f in [
                ("before", {"test": report["calibration"]["test"][targets[0]]["before"]}),
                *report["calibration"]["methods"][targets[0]].items(),
            ]
        },
        "graph": {k: dataclasses.asdict(loaded[0][1])[k] for k in CARD_GRAPH_KEYS},
        "ecn_version": res.ecn_version,
        "epochs": "/".join(str(m["epochs"]) for m in members_info),
        "best_epoch": "/".join(str(m["best_epoch"]) for m in members_info),
        "stopped_by": "/".join(sorted({str(m["stopped_by"]) for m in members_info})),
        "train_minutes": round(sum((r.results.train_time_s or 0.0) for r in recs) / 60, 1),
    }
    # Materials Project: the first test ids read by id, not the whole file curated (minutes)
    slice_ids = test.ids[:slice_n] if res.dataset == "mp" else None
    entry["slice"] = slice_metric(
        predictor, res.dataset, cfg.data.test_split, targets[0], res.task, slice_n, slice_ids
    )
    report["registry_entry"] = {k: v for k, v in entry.items() if k != "slice"}
    write_json(json_path, report)
    atomic_write_text(root / entry["card"], ensemble_card(name, entry, recs, report))
    reg = pretrained.read_registry(root)
    reg[name] = entry
    pretrained.write_registry(reg, root)
    return {"name": name, **entry, "report": report, "json_path": str(json_path)}
