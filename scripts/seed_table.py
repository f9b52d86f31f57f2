"""Shared by the reference side-by-side scripts (cgcnn_reference.py, megnet_reference.py): test
MAE per run and mean ± std per implementation, as Markdown + JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


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
        vals = np.array([r["test"] for r in rs])
        std = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
        summary[impl] = {"seeds": [r["seed"] for r in rs], "test_mae": vals.tolist(),
                         "mean": float(vals.mean()), "std": std}  # fmt: skip
        walls = " / ".join(f"{r['s']:.0f}" if r["s"] else "-" for r in rs)
        lines.append(
            f"| {impl} | {len(rs)} | {' / '.join(f'{v:.4f}' for v in vals)} | "
            f"{vals.mean():.4f} ± {std:.4f} | {walls} |"
        )
    lines += ["", *foot] if foot else []
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"runs": rows, "summary": summary}, indent=2))
    print("\n".join(lines))
