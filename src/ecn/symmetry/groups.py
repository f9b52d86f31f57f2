"""Explicit finite permutation groups: the slow, obviously correct reference.

Permutations are tuples ``p`` of length ``n`` on ``range(n)``, read as ``x -> p[x]``.
Composition follows functions: ``compose(p, q)`` is ``x -> p[q[x]]`` (apply ``q`` first).

Everything here is deliberately plain Python (closure by breadth-first search, orbits by
union-find) so that the fast closed-form colourings of :mod:`ecn.symmetry.colorings` can be
tested against it. Orbits under a group equal the connected components of the graph that joins
each point to its images under the generators, so union-find over generator images gives the
orbits of groups far too large to enumerate (``S_8 x S_5`` has 4.8 million elements).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

Perm = tuple[int, ...]

DEFAULT_ELEMENT_LIMIT = 200_000


def as_perm(p: Sequence[int] | np.ndarray, degree: int | None = None) -> Perm:
    """Return ``p`` as a validated permutation tuple.

    Raises:
        ValueError: if ``p`` is not a bijection of ``range(len(p))`` or has the wrong degree.
    """
    perm = tuple(int(x) for x in np.asarray(p).reshape(-1))
    if degree is not None and len(perm) != degree:
        raise ValueError(f"permutation has degree {len(perm)}, expected {degree}")
    if sorted(perm) != list(range(len(perm))):
        raise ValueError(f"not a permutation of range({len(perm)}): {perm}")
    return perm


def identity(degree: int) -> Perm:
    """The identity permutation on ``range(degree)``."""
    return tuple(range(degree))


def compose(p: Perm, q: Perm) -> Perm:
    """``p o q``: ``x -> p[q[x]]`` (``q`` acts first)."""
    if len(p) != len(q):
        raise ValueError("cannot compose permutations of different degree")
    return tuple(p[x] for x in q)


def inverse(p: Perm) -> Perm:
    """The inverse permutation."""
    inv = [0] * len(p)
    for x, y in enumerate(p):
        inv[y] = x
    return tuple(inv)


def pair_permutation(p: Perm) -> Perm:
    """Induced action on ordered pairs: pair ``(x, y)`` has index ``x * n + y``.

    ``g.(x, y) = (g(x), g(y))`` as in paper §6; the result is a permutation of ``range(n * n)``.
    """
    n = len(p)
    return tuple(p[x] * n + p[y] for x in range(n) for y in range(n))


class UnionFind:
    """Disjoint sets over ``range(n)`` with path halving and union by size."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        """Representative of the set of ``x``."""
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, x: int, y: int) -> None:
        """Merge the sets of ``x`` and ``y``."""
        rx, ry = self.find(x), self.find(y)
        if rx == ry:
            return
        if self.size[rx] < self.size[ry]:
            rx, ry = ry, rx
        self.parent[ry] = rx
        self.size[rx] += self.size[ry]

    def labels(self) -> np.ndarray:
        """Dense labels ``(n,)``, numbered by first occurrence."""
        return canonical_labels([self.find(x) for x in range(len(self.parent))])


def canonical_labels(labels: Iterable[int] | np.ndarray) -> np.ndarray:
    """Relabel a partition ``(m,)`` densely by order of first occurrence.

    Two label arrays describe the same partition iff their canonical labels are equal.
    """
    flat = np.asarray(labels).reshape(-1)
    mapping: dict[int, int] = {}
    out = np.empty(flat.shape[0], dtype=np.int64)
    for k, x in enumerate(flat.tolist()):
        out[k] = mapping.setdefault(x, len(mapping))
    return out


def same_partition(x: Iterable[int] | np.ndarray, y: Iterable[int] | np.ndarray) -> bool:
    """Whether two labellings of the same set induce the same partition."""
    cx, cy = canonical_labels(x), canonical_labels(y)
    return cx.shape == cy.shape and bool(np.array_equal(cx, cy))


def refines(fine: Iterable[int] | np.ndarray, coarse: Iterable[int] | np.ndarray) -> bool:
    """Whether every block of ``fine`` lies inside one block of ``coarse``."""
    f = np.asarray(fine).reshape(-1).tolist()
    c = np.asarray(coarse).reshape(-1).tolist()
    if len(f) != len(c):
        raise ValueError("partitions of sets of different size")
    block: dict[int, int] = {}
    return all(block.setdefault(a, b) == b for a, b in zip(f, c, strict=True))


def n_blocks(labels: Iterable[int] | np.ndarray) -> int:
    """Number of blocks of a partition given by labels."""
    return len(set(np.asarray(labels).reshape(-1).tolist()))


class PermutationGroup:
    """A finite permutation group on ``range(degree)`` given by generators.

    Args:
        generators: permutations of ``range(degree)``; duplicates and identities are dropped.
        degree: size of the set acted on (needed when there are no generators).
    """

    def __init__(
        self, generators: Iterable[Sequence[int] | np.ndarray], degree: int | None = None
    ) -> None:
        gens = [as_perm(g) for g in generators]
        if degree is None:
            if not gens:
                raise ValueError("degree is required for a group without generators")
            degree = len(gens[0])
        if degree < 0:
            raise ValueError(f"degree must be >= 0, got {degree}")
        for g in gens:
            if len(g) != degree:
                raise ValueError(f"generator of degree {len(g)} in a group of degree {degree}")
        e = identity(degree)
        self.degree = degree
        self.generators: tuple[Perm, ...] = tuple(dict.fromkeys(g for g in gens if g != e))

    def __repr__(self) -> str:
        return f"PermutationGroup(degree={self.degree}, n_generators={len(self.generators)})"

    def elements(self, limit: int = DEFAULT_ELEMENT_LIMIT) -> list[Perm]:
        """All elements, by breadth-first closure from the identity.

        Raises:
            ValueError: if the group has more than ``limit`` elements (use orbits instead).
        """
        e = identity(self.degree)
        seen = {e}
        frontier = [e]
        while frontier:
            new = []
            for h in frontier:
                for g in self.generators:
                    gh = compose(g, h)
                    if gh not in seen:
                        seen.add(gh)
                        new.append(gh)
                        if len(seen) > limit:
                            raise ValueError(
                                f"group has more than {limit} elements; enumerate a smaller one"
                            )
            frontier = new
        return sorted(seen)

    def order(self, limit: int = DEFAULT_ELEMENT_LIMIT) -> int:
        """Number of elements (by enumeration, bounded by ``limit``)."""
        return len(self.elements(limit))

    def contains(self, p: Sequence[int], limit: int = DEFAULT_ELEMENT_LIMIT) -> bool:
        """Membership by enumeration (small groups only)."""
        return as_perm(p, self.degree) in set(self.elements(limit))

    def point_orbits(self) -> np.ndarray:
        """Orbit labels of points ``(degree,)`` by union-find over generator images."""
        uf = UnionFind(self.degree)
        for g in self.generators:
            for x, gx in enumerate(g):
                uf.union(x, gx)
        return uf.labels()

    def pair_orbits(self) -> np.ndarray:
        """Orbit labels ``(degree, degree)`` of ordered pairs ``(x, y)`` by union-find.

        Entry ``[x, y]`` is the orbit of the pair under ``g.(x, y) = (g(x), g(y))``.
        """
        n = self.degree
        uf = UnionFind(n * n)
        for g in self.generators:
            for k, gk in enumerate(pair_permutation(g)):
                uf.union(k, gk)
        return uf.labels().reshape(n, n)

    def pair_orbits_by_closure(self, limit: int = DEFAULT_ELEMENT_LIMIT) -> np.ndarray:
        """Pair orbit labels ``(degree, degree)`` from the explicit element list.

        Independent of :meth:`pair_orbits`: each pair is labelled by the smallest pair index in
        ``{g.(x, y) for g in G}``. Only for groups small enough to enumerate.
        """
        n = self.degree
        elems = np.asarray(self.elements(limit), dtype=np.int64).reshape(-1, n)
        x, y = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        images = elems[:, x] * n + elems[:, y]  # (|G|, n, n)
        return canonical_labels(images.min(axis=0)).reshape(n, n)

    def pair_action(self) -> PermutationGroup:
        """The induced group on ordered pairs (degree ``n * n``)."""
        return PermutationGroup(
            (pair_permutation(g) for g in self.generators), self.degree * self.degree
        )
