"""A committed benchmark JSON as markdown beside it (``ecn bench report train|storage JSON``).

Why: the numbers of ``results/bench/*.md`` are never typed by hand; they are rendered from the
JSON the benchmark wrote (``ecn bench train --json``, ``ecn bench storage --json``), with the
host, the load and the command that measured them, so a reader can tell how much a ratio is
worth on shared cores. The text names the commit it was rendered at (``git rev-parse``).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ecn.bench.storage import format_storage
from ecn.bench.train import format_table

__all__ = ["KINDS", "render", "storage_markdown", "train_markdown"]

#: The command named in the rendered text (before its kind and JSON path).
COMMAND = "ecn bench report"


def _head() -> str:
    """The short hash of the checkout's HEAD ('?' outside a git checkout)."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def train_markdown(r: dict[str, Any], src: Path) -> str:
    """Markdown of an ``ecn bench train`` result `r` read from `src`."""
    cmd = r.get("command") or "ecn bench train --json " + str(src)
    return "\n".join(
        [
            "# ecn bench train (Perov-5 batches, every model in each precision)",
            "",
            f"Rendered from `{src}` by `{COMMAND} train {src}` at HEAD "
            f"{_head()}; measured with `{cmd}`.",
            "",
            f"Host: {r['device_name']}, torch {r['torch']}, {r['threads']} thread(s); load "
            f"average before {r['loadavg_before']}, after {r['loadavg_after']} (2 shared cores). "
            "ms/step = median forward + backward + AdamW over the repeats; 'epoch / CGCNN' = "
            "epoch-time estimate in each model's fastest precision here over CGCNN's. ECN models "
            "on the Perov-5 default graph of the ecn that ran (5 Å radius since the ablation "
            "ladder, Voronoi + radii before) unless a ':' suffix names one, without the "
            "cell one-hot, so on the unit cell, the exact quotient of the 2x2x2 cover "
            "(`ecn.nn.plan.edge_cells`, ECN's default); ':cover' = the paper's model, cell "
            "one-hot on the cover. "
            "Graph cache = the compact unit-cell records of `ecn.graphs.store` (ids included).",
            "",
            format_table(r),
            "",
        ]
    )


def storage_markdown(r: dict[str, Any], src: Path) -> str:
    """Markdown of an ``ecn bench storage`` result `r` read from `src`."""
    return "\n".join(
        [
            "# ecn bench storage (compact graph cache, streaming epoch)",
            "",
            f"Rendered from `{src}` by `{COMMAND} storage {src}` at HEAD "
            f"{_head()}; measured with `ecn bench storage --threads 1 --num-workers 1 --json "
            f"{src}`. Load average before {r['load_before']}, after {r['load_after']} "
            "(2 shared cores, other trainings running).",
            "",
            "```",
            format_storage(r),
            "```",
            "",
            "RSS anon = memory the processes need (model, batches, torch itself, ~300 MB per "
            "process); RSS file = pages of the memory-mapped store currently mapped, which the "
            "kernel can drop, so the store may be larger than RAM. MP = the paper training split "
            "(our ~2020 release, about a third of the paper's), ECN default graph (Voronoi + "
            "radii, +U flag). The synthetic set is strained copies of it (see "
            "`ecn.bench.storage`).",
            "",
        ]
    )


#: Benchmark kinds that have a markdown rendering, and their renderer.
KINDS: dict[str, Callable[[dict[str, Any], Path], str]] = {
    "train": train_markdown,
    "storage": storage_markdown,
}


def render(kind: str, src: Path) -> str:
    """The markdown of the `kind` benchmark JSON at `src`.

    Raises:
        ValueError: an unknown kind, or `src` is not a JSON object.
    """
    if kind not in KINDS:
        raise ValueError(f"benchmark kind must be one of {sorted(KINDS)}, got {kind!r}")
    r = json.loads(Path(src).read_text())
    if not isinstance(r, dict):
        raise ValueError(f"{src}: not a benchmark result (a JSON object)")
    return KINDS[kind](r, Path(src))
