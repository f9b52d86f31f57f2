"""Training-step time with and without subnormal floats (CGCNN and ECN-SΛ on Materials Project).

    python benchmarks/denormals.py --threads 1 --json results/bench/denormals.json

Why: far from its centre a narrow Gaussian underflows into subnormal float32 values, and CPU
matmuls with subnormal operands run many times slower. CGCNN's 41 Gaussians of width 0.2 Å on
an 8 Å graph produce them on nearly every edge; ``ecn.graphs.features.gaussian_basis`` now sets
exponents <= -80 to exactly 0, and ``ecn train`` flushes subnormals to zero. This measures one
step (forward + backward + AdamW, MSE on E_form) on the same batches of the MP test split in
four modes, all in the same process: ``subnormal`` (plain exp Gaussians, the old code),
``zeroed`` (the new Gaussians), ``zeroed+ftz`` (the new Gaussians with flush-to-zero, what
``ecn train`` runs) and ``subnormal+ftz``. Reports the best and median over repeats, the
number of subnormal values in the Gaussian features, and ratios to ``subnormal``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecn.data import load_split
from ecn.graphs import expand, features, unit_graph
from ecn.nn import ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings

MODELS: dict[str, dict[str, Any]] = {
    "cgcnn": {},
    "ecn_slambda": {"group": "slambda", "width": 64, "layers": 4},
}


def _plain_gaussians(dist: torch.Tensor, centers: torch.Tensor, width: float) -> torch.Tensor:
    """The old expansion: exp() everywhere, subnormal far from a centre."""
    return torch.exp(-((dist[:, None] - centers[None, :]) ** 2) / width**2)


def _subnormals(t: torch.Tensor) -> int:
    tiny = torch.finfo(t.dtype).tiny
    return int(((t != 0) & (t.abs() < tiny)).sum())


def bench_model(name: str, structures: list, batch: int, repeats: int) -> dict[str, Any]:
    """Step times of model `name` on consecutive batches of `structures`, in every mode."""
    model_name = "ecn" if name.startswith("ecn") else name
    # ECN as in Table 1: the unit cell, the exact quotient of the cover (no cell one-hot)
    settings = resolve_graph_settings(
        model_name, "mp", {"cell_onehot": False} if model_name == "ecn" else None
    )
    units = [unit_graph(s, settings, np.array([0.0]), str(i)) for i, s in enumerate(structures)]
    torch.manual_seed(0)
    cfg = ModelConfig(
        model_name, settings.node_feature_dim, settings.n_gaussians, 1, False, MODELS[name]
    )
    net = build_model(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    rbf = getattr(net, "rbf", None)
    original = features.gaussian_basis
    out: dict[str, Any] = {"n_structures": len(units), "batches": -(-len(units) // batch)}
    for mode in ("subnormal", "zeroed", "zeroed+ftz", "subnormal+ftz"):
        torch.set_flush_denormal(mode.endswith("+ftz"))
        basis = _plain_gaussians if mode.startswith("subnormal") else original
        # the baselines expand their own distances (GaussianRBF), ECN gets graph.edge_attr
        features.gaussian_basis = basis
        from ecn.nn import baselines

        baselines.gaussian_basis = basis
        try:
            # expanded per mode: ECN's Gaussians (graph.edge_attr) come from the expansion
            graphs = [expand(units[i : i + batch], settings) for i in range(0, len(units), batch)]
            feats = rbf(graphs[0].edge_dist) if rbf is not None else graphs[0].edge_attr
            n_sub = _subnormals(feats)
            times = []
            for _ in range(repeats + 1):  # first pass: warm-up
                t0 = time.perf_counter()
                for g in graphs:
                    opt.zero_grad()
                    loss = net(g).pow(2).mean()
                    loss.backward()
                    opt.step()
                times.append((time.perf_counter() - t0) / len(graphs))
        finally:
            features.gaussian_basis = original
            baselines.gaussian_basis = original
            torch.set_flush_denormal(False)
        times = times[1:]
        out[mode] = {
            "best_s": min(times),
            "median_s": statistics.median(times),
            "subnormal_gaussians_batch0": n_sub,
        }
    ref = out["subnormal"]["best_s"]
    for mode in ("zeroed", "zeroed+ftz", "subnormal+ftz"):
        out[mode]["speedup_vs_subnormal"] = ref / out[mode]["best_s"]
    return out


def mp_bench_args(doc: str, extra: Any = None) -> tuple[argparse.Namespace, Any]:
    """The options of the MP step benchmarks (this one, ``neighbor_cap.py``), parsed, with the
    first `--n-structures` of the MP test split loaded and torch's threads set."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--n-structures", type=int, default=256)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path)
    if extra is not None:
        extra(p)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    return a, load_split("mp", "test", limit=a.n_structures)


def main() -> None:
    a, loaded = mp_bench_args(
        __doc__, lambda p: p.add_argument("--model", action="append", choices=list(MODELS))
    )
    structures = [r.structure for r in loaded.records]
    result: dict[str, Any] = {
        "what": "one training step (fwd + bwd + AdamW), seconds per batch, MP test split",
        "threads": a.threads,
        "batch": a.batch,
        "repeats": a.repeats,
        "load_avg_1min_at_start": os.getloadavg()[0],
        "data_note": loaded.source_note,
        "models": {},
    }
    for name in a.model or list(MODELS):
        result["models"][name] = bench_model(name, structures, a.batch, a.repeats)
        print(name, json.dumps(result["models"][name], indent=1))
    result["load_avg_1min_at_end"] = os.getloadavg()[0]
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
