"""Structure -> stored record (`UnitGraph`) -> CrystalGraph; building many on all cores.

The supercell graph is never searched on the 2x2x2 supercell: it is the exact 8-fold periodic
cover of the unit-cell graph (DESIGN.md). Unit edge i <- j with image offset n becomes, for each
cell a in {0,1}^3, the edge (a, i) <- ((a + n) mod 2, j): the source sits at frac[j] + a + n in
unit-cell coordinates, i.e. in cell (a + n) mod 2 of the supercell, shifted by floor((a + n) / 2)
supercells (the "circular padding" of paper §5).

Every structure first passes the canonical crystal step (`ecn.graphs.canonical`, controlled by
``GraphSettings.canonical`` / ``symprec``): the graph is the graph of the canonical description,
so its ``n_atoms``, ``lattice`` and node order are those of the canonical (primitive) cell.

What is built and stored is the compact record (`ecn.graphs.record.UnitGraph`); the cover and
the features are made from it by `ecn.graphs.cover.expand`, one batch at a time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from pymatgen.core import Structure

from ecn.elements import SYMBOLS, hubbard_u_flag
from ecn.graphs.canonical import canonical_arrays
from ecn.graphs.cover import cover_index, expand
from ecn.graphs.graph import CrystalGraph
from ecn.graphs.neighbors import UnitEdges, _arrays, neighbor_list_arrays
from ecn.graphs.record import UnitGraph
from ecn.graphs.settings import GraphSettings

logger = logging.getLogger(__name__)


def cover_edges(edges: UnitEdges) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Supercell edges of the 8-fold periodic cover of one unit-cell graph (`cover_index`).

    Returns:
        (src, dst, offset, dist): src/dst (8E,) supercell node indices k = a * n_atoms + i,
        offset (8E, 3) the unit-cell image offset of each underlying edge, dist (8E,).
    """
    ix = cover_index(
        torch.tensor([edges.n_atoms]),
        torch.tensor([edges.num_edges]),
        torch.from_numpy(edges.src.astype(np.int64)),
        torch.from_numpy(edges.dst.astype(np.int64)),
        torch.from_numpy(edges.offset.astype(np.int64)),
        supercell=True,
    )
    ue = ix["unit_edge"].numpy()
    return ix["src"].numpy(), ix["dst"].numpy(), edges.offset[ue].copy(), edges.dist[ue].copy()


def unit_graph(
    structure: Structure,
    settings: GraphSettings | None = None,
    targets: np.ndarray | None = None,
    id: str = "",
    edges: UnitEdges | None = None,
) -> UnitGraph:
    """The stored record of one crystal: its canonical description's unit-cell graph.

    Args:
        structure: ordered, 3D-periodic structure; it passes `canonical_structure` first (unless
            `edges` is given).
        settings: graph settings.
        targets: (T,) targets (NaN allowed); None -> no targets.
        id: material id.
        edges: precomputed unit-cell edges (skips the canonical step and the neighbour search):
            then `structure` must be the structure they were searched on, i.e. already
            ``canonical_structure(structure, settings.canonical, settings.symprec)``.

    Raises:
        ValueError: see `neighbor_list`.
    """
    return _unit_graph_and_edges(structure, settings or GraphSettings(), targets, id, edges)[0]


def _unit_graph_and_edges(
    structure: Structure,
    settings: GraphSettings,
    targets: np.ndarray | None,
    id: str,
    edges: UnitEdges | None = None,
) -> tuple[UnitGraph, UnitEdges]:
    """`unit_graph` and the edges it holds. Arrays from the canonical step go straight to the
    neighbour search (``canonical_arrays`` -> ``neighbor_list_arrays``): no Structure between."""
    frac, cart, lattice, z = _arrays(structure)
    if edges is None:
        if settings.canonical != "off":
            lattice, frac, z = canonical_arrays(
                lattice, frac, z, settings.canonical, settings.symprec
            )
            cart = frac @ lattice
        edges = neighbor_list_arrays(frac, cart, lattice, z, settings)
    record = UnitGraph.make(
        id=id,
        z=z,
        frac=frac,
        src=edges.src,
        dst=edges.dst,
        offset=edges.offset,
        dist=edges.dist,
        face=edges.face,
        lattice=lattice,
        y=targets,
        hubbard=hubbard_u_flag({SYMBOLS[int(k)] for k in np.unique(z)}),
    )
    return record, edges


def build_graph(
    structure: Structure,
    settings: GraphSettings | None = None,
    targets: np.ndarray | None = None,
    id: str = "",
    edges: UnitEdges | None = None,
) -> CrystalGraph:
    """One crystal graph (supercell cover when ``settings.supercell``, else the unit cell):
    ``expand([unit_graph(...)])``, the same code path a training batch takes.

    Arguments as `unit_graph`; ``y`` has shape (1, T), (1, 0) without targets.
    """
    settings = settings or GraphSettings()
    return expand([unit_graph(structure, settings, targets, id, edges)], settings)


def _build_one(
    args: tuple[str, Structure, np.ndarray | None, GraphSettings],
) -> tuple[str, UnitGraph | None, str, int]:
    """Worker: (id, record or None, rejection reason, isolated atoms). Never raises.

    Records are numpy arrays, which travel through the pipe by value (torch tensors would be
    sent as shared-memory file handles and exhaust the open-file limit on a full dataset).
    """
    mid, structure, targets, settings = args
    try:
        record, edges = _unit_graph_and_edges(structure, settings, targets, mid)
        return mid, record, "", edges.n_isolated
    except Exception as exc:  # noqa: BLE001 - one bad structure must not abort the batch
        return mid, None, f"graph building failed: {type(exc).__name__}: {exc}", 0


def build_units(
    items: Iterable[tuple[str, Structure, np.ndarray | None]],
    settings: GraphSettings | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    stats: dict | None = None,
    sink: Callable[[UnitGraph], None] | None = None,
) -> tuple[list[UnitGraph], list[tuple[str, str]]]:
    """Build the records of many structures on all cores, with a progress bar.

    Args:
        items: (id, structure, targets) triples.
        settings: graph settings.
        n_jobs: worker processes (None: all cores; 1: in-process).
        progress: show a rich progress bar.
        stats: if given, filled with ``n_isolated_structures`` and ``n_isolated_atoms`` (atoms
            that needed the nearest-neighbour fallback).
        sink: called with each record in input order instead of collecting them (streaming
            into a `StoreWriter`); the returned list is then empty.

    Returns:
        (records in input order without the rejected ones, [(id, reason)] rejections).
    """
    settings = settings or GraphSettings()
    items = items if isinstance(items, Sequence) else list(items)
    n_work = len(items)
    work = ((mid, s, t, settings) for mid, s, t in items)
    n_jobs = (os.cpu_count() or 1) if n_jobs is None else max(1, int(n_jobs))
    n_jobs = min(n_jobs, max(1, n_work // 64))
    units: list[UnitGraph] = []
    rejected: list[tuple[str, str]] = []
    n_iso_atoms = n_iso_structs = n_done = 0
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
        task = bar.add_task("graphs", total=n_work)
    try:
        if n_jobs == 1:
            it: Iterable = map(_build_one, work)
        else:
            import multiprocessing as mp

            pool = mp.get_context("spawn" if os.name == "nt" else "fork").Pool(n_jobs)
            it = pool.imap(_build_one, work, chunksize=32)
        for mid, u, reason, n_iso in it:
            n_done += 1
            if u is None:
                rejected.append((mid, reason))
            elif sink is not None:
                sink(u)
            else:
                units.append(u)
            n_iso_atoms += n_iso
            n_iso_structs += n_iso > 0
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
    if n_iso_structs:
        logger.warning(
            "%d of %d structures had atoms without neighbours (%d atoms); they got their "
            "nearest neighbour(s)",
            n_iso_structs,
            n_done,
            n_iso_atoms,
        )
    if rejected:
        logger.warning("rejected %d of %d structures while building graphs", len(rejected), n_done)
    if stats is not None:
        stats.update(n_isolated_structures=n_iso_structs, n_isolated_atoms=n_iso_atoms)
    return units, rejected


def build_graphs(
    items: Iterable[tuple[str, Structure, np.ndarray | None]],
    settings: GraphSettings | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    stats: dict | None = None,
) -> tuple[list[CrystalGraph], list[tuple[str, str]]]:
    """`build_units`, each record expanded to its own `CrystalGraph` (small sets, tests)."""
    settings = settings or GraphSettings()
    units, rejected = build_units(items, settings, n_jobs, progress, stats)
    return [expand([u], settings) for u in units], rejected
