"""Representative lattices of the 14 Bravais types, centred ones given by primitive cells.

Lattice parameters are generic (no accidental extra symmetry); each entry records the space
group spglib must find for one atom on the lattice (the symmorphic holohedral group), which is
how the tests confirm the type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BravaisType:
    """One Bravais type: Pearson-style symbol, name, holohedral space group and |P_Lambda|."""

    symbol: str
    name: str
    space_group: int
    holohedry_order: int


def lattice_from_parameters(
    a: float, b: float, c: float, alpha: float, beta: float, gamma: float
) -> np.ndarray:
    """Row-vector lattice ``(3, 3)`` from lengths (Å) and angles (degrees), ``a_1`` along x."""
    al, be, ga = np.radians([alpha, beta, gamma])
    va = np.array([a, 0.0, 0.0])
    vb = np.array([b * np.cos(ga), b * np.sin(ga), 0.0])
    cx = c * np.cos(be)
    cy = c * (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
    cz2 = c * c - cx * cx - cy * cy
    if cz2 <= 0:
        raise ValueError("lattice angles do not describe a 3D cell")
    return np.array([va, vb, [cx, cy, np.sqrt(cz2)]])


def _conventional(a: float, b: float, c: float, beta: float = 90.0) -> np.ndarray:
    return lattice_from_parameters(a, b, c, 90.0, beta, 90.0)


def _c_centred(conv: np.ndarray) -> np.ndarray:
    """Primitive cell of a C-centred lattice: ``((a - b)/2, (a + b)/2, c)``."""
    a, b, c = conv
    return np.array([(a - b) / 2, (a + b) / 2, c])


def _body_centred(conv: np.ndarray) -> np.ndarray:
    """Primitive cell of an I lattice: ``((-a+b+c)/2, (a-b+c)/2, (a+b-c)/2)``."""
    a, b, c = conv
    return np.array([(-a + b + c) / 2, (a - b + c) / 2, (a + b - c) / 2])


def _face_centred(conv: np.ndarray) -> np.ndarray:
    """Primitive cell of an F lattice: ``((b+c)/2, (a+c)/2, (a+b)/2)``."""
    a, b, c = conv
    return np.array([(b + c) / 2, (a + c) / 2, (a + b) / 2])


BRAVAIS_TYPES: tuple[BravaisType, ...] = (
    BravaisType("aP", "triclinic primitive", 2, 2),
    BravaisType("mP", "monoclinic primitive", 10, 4),
    BravaisType("mC", "monoclinic base-centred", 12, 4),
    BravaisType("oP", "orthorhombic primitive", 47, 8),
    BravaisType("oS", "orthorhombic base-centred", 65, 8),
    BravaisType("oI", "orthorhombic body-centred", 71, 8),
    BravaisType("oF", "orthorhombic face-centred", 69, 8),
    BravaisType("tP", "tetragonal primitive", 123, 16),
    BravaisType("tI", "tetragonal body-centred", 139, 16),
    BravaisType("hR", "rhombohedral (primitive cell)", 166, 12),
    BravaisType("hP", "hexagonal primitive", 191, 24),
    BravaisType("cP", "cubic primitive", 221, 48),
    BravaisType("cI", "cubic body-centred", 229, 48),
    BravaisType("cF", "cubic face-centred", 225, 48),
)


def representative_lattice(symbol: str) -> np.ndarray:
    """A generic lattice ``(3, 3)`` (row vectors, Å) of the Bravais type ``symbol``."""
    makers = {
        "aP": lambda: lattice_from_parameters(3.1, 3.7, 4.3, 78.0, 84.0, 71.0),
        "mP": lambda: _conventional(3.1, 3.7, 4.3, beta=101.0),
        "mC": lambda: _c_centred(_conventional(3.1, 3.7, 4.3, beta=101.0)),
        "oP": lambda: _conventional(3.1, 3.7, 4.3),
        "oS": lambda: _c_centred(_conventional(3.1, 3.7, 4.3)),
        "oI": lambda: _body_centred(_conventional(3.1, 3.7, 4.3)),
        "oF": lambda: _face_centred(_conventional(3.1, 3.7, 4.3)),
        "tP": lambda: _conventional(3.1, 3.1, 4.3),
        "tI": lambda: _body_centred(_conventional(3.1, 3.1, 4.3)),
        "hR": lambda: lattice_from_parameters(3.5, 3.5, 3.5, 70.0, 70.0, 70.0),
        "hP": lambda: lattice_from_parameters(3.1, 3.1, 4.3, 90.0, 90.0, 120.0),
        "cP": lambda: _conventional(3.1, 3.1, 3.1),
        "cI": lambda: _body_centred(_conventional(3.1, 3.1, 3.1)),
        "cF": lambda: _face_centred(_conventional(3.1, 3.1, 3.1)),
    }
    if symbol not in makers:
        raise ValueError(f"unknown Bravais type {symbol!r}; expected one of {sorted(makers)}")
    return makers[symbol]()
