"""Structure -> CrystalGraph: periodic cover, node and edge features, batch building.

The supercell graph is never searched on the 2x2x2 supercell: it is the exact 8-fold periodic
cover of the unit-cell graph (DESIGN.md). Unit edge i <- j with image offset n becomes, for each
cell a in {0,1}^3, the edge (a, i) <- ((a + n) mod 2, j): the source sits at frac[j] + a + n in
unit-cell coordinates, i.e. in cell (a + n) mod 2 of the supercell, shifted by floor((a + n) / 2)
supercells (the "circular padding" of paper §5).

Every structure first passes the canonical crystal step (`ecn.graphs.canonical`, controlled by
``GraphSettings.canonical`` / ``symprec``): the graph is the graph of the canonical description,
so its ``n_atoms``, ``lattice`` and node order are those of the canonical (primitive) cell.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

import numpy as np
import torch
from pymatgen.core import Structure

from ecn.elements import (
    CGCNN_DIM,
    GROUP,
    MAX_Z,
    N_GROUPS,
    PERIOD,
    SYMBOLS,
    cgcnn_feature_table,
    hubbard_u_flag,
)
from ecn.graphs.canonical import canonical_structure
from ecn.graphs.graph import CELL_BITS, CrystalGraph
from ecn.graphs.neighbors import UnitEdges, neighbor_list
from ecn.graphs.settings import GraphSettings

logger = logging.getLogger(__name__)


def cover_edges(edges: UnitEdges) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Supercell edges of the 8-fold periodic cover of a unit-cell graph.

    Returns:
        (src, dst, offset, dist): src/dst (8E,) supercell node indices k = a * n_atoms + i,
        offset (8E, 3) the unit-cell image offset of each underlying edge, dist (8E,).
    """
    n = edges.n_atoms
    a = np.arange(8)
    bits = CELL_BITS[a]  # (8, 3)
    b_bits = (bits[:, None, :] + edges.offset[None, :, :]) % 2  # (8, E, 3)
    b = 4 * b_bits[..., 0] + 2 * b_bits[..., 1] + b_bits[..., 2]
    dst = (a[:, None] * n + edges.dst[None, :]).ravel()
    src = (b * n + edges.src[None, :]).ravel()
    offset = np.broadcast_to(edges.offset, (8,) + edges.offset.shape).reshape(-1, 3)
    dist = np.broadcast_to(edges.dist, (8, edges.num_edges)).ravel()
    return src, dst, offset.copy(), dist.copy()


def gaussian_features(dist: np.ndarray, settings: GraphSettings) -> np.ndarray:
    """exp(-(d - mu_k)^2 / w^2) with K centres evenly spaced on [0, gaussian_max]: (E, K)."""
    mu = np.linspace(0.0, settings.gaussian_max, settings.n_gaussians)
    return np.exp(-((dist[:, None] - mu[None, :]) ** 2) / settings.gaussian_width**2)


def node_features(
    z: np.ndarray, cell: np.ndarray, settings: GraphSettings, hubbard: bool = False
) -> np.ndarray:
    """Node features [atom encoding, Hubbard-U flag?, onehot(cell)?]: (N, node_feature_dim).

    Args:
        z: (N,) atomic numbers 1..MAX_Z.
        cell: (N,) cell index a in 0..7.
        hubbard: the structure-level +U flag (broadcast to every atom, paper §8).
    """
    n = len(z)
    x = np.zeros((n, settings.node_feature_dim), dtype=np.float32)
    rows = np.arange(n)
    if settings.node_features == "onehot_z":
        x[rows, z - 1] = 1.0
        col = MAX_Z
    elif settings.node_features == "cgcnn92":
        x[:, :CGCNN_DIM] = cgcnn_feature_table()[z]
        col = CGCNN_DIM
    else:
        x[rows, GROUP[z] - 1] = 1.0
        x[rows, N_GROUPS + PERIOD[z] - 1] = 1.0
        col = N_GROUPS + 7
    if settings.hubbard_u:
        x[:, col] = float(hubbard)
        col += 1
    if settings.cell_onehot:
        x[rows, col + cell] = 1.0
    return x


def build_graph(
    structure: Structure,
    settings: GraphSettings | None = None,
    targets: np.ndarray | None = None,
    id: str = "",
    edges: UnitEdges | None = None,
) -> CrystalGraph:
    """One crystal graph (supercell cover when ``settings.supercell``, else the unit cell).

    Args:
        structure: ordered, 3D-periodic structure; it passes `canonical_structure` first (unless
            `edges` is given).
        settings: graph settings.
        targets: (T,) targets (NaN allowed) -> y of shape (1, T); None -> (1, 0).
        id: material id stored in ``ids``.
        edges: precomputed unit-cell edges (skips the canonical step and the neighbour search):
            then `structure` must be the structure they were searched on, i.e. already
            ``canonical_structure(structure, settings.canonical, settings.symprec)``.

    Raises:
        ValueError: see `neighbor_list`.
    """
    settings = settings or GraphSettings()
    if edges is None:
        structure = canonical_structure(structure, settings.canonical, settings.symprec)
        edges = neighbor_list(structure, settings)
    z_unit = np.asarray(structure.atomic_numbers, dtype=np.int64)
    n = edges.n_atoms
    if settings.supercell:
        src, dst, offset, dist = cover_edges(edges)
        cell = np.repeat(np.arange(8), n)
        atom = np.tile(np.arange(n), 8)
    else:
        src, dst, offset, dist = edges.src, edges.dst, edges.offset, edges.dist
        cell = np.zeros(n, dtype=np.int64)
        atom = np.arange(n)
    z = z_unit[atom]
    hub = (
        hubbard_u_flag({SYMBOLS[int(k)] for k in np.unique(z_unit)})
        if settings.hubbard_u
        else False
    )
    y = np.zeros((1, 0)) if targets is None else np.asarray(targets, dtype=float).reshape(1, -1)
    n_nodes, n_edges = len(z), len(src)
    return CrystalGraph(
        x=torch.from_numpy(node_features(z, cell, settings, hub)),
        z=torch.from_numpy(z),
        cell=torch.from_numpy(cell.astype(np.int64)),
        atom=torch.from_numpy(atom.astype(np.int64)),
        edge_index=torch.from_numpy(np.stack([src, dst]).astype(np.int64)),
        edge_dist=torch.from_numpy(dist.astype(np.float32)),
        edge_offset=torch.from_numpy(offset.astype(np.int64)),
        edge_attr=torch.from_numpy(gaussian_features(dist, settings).astype(np.float32)),
        lattice=torch.from_numpy(np.asarray(structure.lattice.matrix, dtype=np.float32)[None]),
        n_atoms=torch.tensor([n], dtype=torch.long),
        y=torch.from_numpy(y.astype(np.float32)),
        batch=torch.zeros(n_nodes, dtype=torch.long),
        edge_batch=torch.zeros(n_edges, dtype=torch.long),
        ids=[id],
        supercell=settings.supercell,
    )


def _to_arrays(graph: CrystalGraph) -> dict:
    """Tensors -> numpy arrays for the trip back from a worker process.

    Why: torch pickles tensors between processes as shared-memory file handles; a full dataset
    (thousands of graphs x 13 tensors) exhausts the open-file limit ("received 0 items of
    ancdata") and the pool hangs. Plain arrays travel through the pipe by value.
    """
    return {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in vars(graph).items()}


def _from_arrays(fields: dict) -> CrystalGraph:
    return CrystalGraph(
        **{k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in fields.items()}
    )


def _build_one(
    args: tuple[str, Structure, np.ndarray | None, GraphSettings],
) -> tuple[str, dict | None, str, int]:
    """Worker: (id, graph as arrays or None, rejection reason, isolated atoms). Never raises."""
    mid, structure, targets, settings = args
    try:
        structure = canonical_structure(structure, settings.canonical, settings.symprec)
        edges = neighbor_list(structure, settings)
        graph = build_graph(structure, settings, targets, mid, edges=edges)
        return mid, _to_arrays(graph), "", edges.n_isolated
    except Exception as exc:  # noqa: BLE001 - one bad structure must not abort the batch
        return mid, None, f"graph building failed: {type(exc).__name__}: {exc}", 0


def build_graphs(
    items: Iterable[tuple[str, Structure, np.ndarray | None]],
    settings: GraphSettings | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    stats: dict | None = None,
) -> tuple[list[CrystalGraph], list[tuple[str, str]]]:
    """Build graphs for many structures on all cores, with a progress bar.

    Args:
        items: (id, structure, targets) triples.
        settings: graph settings.
        n_jobs: worker processes (None: all cores; 1: in-process).
        progress: show a rich progress bar.
        stats: if given, filled with ``n_isolated_structures`` and ``n_isolated_atoms`` (atoms
            that needed the nearest-neighbour fallback).

    Returns:
        (graphs in input order without the rejected ones, [(id, reason)] rejections).
    """
    settings = settings or GraphSettings()
    work = [(mid, s, t, settings) for mid, s, t in items]
    n_jobs = (os.cpu_count() or 1) if n_jobs is None else max(1, int(n_jobs))
    n_jobs = min(n_jobs, max(1, len(work) // 64))
    results: list[tuple[str, dict | None, str, int]] = []
    bar = None
    pool = None
    if progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        bar = Progress(
            TextColumn("graphs"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        )
        bar.start()
        task = bar.add_task("graphs", total=len(work))
    try:
        if n_jobs == 1:
            it: Iterable = map(_build_one, work)
        else:
            import multiprocessing as mp

            pool = mp.get_context("spawn" if os.name == "nt" else "fork").Pool(n_jobs)
            it = pool.imap(_build_one, work, chunksize=32)
        for res in it:
            results.append(res)
            if bar is not None:
                bar.advance(task)
        if pool is not None:
            pool.close()
            pool.join()
            pool = None
    finally:
        if pool is not None:
            pool.terminate()
        if bar is not None:
            bar.stop()
    graphs = [_from_arrays(g) for _, g, _, _ in results if g is not None]
    rejected = [(mid, reason) for mid, g, reason, _ in results if g is None]
    n_iso_atoms = sum(k for *_, k in results)
    n_iso_structs = sum(1 for *_, k in results if k > 0)
    if n_iso_structs:
        logger.warning(
            "%d of %d structures had atoms without neighbours (%d atoms); they got their "
            "nearest neighbour(s)",
            n_iso_structs,
            len(results),
            n_iso_atoms,
        )
    if rejected:
        logger.warning(
            "rejected %d of %d structures while building graphs", len(rejected), len(results)
        )
    if stats is not None:
        stats.update(n_isolated_structures=n_iso_structs, n_isolated_atoms=n_iso_atoms)
    return graphs, rejected
