"""Mean ± std over seeds: one definition for every table, report and script.

One seed has no spread: its std is None and it is written "(1 seed)", never a misleading
"± 0.0000" (or "± nan"). :func:`write_seed_table` is the table of the reference side-by-side
scripts (``scripts/cgcnn_reference.py``, ``scripts/megnet_reference.py``): one row per
implementation, its test MAE per seed and their mean ± std.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ecn.io import atomic_write_text, write_json

__all__ = ["format_mean_std", "mean_std", "row_mean_std", "seed_stats", "write_seed_table"]


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


def write_seed_table(
    rows: list[dict[str, Any]], out: Path, head: list[str], foot: list[str]
) -> str:
    """Write `out`.md and `out`.json: one row per implementation (sorted by name) with its
    seeds, test MAE per seed, mean ± std and seconds per run; returns the markdown.

    Args:
        rows: one dict per run, with ``impl``, ``seed``, ``test`` (MAE) and ``s`` (seconds, or
            None), plus anything else the JSON should keep.
        out: the path without suffix.
        head: the title and intro lines; foot: the lines after the table.
    """
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["impl"], []).append(r)
    lines = [
        *head,
        "",
        "| implementation | seeds | test MAE per seed | mean ± std | seconds per run |",
        "|---|---|---|---|---|",
    ]
    summary = {}
    for impl, rs in sorted(by.items()):
        rs.sort(key=lambda r: r["seed"])
        vals = [r["test"] for r in rs]
        mean, std = seed_stats(vals)  # std None: one seed
        summary[impl] = {"seeds": [r["seed"] for r in rs], "test_mae": vals,
                         "mean": mean, "std": std}  # fmt: skip
        walls = " / ".join(f"{r['s']:.0f}" if r["s"] else "-" for r in rs)
        lines.append(
            f"| {impl} | {len(rs)} | {' / '.join(f'{v:.4f}' for v in vals)} | "
            f"{format_mean_std(mean, std, len(rs))} | {walls} |"
        )
    lines += ["", *foot] if foot else []
    text = "\n".join(lines)
    atomic_write_text(out.with_suffix(".md"), text + "\n")
    write_json(out.with_suffix(".json"), {"runs": rows, "summary": summary})
    return text
