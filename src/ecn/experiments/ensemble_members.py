"""The members of an ensemble: their predictions on one split, read from their runs and aligned
by structure, and the check that the runs can be members of one ensemble at all.

Why read the CSVs: the members' ``predictions_{val,test}.csv`` (through ``RunRecord``) are the
numbers their test metrics were computed from, so the ensemble's validation fit and test metrics
need no re-run of K models over thousands of crystals. Why the checks here: the model files show
the architecture and the graph (``ecn.inference.ensemble.check_members``), not the data, splits
and targets a run was trained and scored on; those are in the run records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ecn.inference.ensemble import member_std
from ecn.train.record import RunRecord

__all__ = ["MemberPredictions", "check_records", "member_predictions"]


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


def check_records(recs: Sequence[RunRecord]) -> None:
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
