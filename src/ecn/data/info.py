"""Summaries for `ecn data info`: counts, target statistics, element histogram."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ecn.data.types import Record


def target_stats(records: Sequence[Record], target_names: Sequence[str]) -> dict[str, dict]:
    """Per target: count of finite values, mean, std (population), min, max."""
    out: dict[str, dict] = {}
    for t in target_names:
        v = np.array([r.targets.get(t, math.nan) for r in records], dtype=float)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            out[t] = {
                "count": 0,
                "mean": math.nan,
                "std": math.nan,
                "min": math.nan,
                "max": math.nan,
            }
        else:
            out[t] = {
                "count": len(v),
                "mean": float(v.mean()),
                "std": float(v.std()),
                "min": float(v.min()),
                "max": float(v.max()),
            }
    return out


def element_histogram(records: Sequence[Record], top: int | None = None) -> list[tuple[str, int]]:
    """(element, number of structures containing it), most common first."""
    c: Counter = Counter()
    for r in records:
        c.update({el.symbol for el in r.structure.composition.elements})
    return c.most_common(top)


def size_histogram(records: Sequence[Record]) -> dict[int, int]:
    """Atoms per unit cell -> number of structures."""
    return dict(sorted(Counter(len(r.structure) for r in records).items()))
