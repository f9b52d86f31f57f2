"""Description averaging (``average``, issue 14 item 2): which descriptions of one crystal a
prediction averages over, and their count before any is built.

After the canonical step (``ecn.graphs.canonical``) a prediction can still depend on which of the
space group's equivalent origins and bases spglib picked. ``average="origins"`` predicts the
canonical cell with the origin on each of its atoms in turn and returns the mean: exactly
origin-invariant, ``n_atoms`` passes per prediction. ``average="full"`` also runs every lattice
point-group image of the basis (``n_atoms x |holohedry|`` passes, up to 48 x n_atoms): invariant
to the basis choice too. ``"none"`` (default): one pass. A model trained on canonical inputs has
only seen spglib's origin; averaging then also mixes in origins it never saw (measured in
``results/invariance/``).

Why a module of its own: the descriptions are enumerated lazily (one at a time, bases outer,
origins inner) so that ``ecn predict`` builds and predicts them a batch at a time
(``ecn.inference.predictor.Predictor``) and memory follows the batch, not the pass count; the
input preparation (``ecn.inference.prepare``) only needs their count, to refuse an input above
``--max-passes`` before building any.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from ecn.graphs.build import unit_graph
from ecn.graphs.canonical import (
    basis_descriptions,
    canonical_structure,
    lattice_point_group,
    origin_description,
)
from ecn.graphs.record import UnitGraph
from ecn.graphs.settings import GraphSettings

__all__ = [
    "AVERAGE_MODES",
    "Averaged",
    "description_count",
    "description_set",
    "iter_description_units",
    "iter_descriptions",
]

#: ``Predictor.predict(average=...)`` values: passes per prediction 1, n_atoms, n_atoms x |P|.
AVERAGE_MODES = ("none", "origins", "full")


def description_count(canonical: Any, settings: GraphSettings, average: str) -> int:
    """Passes `average` costs for an already canonical cell, without building them."""
    if average == "none":
        return 1
    n = len(canonical)
    if average == "origins":
        return n
    return n * len(lattice_point_group(canonical.lattice.matrix, settings.symprec))


def iter_descriptions(canonical: Any, settings: GraphSettings, average: str) -> Iterator[Any]:
    """The descriptions of an already canonical cell that `average` runs over, one at a time
    (canonical cell first; bases outer, origins inner), so callers hold one, not all."""
    if average == "none":
        yield canonical
        return
    bases = [canonical] if average == "origins" else basis_descriptions(canonical, settings.symprec)
    for b in bases:
        for k in range(len(b)):
            yield origin_description(b, k, settings.symprec)


def description_set(structure: Any, settings: GraphSettings, average: str) -> list[Any]:
    """The descriptions a prediction averages over (canonical cell first; see module docstring).

    The returned structures are already canonical: build their graphs with
    ``canonical="off"`` (re-standardising would move the origin back).
    """
    if average not in AVERAGE_MODES:
        raise ValueError(f"average must be one of {AVERAGE_MODES}, got {average!r}")
    canon = canonical_structure(structure, settings.canonical, settings.symprec)
    return list(iter_descriptions(canon, settings, average))


@dataclass
class Averaged:
    """An input predicted as the mean over its descriptions (``average`` origins or full): the
    canonical cell and the pass count. The graphs are built batch by batch when predicted
    (:func:`iter_description_units`), so memory does not grow with the number of passes."""

    canonical: Any
    average: str
    n_passes: int


def iter_description_units(
    averaged: Averaged, settings: GraphSettings, id: str = ""
) -> Iterator[UnitGraph]:
    """Unit-graph records of the descriptions of `averaged`, one at a time (their structures
    are already canonical: built with ``canonical="off"``)."""
    raw = replace(settings, canonical="off")
    for d in iter_descriptions(averaged.canonical, settings, averaged.average):
        yield unit_graph(d, raw, id=id)
