"""Small perturbations of a crystal: every atom moved by ε, or the cell strained by ε.

:func:`perturbations`: the crystal with every atom moved by a vector of length ε (directions
fixed by a seed, the same for every ε, so the sizes lie on one line) and under small random
strains, over a range of sizes (:data:`DEFAULT_EPSILONS`, 1e-5 .. 1e-2 Å).

Why in ``ecn.graphs``: it only moves the atoms and strains the cell of a pymatgen Structure (no
model, no prediction), and both the continuity checks shipped to users
(``ecn.testing.continuity``, which re-exports it) and ``ecn check continuity``
(``ecn.inference.check``) need it; living here, nothing below ``ecn.testing`` imports
``ecn.testing``, so the checks can sit above ``ecn.inference`` and predict through its
``Predictor`` (issue 24 item 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Structure

__all__ = ["DEFAULT_EPSILONS", "PERTURBATION_KINDS", "Perturbation", "perturbations"]

#: Perturbation sizes in Å (largest displacement of an atom).
DEFAULT_EPSILONS: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2)
#: ``displace``: every atom moved by ε along its own fixed random unit vector. ``strain``: the
#: lattice times ``(1 + ε/V^(1/3) S)`` with S a fixed random symmetric matrix of unit Frobenius
#: norm (fractional coordinates kept), so points across the cell move by about ε.
PERTURBATION_KINDS: tuple[str, ...] = ("displace", "strain")


@dataclass(frozen=True)
class Perturbation:
    """One perturbed copy of a crystal: its ``kind``, size ``eps`` (Å) and ``structure``."""

    kind: str
    eps: float
    structure: Structure


def perturbations(
    structure: Structure,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    kinds: Sequence[str] = PERTURBATION_KINDS,
    seed: int = 0,
    wrap: bool = True,
) -> list[Perturbation]:
    """Small perturbations of `structure`, kind by kind, sizes in the order given.

    Directions depend only on `seed` and the number of atoms, never on ε, so for one kind the
    perturbed crystals lie on one line through `structure`: a continuous model's change grows
    smoothly with ε along it.

    Args:
        structure: the crystal (pymatgen Structure).
        epsilons: sizes in Å, each > 0.
        kinds: members of :data:`PERTURBATION_KINDS`.
        seed: seed of the directions.
        wrap: put fractional coordinates back into [0, 1) as a CIF writer would (an atom on a
            cell face then jumps to the opposite face: part of what users meet).

    Raises:
        ValueError: unknown kind or a size <= 0.
    """
    bad = [k for k in kinds if k not in PERTURBATION_KINDS]
    if bad:
        raise ValueError(f"unknown perturbation kind(s) {bad}; expected {PERTURBATION_KINDS}")
    if any(not float(e) > 0 for e in epsilons):
        raise ValueError(f"perturbation sizes must be > 0 Å, got {list(epsilons)}")
    rng = np.random.default_rng(seed)
    n = len(structure)
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    sym = rng.normal(size=(3, 3))
    sym = (sym + sym.T) / 2
    sym /= np.linalg.norm(sym)
    lattice = structure.lattice.matrix
    length = abs(np.linalg.det(lattice)) ** (1 / 3)
    cart = structure.cart_coords
    out = []
    for kind in kinds:
        for eps in epsilons:
            eps = float(eps)
            if kind == "displace":
                s = Structure(
                    lattice,
                    structure.species,
                    cart + eps * u,
                    coords_are_cartesian=True,
                    to_unit_cell=wrap,
                )
            else:
                new_lat = lattice @ (np.eye(3) + (eps / length) * sym)
                s = Structure(new_lat, structure.species, structure.frac_coords, to_unit_cell=wrap)
            out.append(Perturbation(kind, eps, s))
    return out
