"""The numpy lattice point group (ecn.graphs.holohedry) against spglib itself."""

from __future__ import annotations

import numpy as np
import pytest

from ecn.graphs import holohedry
from ecn.graphs.holohedry import _fast, lattice_point_group, lattice_point_group_spglib

RNG = np.random.default_rng(7)


def _lattices() -> list[np.ndarray]:
    """The seven Bravais families in random unimodular bases, plus random triclinic cells."""
    from pymatgen.core import Lattice

    base = [
        Lattice.cubic(4.0).matrix,
        Lattice.tetragonal(3.9, 5.2).matrix,
        Lattice.orthorhombic(3.1, 4.4, 5.7).matrix,
        Lattice.hexagonal(3.2, 5.1).matrix,
        Lattice.rhombohedral(4.1, 62.0).matrix,
        Lattice.monoclinic(3.3, 4.6, 5.9, 101.0).matrix,
        Lattice.from_parameters(3.4, 4.7, 6.1, 81.0, 97.0, 108.0).matrix,
        # face- and body-centred cubic primitive cells
        np.array([[0.0, 2.0, 2.0], [2.0, 0.0, 2.0], [2.0, 2.0, 0.0]]),
        np.array([[-2.0, 2.0, 2.0], [2.0, -2.0, 2.0], [2.0, 2.0, -2.0]]),
    ]
    out = []
    for lat in base:
        out.append(lat)
        m = np.eye(3, dtype=int)
        m[0, 1], m[2, 0] = RNG.integers(-1, 2, size=2)
        out.append(m @ lat)
    return out


@pytest.mark.parametrize("k", range(18))
def test_fast_path_equals_spglib(k):
    lat = _lattices()[k]
    fast = _fast(lat, 1e-3)
    assert fast is not None, "a clean lattice must not need spglib"
    ref = lattice_point_group_spglib(lat, 1e-3)
    assert np.array_equal(fast, ref)
    metric = lat @ lat.T
    for r in fast:  # every operation is an isometry of the lattice
        assert np.allclose(r.T @ metric @ r, metric, atol=1e-8)


def test_cubic_has_48_and_identity_first():
    ops = lattice_point_group(np.eye(3) * 4.0)
    assert len(ops) == 48
    assert np.array_equal(ops[0], np.eye(3, dtype=np.int64))


def test_near_tolerance_defers_to_spglib(monkeypatch):
    """Negative control: a tetragonal distortion of exactly symprec (0.001 Å) is not clear-cut,
    so the fast path declines and spglib decides; a distortion far beyond it gives the lower
    group without spglib."""
    near = np.diag([4.0, 4.0, 4.001])
    assert _fast(near, 1e-3) is None
    calls = []
    real = holohedry.lattice_point_group_spglib
    monkeypatch.setattr(
        holohedry, "lattice_point_group_spglib", lambda *a: calls.append(a) or real(*a)
    )
    assert np.array_equal(lattice_point_group(near, 1e-3), real(near, 1e-3))
    assert calls
    far = np.diag([4.0, 4.0, 4.2])
    assert len(lattice_point_group(far, 1e-3)) == 16
    assert len(calls) == 1
