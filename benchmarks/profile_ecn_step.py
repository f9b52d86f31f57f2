"""Time (and optionally profile) one ECN training step on a batch of Perov-5 crystals.

    python benchmarks/profile_ecn_step.py --strategy cutoff --precision bf16 --threads 1
    python benchmarks/profile_ecn_step.py --strategy voronoi_radii --profile

A step is forward + backward + AdamW step, MSE on heat_all, on the first `--batch` crystals of
the official Perov-5 test split, ECN (`--group`, `--width` x `--layers`). Prints the best and
median of `--repeats` steps (after one warm-up step) and, with `--profile`, the torch.profiler
table of one step sorted by self CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from ecn.bench.train import step_batch_for
from ecn.nn.layers import EquivariantMessagePassing


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strategy", default="cutoff", choices=["cutoff", "voronoi_radii"])
    p.add_argument("--precision", default="bf16", choices=["32", "bf16"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--group", default="slambda")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--profile", action="store_true")
    p.add_argument(
        "--reference",
        action="store_true",
        help="use the per-slot message path (aggregate(messages())) instead of the fused one",
    )
    p.add_argument("--rows", type=int, default=25)
    p.add_argument("--json", type=Path, help="append the timing as one JSON line to this file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.reference:
        EquivariantMessagePassing.aggregate_messages = lambda self, h, plan: self.aggregate(
            self.messages(h, plan), plan
        )
    batch, model = step_batch_for(args.strategy, args.batch, args.group, args.width, args.layers)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    dtype = torch.bfloat16 if args.precision == "bf16" else None

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
            out = model(batch)
        loss = torch.nn.functional.mse_loss(out.float(), batch.y)
        loss.backward()
        opt.step()

    step()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    path = "reference" if args.reference else "fused"
    print(
        f"{args.strategy} {args.precision} {path} edges={batch.num_edges} nodes={batch.num_nodes} "
        f"best={min(times):.3f}s median={statistics.median(times):.3f}s threads={args.threads}"
    )
    if args.json is not None:
        row = {
            "strategy": args.strategy,
            "precision": args.precision,
            "path": path,
            "group": args.group,
            "width": args.width,
            "layers": args.layers,
            "batch": args.batch,
            "edges": batch.num_edges,
            "best_s": round(min(times), 3),
            "median_s": round(statistics.median(times), 3),
            "repeats": args.repeats,
            "threads": args.threads,
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        }
        with args.json.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
    if args.profile:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
