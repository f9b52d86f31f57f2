"""Point group (holohedry) of a lattice in its own basis, via spglib.

Convention: ``lattice`` holds the basis vectors as ROWS (``lattice[k]`` is ``a_k``, as in spglib,
pymatgen and ASE). A returned matrix ``R`` acts on COLUMN vectors of lattice-basis coordinates:
fractional coordinates ``x -> R x``, and integer lattice vectors ``n -> R n`` (``n`` meaning
``sum_k n_k a_k``). It is an isometry: ``R^T M R = M`` for the metric ``M = L L^T``. This is the
convention in which ``G_Lambda`` acts on the supercell cells by ``a -> R a mod 2``.
"""

from __future__ import annotations

import warnings

import numpy as np
import spglib


def _check_lattice(lattice: np.ndarray) -> np.ndarray:
    lat = np.asarray(lattice, dtype=np.float64)
    if lat.shape != (3, 3):
        raise ValueError(f"lattice must be a (3, 3) array of row vectors, got shape {lat.shape}")
    if not np.all(np.isfinite(lat)):
        raise ValueError("lattice contains non-finite values")
    if abs(np.linalg.det(lat)) < 1e-8:
        raise ValueError("lattice vectors are (nearly) linearly dependent")
    return lat


def lattice_point_group(lattice: np.ndarray, symprec: float = 1e-3) -> np.ndarray:
    """Integer point group ``(R, 3, 3)`` of the lattice itself (its Bravais group ``P_Lambda``).

    Computed as the site symmetry of a single atom at the origin, so it is the holohedry of the
    lattice, not the (possibly smaller) point group of a crystal on that lattice. Matrices are in
    the given basis (no standardisation), identity first, and act on lattice-basis column vectors
    (see module docstring). spglib documents its rotations as acting on fractional
    coordinates: ``new_vector[3x1] = rotation[3x3] * vector[3x1]``.

    Args:
        lattice: ``(3, 3)`` basis vectors as rows, in Å.
        symprec: spglib distance tolerance in Å.

    Raises:
        ValueError: for a degenerate lattice or if spglib finds no symmetry.
    """
    lat = _check_lattice(lattice)
    if symprec <= 0:
        raise ValueError(f"symprec must be positive, got {symprec}")
    try:
        with warnings.catch_warnings():
            # spglib 2.5+ warns about its legacy error handling on every call
            warnings.simplefilter("ignore", DeprecationWarning)
            sym = spglib.get_symmetry((lat, [[0.0, 0.0, 0.0]], [1]), symprec=symprec)
    except Exception as exc:  # new-style spglib error handling raises instead of returning None
        raise ValueError(f"spglib failed on lattice: {exc}") from exc
    if sym is None:
        raise ValueError("spglib found no symmetry for this lattice")
    rots = np.unique(np.asarray(sym["rotations"], dtype=np.int64), axis=0)
    eye = np.eye(3, dtype=np.int64)
    is_eye = np.all(rots == eye, axis=(1, 2))
    if not is_eye.any():
        raise ValueError("spglib point group lacks the identity")
    return np.concatenate([rots[is_eye], rots[~is_eye]], axis=0)
