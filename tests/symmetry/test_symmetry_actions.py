"""Group actions on cells and nodes; node permutations; supercell graph invariance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ecn.symmetry.actions import (
    CELL_BITS,
    N_CELLS,
    cell_index,
    glambda_elements,
    glambda_group,
    graph_is_invariant,
    linear_cell_permutation,
    node_permutation,
    p1_elements,
    p1_group,
    sample_node_permutation,
    supercell_group,
    translation_cell_permutation,
    translation_elements,
    translation_group,
)
from ecn.symmetry.bravais import BRAVAIS_TYPES
from ecn.symmetry.groups import as_perm

SYMBOLS = [bt.symbol for bt in BRAVAIS_TYPES]


def test_cell_index_convention() -> None:
    for a in range(N_CELLS):
        a0, a1, a2 = CELL_BITS[a]
        assert a == 4 * a0 + 2 * a1 + a2
        assert cell_index(CELL_BITS[a]) == a
        assert cell_index(CELL_BITS[a] + 2 * np.array([1, -3, 5])) == a
    with pytest.raises(ValueError):
        cell_index([1, 0])


def test_translations_are_xor() -> None:
    elems = translation_elements()
    for t in range(N_CELLS):
        assert list(elems[t]) == [a ^ t for a in range(N_CELLS)]
        vec_form = [cell_index(CELL_BITS[a] + CELL_BITS[t]) for a in range(N_CELLS)]
        assert list(elems[t]) == vec_form
    assert translation_group().order() == 8
    assert sorted(map(tuple, elems.tolist())) == translation_group().elements()


def test_inversion_is_trivial_mod_2_so_p1_moves_cells_like_t() -> None:
    assert linear_cell_permutation(-np.eye(3, dtype=int)) == tuple(range(N_CELLS))
    p1 = p1_elements()
    assert p1.shape == (16, 8)
    assert np.array_equal(p1[:8], p1[8:])
    assert np.array_equal(p1[:8], translation_elements())
    assert p1_group().elements() == translation_group().elements()


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_glambda_is_t_semidirect_point_group(
    symbol: str, bravais_rotations: dict[str, np.ndarray]
) -> None:
    rots = bravais_rotations[symbol]
    group = glambda_group(rots)
    elems = set(group.elements())
    listed = {tuple(r) for r in glambda_elements(rots).tolist()}
    assert listed == elems  # the |P| * 8 products (R, t) are the whole group
    assert set(translation_group().elements()) <= elems
    assert all(linear_cell_permutation(r)[0] == 0 for r in rots)  # linear part fixes 0
    # T is normal: R (a + t) = R a + R t
    for r in rots:
        lin = linear_cell_permutation(r)
        for a, t in itertools.product(range(N_CELLS), repeat=2):
            assert lin[a ^ t] == lin[a] ^ lin[t]


def test_translation_cell_permutation_validates() -> None:
    assert translation_cell_permutation([1, 0, 1]) == translation_cell_permutation(5)
    with pytest.raises(ValueError):
        translation_cell_permutation(8)
    with pytest.raises(ValueError):
        linear_cell_permutation(np.eye(3) * 0.5)
    with pytest.raises(ValueError):
        linear_cell_permutation(np.diag([1, 1, 2]))


def test_node_permutation_is_eq5() -> None:
    n = 3
    g = (3, 2, 1, 0, 7, 6, 5, 4)
    h = (2, 0, 1)
    perm = node_permutation(g, h, n)
    for a, i in itertools.product(range(N_CELLS), range(n)):
        assert perm[a * n + i] == g[a] * n + h[i]
    as_perm(perm, N_CELLS * n)
    with pytest.raises(ValueError):
        node_permutation(g, (0, 0, 1), n)
    with pytest.raises(ValueError):
        node_permutation(g, h, 0)


@pytest.mark.parametrize("group", ["t", "p1", "glambda", "slambda", "sn"])
def test_sampled_node_permutations_belong_to_the_group(
    group: str, bravais_rotations: dict[str, np.ndarray]
) -> None:
    rng = np.random.default_rng(0)
    n = 2
    rots = bravais_rotations["cF"]
    if group in ("slambda", "sn"):
        # too large to enumerate: check the product structure instead
        for _ in range(20):
            p = sample_node_permutation(group, n, rng, rots)
            as_perm(p, N_CELLS * n)
            if group == "slambda":
                cells = p.reshape(N_CELLS, n) // n
                assert np.all(cells == cells[:, :1])  # a cell moves as a block
        return
    members = set(supercell_group(group, n, rots).elements())
    for _ in range(20):
        assert tuple(sample_node_permutation(group, n, rng, rots).tolist()) in members


# --- supercell graphs ------------------------------------------------------------------------


def periodic_cover(
    lattice: np.ndarray, frac: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray]:
    """Supercell graph as the 8-fold cover of the unit-cell cutoff graph (DESIGN.md).

    Unit edge i <- j with offset m gives (a, i) <- ((a + m) mod 2, j) for all 8 cells a.
    """
    n = len(frac)
    src, dst, dist = [], [], []
    for i, j in itertools.product(range(n), repeat=2):
        for m in itertools.product(range(-2, 3), repeat=3):
            d = np.linalg.norm((frac[j] + np.array(m) - frac[i]) @ lattice)
            if 0 < d < cutoff:
                for a in range(N_CELLS):
                    b = cell_index(CELL_BITS[a] + np.array(m))
                    src.append(b * n + j)
                    dst.append(a * n + i)
                    dist.append(d)
    return np.array([src, dst]), np.array(dist)


@pytest.fixture(scope="module")
def nacl_cover() -> tuple[np.ndarray, np.ndarray, int]:
    """Rock-salt NaCl in its 2-atom primitive fcc cell, edges up to the second shell."""
    a = 5.64
    lattice = a / 2 * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    frac = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    edge_index, dist = periodic_cover(lattice, frac, cutoff=4.1)
    return edge_index, dist, 2


def test_translations_and_p1_map_the_cover_onto_itself(nacl_cover) -> None:
    edge_index, dist, n = nacl_cover
    assert edge_index.shape[1] == 8 * 2 * (6 + 12)
    ident = tuple(range(n))
    for g in p1_elements():
        assert graph_is_invariant(node_permutation(g, ident, n), edge_index, dist)


def direct_supercell_graph(
    lattice: np.ndarray, frac: np.ndarray, cutoff: float
) -> tuple[np.ndarray, np.ndarray]:
    """The same graph by brute force on the explicit 2x2x2 supercell (lattice 2L)."""
    n = len(frac)
    pos = ((CELL_BITS[:, None, :] + frac[None]) / 2).reshape(N_CELLS * n, 3)  # node k = a n + i
    images = np.array(list(itertools.product(range(-2, 3), repeat=3)))
    # diff[k, l, m]: from node k to the image m of node l, in supercell fractions
    diff = pos[None, :, None, :] + images[None, None] - pos[:, None, None, :]
    d = np.linalg.norm(diff @ (2 * lattice), axis=-1)
    k, m, _ = np.nonzero((d > 0) & (d < cutoff))
    return np.array([m, k]), d[(d > 0) & (d < cutoff)]


def edge_multiset(edge_index: np.ndarray, dist: np.ndarray) -> list[tuple[int, int, float]]:
    return sorted(
        zip(
            edge_index[0].tolist(), edge_index[1].tolist(), np.round(dist, 6).tolist(), strict=False
        )
    )


@pytest.fixture(scope="module")
def triclinic_cover() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """A generic 3-atom triclinic crystal (no symmetry beyond translations)."""
    rng = np.random.default_rng(7)
    lattice = np.array([[3.1, 0.0, 0.0], [0.7, 3.4, 0.0], [0.4, -0.6, 3.8]])
    frac = rng.random((3, 3))
    return (*periodic_cover(lattice, frac, cutoff=3.6), lattice, frac, 3)


def test_cover_is_the_explicit_supercell_graph(triclinic_cover) -> None:
    """Checks the index convention a = 4 a0 + 2 a1 + a2, k = a n + i end to end."""
    edge_index, dist, lattice, frac, _ = triclinic_cover
    direct = direct_supercell_graph(lattice, frac, cutoff=3.6)
    assert edge_index.shape[1] > 0
    assert edge_multiset(edge_index, dist) == edge_multiset(*direct)


def test_generic_crystal_cover_is_invariant_exactly_under_t(triclinic_cover) -> None:
    edge_index, dist, _, _, n = triclinic_cover
    ident = tuple(range(n))
    for t in translation_elements():
        assert graph_is_invariant(node_permutation(t, ident, n), edge_index, dist)
    swap = (1, 0, 2, 3, 4, 5, 6, 7)
    assert not graph_is_invariant(node_permutation(swap, ident, n), edge_index, dist)
    atom_swap = node_permutation(tuple(range(N_CELLS)), (1, 0, 2), n)
    assert not graph_is_invariant(atom_swap, edge_index, dist)


def test_graph_check_bites(nacl_cover) -> None:
    edge_index, dist, n = nacl_cover
    ident = tuple(range(n))
    # a cell permutation that is not in P-1: swap cells 0 and 1 only
    swap = (1, 0, 2, 3, 4, 5, 6, 7)
    assert not graph_is_invariant(node_permutation(swap, ident, n), edge_index, dist)
    # an edge set that is not translation invariant (one edge dropped)
    broken = edge_index[:, 1:], dist[1:]
    shift = node_permutation(translation_cell_permutation(1), ident, n)
    assert not graph_is_invariant(shift, *broken)
    # lengths matter, not only the adjacency
    scaled = dist.copy()
    scaled[edge_index[1] < n] *= 1.01  # edges into cell 0 only
    assert not graph_is_invariant(shift, edge_index, scaled)


def test_graph_is_invariant_validates() -> None:
    ei = np.array([[0, 1], [1, 0]])
    with pytest.raises(ValueError):
        graph_is_invariant((1, 0), ei, np.ones(3))
    with pytest.raises(ValueError):
        graph_is_invariant((1, 0), ei.T[:1], np.ones(1))
    with pytest.raises(ValueError):
        graph_is_invariant((0,), ei, np.ones(2))
    assert graph_is_invariant((1, 0), ei, np.ones(2))
