"""Equivalent descriptions of one crystal (issue 14): the same atoms written down another way.

Used by ``ecn.testing`` (``assert_representation_invariant``) and ``ecn.inference.check``
(``ecn check invariance``). Every description here is exactly the same crystal: supercells,
spglib's conventional and primitive cells, atom permutations, rotations and reflections of the
Cartesian frame, origin shifts and unimodular basis changes, with coordinates wrapped into
[0, 1) the way a file writer would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Lattice, Structure

__all__ = [
    "DESCRIPTION_KINDS",
    "Description",
    "equivalent_descriptions",
    "rotated_structure",
    "shifted_origin",
]


def rotated_structure(structure: Structure, seed: int = 0) -> Structure:
    """The same crystal in a randomly rotated Cartesian frame (lattice rows a_i -> R a_i)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = q * np.sign(np.diag(r))
    if np.linalg.det(rot) < 0:
        rot[:, 0] *= -1
    return Structure(
        Lattice(structure.lattice.matrix @ rot.T), structure.species, structure.frac_coords
    )


def shifted_origin(structure: Structure, shift: Sequence[float] = (0.37, -0.21, 0.55)) -> Structure:
    """The same crystal with another unit-cell origin (fractional shift, wrapped into [0, 1))."""
    frac = np.mod(structure.frac_coords + np.asarray(shift, dtype=np.float64), 1.0)
    return Structure(structure.lattice, structure.species, frac)


# --- same crystal, another description (issue 14) ----------------------------------------------

#: Families of description changes, as the acceptance of issue 14 groups them.
DESCRIPTION_KINDS = (
    "supercell",
    "conventional_primitive",
    "atom_order",
    "rotation_reflection",
    "origin",
    "basis",
)

#: Unimodular basis changes (rows: new lattice vectors in the old basis), det = +-1.
_UNIMODULAR = {
    "basis (a1+a2, a2, a3)": ((1, 1, 0), (0, 1, 0), (0, 0, 1)),
    "basis (a2, a3, a1)": ((0, 1, 0), (0, 0, 1), (1, 0, 0)),
    "basis (a1, a2-a3, -a3+2a2)": ((1, 0, 0), (0, 1, -1), (0, 2, -1)),
}
_SUPERCELLS = {
    "supercell 2x1x1": (2, 1, 1),
    "supercell 1x2x3": (1, 2, 3),
    "supercell 2x2x2": (2, 2, 2),
}
_ORIGINS = {
    "origin (0.37, 0.11, 0.23)": (0.37, 0.11, 0.23),
    "origin (1/2, 1/2, 1/2)": (0.5, 0.5, 0.5),
    "origin (1e-9, -1e-9, 0)": (1e-9, -1e-9, 0.0),
}


@dataclass(frozen=True)
class Description:
    """One description of a crystal: a name, its :data:`DESCRIPTION_KINDS` family, the structure."""

    name: str
    kind: str
    structure: Structure


def _rebased(structure: Structure, rows: Sequence[Sequence[int]]) -> Structure:
    """Same crystal in the basis ``rows @ lattice`` (unimodular), coordinates wrapped to [0, 1)."""
    m = np.asarray(rows, dtype=float)
    if abs(abs(np.linalg.det(m)) - 1.0) > 1e-9:
        raise ValueError("basis change must be unimodular (det = +-1)")
    frac = np.mod(structure.frac_coords @ np.linalg.inv(m), 1.0)
    return Structure(Lattice(m @ structure.lattice.matrix), structure.species, frac)


def _frame(structure: Structure, matrix: np.ndarray) -> Structure:
    """Same fractional coordinates, lattice rows a_i -> Q a_i (Q orthogonal)."""
    return Structure(
        Lattice(structure.lattice.matrix @ matrix.T), structure.species, structure.frac_coords
    )


def _conventional_and_primitive(structure: Structure, symprec: float) -> list[Description]:
    """spglib's conventional and primitive cells of `structure` (when they differ from it)."""
    from ecn._spglib import spglib_call

    cell = (structure.lattice.matrix, structure.frac_coords, structure.atomic_numbers)
    out = []
    for name, to_primitive in (("conventional cell", False), ("primitive cell", True)):
        res = spglib_call(
            "standardize_cell", cell, to_primitive=to_primitive, no_idealize=True, symprec=symprec
        )
        if res is None:
            continue
        lat, frac, z = res
        out.append(
            Description(
                name,
                "conventional_primitive",
                Structure(Lattice(lat), [int(k) for k in z], np.mod(frac, 1.0)),
            )
        )
    return out


def equivalent_descriptions(
    structure: Structure, seed: int = 0, symprec: float = 1e-3, kinds: Sequence[str] | None = None
) -> list[Description]:
    """The same crystal written down in many equivalent ways.

    Always includes ``as given`` first (kind ``"identity"``). Then, by family: supercells 2x1x1,
    1x2x3 and 2x2x2; spglib's conventional and primitive cells; the atoms in reverse and in a
    seeded random order; a random rotation, a reflection and a rotoreflection of the Cartesian
    frame; origin shifts by (0.37, 0.11, 0.23), (1/2, 1/2, 1/2), float noise and one seeded
    random shift; three unimodular basis changes. Coordinates are wrapped into [0, 1) the way a
    file writer would.

    Args:
        structure: an ordered, periodic structure.
        seed: seed of the random order, rotation and shift.
        symprec: spglib tolerance (Å) for the conventional / primitive cells.
        kinds: families of :data:`DESCRIPTION_KINDS` to include (default all).
    """
    kinds = tuple(DESCRIPTION_KINDS if kinds is None else kinds)
    unknown = sorted(set(kinds) - set(DESCRIPTION_KINDS))
    if unknown:
        raise ValueError(f"unknown description kind(s) {unknown}; allowed: {DESCRIPTION_KINDS}")
    rng = np.random.default_rng(seed)
    out = [Description("as given", "identity", structure)]
    if "supercell" in kinds:
        out += [
            Description(name, "supercell", structure * scale) for name, scale in _SUPERCELLS.items()
        ]
    if "conventional_primitive" in kinds:
        out += _conventional_and_primitive(structure, symprec)
    if "atom_order" in kinds:
        n = len(structure)
        for name, order in (
            ("atoms reversed", np.arange(n)[::-1]),
            ("atoms shuffled", rng.permutation(n)),
        ):
            out.append(
                Description(
                    name,
                    "atom_order",
                    Structure(
                        structure.lattice,
                        [structure.species[k] for k in order],
                        structure.frac_coords[order],
                    ),
                )
            )
    if "rotation_reflection" in kinds:
        rot = rotated_structure(structure, seed=seed)
        refl = np.diag([-1.0, 1.0, 1.0])
        out += [
            Description("rotated frame", "rotation_reflection", rot),
            Description(
                "reflected frame (x -> -x)", "rotation_reflection", _frame(structure, refl)
            ),
            Description("rotoreflected frame", "rotation_reflection", _frame(rot, -np.eye(3))),
        ]
    if "origin" in kinds:
        shifts = dict(_ORIGINS)
        shifts["origin (random)"] = tuple(rng.random(3))
        out += [
            Description(name, "origin", shifted_origin(structure, shift))
            for name, shift in shifts.items()
        ]
    if "basis" in kinds:
        out += [
            Description(name, "basis", _rebased(structure, m)) for name, m in _UNIMODULAR.items()
        ]
    return out
