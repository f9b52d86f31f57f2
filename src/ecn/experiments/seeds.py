"""Mean ± std over seeds: one definition for every table, report and script.

One seed has no spread: its std is None and it is written "(1 seed)", never a misleading
"± 0.0000" (or "± nan").
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

__all__ = ["format_mean_std", "mean_std", "row_mean_std", "seed_stats"]


def seed_stats(values: Iterable[float]) -> tuple[float, float | None]:
    """(mean, sample std) of per-seed values; std None for a single seed.

    Raises:
        ValueError: no values.
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("no values to average")
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None


def format_mean_std(mean: float | None, std: float | None, n: int = 1, digits: int = 4) -> str:
    """'0.1234 ± 0.0056', '0.1234 (1 seed)' without spread, '-' without a value."""
    if mean is None:
        return "-"
    if std is None:
        return f"{mean:.{digits}f} ({n} seed)"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def mean_std(values: Iterable[float], digits: int = 4) -> str:
    """:func:`format_mean_std` of :func:`seed_stats` of `values`."""
    vals = list(values)
    return format_mean_std(*seed_stats(vals), n=len(vals), digits=digits)


def row_mean_std(row: dict[str, Any], digits: int = 4) -> str:
    """The mean ± std of a table row as ``write_table`` stores it (``mean``, ``std``)."""
    return format_mean_std(row["mean"], row["std"], 1, digits)
