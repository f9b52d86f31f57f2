"""What a model reads beyond the graph the builder makes, attached by one function.

Why one function: the G_Λ colouring of ECN (``group: glambda``, also ``ecn_egnn``) depends on
each crystal's lattice point group, through its orbit map (``cell_orbit_map``, read by
:func:`ecn.nn.plan.build_color_plan`), which the graph builder does not compute. Training, the
predictor, the checks of ``ecn.testing`` and the benchmarks all get it from
:func:`with_model_inputs`, so no caller tests the group: a model whose inputs change changes
here. (Without it the colour plan computes the map itself, per batch: same numbers, slower.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecn.nn.config import ModelConfig
from ecn.symmetry.orbit_maps import Graphs, with_orbit_maps

__all__ = ["ORBIT_MAP_GROUPS", "needs_orbit_maps", "with_model_inputs"]

#: Colouring groups whose edge colours depend on the crystal's lattice (its orbit map).
ORBIT_MAP_GROUPS: tuple[str, ...] = ("glambda",)


def needs_orbit_maps(model: ModelConfig | Mapping[str, Any]) -> bool:
    """Whether the model reads each crystal's G_Λ orbit map.

    Args:
        model: its `ModelConfig`, or its options (``{"group": ...}``: what a caller that only
            carries the options, e.g. a prediction worker, has).
    """
    options = model.options if isinstance(model, ModelConfig) else model
    return options.get("group") in ORBIT_MAP_GROUPS


def with_model_inputs(graphs: Graphs, model: ModelConfig | Mapping[str, Any]) -> Graphs:
    """`graphs` with what `model` reads beyond the built graph: today the orbit maps of a G_Λ
    model (:func:`~ecn.symmetry.orbit_maps.with_orbit_maps`: a `GraphStore` view, a list of
    `UnitGraph` records or a list of `CrystalGraph`s); unchanged for every other model."""
    return with_orbit_maps(graphs) if needs_orbit_maps(model) else graphs
