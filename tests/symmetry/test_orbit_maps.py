"""`attach_orbit_maps` / `lattice_orbit_maps` / `with_orbit_maps`: the one place graphs get their
G_Lambda orbit map."""

from __future__ import annotations

import numpy as np
import torch

from ecn.graphs.graph import CrystalGraph, collate
from ecn.graphs.record import UnitGraph
from ecn.graphs.store import GraphStore
from ecn.symmetry import (
    attach_orbit_maps,
    glambda_orbit_map,
    lattice_orbit_maps,
    with_orbit_maps,
)
from ecn.symmetry.bravais import representative_lattice
from ecn.symmetry.lattice import lattice_point_group


def _graph(lattice: np.ndarray) -> CrystalGraph:
    """A one-atom unit-cell graph (only the lattice matters here)."""
    one = torch.zeros(1, dtype=torch.long)
    return CrystalGraph(
        x=torch.zeros(1, 1),
        z=one + 1,
        cell=one,
        atom=one,
        edge_index=torch.zeros(2, 0, dtype=torch.long),
        edge_dist=torch.zeros(0),
        edge_offset=torch.zeros(0, 3, dtype=torch.long),
        edge_attr=torch.zeros(0, 1),
        lattice=torch.as_tensor(lattice, dtype=torch.float32)[None],
        n_atoms=torch.ones(1, dtype=torch.long),
        y=torch.zeros(1, 1),
        batch=one,
        edge_batch=torch.zeros(0, dtype=torch.long),
        supercell=False,
    )


def test_attach_sets_the_point_group_orbit_map_and_keeps_existing_ones() -> None:
    lattices = {s: representative_lattice(s) for s in ("cP", "tP", "hP", "cF", "aP")}
    graphs = [_graph(lat) for lat in lattices.values()]
    keep = torch.arange(8)[None]
    graphs[-1].cell_orbit_map = keep  # already set: must be left alone (even if "wrong")
    attach_orbit_maps(graphs)
    for g, (symbol, lat) in zip(graphs[:-1], list(lattices.items())[:-1], strict=True):
        expected = glambda_orbit_map(lattice_point_group(np.asarray(lat, dtype=np.float64)))
        assert g.cell_orbit_map.shape == (1, 8) and g.cell_orbit_map.dtype == torch.long
        assert g.cell_orbit_map[0].tolist() == expected.tolist(), symbol
    assert graphs[-1].cell_orbit_map is keep
    # distinct lattices give distinct maps here (cubic P, tetragonal P, hexagonal, cubic F)
    assert len({tuple(g.cell_orbit_map[0].tolist()) for g in graphs[:-1]}) == 4


def test_batched_graph_gets_one_row_per_crystal() -> None:
    lats = [representative_lattice(s) for s in ("cP", "tP", "cI")]
    batch = collate([_graph(lat) for lat in lats])
    assert batch.cell_orbit_map is None
    attach_orbit_maps([batch])
    assert batch.cell_orbit_map.shape == (3, 8)
    assert torch.equal(batch.cell_orbit_map, lattice_orbit_maps(torch.as_tensor(np.stack(lats))))
    # a single (3, 3) lattice is accepted too
    assert lattice_orbit_maps(torch.as_tensor(lats[0])).shape == (1, 8)


def _unit(lattice: np.ndarray, id: str) -> UnitGraph:
    """A one-atom unit-cell record (only the lattice matters here)."""
    return UnitGraph.make(id, [1], [[0, 0, 0]], [], [], np.zeros((0, 3)), [], lattice)


def test_with_orbit_maps_takes_records_stores_and_graphs_alike() -> None:
    """One helper for the three forms callers hold (the predictor's records, training's store,
    the checks' graphs); each gets the same map per lattice, and an empty input is left as is."""
    lats = [representative_lattice(s) for s in ("cP", "tP", "hP")]
    expected = lattice_orbit_maps(torch.as_tensor(np.stack(lats))).numpy()
    units = [_unit(lat, f"u{k}") for k, lat in enumerate(lats)]
    got = with_orbit_maps(units)
    assert [u.orbit_map.tolist() for u in got] == expected.tolist()
    assert all(u.orbit_map is None for u in units)  # records are frozen: new ones come back
    store = with_orbit_maps(GraphStore.from_units(units).subset([2, 0]))
    assert [store[k].orbit_map.tolist() for k in range(2)] == expected[[2, 0]].tolist()
    graphs = [_graph(lat) for lat in lats]
    assert with_orbit_maps(graphs) is graphs
    assert [g.cell_orbit_map[0].tolist() for g in graphs] == expected.tolist()
    assert with_orbit_maps([]) == []
