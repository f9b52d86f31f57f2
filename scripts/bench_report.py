"""Render the committed benchmark JSONs as markdown beside them (never typed by hand).

python scripts/bench_report.py train results/bench/train.json   # -> results/bench/train.md
python scripts/bench_report.py storage results/bench/storage.json
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ecn.bench.storage import format_storage
from ecn.bench.train import format_table


def _head() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def train_md(r: dict, src: Path) -> str:
    cmd = r.get("command") or "ecn bench train --json " + str(src)
    return "\n".join(
        [
            "# ecn bench train (Perov-5 batches, every model in each precision)",
            "",
            f"Rendered from `{src}` by `python scripts/bench_report.py train {src}` at HEAD "
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


def storage_md(r: dict, src: Path) -> str:
    return "\n".join(
        [
            "# ecn bench storage (compact graph cache, streaming epoch)",
            "",
            f"Rendered from `{src}` by `python scripts/bench_report.py storage {src}` at HEAD "
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


def main() -> None:
    kind, src = sys.argv[1], Path(sys.argv[2])
    r = json.loads(src.read_text())
    text = train_md(r, src) if kind == "train" else storage_md(r, src)
    src.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
