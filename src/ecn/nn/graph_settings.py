"""The one resolver of graph settings: dataset defaults <- what the model needs <- user overrides.

Why one function: training, ``ecn data build``, the benchmarks and the model file must agree on
how a crystal becomes a graph; a second resolver is a second answer. ``resolve_graph_settings``
is the only place that merges the three sources; its result is written into ``config.yaml`` and
into the model file, and prediction rebuilds graphs from exactly that.

Why here: it merges what the dataset registry (``ecn.data``) and the model classes (``ecn.nn``)
say, and ``ecn.nn`` is the lowest layer that may import both (the layer rules of
``tests/test_layers.py``). ``ecn.nn``'s ``__init__`` does not import it, so importing the models
does not load the dataset loaders.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ecn.data.registry import get_spec
from ecn.graphs.settings import GraphSettings
from ecn.nn.models import MODELS, resolve_options

__all__ = ["GRAPH_SETTING_NAMES", "model_graph_settings", "resolve_graph_settings"]

#: Field names a user may override (``GraphSettings`` fields).
GRAPH_SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(GraphSettings))


def model_graph_settings(model: str) -> dict[str, Any]:
    """The graph settings model `model` was designed for (its class's ``GRAPH_SETTINGS``)."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; expected one of {sorted(MODELS)}")
    return dict(getattr(MODELS[model], "GRAPH_SETTINGS", {}) or {})


def resolve_graph_settings(
    model: str,
    dataset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> GraphSettings:
    """Resolved ``GraphSettings`` for `model` trained on (or applied to) `dataset`.

    Precedence, lowest first: ``GraphSettings`` defaults, the dataset's ``graph_defaults``
    (e.g. Perov-5's 5 Å radius graph, MP's Hubbard-U flag), the model's ``GRAPH_SETTINGS`` (e.g.
    the baselines' unit-cell radius graphs), then `overrides` (CLI flags, YAML ``graph:``);
    last, the model class's ``finish_graph_settings(merged, user, options)`` if it has one (ECN
    without the cell one-hot runs on the unit cell, the exact quotient of its cover; CGCNN stores
    only about as many neighbours as its ``max_neighbors`` option keeps).

    Args:
        model: key of ``ecn.nn.MODELS``.
        dataset: key of ``ecn.data.DATASETS``, or None (no dataset defaults, e.g. user CIFs).
        overrides: ``GraphSettings`` fields; None values are ignored (an unset flag).
        options: the model's options (None: its defaults), for settings that follow them; the
            hook gets them with every default filled in (``resolve_options``).

    Raises:
        ValueError: unknown model, dataset or setting name, or an invalid value.
    """
    merged: dict[str, Any] = {}
    if dataset is not None:
        merged.update(get_spec(dataset).graph_defaults)
    merged.update(model_graph_settings(model))
    user = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(user) - set(GRAPH_SETTING_NAMES))
    if unknown:
        raise ValueError(
            f"unknown graph setting(s) {unknown}; allowed: {sorted(GRAPH_SETTING_NAMES)}"
        )
    merged.update(user)
    finish = getattr(MODELS[model], "finish_graph_settings", None)
    if finish is not None:  # rules between fields that only the model knows (e.g. ECN's quotient)
        merged = finish(merged, user, resolve_options(model, options or {}))
    return GraphSettings(**merged)
