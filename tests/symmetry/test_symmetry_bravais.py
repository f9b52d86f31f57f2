"""Lattice point groups from spglib, G_Lambda orbit maps for the 14 Bravais types, the table."""

from __future__ import annotations

import numpy as np
import pytest
import spglib
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import ecn.symmetry
from ecn.symmetry.actions import N_CELLS, cell_group, cell_index
from ecn.symmetry.bravais import (
    BRAVAIS_TYPES,
    lattice_from_parameters,
    representative_lattice,
)
from ecn.symmetry.colorings import cell_pair_color, check_orbit_map, glambda_orbit_map
from ecn.symmetry.groups import n_blocks, refines, same_partition
from ecn.symmetry.lattice import lattice_point_group
from ecn.symmetry.table import bravais_orbit_table, format_bravais_table, main

TYPES = {bt.symbol: bt for bt in BRAVAIS_TYPES}
CELLS_A, CELLS_B = np.meshgrid(np.arange(N_CELLS), np.arange(N_CELLS), indexing="ij")


def check_point_group(lattice: np.ndarray, rots: np.ndarray, symprec: float = 0.0) -> None:
    """Integer, unimodular, a group, and isometries in the fractional-coordinate convention.

    ``symprec`` > 0 allows the metric to be preserved only up to spglib's distance tolerance.
    """
    assert rots.dtype.kind == "i" and rots.shape[1:] == (3, 3)
    assert np.array_equal(rots[0], np.eye(3, dtype=int))
    assert set(np.rint(np.abs(np.linalg.det(rots))).astype(int).tolist()) == {1}
    members = {r.tobytes() for r in rots}
    assert len(members) == len(rots)
    assert all((r @ s).tobytes() in members for r in rots for s in rots)
    metric = lattice @ lattice.T
    for r in rots:
        longest = np.sqrt(np.abs(metric).max())
        atol = 1e-6 * longest**2 + 4 * symprec * longest
        np.testing.assert_allclose(r.T @ metric @ r, metric, rtol=0, atol=atol)


def check_orbit_partition(rots: np.ndarray) -> np.ndarray:
    """Orbit map is valid and equals brute-force cell-pair orbits; P-1 <= G_Lambda <= S_Lambda."""
    orbit_map = glambda_orbit_map(rots)
    check_orbit_map(orbit_map)
    assert np.array_equal(orbit_map[orbit_map], orbit_map) and orbit_map[0] == 0
    closed = cell_pair_color("glambda", CELLS_A, CELLS_B, orbit_map)
    assert same_partition(closed, cell_group("glambda", rots).pair_orbits_by_closure())
    assert refines(cell_pair_color("p1", CELLS_A, CELLS_B), closed)
    assert refines(closed, cell_pair_color("slambda", CELLS_A, CELLS_B))
    return orbit_map


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # spglib's legacy error handling
@pytest.mark.parametrize("symbol", list(TYPES))
def test_representative_lattice_has_its_bravais_type(
    symbol: str, bravais_rotations: dict[str, np.ndarray]
) -> None:
    lattice = representative_lattice(symbol)
    dataset = spglib.get_symmetry_dataset((lattice, [[0, 0, 0]], [1]), symprec=1e-3)
    assert dataset.number == TYPES[symbol].space_group
    rots = bravais_rotations[symbol]
    assert len(rots) == TYPES[symbol].holohedry_order
    check_point_group(lattice, rots)
    check_orbit_partition(rots)


def test_hand_derived_orbit_counts(bravais_rotations: dict[str, np.ndarray]) -> None:
    """Independent of the table: reasoning on the matrices mod 2."""
    count = {s: n_blocks(glambda_orbit_map(r)) for s, r in bravais_rotations.items()}
    # diagonal +-1 matrices are the identity mod 2: no merging beyond P-1
    assert count["aP"] == count["mP"] == count["oP"] == 8
    # tP: the 4-fold axis swaps a1, a2: {a1, a2} and {a1+a3, a2+a3} merge
    assert count["tP"] == 6
    # cP: coordinate permutations, orbits by Hamming weight 0..3
    assert count["cP"] == 4
    # hP: GL(2, 2) is transitive on the 3 non-zero in-plane vectors: {0}, {c}, 3 + 3
    assert count["hP"] == 4


def test_transposed_convention_would_fail(bravais_rotations: dict[str, np.ndarray]) -> None:
    """The metric check distinguishes R (fractional coordinates) from R^T on skew lattices."""
    lattice = representative_lattice("hP")
    metric = lattice @ lattice.T
    bad = [not np.allclose(r @ metric @ r.T, metric) for r in bravais_rotations["hP"]]
    assert any(bad)


def test_lattice_point_group_validates() -> None:
    with pytest.raises(ValueError):
        lattice_point_group(np.eye(2))
    with pytest.raises(ValueError):
        lattice_point_group(np.array([[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1.0]]))
    with pytest.raises(ValueError):
        lattice_point_group(np.eye(3), symprec=0)
    with pytest.raises(ValueError):
        representative_lattice("xX")
    with pytest.raises(ValueError):
        lattice_from_parameters(3, 3, 3, 10, 10, 170)


# --- property tests ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.tuples(*[st.floats(2.0, 8.0)] * 3),
    st.tuples(*[st.floats(60.0, 120.0)] * 3),
)
def test_random_lattices(lengths: tuple[float, ...], angles: tuple[float, ...]) -> None:
    try:
        lattice = lattice_from_parameters(*lengths, *angles)
    except ValueError:
        assume(False)
    assume(abs(np.linalg.det(lattice)) > 1.0)
    rots = lattice_point_group(lattice, symprec=1e-3)
    check_point_group(lattice, rots, symprec=1e-3)
    check_orbit_partition(rots)


unimodular_steps = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 2), st.sampled_from([-1, 1])),
    min_size=0,
    max_size=6,
)


def unimodular(steps: list[tuple[int, int, int]]) -> np.ndarray:
    """Product of elementary integer row operations (det +-1)."""
    m = np.eye(3, dtype=np.int64)
    for i, j, c in steps:
        if i == j:
            m[i] *= c  # sign flip
        else:
            m[i] += c * m[j]
    return m


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(list(TYPES)),
    unimodular_steps,
    st.tuples(*[st.floats(-np.pi, np.pi)] * 3),
    st.floats(0.5, 2.0),
)
def test_orbits_do_not_depend_on_basis_or_orientation(
    symbol: str,
    steps: list[tuple[int, int, int]],
    euler: tuple[float, float, float],
    scale: float,
) -> None:
    """Another basis of the same lattice: same |P|, same orbits, mapped by the basis change."""
    m = unimodular(steps)
    x, y, z = euler
    rz = np.array([[np.cos(x), -np.sin(x), 0], [np.sin(x), np.cos(x), 0], [0, 0, 1]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rz2 = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    base = representative_lattice(symbol)
    lattice = scale * (m @ base) @ (rz @ ry @ rz2).T
    rots = lattice_point_group(lattice)
    assert len(rots) == TYPES[symbol].holohedry_order
    check_point_group(lattice, rots)
    new_map = check_orbit_partition(rots)
    old_map = glambda_orbit_map(lattice_point_group(base))
    # lattice vector n' in the new basis is M^T n' in the old one
    old_of_new = [cell_index(m.T @ np.array([(c >> 2) & 1, (c >> 1) & 1, c & 1])) for c in range(8)]
    assert same_partition(new_map, old_map[old_of_new])


# --- the generated table ----------------------------------------------------------------------


def test_table_rows_match_closed_forms(bravais_rotations: dict[str, np.ndarray]) -> None:
    rows = bravais_orbit_table()
    assert [r.symbol for r in rows] == list(TYPES)
    for r in rows:
        orbit_map = glambda_orbit_map(bravais_rotations[r.symbol])
        assert r.n_cell_pair_orbits == n_blocks(orbit_map) == len(r.orbit_sizes)
        assert sum(r.orbit_sizes) == 8
        assert r.n_edge_colors == 2 * r.n_cell_pair_orbits
        assert r.point_group_order == TYPES[r.symbol].holohedry_order
        assert r.cell_group_order % 8 == 0


def test_docs_and_docstring_are_generated_and_current(capsys: pytest.CaptureFixture) -> None:
    assert main([]) == 0
    printed = capsys.readouterr().out
    assert printed.strip() == format_bravais_table().strip()
    assert main(["--check"]) == 0, "run: python -m ecn.symmetry.table --write"
    assert format_bravais_table() in (ecn.symmetry.__doc__ or "")
