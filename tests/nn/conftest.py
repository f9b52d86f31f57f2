"""Small real crystals built in code, as float64 supercell graphs, and a small ECN factory."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from ecn.graphs import GraphSettings, build_graph
from ecn.graphs.graph import CrystalGraph
from ecn.nn import ECN
from ecn.symmetry import attach_orbit_maps, lattice_point_group

CUTOFF = 4.0


def supercell_graph(structure: Structure, name: str, cutoff: float = CUTOFF) -> CrystalGraph:
    """float64 supercell graph of `structure` (8-fold cover of its cutoff graph) + orbit map."""
    g = build_graph(structure, GraphSettings(strategy="cutoff", cutoff=cutoff), id=name)
    attach_orbit_maps([g])
    g.x, g.edge_attr, g.edge_dist = g.x.double(), g.edge_attr.double(), g.edge_dist.double()
    g.lattice = g.lattice.double()
    return g


def _cscl() -> Structure:  # cubic primitive (Pm-3m), 2 atoms
    return Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _cuau() -> Structure:  # tetragonal primitive (P4/mmm, L1_0), 2 atoms
    return Structure(Lattice.tetragonal(2.80, 3.67), ["Cu", "Au"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _mg() -> Structure:  # hexagonal (P6_3/mmc, hcp), 2 atoms
    return Structure(
        Lattice.hexagonal(3.21, 5.21), ["Mg", "Mg"], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    )


def _caf2() -> Structure:  # face-centred cubic primitive cell (Fm-3m fluorite), 3 atoms
    a = 5.46
    lat = Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]])
    return Structure(lat, ["Ca", "F", "F"], [[0, 0, 0], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]])


def _batio3() -> Structure:  # cubic perovskite, 5 atoms
    return Structure(
        Lattice.cubic(4.0),
        ["Ba", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


CRYSTALS: dict[str, Callable[[], Structure]] = {
    "CsCl": _cscl,
    "CuAu": _cuau,
    "Mg": _mg,
    "CaF2": _caf2,
    "BaTiO3": _batio3,
}


@pytest.fixture(scope="session")
def crystals() -> dict[str, Structure]:
    return {k: f() for k, f in CRYSTALS.items()}


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
