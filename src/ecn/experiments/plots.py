"""The figures of the results tables: learning curves per model, test MAE against training size."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from ecn.train.record import read_history

__all__ = ["plot_finetune", "plot_learning_curves", "plot_sizes"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(run_dirs: dict[str, list[Path]], path: Path, title: str) -> None:
    """Validation MAE (classification: loss) against training time, one colour per model."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    column = "val_mae"
    for k, (label, dirs) in enumerate(run_dirs.items()):
        for j, d in enumerate(dirs):
            m = read_history(d)
            # classification runs log no MAE: their monitored value is the validation loss (BCE)
            # (their metrics.csv still has an empty val_mae column)
            column = "val_mae" if "val_mae" in m and m["val_mae"].notna().any() else "val_loss"
            m = m.dropna(subset=[column])
            ax.plot(
                m["elapsed_s"] / 60,
                m[column],
                color=f"C{k}",
                alpha=0.9,
                label=label if j == 0 else None,
                marker=".",
            )
    ax.set_xlabel("training time (min)")
    ax.set_ylabel("validation MAE" if column == "val_mae" else "validation loss (BCE)")
    ax.set_yscale("log")
    ax.set_title(textwrap.fill(title, 80), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _save_size_axes(plt: Any, fig: Any, ax: Any, path: Path) -> None:
    """Both size plots: log-log test MAE against training structures, legend, saved."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training structures")
    ax.set_ylabel("test MAE")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sizes(fits: dict[str, Any], path: Path, extrapolate_to: int) -> None:
    """Test MAE against training-set size per model, with each fitted power law (dashed)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for k, (label, fit) in enumerate(fits.items()):
        n = [p[0] for p in fit["points"]]
        m = [p[1] for p in fit["points"]]
        ax.plot(n, m, "o", color=f"C{k}", label=label)
        if "exponent" in fit:
            xs = np.geomspace(min(n), extrapolate_to, 20)
            ax.plot(xs, fit["prediction"] * (xs / extrapolate_to) ** fit["exponent"], "--",
                    color=f"C{k}")  # fmt: skip
    ax.axvline(extrapolate_to, color="grey", lw=0.8)
    _save_size_axes(plt, fig, ax, path)


def plot_finetune(rows: list[dict[str, Any]], path: Path, source: str) -> None:
    """Test MAE against training-set size, scratch and fine-tuned, mean with the seed range."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for k, arm in enumerate(("scratch", "finetuned")):
        pts = [(r["train_n"], r[arm]) for r in rows if arm in r]
        if not pts:
            continue
        n = np.array([p[0] for p in pts])
        mean = np.array([p[1]["mean"] for p in pts])
        lo = mean - np.array([min(p[1]["test_mae"]) for p in pts])
        hi = np.array([max(p[1]["test_mae"]) for p in pts]) - mean
        label = "from scratch" if arm == "scratch" else f"fine-tuned from {source}"
        ax.errorbar(n, mean, yerr=[lo, hi], fmt="o-", color=f"C{k}", capsize=3, label=label)
    _save_size_axes(plt, fig, ax, path)
