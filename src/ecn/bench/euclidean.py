"""E(3) checks of a model that reads edge vectors (the E(n)-equivariant ECN, ``ecn.nn.egnn``).

A move of the Cartesian frame ``x -> x R^T + t`` (R orthogonal: a rotation, or a rotation
times a reflection) is applied to stored unit-cell records in float64 (:func:`moved`): lattice
rows ``L -> L R^T`` and fractional coordinates shifted by ``t L'^-1`` WITHOUT wrapping, so the
neighbour list, image offsets and distances stay those of the same crystal; the graph is then
built by the one pipeline (``UnitBatch.expand``). Scalar outputs (the pooled prediction and the
node features after every layer) must not change, and ``node_vectors`` must rotate:
``v' = v R^T`` (:func:`euclidean_errors`). Negative control (``absolute=True``): the same
model fed each edge's ABSOLUTE source position ``(frac[j] + o) L`` where it expects the relative
vector, i.e. a layer on raw coordinates; it must fail both the rotations and the translations.

``ecn symmetry euclidean`` (:func:`run_euclidean_check`) measures the largest errors over up to
100 real crystals per dataset, float64 and float32, and writes them as JSON.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ecn.graphs import GraphSettings, unit_graph
from ecn.graphs.cover import UnitBatch
from ecn.graphs.graph import CrystalGraph
from ecn.io import write_json

__all__ = [
    "absolute_edge_positions",
    "euclidean_errors",
    "excite_coordinates",
    "frame_moves",
    "moved",
    "run_euclidean_check",
]

DTYPES: dict[str, torch.dtype] = {"float64": torch.float64, "float32": torch.float32}


def frame_moves(
    n: int, seed: int = 0, translate: float = 10.0, rotate: bool = True
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`n` seeded moves ``(R (3, 3), t (3,))``: Haar-random rotations, every second one times
    a reflection (det -1), and Gaussian translations of scale `translate` Å. ``rotate=False``:
    ``R = I`` (translations only)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        q, r = np.linalg.qr(rng.normal(size=(3, 3)))
        q = q * np.sign(np.diag(r))  # Haar measure on O(3)
        q = q if np.linalg.det(q) > 0 else -q  # a rotation ...
        if k % 2 == 1:
            q = q @ np.diag([1.0, 1.0, -1.0])  # ... times a reflection every second move
        out.append((q if rotate else np.eye(3), rng.normal(scale=translate, size=3)))
    return out


def moved(batch: UnitBatch, rotation: np.ndarray, translation: np.ndarray) -> UnitBatch:
    """`batch` in the Cartesian frame ``x -> x R^T + t`` (float64 ``frac`` and ``lattice``).

    Fractional coordinates are not wrapped, so every stored edge (offset, distance) is still an
    edge of the moved crystal.
    """
    if batch.frac is None:
        raise ValueError("the batch has no fractional coordinates")
    rot = torch.as_tensor(rotation, dtype=torch.float64)
    lat = batch.lattice.double() @ rot.T  # (G, 3, 3) rows rotated
    t = torch.as_tensor(translation, dtype=torch.float64)
    g = torch.repeat_interleave(torch.arange(batch.n.shape[0]), batch.n)
    shift = torch.linalg.solve(lat.transpose(1, 2), t.expand(lat.shape[0], 3))  # t L'^-1
    return replace(batch, lattice=lat, frac=batch.frac.double() + shift[g])


def absolute_edge_positions(batch: UnitBatch, graph: CrystalGraph) -> Tensor:
    """(E, 3) absolute Cartesian position of each edge's source image, ``(frac[j] + o) L``:
    what a layer on raw coordinates reads (the negative control's input)."""
    if batch.frac is None or graph.edge_vec is None:
        raise ValueError("need fractional coordinates and edge vectors")
    start = torch.cumsum(batch.n, 0) - batch.n
    lat = batch.lattice.double()
    pos = torch.bmm(batch.frac.double()[start[graph.batch] + graph.atom][:, None], lat[graph.batch])
    dst = graph.edge_index[1]
    return graph.edge_vec.double() + pos[dst, 0]  # target position + (source image - target)


def _graph(
    batch: UnitBatch, settings: GraphSettings, dtype: torch.dtype, absolute: bool
) -> CrystalGraph:
    g = batch.expand(settings)
    vec = absolute_edge_positions(batch, g) if absolute else g.edge_vec
    return replace(
        g,
        x=g.x.to(dtype),
        edge_attr=g.edge_attr.to(dtype),
        edge_dist=g.edge_dist.to(dtype),
        lattice=g.lattice.to(dtype),
        edge_vec=vec.to(dtype),
    )


@torch.no_grad()
def _outputs(model: nn.Module, graph: CrystalGraph) -> tuple[Tensor, list[Tensor], Tensor]:
    return model(graph), model.node_embeddings(graph), model.node_vectors(graph)


@torch.no_grad()
def euclidean_errors(
    model: nn.Module,
    batch: UnitBatch,
    settings: GraphSettings,
    moves: list[tuple[np.ndarray, np.ndarray]],
    dtype: torch.dtype = torch.float64,
    absolute: bool = False,
) -> dict[str, float]:
    """Largest change of `model`'s outputs over the Cartesian-frame `moves` of `batch`.

    `model` has ``forward``, ``node_embeddings`` and ``node_vectors`` (``ecn.nn.ECNEGNN``) and
    the floating dtype `dtype`; graphs are built in float64 and cast to `dtype`.

    Returns:
        ``scalar``: max |f(moved) - f| of the pooled outputs; ``embeddings``: the same over the
        node features of every layer; ``vector``: max |v(moved) - v R^T| of ``node_vectors``;
        ``scalar_scale`` / ``vector_scale``: max |f| and max |v| (what the errors compare to).
    """
    base = replace(batch, frac=batch.frac.double(), lattice=batch.lattice.double())
    out, hs, vec = _outputs(model, _graph(base, settings, dtype, absolute))
    worst = {"scalar": 0.0, "embeddings": 0.0, "vector": 0.0}
    for rot, t in moves:
        out_m, hs_m, vec_m = _outputs(model, _graph(moved(base, rot, t), settings, dtype, absolute))
        r = torch.as_tensor(rot, dtype=dtype)
        worst["scalar"] = max(worst["scalar"], float((out_m - out).abs().max()))
        emb = max(float((a - b).abs().max()) for a, b in zip(hs_m, hs, strict=True))
        worst["embeddings"] = max(worst["embeddings"], emb)
        worst["vector"] = max(worst["vector"], float((vec_m - vec @ r.T).abs().max()))
    worst["scalar_scale"] = float(out.abs().max())
    worst["vector_scale"] = float(vec.abs().max())
    return worst


def excite_coordinates(model: nn.Module, std: float = 0.3, seed: int = 0) -> nn.Module:
    """Re-draw the output weights of every coordinate MLP from N(0, std^2) (in place).

    A fresh model starts them near zero (as EGNN does), so its displacements are ~1e-3 Å and a
    check would hardly exercise the coordinate path; with ``std=0.3`` they are ~0.1-1 Å and the
    later layers' messages depend on the moved coordinates.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in getattr(model, "layers", []):
            out = getattr(layer, "coord2", None)
            if out is not None:
                w = torch.randn(out.weight.shape, generator=gen, dtype=torch.float64) * std
                out.weight.copy_(w.to(out.weight.dtype))
    return model


def _units(dataset: str, split: str, n: int, settings: GraphSettings) -> list[Any]:
    from ecn.data.registry import load_split

    records = load_split(dataset, split, limit=n).records[:n]
    return [unit_graph(r.structure, settings, id=r.id) for r in records]


def run_euclidean_check(
    json_path: str | Path | None = None,
    datasets: tuple[str, ...] = ("perov5", "mp"),
    n: int = 100,
    n_moves: int = 8,
    group: str = "slambda",
    width: int = 64,
    layers: int = 4,
    seed: int = 0,
    batch_size: int = 25,
    command: str | None = None,
) -> dict[str, Any]:
    """Max E(3) errors of a fresh ``ecn_egnn`` model (coordinates excited,
    :func:`excite_coordinates`) over the first `n` test crystals of each dataset, in float64
    and float32, with the raw-coordinate negative control and a translations-only control.

    Returns:
        ``{"datasets": {name: {"n_crystals", "graph", dtype: {"model": errors,
        "absolute_coordinates": errors, "absolute_translations_only": errors}}}, ...}`` with the
        errors of :func:`euclidean_errors` (max over the crystals' batches).
    """
    from ecn.nn import ModelConfig, build_model
    from ecn.nn.graph_settings import resolve_graph_settings

    t0 = time.perf_counter()
    moves = frame_moves(n_moves, seed)
    shifts = frame_moves(n_moves, seed + 1, rotate=False)
    result: dict[str, Any] = {"datasets": {}}
    for dataset in datasets:
        settings = resolve_graph_settings("ecn_egnn", dataset)
        units = _units(dataset, "test", n, settings)
        batches = [
            UnitBatch.collate(units[k : k + batch_size]) for k in range(0, len(units), batch_size)
        ]
        first = batches[0].expand(settings)
        torch.manual_seed(seed)
        options = {"group": group, "width": width, "layers": layers}
        cfg = ModelConfig("ecn_egnn", first.x.shape[1], first.edge_attr.shape[1], 1, False, options)
        model = excite_coordinates(build_model(cfg).eval(), seed=seed)
        row: dict[str, Any] = {
            "n_crystals": len(units),
            "n_atoms_max": max(u.n_atoms for u in units),
            "graph": f"{settings.strategy}"
            + (f" {settings.cutoff} A" if settings.strategy != "voronoi_radii" else "")
            + (" cover" if settings.supercell else " unit cell"),
        }
        for name, dtype in DTYPES.items():
            m = model.to(dtype)
            cases = {
                "model": (moves, False),
                "absolute_coordinates": (moves, True),
                "absolute_translations_only": (shifts, True),
            }
            row[name] = {}
            for case, (mv, absolute) in cases.items():
                errs = [euclidean_errors(m, b, settings, mv, dtype, absolute) for b in batches]
                row[name][case] = {k: max(e[k] for e in errs) for k in errs[0]}
        result["datasets"][dataset] = row
    result.update(
        {
            "model": {"name": "ecn_egnn", **options, "coordinate_output_std": 0.3, "seed": seed},
            "moves": f"{n_moves} random O(3) elements (every second a reflection) with "
            "translations of 10 A scale; controls: the same model fed absolute source "
            f"positions, under those moves and under {n_moves} translations alone",
            "split": "test (first n usable crystals)",
            "command": command,
            "seconds": round(time.perf_counter() - t0, 1),
            "torch": torch.__version__,
            "host": platform.machine(),
            "loadavg": [round(x, 2) for x in os.getloadavg()]
            if hasattr(os, "getloadavg")
            else None,
        }
    )
    if json_path is not None:
        write_json(json_path, result)
    return result


def format_euclidean(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`run_euclidean_check`'s result."""
    lines = ["dataset  dtype    case                        scalar    layers    vector   |f|  |v|"]
    for ds, row in result["datasets"].items():
        for dtype in DTYPES:
            for case, e in row[dtype].items():
                lines.append(
                    f"{ds:8s} {dtype:8s} {case:27s} {e['scalar']:.2e}  {e['embeddings']:.2e}  "
                    f"{e['vector']:.2e}  {e['scalar_scale']:.2g}  {e['vector_scale']:.2g}"
                )
    return "\n".join(lines)
