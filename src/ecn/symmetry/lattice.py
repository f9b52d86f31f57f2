"""Point group (holohedry) of a lattice in its own basis (``ecn.graphs.holohedry``: spglib's
lattice search in numpy, spglib itself where the decision is close to its tolerance).

Convention: ``lattice`` holds the basis vectors as ROWS (``lattice[k]`` is ``a_k``, as in spglib,
pymatgen and ASE). A returned matrix ``R`` acts on COLUMN vectors of lattice-basis coordinates:
fractional coordinates ``x -> R x``, and integer lattice vectors ``n -> R n`` (``n`` meaning
``sum_k n_k a_k``). It is an isometry: ``R^T M R = M`` for the metric ``M = L L^T``. This is the
convention in which ``G_Lambda`` acts on the supercell cells by ``a -> R a mod 2``.
"""

from __future__ import annotations

import numpy as np

from ecn.graphs import holohedry


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

    The symmetry of a single atom at the origin (``ecn.graphs.holohedry``), so it is the
    holohedry of the lattice, not the (possibly smaller) point group of a crystal on that
    lattice. Matrices are in the given basis (no standardisation), identity first, and act on
    lattice-basis column vectors (see module docstring), as spglib's rotations act on
    fractional coordinates: ``new_vector[3x1] = rotation[3x3] * vector[3x1]``.

    Args:
        lattice: ``(3, 3)`` basis vectors as rows, in Å.
        symprec: spglib distance tolerance in Å.

    Raises:
        ValueError: for a degenerate lattice or if spglib finds no symmetry.
    """
    lat = _check_lattice(lattice)
    if symprec <= 0:
        raise ValueError(f"symprec must be positive, got {symprec}")
    return holohedry.lattice_point_group(lat, symprec)
