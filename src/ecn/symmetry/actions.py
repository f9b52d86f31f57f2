"""The group actions of paper §6 on the 2x2x2 supercell, as explicit permutations.

Index convention (shared with :mod:`ecn.graphs`): a cell of the supercell is a vector
``(a0, a1, a2)`` in ``{0, 1}^3`` (the centring vector ``a0 a_1 + a1 a_2 + a2 a_3``), stored as
``a = 4*a0 + 2*a1 + a2``; supercell node ``k = a * n_atoms + i`` for atom ``i < n_atoms``.

Groups on the 8 cells (all act on ``Z_2^3 = Lambda / 2 Lambda``):

* ``T``: translations ``a -> a + t mod 2``, i.e. ``a XOR t``.
* ``P-1 = T x| {+-1}``: inversion maps ``a -> -a = a mod 2``, so on a 2x2x2 torus it acts
  trivially and ``P-1`` moves cells exactly like ``T`` (8 distinct permutations, 16 elements).
* ``G_Lambda = T x| P_Lambda``: ``a -> R a + t mod 2`` for ``R`` in the lattice point group
  (integer matrices acting on lattice-basis column vectors, see :func:`lattice_point_group`).
* ``S_Lambda``: all ``8!`` permutations of the cells.

``S_C`` permutes the atoms of the unit cell and ``S_N`` all ``8 n`` supercell nodes. A direct
product ``G x S_C`` acts as in eq. 5: ``(g, h).(a, i) = (g(a), h(i))``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ecn.graphs.graph import CELL_BITS
from ecn.symmetry.groups import Perm, PermutationGroup, as_perm, identity

N_CELLS = 8


def cell_index(vector: Sequence[int] | np.ndarray) -> int:
    """Cell index ``4*a0 + 2*a1 + a2`` of an integer vector, reduced mod 2."""
    v = np.asarray(vector, dtype=np.int64).reshape(-1)
    if v.shape != (3,):
        raise ValueError(f"cell vector must have 3 components, got shape {v.shape}")
    v = v % 2
    return int(4 * v[0] + 2 * v[1] + v[2])


def _check_rotation(rotation: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    r = np.asarray(rotation)
    if r.shape != (3, 3):
        raise ValueError(f"rotation must be a (3, 3) matrix, got shape {r.shape}")
    ri = np.rint(r).astype(np.int64)
    if not np.array_equal(ri, r):
        raise ValueError("rotation must be an integer matrix (lattice basis)")
    if abs(round(float(np.linalg.det(ri)))) != 1:
        raise ValueError("rotation must be unimodular (det = +-1)")
    return ri


def translation_cell_permutation(t: int | Sequence[int]) -> Perm:
    """Cell permutation ``a -> a + t mod 2`` (``a XOR t``) for ``t`` an index or a vector."""
    t_idx = cell_index(t) if not isinstance(t, int | np.integer) else int(t)
    if not 0 <= t_idx < N_CELLS:
        raise ValueError(f"translation index must be in [0, 8), got {t_idx}")
    return tuple(a ^ t_idx for a in range(N_CELLS))


def linear_cell_permutation(rotation: Sequence[Sequence[int]] | np.ndarray) -> Perm:
    """Cell permutation ``a -> R a mod 2`` for an integer lattice-basis matrix ``R``."""
    r = _check_rotation(rotation)
    return tuple(cell_index(r @ CELL_BITS[a]) for a in range(N_CELLS))


def affine_cell_permutation(rotation: np.ndarray, t: int | Sequence[int]) -> Perm:
    """Cell permutation of the G_Lambda element ``a -> R a + t mod 2``."""
    lin = linear_cell_permutation(rotation)
    tr = translation_cell_permutation(t)
    return tuple(tr[lin[a]] for a in range(N_CELLS))


INVERSION = -np.eye(3, dtype=np.int64)


def translation_elements() -> np.ndarray:
    """The 8 translations of ``T`` as cell permutations ``(8, 8)``; row ``t`` is ``a XOR t``."""
    return np.array([translation_cell_permutation(t) for t in range(N_CELLS)], dtype=np.int64)


def p1_elements() -> np.ndarray:
    """The 16 elements ``(t, s)`` of ``P-1``, ``s in {+1, -1}``, as cell permutations ``(16, 8)``.

    Rows ``0..7`` are ``(t, +1)`` and rows ``8..15`` are ``(t, -1)``. Inversion is trivial mod 2,
    so the two halves are equal: P-1 moves cells exactly like T.
    """
    rows = [
        affine_cell_permutation(s * np.eye(3, dtype=np.int64), t)
        for s in (1, -1)
        for t in range(N_CELLS)
    ]
    return np.array(rows, dtype=np.int64)


def glambda_elements(rotations: np.ndarray) -> np.ndarray:
    """All ``|P| * 8`` elements ``a -> R a + t`` of ``G_Lambda`` as cell permutations.

    Rows may repeat: ``P_Lambda`` acts on ``Z_2^3`` through its reduction mod 2 (``-1`` acts
    trivially), which is not faithful. Row ``r * 8 + t`` is rotation ``r``, translation ``t``.
    """
    linear = [linear_cell_permutation(r) for r in _check_rotations(rotations)]
    rows = [[lin[a] ^ t for a in range(N_CELLS)] for lin in linear for t in range(N_CELLS)]
    return np.array(rows, dtype=np.int64)


def _check_rotations(rotations: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    rots = np.asarray(rotations)
    if rots.ndim != 3 or rots.shape[1:] != (3, 3) or rots.shape[0] == 0:
        raise ValueError(f"rotations must have shape (R, 3, 3) with R >= 1, got {rots.shape}")
    return [_check_rotation(r) for r in rots]


# --- groups on cells -------------------------------------------------------------------------


def translation_group() -> PermutationGroup:
    """``T`` on the 8 cells, generated by the three unit translations."""
    return PermutationGroup([translation_cell_permutation(1 << k) for k in range(3)], N_CELLS)


def p1_group() -> PermutationGroup:
    """``P-1 = T x| {+-1}`` on the 8 cells (inversion included, though trivial mod 2)."""
    gens = [translation_cell_permutation(1 << k) for k in range(3)]
    gens.append(linear_cell_permutation(INVERSION))
    return PermutationGroup(gens, N_CELLS)


def glambda_group(rotations: np.ndarray) -> PermutationGroup:
    """``G_Lambda = T x| P_Lambda`` on the 8 cells, from the lattice point group ``(R, 3, 3)``."""
    gens = [translation_cell_permutation(1 << k) for k in range(3)]
    gens.extend(linear_cell_permutation(r) for r in _check_rotations(rotations))
    return PermutationGroup(gens, N_CELLS)


def slambda_group() -> PermutationGroup:
    """``S_Lambda = S_8`` on the cells."""
    return symmetric_group(N_CELLS)


def symmetric_group(n: int) -> PermutationGroup:
    """``S_n`` generated by a transposition and an ``n``-cycle."""
    if n < 1:
        raise ValueError(f"symmetric group needs n >= 1, got {n}")
    if n == 1:
        return PermutationGroup([], 1)
    swap = (1, 0, *range(2, n))
    cycle = (*range(1, n), 0)
    return PermutationGroup([swap, cycle], n)


def trivial_group(n: int) -> PermutationGroup:
    """The trivial group on ``range(n)``."""
    return PermutationGroup([], n)


# --- groups on supercell nodes -----------------------------------------------------------------


def node_permutation(
    cell_perm: Sequence[int] | np.ndarray, atom_perm: Sequence[int] | np.ndarray, n_atoms: int
) -> np.ndarray:
    """Node permutation ``(8 n,)`` of the product element ``(g, h)`` (eq. 5).

    Entry ``k = a * n_atoms + i`` is the image ``g(a) * n_atoms + h(i)``.
    """
    if n_atoms < 1:
        raise ValueError(f"n_atoms must be >= 1, got {n_atoms}")
    g = np.asarray(as_perm(cell_perm, N_CELLS), dtype=np.int64)
    h = np.asarray(as_perm(atom_perm, n_atoms), dtype=np.int64)
    return (g[:, None] * n_atoms + h[None, :]).reshape(-1)


def product_group(cell_group: PermutationGroup, atom_group: PermutationGroup) -> PermutationGroup:
    """``G x H`` acting on the ``8 n`` supercell nodes as in eq. 5."""
    if cell_group.degree != N_CELLS:
        raise ValueError(f"cell group must act on 8 cells, got degree {cell_group.degree}")
    n = atom_group.degree
    e_cell, e_atom = identity(N_CELLS), identity(n)
    gens = [node_permutation(g, e_atom, n) for g in cell_group.generators]
    gens += [node_permutation(e_cell, h, n) for h in atom_group.generators]
    return PermutationGroup(gens, N_CELLS * n)


def cell_group(group: str, rotations: np.ndarray | None = None) -> PermutationGroup:
    """The cell factor of a model group: ``"p1"``, ``"glambda"`` or ``"slambda"`` (also ``"t"``)."""
    if group == "t":
        return translation_group()
    if group == "p1":
        return p1_group()
    if group == "glambda":
        if rotations is None:
            raise ValueError("group 'glambda' needs the lattice point group (rotations)")
        return glambda_group(rotations)
    if group == "slambda":
        return slambda_group()
    raise ValueError(f"no cell group for {group!r}; expected 't', 'p1', 'glambda' or 'slambda'")


def supercell_group(
    group: str, n_atoms: int, rotations: np.ndarray | None = None
) -> PermutationGroup:
    """The model group on the ``8 n`` nodes: ``G x S_C`` for a cell group ``G``, or ``S_N``."""
    if n_atoms < 1:
        raise ValueError(f"n_atoms must be >= 1, got {n_atoms}")
    if group == "sn":
        return symmetric_group(N_CELLS * n_atoms)
    return product_group(cell_group(group, rotations), symmetric_group(n_atoms))


def sample_node_permutation(
    group: str,
    n_atoms: int,
    rng: np.random.Generator,
    rotations: np.ndarray | None = None,
) -> np.ndarray:
    """A random element of the model group as a node permutation ``(8 n,)``.

    Uniform over the group elements ``(g, h)`` (or over ``S_N`` for ``"sn"``); for equivariance
    tests of models.
    """
    if n_atoms < 1:
        raise ValueError(f"n_atoms must be >= 1, got {n_atoms}")
    if group == "sn":
        return rng.permutation(N_CELLS * n_atoms).astype(np.int64)
    if group in ("t", "p1"):
        g = translation_cell_permutation(int(rng.integers(N_CELLS)))
    elif group == "glambda":
        if rotations is None:
            raise ValueError("group 'glambda' needs the lattice point group (rotations)")
        rots = _check_rotations(rotations)
        g = affine_cell_permutation(rots[rng.integers(len(rots))], int(rng.integers(N_CELLS)))
    elif group == "slambda":
        g = rng.permutation(N_CELLS)
    else:
        raise ValueError(f"unknown group {group!r}")
    return node_permutation(g, rng.permutation(n_atoms), n_atoms)


def all_product_elements(cell_perms: np.ndarray, atom_perms: np.ndarray) -> np.ndarray:
    """Node permutations ``(|G| |H|, 8 n)`` of every pair of a cell and an atom permutation."""
    cell_perms = np.asarray(cell_perms, dtype=np.int64)
    atom_perms = np.asarray(atom_perms, dtype=np.int64)
    n = atom_perms.shape[1]
    nodes = cell_perms[:, None, :, None] * n + atom_perms[None, :, None, :]
    return nodes.reshape(-1, N_CELLS * n)


def all_atom_permutations(n_atoms: int) -> np.ndarray:
    """Every element of ``S_C`` as an array ``(n!, n)`` (small ``n`` only)."""
    if not 1 <= n_atoms <= 8:
        raise ValueError(f"refusing to enumerate S_{n_atoms}; use 1 <= n_atoms <= 8")
    return np.array(list(itertools.permutations(range(n_atoms))), dtype=np.int64)


# --- graphs ----------------------------------------------------------------------------------


def graph_is_invariant(
    perm: Sequence[int] | np.ndarray,
    edge_index: np.ndarray,
    edge_dist: np.ndarray,
    decimals: int = 6,
) -> bool:
    """Whether a node permutation maps a supercell graph onto itself.

    The graph is the multiset of ``(src, dst, round(dist, decimals))`` over edges; ``perm`` maps
    it to ``(perm[src], perm[dst], dist)``. Distances are compared after rounding, so values that
    straddle a rounding boundary can produce a false negative.

    Args:
        perm: node permutation ``(N,)``, ``N`` > every node index.
        edge_index: ``(2, E)`` integer array ``[source, target]``.
        edge_dist: ``(E,)`` edge lengths.
    """
    p = np.asarray(as_perm(perm), dtype=np.int64)
    ei = np.asarray(edge_index)
    d = np.asarray(edge_dist, dtype=np.float64)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {ei.shape}")
    if d.shape != (ei.shape[1],):
        raise ValueError(f"edge_dist must have shape ({ei.shape[1]},), got {d.shape}")
    if ei.size and (ei.min() < 0 or ei.max() >= p.shape[0]):
        raise ValueError("edge_index refers to nodes outside the permutation")
    ei = ei.astype(np.int64)
    key = np.round(d, decimals)
    before = _sorted_edges(ei[0], ei[1], key)
    after = _sorted_edges(p[ei[0]], p[ei[1]], key)
    return bool(np.array_equal(before, after))


def _sorted_edges(src: np.ndarray, dst: np.ndarray, key: np.ndarray) -> np.ndarray:
    table = np.stack([src.astype(np.float64), dst.astype(np.float64), key], axis=1)
    order = np.lexsort((table[:, 2], table[:, 1], table[:, 0]))
    return table[order]
