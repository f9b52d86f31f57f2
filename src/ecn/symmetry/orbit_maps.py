"""G_Lambda orbit maps of crystal graphs: the one helper that attaches ``cell_orbit_map``.

A ``glambda`` model needs, per crystal, the map ``(8,)`` from each P-1 cell colour to its orbit
under the crystal's lattice point group (:func:`~ecn.symmetry.colorings.glambda_orbit_map`).
It depends only on the lattice, so it is computed once per distinct lattice (rounded to 1e-6 Å,
cached for the process) and stored on the graph, where ``collate`` concatenates it. Which models
need it is said once, by ``ecn.nn.inputs.with_model_inputs``, which calls :func:`with_orbit_maps`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

from ecn.graphs.graph import CrystalGraph
from ecn.graphs.record import UnitGraph
from ecn.graphs.store import GraphStore
from ecn.symmetry.colorings import glambda_orbit_map
from ecn.symmetry.lattice import lattice_point_group

__all__ = ["attach_orbit_maps", "lattice_orbit_maps", "with_orbit_maps"]

Graphs = TypeVar("Graphs", GraphStore, list[UnitGraph], list[CrystalGraph])

#: Lattices equal to this many decimals (Å) share one orbit map.
DECIMALS = 6


@lru_cache(maxsize=4096)
def _orbit_map(key: bytes) -> tuple[int, ...]:
    lattice = np.frombuffer(key, dtype=np.float64).reshape(3, 3).copy()
    return tuple(int(c) for c in glambda_orbit_map(lattice_point_group(lattice)))


def lattice_orbit_maps(lattice: Tensor) -> Tensor:
    """G_Lambda orbit map of each lattice.

    Args:
        lattice: (G, 3, 3) or (3, 3) lattices, rows are lattice vectors (Å).

    Returns:
        (G, 8) long on `lattice`'s device: the orbit (smallest P-1 colour) of each P-1 colour.
    """
    lat = lattice.detach().cpu().double().numpy().reshape(-1, 3, 3)
    rows = [_orbit_map((np.round(m, DECIMALS) + 0.0).tobytes()) for m in lat]  # +0.0: no -0.0
    return torch.tensor(rows, dtype=torch.long, device=lattice.device).reshape(-1, 8)


def attach_orbit_maps(graphs: Iterable[CrystalGraph]) -> None:
    """Set ``cell_orbit_map`` of each graph that has none, in place.

    A single crystal's graph gets (1, 8); a batched graph gets (G, 8), one row per crystal.
    Graphs that already carry a map are left alone.
    """
    for g in graphs:
        if g.cell_orbit_map is None:
            g.cell_orbit_map = lattice_orbit_maps(g.lattice)


def with_orbit_maps(graphs: Graphs) -> Graphs:
    """`graphs` with each crystal's orbit map, in whichever form the caller holds them.

    A `GraphStore` view comes back as a new view (``with_orbit_maps``: the columns are shared),
    a list of `UnitGraph` records as a new list of records, a list of `CrystalGraph`s as the same
    list with ``cell_orbit_map`` set in place (:func:`attach_orbit_maps`). Empty input is
    returned as it is.
    """
    if len(graphs) == 0:
        return graphs
    if isinstance(graphs, GraphStore):
        lattices = torch.from_numpy(np.ascontiguousarray(graphs.lattices))
        return graphs.with_orbit_maps(lattice_orbit_maps(lattices).numpy())
    if isinstance(graphs[0], UnitGraph):
        maps = lattice_orbit_maps(torch.from_numpy(np.stack([u.lattice for u in graphs])))
        return [replace(u, orbit_map=m) for u, m in zip(graphs, maps.numpy(), strict=True)]
    attach_orbit_maps(graphs)
    return graphs
