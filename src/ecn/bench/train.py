"""`ecn bench train`: training step time (fp32 and bf16), epoch ratios vs CGCNN, peak memory and
graph-cache bytes per structure of every model on the same Perov-5 data.

Output keys (besides the per-model rows of ``models``): ``step_ms`` (model -> precision ->
median ms per step), ``epoch_s`` (the same x the steps of one epoch of the Perov-5 training
split), ``epoch_ratio_vs_cgcnn`` (model -> its epoch time in its fastest precision on this
device / CGCNN's in its fastest; ``..._by_precision``: at equal precision) and
``cache_bytes_per_structure`` (dataset -> bytes per structure of ECN's default graph in the
on-disk cache format of ``ecn.graphs.cache``; ``..._by_graph``: every graph of the run).

Every model (ECN per group and the CGCNN / MEGNet / SchNet baselines) trains on the SAME Perov-5
crystals, each on the graph it was designed for (``resolve_graph_settings(model, "perov5")``:
ECN on the Perov-5 default graph (every neighbour within 5 Å); baselines on their own unit-cell
graphs), each built by ``build_model(ModelConfig(...))`` with its default options, with the same
batches, MSE loss and AdamW. A step is forward + backward + optimiser step on one batch. Steps
are interleaved round-robin across models, so a busy machine slows all models alike and the
ratios stay meaningful; absolute numbers depend on the machine and are reported with the thread
count. Graph construction is done once, before timing, and is not counted.

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` per model; on CPU, the growth of the
peak resident set (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``) over two training
steps run in a freshly spawned process per model (None where that is unavailable).
Also reported, on every platform: ``saved_mb``, the bytes autograd keeps for backward in one
step (activations), counted with ``torch.autograd.graph.saved_tensors_hooks``.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ecn.data.registry import load_split
from ecn.graphs import GraphSettings, build_graph, unit_graph
from ecn.graphs.graph import CrystalGraph, collate
from ecn.graphs.record import UnitGraph
from ecn.graphs.restrict import restrict_neighbors
from ecn.graphs.store import GraphStore
from ecn.io import write_json
from ecn.nn import GROUPS, ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.nn.inputs import needs_orbit_maps, with_model_inputs
from ecn.nn.spec import ModelSpec
from ecn.train.module import adamw
from ecn.train.precision import cpu_has_native_bf16

log = logging.getLogger(__name__)

BASELINE_NAMES: tuple[str, ...] = ("cgcnn", "megnet", "schnet")
#: Benchmark names (``ecn.nn.spec.ModelSpec``): "ecn-<group>" and the baseline names.
DEFAULT_MODELS: tuple[str, ...] = (
    *(f"ecn-{g}" for g in GROUPS),
    "ecn-slambda:cover",
    *BASELINE_NAMES,
)
DATASET = "perov5"


@dataclass
class _Entry:
    """One model under test with its own batches (all built from the same crystals)."""

    name: str
    model: nn.Module
    batches: list[CrystalGraph]
    optimizer: torch.optim.Optimizer


def _load_structures(n: int, split: str) -> tuple[list[Any], Tensor]:
    """The first `n` usable Perov-5 crystals of `split` and their heat_all targets (G, 1)."""
    loaded = load_split(DATASET, split, limit=n)
    records = loaded.records[:n]
    if not records:
        raise ValueError(f"no usable Perov-5 {split} structures found")
    y = torch.tensor([[r.targets["heat_all"]] for r in records], dtype=torch.float32)
    return [r.structure for r in records], y


def _graph_settings(name: str) -> GraphSettings:
    """Graph settings of benchmark model `name` on Perov-5 (the one resolver, with the
    overrides of the name's ``:`` suffix)."""
    spec = ModelSpec.parse(name)
    return resolve_graph_settings(spec.model, DATASET, spec.graph)


def _build_model(name: str, in_dim: int, edge_dim: int) -> nn.Module:
    """Model `name` with its default (paper) options and one output."""
    spec = ModelSpec.parse(name)
    return build_model(ModelConfig(spec.model, in_dim, edge_dim, out_dim=1, options=spec.options))


def _make_batches(
    structures: list[Any],
    y: Tensor,
    settings: GraphSettings,
    batch_size: int,
    device: str,
    options: dict[str, Any],
) -> list[CrystalGraph]:
    """Build graphs with `settings`, attach targets and what a model with `options` reads
    beyond the graph (``with_model_inputs``), collate into batches in a fixed order."""
    graphs = [
        build_graph(s, settings, targets=y[k].numpy(), id=str(k)) for k, s in enumerate(structures)
    ]
    graphs = with_model_inputs(graphs, options)
    return [
        collate(graphs[k : k + batch_size]).to(device) for k in range(0, len(graphs), batch_size)
    ]


def step_batch_for(
    strategy: str, batch_size: int = 64, group: str = "slambda", width: int = 128, layers: int = 6
) -> tuple[CrystalGraph, nn.Module]:
    """One batch of the first `batch_size` Perov-5 test crystals on ECN's supercell graph with
    neighbour `strategy` (``"cutoff"``: the authors' 5 Å graph; ``"voronoi_radii"``: the
    default), and a fresh
    ECN (seed 0) for it: the batch of the step-time targets of issue 12."""
    structures, y = _load_structures(batch_size, "test")
    settings = resolve_graph_settings("ecn", DATASET, {"strategy": strategy})
    options = {"group": group, "width": width, "layers": layers}
    (batch,) = _make_batches(structures, y, settings, batch_size, "cpu", options)
    torch.manual_seed(0)
    model = build_model(
        ModelConfig("ecn", batch.x.shape[1], batch.edge_attr.shape[1], 1, options=options)
    )
    return batch, model.train()


def _used_edges(model: nn.Module, batch: CrystalGraph) -> int:
    """Edges the model really uses (baselines cut the graph to their cutoff / neighbour cap)."""
    if hasattr(model, "max_neighbors") and hasattr(model, "cutoff"):
        ties = getattr(model, "neighbor_ties", "keep")
        return restrict_neighbors(batch, model.cutoff, model.max_neighbors, ties=ties).num_edges
    return batch.num_edges


#: Precisions timed by default: Lightning names, "bf16-mixed" = bf16 autocast, fp32 weights.
PRECISIONS: tuple[str, ...] = ("32", "bf16-mixed")
_AUTOCAST = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def _train_step(entry: _Entry, batch: CrystalGraph, precision: str = "32") -> None:
    """Forward + backward + AdamW step; under autocast for a mixed precision (no grad scaler:
    the timing of "16-mixed" leaves out the scaler's few elementwise ops)."""
    entry.optimizer.zero_grad(set_to_none=True)
    dtype = _AUTOCAST[precision]
    with torch.autocast(batch.x.device.type, dtype=dtype or torch.float32, enabled=bool(dtype)):
        out = entry.model(batch)
    loss = nn.functional.mse_loss(out.float(), batch.y)
    loss.backward()
    entry.optimizer.step()


def _saved_bytes(entry: _Entry, batch: CrystalGraph) -> int:
    """Bytes of distinct tensors autograd saves for backward in one forward pass."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: Tensor) -> Tensor:
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        seen[key] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = nn.functional.mse_loss(entry.model(batch), batch.y)
    loss.backward()
    entry.optimizer.zero_grad(set_to_none=True)
    return sum(seen.values())


def _rss_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _child_peak(
    name: str, batches: list[CrystalGraph], steps: int, seed: int, threads: int, queue: Any
) -> None:
    """In a fresh process: build model `name`, then report the growth of the peak resident set
    (VmHWM minus VmRSS before training) over `steps` training steps, in MB."""
    try:
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        model = _build_model(name, batches[0].x.shape[1], batches[0].edge_attr.shape[1]).train()
        entry = _Entry(name, model, batches, adamw(model.parameters(), 1e-3, 1e-2))
        start = _rss_kb("VmRSS")
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS
        for k in range(steps):
            _train_step(entry, batches[k % len(batches)])
        peak = _rss_kb("VmHWM")
        queue.put(None if start is None or peak is None else (peak - start) / 1024.0)
    except Exception:
        queue.put(None)


def _peak_memory_mb(entry: _Entry, device: str, seed: int, steps: int = 2) -> float | None:
    """Peak memory growth of `steps` training steps of one model, in MB (None if unknown).

    CPU: measured in a freshly spawned process, so memory the allocator cached for earlier
    models cannot hide this one's peak.
    """
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        for k in range(steps):
            _train_step(entry, entry.batches[k % len(entry.batches)])
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    batches = entry.batches[: min(steps, len(entry.batches))]
    args = (entry.name, batches, steps, seed, torch.get_num_threads(), queue)
    proc = ctx.Process(target=_child_peak, args=args)
    proc.start()
    try:
        result = queue.get(timeout=600)
    except Exception:
        result = None
    proc.join(timeout=30)
    return result


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def cache_bytes_per_structure(units: list[UnitGraph]) -> float:
    """Bytes per structure of `units` in the on-disk graph cache (``ecn.graphs.cache``: the
    column files of a `GraphStore`, ids included)."""
    return GraphStore.from_units(units).nbytes() / max(1, len(units))


def _split_size(split: str) -> int:
    """Number of usable Perov-5 crystals of `split` (the epoch the ratios are estimated for)."""
    return len(load_split(DATASET, split).records)


def _device_precisions(precisions: tuple[str, ...], device: str) -> tuple[str, ...]:
    bad = sorted(set(precisions) - set(_AUTOCAST))
    if bad:
        raise ValueError(f"unknown precision(s) {bad}; choose from {sorted(_AUTOCAST)}")
    if not precisions:
        raise ValueError("no precisions to benchmark")
    return tuple(precisions)


def run_train_bench(
    json_path: str | Path | None = None,
    models: tuple[str, ...] | list[str] = DEFAULT_MODELS,
    n_structures: int = 256,
    batch_size: int = 64,
    repeats: int = 3,
    warmup: int = 1,
    split: str = "test",
    device: str = "cpu",
    measure_memory: bool = True,
    seed: int = 0,
    threads: int | None = None,
    precisions: tuple[str, ...] | list[str] = PRECISIONS,
    train_size: int | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Training throughput (forward + backward + AdamW step) of each model in each precision.

    Args:
        json_path: where to write the result as JSON (optional).
        models: "ecn-<group>" (group in sn, p1, glambda, slambda) and baseline names.
        n_structures: Perov-5 crystals used (the first ones of `split`).
        batch_size: crystals per batch.
        repeats: timed passes over all batches (median step time reported).
        warmup: untimed passes before timing (per precision).
        split: Perov-5 split to read.
        device: torch device ("cpu" or "cuda").
        measure_memory: also measure peak memory (a few extra fp32 steps per model).
        seed: seed for model initialisation.
        threads: torch intra-op threads for the run (None: leave torch's setting). On a
            machine whose cores are busy with other work, 1 thread can be far faster.
        precisions: "32", "bf16-mixed", "16-mixed": every model is timed in each, on the same
            batches, steps interleaved (model, precision) round-robin.
        train_size: crystals in an epoch for ``epoch_s`` (None: the Perov-5 training split).
        command: the command line that ran the benchmark, recorded in the result.

    Returns:
        ``{"step_ms": {model: {precision: median ms}}, "epoch_ratio_vs_cgcnn": {model: ratio},
        "cache_bytes_per_structure": {"perov5": bytes}, "models": {name: {"graphs_per_s",
        "ms_per_step" (fp32), "params", ...}}, ...}``; see the module docstring.
    """
    if n_structures < 1 or batch_size < 1 or repeats < 1 or warmup < 0:
        raise ValueError("n_structures, batch_size, repeats must be >= 1 and warmup >= 0")
    if not models:
        raise ValueError("no models to benchmark")
    for name in models:  # fail on a bad name before loading data
        ModelSpec.parse(name)
    precisions = _device_precisions(tuple(precisions), device)
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    structures, y = _load_structures(n_structures, split)
    entries: list[_Entry] = []
    batch_cache: dict[str, list[CrystalGraph]] = {}
    build_s: dict[str, float] = {}
    cache_bytes: dict[str, float] = {}
    for name in models:
        settings = _graph_settings(name)
        options = ModelSpec.parse(name).options
        key = f"{settings.key()}:{needs_orbit_maps(options)}"
        if key not in batch_cache:
            t0 = time.perf_counter()
            batch_cache[key] = _make_batches(structures, y, settings, batch_size, device, options)
            build_s[name] = time.perf_counter() - t0
            units = [
                unit_graph(st, settings, targets=y[k].numpy(), id=str(k))
                for k, st in enumerate(structures[: min(len(structures), 64)])
            ]
            cache_bytes[_graph_label(settings)] = cache_bytes_per_structure(units)
        batches = batch_cache[key]
        torch.manual_seed(seed)
        model = _build_model(name, batches[0].x.shape[1], batches[0].edge_attr.shape[1])
        model = model.to(device).train()
        optimizer = adamw(model.parameters(), 1e-3, 1e-2)
        entries.append(_Entry(name, model, batches, optimizer))
        log.info("%s: %d batches", name, len(batches))

    for precision in precisions:
        for _ in range(warmup):
            for entry in entries:
                for batch in entry.batches:
                    _train_step(entry, batch, precision)
    times: dict[tuple[str, str], list[float]] = {
        (e.name, p): [] for e in entries for p in precisions
    }
    n_batches = len(entries[0].batches)
    for _ in range(repeats):
        for b in range(n_batches):
            for entry in entries:  # interleaved: every model sees the same machine load
                for precision in precisions:
                    _sync(device)
                    t0 = time.perf_counter()
                    _train_step(entry, entry.batches[b], precision)
                    _sync(device)
                    times[(entry.name, precision)].append(time.perf_counter() - t0)

    step_ms = {
        e.name: {p: round(1e3 * statistics.median(times[(e.name, p)]), 2) for p in precisions}
        for e in entries
    }
    graphs_per_batch = len(structures) / n_batches
    result: dict[str, Any] = {"models": {}}
    for entry in entries:
        med = statistics.median(times[(entry.name, precisions[0])])
        row: dict[str, Any] = {
            "graphs_per_s": round(graphs_per_batch / med, 1),
            "ms_per_step": round(1e3 * med, 2),
            "params": sum(p.numel() for p in entry.model.parameters()),
            "nodes_per_batch": round(sum(b.num_nodes for b in entry.batches) / n_batches, 1),
            "edges_per_batch": round(
                sum(_used_edges(entry.model, b) for b in entry.batches) / n_batches, 1
            ),
            "supercell": entry.batches[0].supercell,
            "saved_mb": round(_saved_bytes(entry, entry.batches[0]) / 2**20, 2),
            "peak_mb": None,
        }
        if measure_memory:
            peak = _peak_memory_mb(entry, device, seed)
            row["peak_mb"] = None if peak is None else round(peak, 1)
        result["models"][entry.name] = row
    ref = "ecn-slambda" if "ecn-slambda" in result["models"] else entries[0].name
    ref_ms = result["models"][ref]["ms_per_step"]
    result[f"ratio_vs_{ref}"] = {
        n: round(r["ms_per_step"] / ref_ms, 3) for n, r in result["models"].items()
    }
    n_train = train_size if train_size is not None else _split_size("train")
    steps_per_epoch = -(-n_train // batch_size)
    epoch_s = {
        n: {p: round(ms * steps_per_epoch / 1e3, 3) for p, ms in row.items()}
        for n, row in step_ms.items()
    }
    best = {n: min(row, key=row.get) for n, row in step_ms.items()}  # fastest precision
    result.update(
        {
            "step_ms": step_ms,
            "fastest_precision": best,
            "epoch_s": epoch_s,
            "cache_bytes_per_structure": {},
            "cache_bytes_per_structure_by_graph": {
                DATASET: {k: round(v) for k, v in cache_bytes.items()}
            },
        }
    )
    if "cgcnn" in step_ms:
        cg = step_ms["cgcnn"]
        result["epoch_ratio_vs_cgcnn"] = {
            n: round(row[best[n]] / cg[best["cgcnn"]], 2) for n, row in step_ms.items()
        }
        result["epoch_ratio_vs_cgcnn_by_precision"] = {
            n: {p: round(ms / cg[p], 2) for p, ms in row.items()} for n, row in step_ms.items()
        }
    ecn_label = _graph_label(resolve_graph_settings("ecn", DATASET))
    if ecn_label in cache_bytes:
        result["cache_bytes_per_structure"][DATASET] = round(cache_bytes[ecn_label])
    result.update(
        {
            "command": command,
            "dataset": f"perov5/{split}",
            "n_structures": len(structures),
            "batch_size": batch_size,
            "n_batches": n_batches,
            "repeats": repeats,
            "precisions": list(precisions),
            "epoch": f"perov5/train: {n_train} crystals = {steps_per_epoch} steps of "
            f"{batch_size} (epoch_s = median step x steps; the ratios compare each model in its "
            "fastest precision on this device with CGCNN in its fastest)",
            "step": "forward + backward + AdamW step, MSE on heat_all",
            "graph_build_s": {k: round(v, 2) for k, v in build_s.items()},
            "device": device,
            "device_name": _device_name(device),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "loadavg_before": None if load_before is None else [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()]
            if hasattr(os, "getloadavg")
            else None,
        }
    )
    if json_path is not None:
        write_json(json_path, result)
    return result


def _graph_label(settings: GraphSettings) -> str:
    """'supercell cutoff 5.0 Å' / 'unit-cell voronoi_radii' / ... for result keys."""
    cell = "supercell" if settings.supercell else "unit-cell"
    radius = f" {settings.cutoff} A" if settings.strategy != "voronoi_radii" else ""
    return f"{cell} {settings.strategy}{radius}"


def _device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    cap = torch.backends.cpu.get_cpu_capability()
    name = platform.processor() or platform.machine()
    return f"{name} ({cap}, native bf16: {cpu_has_native_bf16()})"


def format_table(result: dict[str, Any]) -> str:
    """Markdown table of a `run_train_bench` result: ms/step per precision, epoch ratio vs
    CGCNN, model sizes, then the graph-cache bytes per structure."""
    precisions = result.get("precisions", ["32"])
    ratios = result.get("epoch_ratio_vs_cgcnn", {})
    cols = " | ".join(f"ms/step {p}" for p in precisions)
    lines = [
        f"| model | {cols} | epoch / CGCNN | params | nodes/batch | edges/batch | saved MB "
        "| peak MB |",
        "|---|" + "---:|" * (len(precisions) + 6),
    ]
    for name, r in result["models"].items():
        ms = " | ".join(str(result["step_ms"][name][p]) for p in precisions)
        peak = "-" if r["peak_mb"] is None else r["peak_mb"]
        lines.append(
            f"| {name} | {ms} | {ratios.get(name, '-')} | {r['params']:,} "
            f"| {r['nodes_per_batch']} | {r['edges_per_batch']} | {r['saved_mb']} | {peak} |"
        )
    for dataset, by_graph in result.get("cache_bytes_per_structure_by_graph", {}).items():
        for graph, nbytes in by_graph.items():
            lines.append(f"\ngraph cache, {dataset} {graph}: {nbytes / 1e3:.1f} KB per structure")
    return "\n".join(lines)
