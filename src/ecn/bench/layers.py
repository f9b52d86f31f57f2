"""`ecn bench layers`: forward+backward time of one ECN layer per group vs a plain MPNN layer.

All variants run on the SAME real Perov-5 batch (supercell graphs, 5 Å cutoff) in one process,
interleaved step by step, so the ratios are meaningful even on a busy machine; absolute times
are not. Variants:

* ``plain_reference``: :class:`ecn.bench.reference.PlainMPNNLayer` (fixed yardstick);
* ``sn``, ``p1``, ``glambda``, ``slambda``: :class:`ecn.nn.EquivariantMessagePassing`
  (default ``bmm`` backend over a chunked colour plan), plan built once per batch outside the
  timed step (it is shared by all layers of a model; its cost is reported as ``plan_ms``);
* ``p1_loop`` / ``p1_grouped_mm``: the alternatives on an unchunked plan (one matmul per colour,
  or ``torch.nn.functional.grouped_mm``), for the record;
* ``naive_p1``: the same p1 layer with one-hot-expanded weights, for contrast. Its expanded
  input needs ~4 GB for a full batch, so it is timed against ``plain_reference`` on a sub-batch
  (``naive_p1_measured``) and reported as plain_reference x that ratio.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ecn.bench.reference import PlainMPNNLayer
from ecn.data import load_split
from ecn.graphs import build_graph
from ecn.graphs.graph import CrystalGraph, collate
from ecn.io import write_json
from ecn.nn import GROUPS, EquivariantMessagePassing, build_color_plan, n_base_colors
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.nn.inputs import with_model_inputs
from ecn.nn.plan import ColorPlan

log = logging.getLogger(__name__)


def perov5_batch(batch_size: int = 128) -> CrystalGraph:
    """The first `batch_size` Perov-5 test crystals as one batch, with the dataset's graphs.

    Perov-5 graphs: ECN's Perov-5 graph with the cell one-hot, so the supercell cover (the
    layer costs are those of the paper's model), from ``resolve_graph_settings``.
    """
    settings = resolve_graph_settings("ecn", "perov5", {"cell_onehot": True})  # the cover
    records = load_split("perov5", "test", limit=batch_size).records
    graphs = [build_graph(r.structure, settings, id=r.id) for r in records]
    for group in GROUPS:  # one batch for every group's colour plan: what each group's model reads
        graphs = with_model_inputs(graphs, {"group": group})
    return collate(graphs)


def _time_steps(
    steps: dict[str, Callable[[], None]], repeats: int, warmup: int
) -> dict[str, float]:
    """Median ms per step of each callable, interleaved round-robin."""
    for _ in range(warmup):
        for fn in steps.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - t0))
    return {k: statistics.median(v) for k, v in times.items()}


def _step(
    layer: torch.nn.Module, fn: Callable[[], Tensor], h: Tensor, grad: Tensor
) -> Callable[[], None]:
    def run() -> None:
        layer.zero_grad(set_to_none=True)
        h.grad = None
        fn().backward(grad)

    return run


def _naive_contrast(g: CrystalGraph, width: int, n_graphs: int, repeats: int) -> dict[str, Any]:
    """Time the one-hot-expanded p1 layer against plain on the first `n_graphs` crystals.

    The expansion holds E x C x (2d + K) floats (about 4 GB for a full batch of 128), so the
    contrast runs on a sub-batch; its ratio to plain is measured on that same sub-batch.
    """
    sub = g if n_graphs >= g.num_graphs else _first_graphs(g, n_graphs)
    k = sub.edge_attr.shape[1]
    plan = build_color_plan(sub, "p1")
    h = torch.randn(sub.num_nodes, width, requires_grad=True)
    grad = torch.randn(sub.num_nodes, width)
    plain = PlainMPNNLayer(width, k)
    naive = EquivariantMessagePassing(width, k, n_base_colors("p1"))
    ms = _time_steps(
        {
            "plain_reference": _step(
                plain, lambda: plain(h, sub.edge_index, sub.edge_attr), h, grad
            ),
            "naive_p1": _step(naive, lambda: naive.naive_forward(h, plan), h, grad),
        },
        repeats,
        1,
    )
    return {
        "graphs": sub.num_graphs,
        "n_edges": sub.num_edges,
        "ms_per_step": {k_: round(v, 2) for k_, v in ms.items()},
        "ratio_vs_plain": round(ms["naive_p1"] / ms["plain_reference"], 3),
    }


def _first_graphs(g: CrystalGraph, n: int) -> CrystalGraph:
    """The sub-batch of the first `n` graphs of a batch built by `collate`."""
    nodes = int((g.batch < n).sum())
    edges = int((g.edge_batch < n).sum())
    return CrystalGraph(
        x=g.x[:nodes],
        z=g.z[:nodes],
        cell=g.cell[:nodes],
        atom=g.atom[:nodes],
        edge_index=g.edge_index[:, :edges],
        edge_dist=g.edge_dist[:edges],
        edge_offset=g.edge_offset[:edges],
        edge_attr=g.edge_attr[:edges],
        lattice=g.lattice[:n],
        n_atoms=g.n_atoms[:n],
        y=g.y[:n],
        batch=g.batch[:nodes],
        edge_batch=g.edge_batch[:edges],
        cell_orbit_map=None if g.cell_orbit_map is None else g.cell_orbit_map[:n],
        ids=g.ids[:n],
        supercell=g.supercell,
    )


def run_layer_bench(
    batch_size: int = 128,
    width: int = 128,
    repeats: int = 7,
    warmup: int = 2,
    json_path: str | Path | None = None,
    graph: CrystalGraph | None = None,
    naive_graphs: int = 16,
) -> dict[str, Any]:
    """Time forward+backward of one layer per variant on one real batch; ratios vs plain.

    Args:
        batch_size: Perov-5 crystals per batch (supercells: 40 nodes each).
        width: node width d.
        repeats: timed steps per variant (median reported).
        warmup: untimed steps per variant.
        json_path: where to write the result (optional).
        graph: use this batch instead of loading Perov-5.
        naive_graphs: crystals in the sub-batch of the one-hot contrast (memory-bound); its
            ``ms_per_step`` is plain_reference x the ratio measured on that sub-batch.

    Returns:
        ``{"ms_per_step": {variant: ms}, "ratio_<variant>_vs_plain": ..., "plan_ms": {...},
        "n_nodes", "n_edges", "threads", ...}``.
    """
    if batch_size < 1 or width < 1 or repeats < 1:
        raise ValueError("batch_size, width and repeats must be >= 1")
    torch.manual_seed(0)
    g = perov5_batch(batch_size) if graph is None else graph
    k = g.edge_attr.shape[1]
    plans: dict[str, ColorPlan] = {}
    plan_ms: dict[str, float] = {}
    for group in ("sn", "p1", "glambda", "slambda"):
        t0 = time.perf_counter()
        plans[group] = build_color_plan(g, group)
        plan_ms[group] = 1e3 * (time.perf_counter() - t0)
    plans["p1_unchunked"] = build_color_plan(g, "p1", chunk_size=None)
    h = torch.randn(g.num_nodes, width, requires_grad=True)
    grad = torch.randn(g.num_nodes, width)
    plain = PlainMPNNLayer(width, k)
    steps = {"plain_reference": _step(plain, lambda: plain(h, g.edge_index, g.edge_attr), h, grad)}
    variants = [
        ("sn", "sn", "bmm"),
        ("p1", "p1", "bmm"),
        ("glambda", "glambda", "bmm"),
        ("slambda", "slambda", "bmm"),
        ("p1_loop", "p1_unchunked", "loop"),
    ]
    if hasattr(torch.nn.functional, "grouped_mm"):
        variants.append(("p1_grouped_mm", "p1_unchunked", "grouped_mm"))
    for name, plan_name, backend in variants:
        layer = EquivariantMessagePassing(width, k, plans[plan_name].n_base, 1, backend)
        steps[name] = _step(layer, lambda lay=layer, p=plans[plan_name]: lay(h, p), h, grad)
    log.info("timing %d variants on %d nodes / %d edges", len(steps), g.num_nodes, g.num_edges)
    ms = _time_steps(steps, repeats, warmup)
    naive = _naive_contrast(g, width, naive_graphs, max(1, min(repeats, 3)))
    ms["naive_p1"] = naive["ratio_vs_plain"] * ms["plain_reference"]
    base = ms["plain_reference"]
    result: dict[str, Any] = {
        "ms_per_step": {k_: round(v, 2) for k_, v in ms.items()},
        **{
            f"ratio_{k_}_vs_plain": round(v / base, 3)
            for k_, v in ms.items()
            if k_ != "plain_reference"
        },
        "naive_p1_measured": naive,
        "plan_ms": {k_: round(v, 2) for k_, v in plan_ms.items()},
        "n_colors": {grp: plans[grp].n_colors for grp in ("sn", "p1", "glambda", "slambda")},
        "chunk_size": {
            grp: plans[grp].counts[0] if plans[grp].chunk_color is not None else None
            for grp in ("sn", "p1", "glambda", "slambda")
        },
        "padding": {
            grp: round(1 - plans[grp].n_edges / plans[grp].src.shape[0], 4)
            for grp in ("sn", "p1", "glambda", "slambda")
        },
        "batch_size": batch_size,
        "width": width,
        "edge_features": k,
        "n_nodes": g.num_nodes,
        "n_edges": g.num_edges,
        "repeats": repeats,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if json_path is not None:
        write_json(json_path, result)
    return result


def format_layer_bench(result: dict[str, Any]) -> str:
    """A markdown table of :func:`run_layer_bench` output."""
    rows = ["| variant | ms/step | ratio vs plain |", "|---|---|---|"]
    for name, v in result["ms_per_step"].items():
        ratio = 1.0 if name == "plain_reference" else result[f"ratio_{name}_vs_plain"]
        rows.append(f"| {name} | {v:.1f} | {ratio:.2f} |")
    return "\n".join(rows)
