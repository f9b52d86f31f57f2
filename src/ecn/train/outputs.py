"""Run-directory outputs: per-epoch metrics CSV, prediction CSVs, results JSON and plots.

All writers are called on rank 0 only (see ``ecn.train.run``).
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["MetricsCSV", "plot_learning_curve", "plot_parity", "write_predictions"]

METRIC_COLUMNS = ("epoch", "train_loss", "val_loss", "val_mae", "val_acc", "lr", "elapsed_s")


class MetricsCSV(pl.Callback):
    """Append one row per finished epoch to ``metrics.csv`` (rank 0 only).

    On resume, rows of epochs that will be re-run are dropped first, so the file always describes
    one consistent history.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._t0 = time.monotonic()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # on_train_start, not on_fit_start: the resumed epoch counter is restored by then.
        self._t0 = time.monotonic()
        if not trainer.is_global_zero:
            return
        start = trainer.current_epoch
        rows = read_metrics(self.path) if self.path.exists() else []
        rows = [r for r in rows if int(float(r["epoch"])) < start]
        self._offset = float(rows[-1]["elapsed_s"]) if rows and rows[-1].get("elapsed_s") else 0.0
        with self.path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        m = trainer.callback_metrics
        row: dict[str, Any] = {"epoch": trainer.current_epoch}
        for k in METRIC_COLUMNS[1:5]:
            row[k] = f"{float(m[k]):.8g}" if k in m else ""
        row["lr"] = f"{trainer.optimizers[0].param_groups[0]['lr']:.6g}"
        row["elapsed_s"] = f"{getattr(self, '_offset', 0.0) + time.monotonic() - self._t0:.2f}"
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=METRIC_COLUMNS, extrasaction="ignore").writerow(row)


def read_metrics(path: Path) -> list[dict[str, str]]:
    """Rows of a ``metrics.csv``."""
    with Path(path).open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_predictions(
    path: Path,
    ids: Sequence[str],
    y: np.ndarray,
    pred: np.ndarray,
    targets: Sequence[str],
    task: str,
    node_index: Sequence[int] | None = None,
) -> None:
    """``id, target, prediction`` (one target), or ``id, target_<t>, prediction_<t>`` per target.

    Classification adds ``probability`` (of class 1) and ``prediction`` is the class; node-level
    outputs add a ``node`` column (supercell node index within the crystal).
    """
    y = np.asarray(y).reshape(len(ids), -1)
    pred = np.asarray(pred).reshape(len(ids), -1)
    header = ["id"] + (["node"] if node_index is not None else [])
    if len(targets) == 1:
        header += ["target", "prediction"] + (["probability"] if task == "classification" else [])
    else:
        for t in targets:
            header += [f"target_{t}", f"prediction_{t}"]
    with Path(path).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for k, rid in enumerate(ids):
            row: list[Any] = [rid] + ([int(node_index[k])] if node_index is not None else [])
            if task == "classification":
                row += [int(y[k, 0]), int(pred[k, 0] >= 0.5), f"{pred[k, 0]:.6g}"]
            else:
                for j in range(y.shape[1]):
                    row += [f"{y[k, j]:.8g}", f"{pred[k, j]:.8g}"]
            w.writerow(row)


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_parity(
    path: Path, series: dict[str, tuple[np.ndarray, np.ndarray]], label: str, unit: str = ""
) -> None:
    """Predicted vs true for each split in ``series`` (first target only), with y = x."""
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    lo, hi = math.inf, -math.inf
    for split, (y, p) in series.items():
        y, p = np.asarray(y).reshape(len(y), -1)[:, 0], np.asarray(p).reshape(len(p), -1)[:, 0]
        mae = float(np.abs(p - y).mean())
        ax.scatter(y, p, s=6, alpha=0.6, label=f"{split} (MAE {mae:.3g})")
        lo, hi = min(lo, y.min(), p.min()), max(hi, y.max(), p.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    u = f" ({unit})" if unit else ""
    ax.set_xlabel(f"true {label}{u}")
    ax.set_ylabel(f"predicted {label}{u}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_learning_curve(
    path: Path, rows: list[dict[str, str]], metric: str, unit: str = ""
) -> None:
    """Train/val loss (standardised, log scale) and the validation metric per epoch."""
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(6, 4))

    def col(name: str) -> tuple[list[int], list[float]]:
        pts = [(int(float(r["epoch"])) + 1, float(r[name])) for r in rows if r.get(name)]
        return [e for e, _ in pts], [v for _, v in pts]

    for name in ("train_loss", "val_loss"):
        e, v = col(name)
        if e:
            ax.plot(e, v, marker=".", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (standardised targets)")
    if any(v > 0 for _, vals in [col("train_loss")] for v in vals):
        ax.set_yscale("log")
    e, v = col(metric)
    if e:
        ax2 = ax.twinx()
        ax2.plot(e, v, color="tab:red", marker=".", label=metric)
        ax2.set_ylabel(f"{metric}" + (f" ({unit})" if unit else ""))
        ax2.legend(loc="lower left", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
