"""Small real crystals built in code (no download), named after them, for the shipped checks.

Five lattices the symmetry checks need to tell apart: cubic P (CsCl), tetragonal P (CuAu),
hexagonal (hcp Mg), face-centred cubic (CaF2, primitive cell, 3 atoms) and the cubic
perovskite BaTiO3 (5 atoms). Each call builds a fresh pymatgen ``Structure``.
"""

from __future__ import annotations

from collections.abc import Callable

from pymatgen.core import Lattice, Structure

__all__ = ["CRYSTALS", "crystals", "distorted_perovskite"]


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


#: Name -> builder of each crystal.
CRYSTALS: dict[str, Callable[[], Structure]] = {
    "CsCl": _cscl,
    "CuAu": _cuau,
    "Mg": _mg,
    "CaF2": _caf2,
    "BaTiO3": _batio3,
}


def crystals() -> dict[str, Structure]:
    """Every crystal of :data:`CRYSTALS`, freshly built."""
    return {k: f() for k, f in CRYSTALS.items()}


def distorted_perovskite(shift: float = 0.0) -> Structure:
    """A slightly distorted ABX3 perovskite (SrTiO3-like, ~3.9 Å, triclinic cell, no atom on a
    tie between images), one coordinate of each O moved by `shift`: ``shift`` near -0.03 puts
    an O on a cell face, so two values either side of it are one move apart in space but
    wrapped to opposite faces (the gauge and soft-colour continuity tests)."""
    lat = Lattice.from_parameters(3.9, 3.95, 4.0, 89.0, 90.5, 91.0)
    frac = [
        [0.02, 0.01, 0.03],
        [0.51, 0.52, 0.49],
        [0.5 + shift, 0.47, 0.03],
        [0.48, 0.02, 0.53 + shift],
        [0.03 + shift, 0.5, 0.52],
    ]
    return Structure(lat, ["Sr", "Ti", "O", "O", "O"], frac, to_unit_cell=True)
