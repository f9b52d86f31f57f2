"""One prediction function for the crystal-level checks, whatever the user hands over.

The description and continuity checks compare predictions of whole crystals; they take an
``ecn.inference.Predictor``, a ``PropertyModel`` / ``EnsembleModel`` or bare ``ecn.nn`` model,
or any callable ``list[Structure] -> array``.

Why through ``Predictor``: a check should see what users get. A model is wrapped in the
``Predictor`` that ``ecn.load_model`` would give for it (:func:`model_predictor`), so its
predictions take the predictor's graph path (validation, the canonical step of the settings,
unit-graph records with what the model reads beyond them, batched expansion, the model's
dtype), not a second graph path that could drift from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pymatgen.core import Structure
from torch import nn

from ecn.graphs.settings import GraphSettings
from ecn.inference import EnsembleModel, Predictor, PropertyModel, TargetInfo

__all__ = ["model_predictor", "predict_fn"]


def model_predictor(model: nn.Module, settings: GraphSettings | None = None) -> Predictor:
    """The ``Predictor`` of `model` on `settings` (default: its own, resolved from its name).

    Args:
        model: a ``PropertyModel`` / ``EnsembleModel`` (used as it is), or a bare ``ecn.nn``
            model, wrapped in a ``PropertyModel`` with a neutral ``TargetInfo`` (one regression
            target per output, mean 0 and std 1: predictions are the raw outputs, exactly).
        settings: graph settings; None resolves the model's defaults
            (``ecn.nn.graph_settings.resolve_graph_settings``).

    The wrapper takes the model's dtype, so a float64 model predicts in float64 (the
    predictor casts the graph features to the model's dtype).

    Raises:
        ValueError: `model` has no ``ModelConfig`` (not an ``ecn.nn`` model): pass a callable.
    """
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError(
            f"{type(model).__name__} has no ecn.nn ModelConfig; pass an ecn Predictor, an "
            "ecn.nn / PropertyModel model, or a callable list[Structure] -> predictions"
        )
    if settings is None:
        from ecn.nn.graph_settings import resolve_graph_settings

        settings = resolve_graph_settings(config.name)
    if not isinstance(model, (PropertyModel, EnsembleModel)):
        dtype = next(model.parameters()).dtype
        names = tuple(f"output_{j}" for j in range(config.out_dim))
        model = PropertyModel(model, TargetInfo(names, ("",) * len(names))).to(dtype)
    return Predictor(model, settings)


def predict_fn(
    predictor_or_model: Any, settings: GraphSettings | None
) -> Callable[[list[Structure]], np.ndarray]:
    """A function ``structures -> (n,)`` first-target predictions for the supported inputs
    (a model goes through :func:`model_predictor`)."""
    if hasattr(predictor_or_model, "predict") and hasattr(predictor_or_model, "settings"):
        predictor = predictor_or_model
    elif isinstance(predictor_or_model, nn.Module):
        predictor = model_predictor(predictor_or_model, settings)
    elif callable(predictor_or_model):
        return lambda ss: np.asarray(predictor_or_model(ss), dtype=float).reshape(len(ss), -1)[:, 0]
    else:
        raise ValueError(
            "expected an ecn Predictor, a PropertyModel / ecn.nn model or a callable, got "
            f"{type(predictor_or_model).__name__}"
        )
    return lambda ss: np.asarray(predictor.predict(ss), dtype=float).reshape(len(ss), -1)[:, 0]
