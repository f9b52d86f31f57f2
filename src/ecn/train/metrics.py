"""Metrics in plain numpy (no scikit-learn dependency): regression and binary classification."""

from __future__ import annotations

import numpy as np

__all__ = ["classification_metrics", "regression_metrics", "roc_auc"]


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² of 1-D arrays (original units)."""
    y = np.asarray(y, dtype=np.float64).ravel()
    pred = np.asarray(pred, dtype=np.float64).ravel()
    if y.shape != pred.shape or y.size == 0:
        raise ValueError(f"need equal, non-empty arrays, got {y.shape} and {pred.shape}")
    err = pred - y
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((err**2).sum()) / ss_tot if ss_tot > 0 else float("nan")
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": r2,
        "n": int(y.size),
    }


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve via the Mann-Whitney rank statistic (ties get mid-ranks)."""
    from scipy.stats import rankdata

    y = np.asarray(y).astype(bool).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(score, dtype=np.float64).ravel())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def classification_metrics(
    y: np.ndarray, prob: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """ROC-AUC, accuracy, and precision/recall/F1 for BOTH classes (class 1 = positive).

    Args:
        y: (n,) labels in {0, 1}.
        prob: (n,) predicted probability of class 1.
    """
    y = np.asarray(y).astype(np.int64).ravel()
    prob = np.asarray(prob, dtype=np.float64).ravel()
    if y.shape != prob.shape or y.size == 0:
        raise ValueError(f"need equal, non-empty arrays, got {y.shape} and {prob.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("classification labels must be 0 or 1")
    pred = (prob >= threshold).astype(np.int64)
    out: dict[str, float] = {
        "roc_auc": roc_auc(y, prob),
        "accuracy": float((pred == y).mean()),
        "n": int(y.size),
    }
    for cls in (0, 1):
        tp = int(((pred == cls) & (y == cls)).sum())
        fp = int(((pred == cls) & (y != cls)).sum())
        fn = int(((pred != cls) & (y == cls)).sum())
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        out[f"precision_{cls}"] = p
        out[f"recall_{cls}"] = r
        out[f"f1_{cls}"] = 2 * p * r / (p + r) if p + r else 0.0
    return out
