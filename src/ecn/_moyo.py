"""moyopy (the Rust successor of spglib, by its maintainers) for the canonical step's
primitive cell, in one place for every layer.

Why: spglib's symmetry search is the single largest cost of building a graph at prediction
time (3.4 ms per Materials Project structure on one core, 20-50 ms for small cubic cells such
as 4-atom Heuslers), and moyopy finds the same space group and standardised primitive basis
about 9x faster. moyopy logs through Python's ``logging`` (logger ``moyo``); its warnings
(symmetry operations it leaves out of the input-cell operation list, which ecn does not use)
are kept below ERROR so that ``ecn predict`` does not print them per structure.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

__all__ = ["moyo_primitive"]

logging.getLogger("moyo").setLevel(logging.ERROR)


def moyo_primitive(
    lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray, symprec: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """spglib's ``standardize_cell(to_primitive=True, no_idealize=True)`` computed by moyopy.

    The standardised primitive basis of moyopy (spglib's setting preference) applied to the
    *given* lattice and positions, without refinement (``no_idealize``): atoms of the input
    that are one primitive-cell atom (a conventional cell or supercell) are averaged, as
    spglib does. The basis equals spglib's up to a lattice point-group operation and the
    origin up to the space group's normaliser; the canonical step's unique-description rule
    takes the same description from either (tested against spglib on real crystals).

    Args:
        lattice: (3, 3) lattice rows (Å); frac: (N, 3); numbers: (N,) atomic numbers.
        symprec: distance tolerance in Å.

    Returns:
        (lattice (3, 3), frac (M, 3) in [0, 1), numbers (M,)), M = N / (cells in the input).

    Raises:
        ValueError: moyopy found no symmetry (e.g. atoms closer than `symprec`).
    """
    import moyopy

    cell = moyopy.Cell(lattice.tolist(), frac.tolist(), [int(z) for z in numbers])
    ds: Any = moyopy.MoyoDataset(cell, symprec=symprec, setting=moyopy.Setting.spglib())
    linear = np.asarray(ds.prim_std_linear, dtype=float)  # basis_new = basis @ linear (columns)
    shift = np.asarray(ds.prim_std_origin_shift, dtype=float)
    x = (np.asarray(frac, dtype=float) - shift) @ np.linalg.inv(linear).T  # (N, 3)
    to_prim = np.asarray(ds.mapping_std_prim, dtype=np.int64)  # (N,) input atom -> prim atom
    _, first = np.unique(to_prim, return_index=True)  # (M,) one input atom per prim atom
    m = len(first)
    d = x - x[first][to_prim]
    d -= np.rint(d)  # each copy's offset from its representative, nearest image
    mean = np.stack([np.bincount(to_prim, d[:, k], m) for k in range(3)], axis=1)
    mean /= np.bincount(to_prim, minlength=m)[:, None]
    pos = x[first] + mean
    return linear.T @ np.asarray(lattice, dtype=float), pos - np.floor(pos), numbers[first]
