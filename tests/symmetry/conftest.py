"""Shared fixtures for the symmetry tests: the 14 Bravais lattices and their point groups."""

from __future__ import annotations

import numpy as np
import pytest

from ecn.symmetry.bravais import BRAVAIS_TYPES, representative_lattice
from ecn.symmetry.lattice import lattice_point_group

BRAVAIS_SYMBOLS = [bt.symbol for bt in BRAVAIS_TYPES]


@pytest.fixture(scope="session")
def bravais_rotations() -> dict[str, np.ndarray]:
    """Point group (lattice basis) of each representative Bravais lattice, keyed by symbol."""
    return {s: lattice_point_group(representative_lattice(s)) for s in BRAVAIS_SYMBOLS}
