"""Neighbour search == pymatgen (IsayevNN for voronoi_radii, MinimumDistanceNN for min_distance)."""

from __future__ import annotations

import logging

import pytest

from ecn.graphs import GraphSettings, neighbor_list
from ecn.graphs.reference import isayev_edge_set, min_distance_edge_set

logger = logging.getLogger(__name__)
VORONOI = GraphSettings(strategy="voronoi_radii", voronoi_candidates=6.0, tol=0.5)


def _disagreements(structures) -> tuple[int, list[str]]:
    """Compare with IsayevNN(cutoff=6, tol=0.5) + self-loops; fallback edges of isolated atoms
    (our documented addition, absent from pymatgen) are left out of the comparison."""
    bad = []
    for name, s in structures:
        ours = neighbor_list(s, VORONOI).edge_set(fallback=False)
        ref = isayev_edge_set(s, 6.0, 0.5, self_loops=True)
        if ours != ref:
            bad.append(f"{name}: ours-ref={sorted(ours - ref)} ref-ours={sorted(ref - ours)}")
    return len(structures), bad


def test_voronoi_radii_equals_isayevnn_on_diverse_crystals(diverse_structures):
    n, bad = _disagreements(list(diverse_structures.items()))
    assert n >= 25
    assert not bad, bad


@pytest.mark.slow
def test_voronoi_radii_equals_isayevnn_on_300_perov5(perov5_test_300):
    n, bad = _disagreements(perov5_test_300)
    assert n == 300
    assert (n - len(bad)) / n >= 0.995, bad


def test_reference_path_equals_fast_path(diverse_structures):
    """The qhull-Voronoi reference path (pymatgen's exact input) and the fast path agree."""
    for name, s in diverse_structures.items():
        fast = neighbor_list(s, VORONOI)
        ref = neighbor_list(s, VORONOI, method="reference")
        assert fast.edge_set() == ref.edge_set(), name


def test_fast_path_is_used_on_dense_crystals(diverse_structures):
    methods = [neighbor_list(s, VORONOI).method for s in diverse_structures.values()]
    assert methods.count("fast") >= 0.8 * len(methods)


@pytest.mark.parametrize("r", [3.5, 5.0])
def test_min_distance_equals_minimumdistancenn(diverse_structures, r):
    st = GraphSettings(strategy="min_distance", cutoff=r, self_loops=False)
    for name, s in diverse_structures.items():
        e = neighbor_list(s, st)
        assert e.edge_set(fallback=False) == min_distance_edge_set(s, r), name


def test_min_distance_equals_minimumdistancenn_perov5(perov5_test_300):
    st = GraphSettings(strategy="min_distance", cutoff=5.0, self_loops=False)
    for name, s in perov5_test_300[:60]:
        assert neighbor_list(s, st).edge_set() == min_distance_edge_set(s, 5.0), name


def test_cutoff_is_all_atoms_within_r(diverse_structures):
    import numpy as np

    s = diverse_structures["NaCl"]
    e = neighbor_list(s, GraphSettings(strategy="cutoff", cutoff=4.0, self_loops=False))
    assert (e.dist <= 4.0).all() and (e.dist > 0).all()
    # rock salt: 6 Cl at a/2 and 12 Na at a/sqrt(2) = 3.99 Å per atom
    assert np.bincount(e.dst).tolist() == [18] * len(s)


def test_self_loops_and_own_periodic_images(diverse_structures):
    """A 1-atom cell's neighbours are its own images (real edges, nonzero offset) + a self-loop."""
    s = diverse_structures["Cu_fcc_1atom"]
    e = neighbor_list(s, VORONOI)
    offs = {tuple(o) for o in e.offset.tolist()}
    assert (0, 0, 0) in offs and len(offs) == 13  # 12 fcc neighbours + self-loop
    assert (e.src == 0).all() and (e.dst == 0).all()


def test_isolated_atom_fallback_is_counted(caplog):
    """Simple cubic Po at a = 3.35 Å: 2 r_cov + 0.5 = 3.30 Å < a, so IsayevNN leaves it isolated;
    we give it its 6 nearest neighbours and count it."""
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice.cubic(3.35), ["Po"], [[0, 0, 0]])
    e = neighbor_list(s, VORONOI)
    assert e.n_isolated == 1
    assert int(e.fallback.sum()) == 6
    assert set(e.edge_set(fallback=False)) == {(0, 0, (0, 0, 0))}


def test_bad_input_raises_valueerror():
    from pymatgen.core import Lattice, Structure

    with pytest.raises(ValueError, match="partial"):
        neighbor_list(Structure(Lattice.cubic(4), [{"Na": 0.5, "K": 0.5}], [[0, 0, 0]]))
    with pytest.raises(ValueError, match="supported"):
        neighbor_list(Structure(Lattice.cubic(4), ["Bk"], [[0, 0, 0]]))
