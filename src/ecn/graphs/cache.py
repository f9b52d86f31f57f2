"""On-disk cache of built graphs: one ``torch.save`` of plain tensors per (data, settings, code).

Why one file of concatenated tensors: loading ~10k small graphs from one file with
``weights_only=True`` is fast and safe (no pickled classes), and one file can be replaced
atomically, so a crashed build never leaves a half cache.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from pymatgen.core import Structure

from ecn.graphs.build import build_graphs
from ecn.graphs.graph import CrystalGraph, collate
from ecn.graphs.settings import GraphSettings
from ecn.io import atomic_write

logger = logging.getLogger(__name__)

# Bump when graph construction changes what it produces (invalidates every cache).
GRAPH_CODE_VERSION = "graphs-2"  # graphs-2: the canonical crystal step (issue 14)

_NODE_FIELDS = ("x", "z", "cell", "atom")
_EDGE_FIELDS = ("edge_dist", "edge_offset", "edge_attr")
_GRAPH_FIELDS = ("lattice", "n_atoms", "y")


def cache_key(data_checksum: str, settings: GraphSettings) -> str:
    """Hash of (data checksum, graph settings, graph code version)."""
    text = f"{data_checksum}|{settings.key()}|{GRAPH_CODE_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cache_path(
    name: str, data_checksum: str, settings: GraphSettings, root: Path | None = None
) -> Path:
    """`<cache dir>/<name>-<key>.pt`."""
    from ecn.settings import cache_dir

    return Path(root or cache_dir()) / f"{name}-{cache_key(data_checksum, settings)}.pt"


def pack(graphs: list[CrystalGraph], rejected: list[tuple[str, str]], meta: dict) -> dict:
    """Graphs -> a dict of plain tensors/lists (what `torch.save` writes)."""
    out: dict = {
        "meta": dict(meta),
        "rejected": [list(r) for r in rejected],
        "n_graphs": len(graphs),
    }
    if not graphs:
        return out
    b = collate(graphs)
    out.update({f: getattr(b, f) for f in _NODE_FIELDS + _EDGE_FIELDS + _GRAPH_FIELDS})
    out["edge_index_local"] = torch.cat([g.edge_index for g in graphs], dim=1)
    out["nodes_per_graph"] = torch.tensor([g.num_nodes for g in graphs], dtype=torch.long)
    out["edges_per_graph"] = torch.tensor([g.num_edges for g in graphs], dtype=torch.long)
    out["ids"] = [i for g in graphs for i in g.ids]
    out["supercell"] = bool(graphs[0].supercell)
    return out


def unpack(payload: dict) -> tuple[list[CrystalGraph], list[tuple[str, str]]]:
    """Inverse of `pack`."""
    rejected = [(str(a), str(b)) for a, b in payload["rejected"]]
    if payload["n_graphs"] == 0:
        return [], rejected
    nodes = payload["nodes_per_graph"].tolist()
    edges = payload["edges_per_graph"].tolist()
    split_n = {f: torch.split(payload[f], nodes) for f in _NODE_FIELDS}
    split_e = {f: torch.split(payload[f], edges) for f in _EDGE_FIELDS}
    split_ei = torch.split(payload["edge_index_local"], edges, dim=1)
    graphs = []
    for k in range(payload["n_graphs"]):
        graphs.append(
            CrystalGraph(
                **{f: split_n[f][k] for f in _NODE_FIELDS},
                **{f: split_e[f][k] for f in _EDGE_FIELDS},
                **{f: payload[f][k : k + 1] for f in _GRAPH_FIELDS},
                edge_index=split_ei[k],
                batch=torch.zeros(nodes[k], dtype=torch.long),
                edge_batch=torch.zeros(edges[k], dtype=torch.long),
                ids=[payload["ids"][k]],
                supercell=payload["supercell"],
            )
        )
    return graphs, rejected


def save_atomic(path: Path, payload: dict) -> None:
    """`torch.save` to a temp file in the same directory, then `os.replace` (atomic)."""
    with atomic_write(path, "wb") as fh:
        torch.save(payload, fh)


def load_or_build(
    name: str,
    data_checksum: str,
    settings: GraphSettings,
    items_fn: Callable[[], Iterable[tuple[str, Structure, np.ndarray | None]]],
    n_jobs: int | None = None,
    progress: bool = True,
    cache_root: Path | None = None,
    rebuild: bool = False,
    stats: dict | None = None,
) -> tuple[list[CrystalGraph], list[tuple[str, str]]]:
    """Graphs for a dataset split, from the cache when present, else built and cached.

    Args:
        name: cache file prefix, e.g. ``perov5-test``.
        data_checksum: checksum of the source data (changes -> new cache entry).
        settings: graph settings (part of the key).
        items_fn: called only on a cache miss; yields (id, structure, targets).
        n_jobs, progress: passed to `build_graphs`.
        cache_root: directory (default `ecn.settings.cache_dir()`).
        rebuild: ignore an existing cache entry.
        stats: filled with ``cached`` (bool), ``path`` and the isolated-atom counts.

    Returns:
        (graphs, rejections) exactly as `build_graphs` returned them when the cache was written.
    """
    path = cache_path(name, data_checksum, settings, cache_root)
    stats = {} if stats is None else stats
    if path.exists() and not rebuild:
        payload = torch.load(path, weights_only=True)
        graphs, rejected = unpack(payload)
        stats.update(payload["meta"].get("stats", {}), cached=True, path=str(path))
        logger.info("loaded %d graphs from %s", len(graphs), path)
        return graphs, rejected
    build_stats: dict = {}
    graphs, rejected = build_graphs(
        items_fn(), settings, n_jobs=n_jobs, progress=progress, stats=build_stats
    )
    meta = {
        "name": name,
        "data_checksum": data_checksum,
        "settings_key": settings.key(),
        "code_version": GRAPH_CODE_VERSION,
        "stats": build_stats,
    }
    save_atomic(path, pack(graphs, rejected, meta))
    stats.update(build_stats, cached=False, path=str(path))
    logger.info("built %d graphs (%d rejected), cached at %s", len(graphs), len(rejected), path)
    return graphs, rejected
