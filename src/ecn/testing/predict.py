"""One prediction function for the crystal-level checks, whatever the user hands over.

The description and continuity checks compare predictions of whole crystals; they take an
``ecn.inference.Predictor``, a ``PropertyModel`` or bare ``ecn.nn`` model (graphs built with
its settings and what it reads beyond them, ``ecn.nn.inputs.with_model_inputs``), or any
callable ``list[Structure] -> array``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from pymatgen.core import Structure
from torch import nn

from ecn.graphs.settings import GraphSettings

__all__ = ["predict_fn"]


def predict_fn(
    predictor_or_model: Any, settings: GraphSettings | None
) -> Callable[[list[Structure]], np.ndarray]:
    """A function ``structures -> (n,)`` first-target predictions for the supported inputs."""
    if hasattr(predictor_or_model, "predict") and hasattr(predictor_or_model, "settings"):
        return lambda ss: np.asarray(predictor_or_model.predict(ss), dtype=float).reshape(
            len(ss), -1
        )[:, 0]
    if isinstance(predictor_or_model, nn.Module):
        from ecn.graphs.build import build_graph
        from ecn.graphs.graph import collate
        from ecn.nn.inputs import with_model_inputs

        model = predictor_or_model
        inner = getattr(model, "model", model)
        config = getattr(inner, "config", None)
        if settings is None:
            if config is None:
                raise ValueError("pass settings= for a model without a ModelConfig")
            from ecn.nn.graph_settings import resolve_graph_settings

            settings = resolve_graph_settings(config.name)
        dtype = next(model.parameters()).dtype

        @torch.no_grad()
        def run(ss: list[Structure]) -> np.ndarray:
            graphs = [build_graph(s, settings, id=str(k)) for k, s in enumerate(ss)]
            if config is not None:
                graphs = with_model_inputs(graphs, config)
            b = collate(graphs)
            b = replace(b, x=b.x.to(dtype), edge_attr=b.edge_attr.to(dtype))
            out = model.predict_batch(b) if hasattr(model, "predict_batch") else model(b)
            return out.double().reshape(len(ss), -1)[:, 0].cpu().numpy()

        model.eval()
        return run
    if callable(predictor_or_model):
        return lambda ss: np.asarray(predictor_or_model(ss), dtype=float).reshape(len(ss), -1)[:, 0]
    raise ValueError(
        "expected an ecn Predictor, a PropertyModel / ecn.nn model or a callable, got "
        f"{type(predictor_or_model).__name__}"
    )
