"""CGCNN on MP with the stored neighbour cap (``GraphSettings.max_neighbors``) against the full
8 Å graph: stored edges, batch expansion and training step per batch of the MP test split.

    python benchmarks/neighbor_cap.py --threads 1 --json results/bench/neighbor_cap.json

Same structures, same weights, same seeds; the step is forward + backward + AdamW under
``flush_subnormals`` (as ``ecn train``). Best of `--repeats`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from denormals import mp_bench_args  # benchmarks/ (the script's folder)

from ecn.graphs import expand, unit_graph
from ecn.nn import ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.train.precision import flush_subnormals


def main() -> None:
    a, loaded = mp_bench_args(__doc__)
    structures = [r.structure for r in loaded.records]
    capped = resolve_graph_settings("cgcnn", "mp")
    out: dict[str, Any] = {
        "what": "CGCNN, MP test split: stored edges; ms per batch for expansion and step",
        "threads": a.threads,
        "batch": a.batch,
        "load_avg_1min_at_start": os.getloadavg()[0],
        "data_note": loaded.source_note,
    }
    for name, settings in (("full", replace(capped, max_neighbors=None)), ("capped", capped)):
        units = [unit_graph(s, settings, np.array([0.0]), str(i)) for i, s in enumerate(structures)]
        torch.manual_seed(0)
        cfg = ModelConfig("cgcnn", settings.node_feature_dim, 0, 1, False, {})
        net = build_model(cfg)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
        n_batches = -(-len(units) // a.batch)
        best_expand = best_step = float("inf")
        with flush_subnormals():
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                graphs = [
                    expand(units[i : i + a.batch], settings) for i in range(0, len(units), a.batch)
                ]
                best_expand = min(best_expand, (time.perf_counter() - t0) / n_batches)
                t0 = time.perf_counter()
                for g in graphs:
                    opt.zero_grad()
                    net(g).pow(2).mean().backward()
                    opt.step()
                best_step = min(best_step, (time.perf_counter() - t0) / n_batches)
        out[name] = {
            "max_neighbors_stored": settings.max_neighbors,
            "edges_stored": int(sum(len(u.src) for u in units)),
            "expand_ms_per_batch": 1000 * best_expand,
            "step_ms_per_batch": 1000 * best_step,
        }
    f, c = out["full"], out["capped"]
    out["edges_ratio"] = f["edges_stored"] / c["edges_stored"]
    out["batch_speedup"] = (f["expand_ms_per_batch"] + f["step_ms_per_batch"]) / (
        c["expand_ms_per_batch"] + c["step_ms_per_batch"]
    )
    out["load_avg_1min_at_end"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
