"""Edge multisets do not depend on wrapping, origin or atom order (nequip-style consistency)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from pymatgen.core import Structure

from ecn.graphs import GraphSettings, neighbor_list

CASES = ["CaTiO3_Pnma", "SiO2_quartz", "triclinic_P-1", "graphite_layered", "BaTiO3_cubic"]
STRATEGIES = ["voronoi_radii", "cutoff"]


def _multiset(s: Structure, st: GraphSettings, perm: np.ndarray | None = None) -> Counter:
    """{(species_i, original index i, original j, Cartesian displacement rounded)}."""
    e = neighbor_list(s, st)
    back = np.arange(len(s)) if perm is None else perm
    disp = (s.frac_coords[e.src] + e.offset - s.frac_coords[e.dst]) @ s.lattice.matrix
    return Counter(
        zip(
            back[e.dst].tolist(),
            back[e.src].tolist(),
            map(tuple, np.round(disp, 5).tolist()),
            strict=False,
        )
    )


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_wrapped_vs_unwrapped(diverse_structures, strategy):
    st = GraphSettings(strategy=strategy, cutoff=4.0)
    rng = np.random.default_rng(0)
    for name in CASES:
        s = diverse_structures[name]
        shift = rng.integers(-2, 3, size=(len(s), 3))
        unwrapped = Structure(s.lattice, s.species, s.frac_coords + shift)
        assert _multiset(s, st) == _multiset(unwrapped, st), name


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_origin_shift(diverse_structures, strategy):
    st = GraphSettings(strategy=strategy, cutoff=4.0)
    for name in CASES:
        s = diverse_structures[name]
        moved = Structure(s.lattice, s.species, (s.frac_coords + [0.137, 0.411, 0.73]) % 1.0)
        assert _multiset(s, st) == _multiset(moved, st), name


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_permuted_atoms(diverse_structures, strategy):
    st = GraphSettings(strategy=strategy, cutoff=4.0)
    rng = np.random.default_rng(1)
    for name in CASES:
        s = diverse_structures[name]
        perm = rng.permutation(len(s))
        if len(s) > 1:
            while (perm == np.arange(len(s))).all():
                perm = rng.permutation(len(s))
        permuted = Structure(s.lattice, [s.species[k] for k in perm], s.frac_coords[perm])
        assert _multiset(s, st) == _multiset(permuted, st, perm), name


def test_negative_control_strain_changes_edges(diverse_structures):
    """The comparison bites: a strained cell does not give the same multiset."""
    s = diverse_structures["CaTiO3_Pnma"]
    strained = s.copy()
    strained.apply_strain([0.03, 0.0, 0.0])
    st = GraphSettings()
    assert _multiset(s, st) != _multiset(strained, st)
