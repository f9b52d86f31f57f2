"""The reference toolkit: permutations, closure, union-find orbits, partitions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecn.symmetry.actions import symmetric_group
from ecn.symmetry.groups import (
    PermutationGroup,
    UnionFind,
    as_perm,
    canonical_labels,
    compose,
    identity,
    inverse,
    n_blocks,
    pair_permutation,
    refines,
    same_partition,
)


def test_compose_applies_right_factor_first() -> None:
    p, q = (1, 2, 0), (0, 2, 1)
    assert compose(p, q) == tuple(p[q[x]] for x in range(3))
    assert compose(p, q) != compose(q, p)
    assert compose(p, inverse(p)) == identity(3) == compose(inverse(p), p)


def test_as_perm_rejects_non_permutations() -> None:
    with pytest.raises(ValueError):
        as_perm([0, 0, 1])
    with pytest.raises(ValueError):
        as_perm([0, 1, 2], degree=4)
    with pytest.raises(ValueError):
        PermutationGroup([(0, 1), (0, 1, 2)])
    with pytest.raises(ValueError):
        PermutationGroup([])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_symmetric_group_order(n: int) -> None:
    g = symmetric_group(n)
    elems = g.elements()
    assert len(elems) == math.factorial(n)
    assert set(elems) == set(itertools.permutations(range(n)))


def test_closure_of_cyclic_and_dihedral_groups() -> None:
    rot = (1, 2, 3, 4, 5, 0)
    refl = (0, 5, 4, 3, 2, 1)
    assert PermutationGroup([rot]).order() == 6
    assert PermutationGroup([rot, refl]).order() == 12
    assert PermutationGroup([], 4).elements() == [identity(4)]


def test_element_limit_guards_large_groups() -> None:
    with pytest.raises(ValueError, match="more than"):
        symmetric_group(8).elements(limit=1000)


def test_pair_orbits_of_symmetric_group_are_diagonal_and_off_diagonal() -> None:
    orbits = symmetric_group(5).pair_orbits()
    assert n_blocks(orbits) == 2
    assert same_partition(orbits, ~np.eye(5, dtype=bool))


def test_pair_permutation_matches_definition() -> None:
    p = (2, 0, 1)
    pp = pair_permutation(p)
    for x, y in itertools.product(range(3), repeat=2):
        assert pp[x * 3 + y] == p[x] * 3 + p[y]
    assert PermutationGroup([p]).pair_action().order() == 3


def test_partition_helpers() -> None:
    assert list(canonical_labels([5, 5, 2, 7, 2])) == [0, 0, 1, 2, 1]
    assert same_partition([1, 1, 0], [4, 4, 9])
    assert not same_partition([1, 1, 0], [4, 3, 9])
    assert refines([0, 1, 2, 3], [0, 0, 1, 1])
    assert not refines([0, 0, 1, 1], [0, 1, 2, 3])
    uf = UnionFind(4)
    uf.union(0, 3)
    assert list(uf.labels()) == [0, 1, 2, 0]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 7).flatmap(
        lambda n: st.lists(st.permutations(list(range(n))), min_size=0, max_size=3).map(
            lambda gens: (n, gens)
        )
    )
)
def test_union_find_orbits_equal_closure_orbits(case: tuple[int, list[list[int]]]) -> None:
    n, gens = case
    group = PermutationGroup(gens, n)
    assert same_partition(group.pair_orbits(), group.pair_orbits_by_closure())
    elems = group.elements()
    # orbits of points from the explicit elements
    point = [min(g[x] for g in elems) for x in range(n)]
    assert same_partition(group.point_orbits(), point)
    # the closure is a group: closed under composition and inverses
    s = set(elems)
    assert all(compose(g, h) in s for g in elems for h in group.generators)
    assert all(inverse(g) in s for g in elems)
