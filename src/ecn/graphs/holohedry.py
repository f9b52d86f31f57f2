"""The point group (holohedry) of a lattice in its own basis: one implementation for the
canonical step (``ecn.graphs.canonical``) and the symmetry layer (``ecn.symmetry.lattice``).

Why not just spglib: ``spglib.get_symmetry`` on a one-atom cell builds a full symmetry dataset
(space-group identification, Wyckoff positions, standardised cell) to return the rotations; at
about 2 ms a call it was a fifth of ``ecn predict``'s per-structure cost. The lattice's own
symmetry needs only spglib's first step, which this module runs in numpy: spglib's search
(``symmetry.c``: ``get_lattice_symmetry``, ``is_identity_metric``) on the Delaunay-reduced basis,
every unimodular matrix whose columns are among the 26 vectors with coefficients in {-1, 0, 1},
kept when lengths agree within ``symprec`` Å and ``sin^2(dtheta) * |a||b|`` within ``symprec^2``
(spglib's default angle test); then the matrices are brought back to the given basis.

Exactly spglib's answer is kept where the decision is not clear-cut: when any candidate's test
lies within a factor of `MARGIN` of the tolerance, when more than 48 matrices pass, when they do
not form a group, or when the reduction fails, the module calls spglib itself
(``spglib.get_symmetry`` on one atom at the origin), which may then lower its tolerance as it
does for any cell. ``tests/graphs/test_holohedry.py`` checks the two agree on real lattices.

Convention (as spglib, pymatgen, ASE): ``lattice`` rows are the basis vectors; a returned ``R``
acts on column vectors of fractional coordinates, ``x -> R x``, with ``R^T M R = M`` for the
metric ``M = L L^T``. Order: the identity first, the rest in lexicographic order of their entries,
so the order depends only on the basis, not on spglib's internal search order.
"""

from __future__ import annotations

import numpy as np

from ecn._spglib import spglib_call

__all__ = ["MARGIN", "lattice_point_group", "lattice_point_group_spglib"]

#: Tests within this factor of the tolerance (either side) defer to spglib.
MARGIN = 2.0

#: spglib's ``relative_axes`` (``symmetry.c``): the candidate images of a reduced basis vector.
_AXES = np.array(
    [
        [1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, 0, 0], [0, -1, 0], [0, 0, -1], [0, 1, 1],
        [1, 0, 1], [1, 1, 0], [0, -1, -1], [-1, 0, -1], [-1, -1, 0], [0, 1, -1], [-1, 0, 1],
        [1, -1, 0], [0, -1, 1], [1, 0, -1], [-1, 1, 0], [1, 1, 1], [-1, -1, -1], [-1, 1, 1],
        [1, -1, 1], [1, 1, -1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1],
    ],
    dtype=np.int64,
)  # fmt: skip
#: spglib's ``SIN_DTHETA2_CUTOFF``: angle differences below it always pass.
_SIN_DTHETA2_CUTOFF = 1e-12
_PAIRS = ((0, 1), (0, 2), (1, 2))


def _ordered(rots: np.ndarray) -> np.ndarray:
    """Unique (P, 3, 3) integer matrices, the identity first, the rest lexicographic."""
    flat = np.asarray(rots, dtype=np.int64).reshape(-1, 9)
    flat = flat[np.lexsort(flat.T[::-1])]
    flat = flat[np.r_[True, np.any(flat[1:] != flat[:-1], axis=1)]]
    is_eye = np.all(flat == np.eye(3, dtype=np.int64).ravel(), axis=1)
    if not is_eye.any():
        raise ValueError("lattice point group lacks the identity")
    return np.concatenate([flat[is_eye], flat[~is_eye]]).reshape(-1, 3, 3)


#: Codes of 3x3 matrices with entries in [-3, 3] (products of two reduced-basis operations).
_CODE = 7 ** np.arange(9, dtype=np.int64)


def lattice_point_group_spglib(lattice: np.ndarray, symprec: float = 1e-3) -> np.ndarray:
    """(P, 3, 3) from ``spglib.get_symmetry`` on one atom at the origin (the reference).

    Raises:
        ValueError: spglib fails or finds nothing.
    """
    lat = np.asarray(lattice, dtype=np.float64)
    try:
        sym = spglib_call("get_symmetry", (lat, [[0.0, 0.0, 0.0]], [1]), symprec=symprec)
    except Exception as exc:  # new-style spglib error handling raises instead of returning None
        raise ValueError(f"spglib failed on lattice: {exc}") from exc
    if sym is None:
        raise ValueError("spglib found no symmetry for this lattice")
    return _ordered(sym["rotations"])


def _fast(lattice: np.ndarray, symprec: float) -> np.ndarray | None:
    """spglib's lattice-symmetry search in numpy; None where the answer is not clear-cut."""
    red = spglib_call("delaunay_reduce", lattice, eps=symprec)
    if red is None:
        return None
    red = np.asarray(red, dtype=np.float64)  # rows: the reduced basis
    g0 = red @ red.T
    len0 = np.sqrt(np.diag(g0))
    vec = _AXES @ red  # (26, 3) candidate images, Cartesian
    lens = np.linalg.norm(vec, axis=1)
    dl = np.abs(lens[None, :] - len0[:, None]) / symprec  # (3, 26) length test / tolerance
    if np.any((dl > 1.0 / MARGIN) & (dl <= MARGIN)):
        return None
    cands = [np.nonzero(dl[i] <= 1.0)[0] for i in range(3)]
    ia, ib, ic = (c.ravel() for c in np.meshgrid(*cands, indexing="ij"))
    cols = np.stack([_AXES[ia], _AXES[ib], _AXES[ic]], axis=2)  # (C, 3, 3): columns = images
    det = np.rint(np.linalg.det(cols)).astype(np.int64)
    unimodular = np.abs(det) == 1
    cols, ia, ib, ic = cols[unimodular], ia[unimodular], ib[unimodular], ic[unimodular]
    v = np.stack([vec[ia], vec[ib], vec[ic]], axis=1)  # (C, 3, 3): rows = image vectors
    g = v @ v.transpose(0, 2, 1)
    lr = np.sqrt(np.einsum("cii->ci", g))
    worst = np.zeros(len(cols))
    for j, k in _PAIRS:
        cos1 = g0[j, k] / len0[j] / len0[k]
        cos2 = g[:, j, k] / lr[:, j] / lr[:, k]
        x = cos1 * cos2 + np.sqrt(max(1.0 - cos1 * cos1, 0.0)) * np.sqrt(
            np.clip(1.0 - cos2 * cos2, 0.0, None)
        )
        s2 = 1.0 - x * x
        ave2 = (len0[j] + lr[:, j]) * (len0[k] + lr[:, k]) / 4.0
        ratio = np.where(s2 > _SIN_DTHETA2_CUTOFF, np.sqrt(np.clip(s2 * ave2, 0.0, None)), 0.0)
        worst = np.maximum(worst, ratio / symprec)
    if np.any((worst > 1.0 / MARGIN) & (worst <= MARGIN)):
        return None
    ops_red = cols[worst <= 1.0]
    if not 1 <= len(ops_red) <= 48:
        return None
    # Back to the given basis: R = T^-1 R_red T with T = inv(red^T) lattice^T (spglib's
    # transform_pointsymmetry); T is unimodular for a reduction of the same lattice.
    t = np.linalg.solve(red.T, lattice.T)
    r = np.linalg.solve(t, ops_red.astype(np.float64) @ t)
    ri = np.rint(r)
    if np.any(np.abs(r - ri) > 1e-6):
        return None
    # A group: closed under products (the holohedry always is; a set cut by the tolerance might
    # not be, and spglib then retries with a smaller one). Checked in the reduced basis, where
    # the operations have entries in {-1, 0, 1} and their products in [-3, 3].
    prod = (ops_red[:, None] @ ops_red[None, :]).reshape(-1, 9)
    if not np.isin((prod + 3) @ _CODE, (ops_red.reshape(-1, 9) + 3) @ _CODE).all():
        return None
    ops = _ordered(ri.astype(np.int64))
    if len(ops) != len(ops_red):
        return None
    return ops


def lattice_point_group(lattice: np.ndarray, symprec: float = 1e-3) -> np.ndarray:
    """Integer point group ``(P, 3, 3)`` of the lattice in the given basis (module docstring).

    Args:
        lattice: (3, 3) basis vectors as rows, Å.
        symprec: distance tolerance in Å (spglib's).

    Returns:
        (P, 3, 3) int64, the identity first; P in 1..48.

    Raises:
        ValueError: spglib fails on a lattice the fast path could not decide.
    """
    lat = np.asarray(lattice, dtype=np.float64)
    ops = _fast(lat, symprec)
    return ops if ops is not None else lattice_point_group_spglib(lat, symprec)
