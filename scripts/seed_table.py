"""Shared by the reference side-by-side scripts (cgcnn_reference.py, megnet_reference.py): test
MAE per run and mean ± std per implementation (``ecn.experiments.seeds``), as Markdown + JSON."""

from __future__ import annotations

import json
from pathlib import Path

from ecn.experiments.seeds import format_mean_std, seed_stats
from ecn.io import atomic_write_text, write_json
from ecn.train.record import RESULTS_FILE, is_finished


def reference_result(run: Path) -> dict | None:
    """The result a reference implementation's run wrote (its own JSON, with an
    ``implementation`` key, in the file an ecn run calls results.json); None for an ecn run,
    which is read through ``ecn.train.record.RunRecord``."""
    if not is_finished(run) or (run / "config.yaml").is_file():
        return None
    res = json.loads((run / RESULTS_FILE).read_text())
    return res if "implementation" in res else None


def write_seed_table(rows: list[dict], out: Path, head: list[str], foot: list[str]) -> None:
    """`rows`: dicts with impl, seed, test (MAE) and s (seconds, or None); `head` is the title
    and intro lines, `foot` the lines after the table. Writes `out`.md and `out`.json."""
    by: dict[str, list[dict]] = {}
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
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines) + "\n")
    write_json(out.with_suffix(".json"), {"runs": rows, "summary": summary})
    print("\n".join(lines))
