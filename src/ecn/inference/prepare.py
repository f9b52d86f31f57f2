"""Input preparation: one input (a structure, or a CIF text) -> validated unit-graph records,
or the error text of its output row.

This is the CPU-heavy half of a prediction (parsing, the canonical step, the neighbour search),
kept apart from the model (``ecn.inference.predictor.Predictor``) so that worker processes can run
it (``ecn predict --workers``, ``ecn.inference.parallel``): it needs no model, and what it returns
(numpy records, or a canonical cell and a pass count) is small and pickled by value. The bounds
on what one input may cost (:class:`Limits`) are checked here, before the expensive step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ecn.data.validate import MAX_ATOMS, BadInput, parse_cif, shorten, structure_problem
from ecn.graphs.build import unit_graph
from ecn.graphs.canonical import canonical_structure
from ecn.graphs.record import UnitGraph
from ecn.graphs.settings import GraphSettings
from ecn.inference.averaging import Averaged, description_count, iter_description_units
from ecn.inference.inputs import InputItem, as_structure
from ecn.nn.inputs import with_model_inputs

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_PASSES",
    "Limits",
    "Prepared",
    "averaged_input",
    "graph_error",
    "prepare_item",
    "structure_units",
    "validated_structure",
    "with_group_inputs",
]

#: Default of ``Limits.max_passes`` (``ecn predict --max-passes``): model passes one
#: ``--average`` prediction may cost (Perov-5 ``full``: 5 atoms x 48 bases = 240).
MAX_PASSES = 256


@dataclass(frozen=True)
class Limits:
    """What one input may cost (``ecn predict --max-atoms / --max-passes``).

    An input above a limit gets an error row that names the limit, found before the expensive
    step: the atom count before the canonical step, the pass count of ``--average`` before any
    graph of the averaged descriptions is built. Measured cost (``ecn bench large-cell``):
    canonical step + graph of a 1,000-atom cell about 0.5 s and 50 MB.
    """

    max_atoms: int = MAX_ATOMS
    max_passes: int = MAX_PASSES

    def __post_init__(self) -> None:
        if self.max_atoms < 1 or self.max_passes < 1:
            raise ValueError(
                f"--max-atoms and --max-passes must be at least 1, got {self.max_atoms} and "
                f"{self.max_passes}"
            )


def averaged_input(
    structure: Any, settings: GraphSettings, average: str, limits: Limits | None = None
) -> Averaged:
    """The canonical step and the pass count of one validated structure; ValueError (naming
    ``--max-passes``) when the count exceeds ``limits.max_passes``, before any graph is built."""
    limits = limits or Limits()
    canon = canonical_structure(structure, settings.canonical, settings.symprec)
    n = description_count(canon, settings, average)
    if n > limits.max_passes:
        per = f"{len(canon)} atoms" + (f" x {n // len(canon)} bases" if average == "full" else "")
        raise ValueError(
            f"--average {average} needs {n} model passes for this crystal ({per} in the "
            f"canonical cell), more than the --max-passes limit {limits.max_passes}: raise it "
            "or use --average none"
        )
    return Averaged(canon, average, n)


def with_group_inputs(units: list[UnitGraph], group: str) -> list[UnitGraph]:
    """`units` with what the model of this `group` option reads beyond them (its orbit maps)."""
    return with_model_inputs(units, {"group": group})


def structure_units(
    structure: Any,
    settings: GraphSettings,
    id: str = "",
    average: str = "none",
    group: str = "",
    limits: Limits | None = None,
) -> list[UnitGraph]:
    """Validated unit-cell graph records of the descriptions `average` runs over (one for
    ``none``); with ``group == "glambda"`` each carries its lattice's orbit map.

    The CPU-heavy half of a prediction (canonical step, neighbour search), separate from the
    model so that worker processes can run it (``ecn predict --workers``): records are numpy
    arrays, small and pickled by value. ``expand(records, settings)`` gives the model's graphs.
    All the averaged descriptions at once: ``ecn predict`` streams them instead
    (:func:`prepare_item`).

    Raises:
        ValueError: the structure is not usable, or above `limits` (the message names why).
    """
    structure = validated_structure(structure, limits)
    if average == "none":
        units = [unit_graph(structure, settings, id=id)]
    else:
        av = averaged_input(structure, settings, average, limits)
        units = list(iter_description_units(av, settings, id))
    return with_group_inputs(units, group)


def validated_structure(structure: Any, limits: Limits | None) -> Any:
    """`structure` as a pymatgen Structure; ValueError naming the problem if unusable."""
    structure = as_structure(structure)
    problem = structure_problem(structure, (limits or Limits()).max_atoms)
    if problem is not None:
        raise ValueError(problem)
    return structure


@dataclass
class Prepared:
    """One input item after the CPU-heavy stage: its graph records, or (``average`` origins
    or full) its canonical cell whose descriptions are built when predicted, or why neither."""

    units: list[UnitGraph] | None
    error: str = ""
    averaged: Averaged | None = None

    @property
    def ok(self) -> bool:
        return self.units is not None or self.averaged is not None


def prepare_item(
    item: InputItem,
    settings: GraphSettings,
    average: str = "none",
    group: str = "",
    limits: Limits | None = None,
) -> Prepared:
    """Parse, validate and build the graph records of one input item; never raises (an unusable
    item, or an unexpected failure, comes back as an error text for its output row). With
    ``average`` origins or full: the canonical step and the pass count only (`Averaged`)."""
    if item.error:
        return Prepared(None, item.error)
    try:
        s = item.structure if item.structure is not None else parse_cif(item.cif or "")
        if average == "none":
            return Prepared(structure_units(s, settings, item.id, average, group, limits))
        return Prepared(
            None, averaged=averaged_input(validated_structure(s, limits), settings, average, limits)
        )
    except (BadInput, ValueError) as exc:
        return Prepared(None, shorten(str(exc)))
    except Exception as exc:  # noqa: BLE001 - one bad file must not abort the batch
        logger.debug("input %s failed", item.id, exc_info=True)
        return Prepared(None, graph_error(exc))


def graph_error(exc: Exception) -> str:
    """The error text of an input whose graph could not be built."""
    if isinstance(exc, (BadInput, ValueError)):
        return shorten(str(exc))
    return (
        f"internal error while building the graph ({type(exc).__name__}); please report this input"
    )
