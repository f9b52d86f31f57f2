"""Small real crystals built in code (``ecn.testing.crystals``), as float64 supercell graphs,
and a small ECN factory."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from pymatgen.core import Structure

from ecn.graphs import GraphSettings, build_graph
from ecn.graphs.graph import CrystalGraph
from ecn.nn import ECN
from ecn.symmetry import attach_orbit_maps, lattice_point_group
from ecn.testing.crystals import crystals as build_crystals

CUTOFF = 4.0


def supercell_graph(structure: Structure, name: str, cutoff: float = CUTOFF) -> CrystalGraph:
    """float64 supercell graph of `structure` (8-fold cover of its cutoff graph) + orbit map."""
    g = build_graph(structure, GraphSettings(strategy="cutoff", cutoff=cutoff), id=name)
    attach_orbit_maps([g])
    g.x, g.edge_attr, g.edge_dist = g.x.double(), g.edge_attr.double(), g.edge_dist.double()
    g.lattice = g.lattice.double()
    return g


@pytest.fixture(scope="session")
def crystals() -> dict[str, Structure]:
    return build_crystals()


@pytest.fixture(scope="session")
def graphs(crystals: dict[str, Structure]) -> dict[str, CrystalGraph]:
    return {k: supercell_graph(s, k) for k, s in crystals.items()}


@pytest.fixture
def make_model() -> Callable[..., ECN]:
    """Small float64 ECN with seeded weights (width 16, 3 layers unless given)."""

    def make(group: str, graph: CrystalGraph, seed: int = 0, **kw: object) -> ECN:
        torch.manual_seed(seed)
        kw = {"width": 16, "layers": 3, "out_dim": 2, **kw}
        return ECN(graph.x.shape[1], graph.edge_attr.shape[1], group=group, **kw).double().eval()

    return make


@pytest.fixture(scope="session")
def rotations(crystals: dict[str, Structure]) -> dict[str, np.ndarray]:
    """Lattice point group (R, 3, 3) of each crystal."""
    return {k: lattice_point_group(np.array(s.lattice.matrix)) for k, s in crystals.items()}
