"""Model passes over built graphs or stored records, a batch at a time, and translation
averaging.

Why apart from :class:`~ecn.inference.predictor.Predictor`: these take graphs, not structures, so
the training layer's evaluation (``ecn.train.run``) and the benchmarks run a model the way ``ecn
predict`` does, without its input handling.

Translation averaging (``average_translations``): with the cell one-hot node features on, a
prediction could depend on which supercell cell is called the origin. A translation by
``t in Z_2^3`` relabels cell ``a`` as ``a XOR t``; the option averages over all 8 relabelings of
the one-hot columns. Measured caveat: on the exact 8-fold cover ``a -> a XOR t`` is a graph
automorphism that keeps every colouring, so the pooled prediction is already invariant and the
average is a no-op; what does change a prediction is another unit-cell origin that makes atoms
wrap, which this average cannot undo (issue 14).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from ecn.graphs import GraphStore, expand
from ecn.graphs.graph import CrystalGraph, collate
from ecn.graphs.record import UnitGraph
from ecn.graphs.settings import GraphSettings
from ecn.inference.ensemble import EnsembleModel
from ecn.inference.model import PropertyModel

logger = logging.getLogger(__name__)

__all__ = [
    "cell_onehot_columns",
    "in_model_dtype",
    "predict_graphs",
    "predict_member_graphs",
    "translate_cells",
]


def cell_onehot_columns(graph: CrystalGraph) -> slice | None:
    """Columns of ``x`` holding the one-hot of the cell index, or None if absent.

    Found from the data (8 consecutive columns equal to ``one_hot(cell, 8)`` on every node) so it
    does not depend on the feature layout chosen by the graph builder.
    """
    if not graph.supercell or graph.x.shape[1] < 8:
        return None
    target = torch.nn.functional.one_hot(graph.cell.long(), 8).to(graph.x.dtype)
    hits = [j for j in range(graph.x.shape[1] - 7) if torch.equal(graph.x[:, j : j + 8], target)]
    return slice(hits[-1], hits[-1] + 8) if hits else None


def translate_cells(graph: CrystalGraph, t: int, cols: slice) -> CrystalGraph:
    """Copy of ``graph`` whose cell one-hot reads ``a XOR t`` (origin moved by translation t)."""
    x = graph.x.clone()
    x[:, cols] = torch.nn.functional.one_hot(graph.cell.long() ^ t, 8).to(x.dtype)
    return replace(graph, x=x)


def in_model_dtype(graph: CrystalGraph, dtype: torch.dtype) -> CrystalGraph:
    """`graph` with its feature tensors (``x``, ``edge_attr``) in the model's `dtype`.

    Why: graphs are built in float32 (the dtype training uses), and a float64 model (a model
    file saved in float64, the tight checks of ``ecn.testing``) would otherwise fail on the first
    matrix product; for a float32 model this is a no-op.
    """
    if graph.x.dtype == dtype and graph.edge_attr.dtype == dtype:
        return graph
    return replace(graph, x=graph.x.to(dtype), edge_attr=graph.edge_attr.to(dtype))


@torch.no_grad()
def predict_member_graphs(
    model: PropertyModel | EnsembleModel,
    graphs: Sequence[CrystalGraph] | Sequence[UnitGraph] | GraphStore,
    batch_size: int = 256,
    average_translations: bool = False,
    settings: GraphSettings | None = None,
) -> np.ndarray:
    """(K, G, T) predictions of each member in original units (K = 1 for one model;
    node-level: (K, N_total, T)); one process, no padding.

    `graphs` are expanded graphs, or stored records (a `GraphStore` or a list of `UnitGraph`),
    which are expanded batch by batch with `settings`.
    """
    model.eval()
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    outs = []
    warned = False
    stored = isinstance(graphs, GraphStore) or (
        len(graphs) > 0 and isinstance(graphs[0], UnitGraph)
    )
    if stored and settings is None:
        raise ValueError("predicting from graph records needs their graph settings")
    for start in range(0, len(graphs), batch_size):
        if stored:
            chunk = [graphs[k] for k in range(start, min(start + batch_size, len(graphs)))]
            batch = expand(chunk, settings, device)  # type: ignore[arg-type]
        else:
            batch = collate(graphs[start : start + batch_size]).to(device)  # type: ignore[arg-type]
        batch = in_model_dtype(batch, dtype)
        cols = cell_onehot_columns(batch) if average_translations else None
        if average_translations and cols is None and not warned:
            logger.warning("average_translations: graphs have no cell one-hot; nothing to average")
            warned = True
        if cols is None:
            outs.append(model.predict_members(batch).double().cpu())
        else:
            preds = [
                model.predict_members(translate_cells(batch, t, cols)).double() for t in range(8)
            ]
            outs.append(torch.stack(preds).mean(0).cpu())
    if not outs:
        return np.zeros((model.n_members, 0, len(model.targets.names)))
    return torch.cat(outs, dim=1).numpy()


def predict_graphs(
    model: PropertyModel | EnsembleModel,
    graphs: Sequence[CrystalGraph] | Sequence[UnitGraph] | GraphStore,
    batch_size: int = 256,
    average_translations: bool = False,
    settings: GraphSettings | None = None,
) -> np.ndarray:
    """(G, T) predictions in original units (node-level: (N_total, T)), an ensemble's the mean
    of its members (:func:`predict_member_graphs`)."""
    out = predict_member_graphs(model, graphs, batch_size, average_translations, settings)
    return out[0] if out.shape[0] == 1 else out.mean(0)
