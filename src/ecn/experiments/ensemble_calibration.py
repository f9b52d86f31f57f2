"""The std of an ensemble, recalibrated on validation, and how well an uncertainty ranks and
sizes the errors on test.

Ensemble mean mu and member std sigma (population std, as ``ecn.inference.ensemble``) per
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

Test metrics (:func:`uncertainty_metrics`), before (a = 1, b = 0) and after recalibration:
Spearman correlation between |error| and sigma (a recalibration with a > 0 keeps it), the
fraction of errors within 1 and 2 sigma (68 % / 95 % for a calibrated Gaussian), the MAE of the
10 % most confident predictions against all, the Gaussian NLL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ecn.experiments.ensemble_members import MemberPredictions
from ecn.inference.ensemble import calibrated_std

__all__ = [
    "ALIASES",
    "CONFIDENT_FRACTION",
    "DEFAULT_METHOD",
    "METHODS",
    "ONE_SIGMA",
    "calibrate",
    "calibration_metrics",
    "fit_calibration",
    "fit_scale_and_floor",
    "fit_std_scale",
    "resolve_method",
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
