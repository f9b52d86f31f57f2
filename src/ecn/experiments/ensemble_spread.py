"""The ensemble std against the description spread of ``ecn predict --average`` on the same
crystals: two uncertainty measures scored against the same errors.

Why by running the packaged file: the first N test crystals go through the ensemble file itself
(``ecn.inference.predictor.Predictor``), so the same pass also checks the file against the mean
of the members' CSVs; only the uncertainty measure differs between the two columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ecn.experiments.ensemble_calibration import uncertainty_metrics
from ecn.inference.predictor import Predictor

__all__ = ["spread_comparison", "split_structures"]


def split_structures(
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
