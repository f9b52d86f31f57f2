"""Prediction: structures or CIF files -> graphs (the model's own settings) -> properties.

``ecn.load_model(path)`` returns a :class:`Predictor`; nothing here imports Lightning.

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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecn.data.validate import BadInput, parse_cif, structure_problem
from ecn.graphs import build_graph
from ecn.graphs.graph import CrystalGraph, collate
from ecn.graphs.settings import GraphSettings
from ecn.inference.inputs import InputItem, as_structure
from ecn.inference.model import PropertyModel
from ecn.inference.model_file import load_model_file
from ecn.symmetry import attach_orbit_maps

logger = logging.getLogger(__name__)

__all__ = ["Predictor", "load_model", "predict_graphs"]


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


@torch.no_grad()
def predict_graphs(
    model: PropertyModel,
    graphs: Sequence[CrystalGraph],
    batch_size: int = 256,
    average_translations: bool = False,
) -> np.ndarray:
    """(G, T) predictions in original units (node-level: (N_total, T)); one process, no padding."""
    model.eval()
    device = next(model.parameters()).device
    outs = []
    warned = False
    for start in range(0, len(graphs), batch_size):
        batch = collate(graphs[start : start + batch_size]).to(device)
        cols = cell_onehot_columns(batch) if average_translations else None
        if average_translations and cols is None and not warned:
            logger.warning("average_translations: graphs have no cell one-hot; nothing to average")
            warned = True
        if cols is None:
            outs.append(model.predict_batch(batch).double().cpu())
        else:
            preds = [
                model.predict_batch(translate_cells(batch, t, cols)).double() for t in range(8)
            ]
            outs.append(torch.stack(preds).mean(0).cpu())
    if not outs:
        return np.zeros((0, len(model.targets.names)))
    return torch.cat(outs).numpy()


class Predictor:
    """A trained model ready for inference (``ecn.load_model(path)``).

    Example:
        >>> model = ecn.load_model("runs/slambda")        # doctest: +SKIP
        >>> model.predict([structure])                     # (n,) for one target
    """

    def __init__(
        self, model: PropertyModel, settings: GraphSettings, meta: dict[str, Any] | None = None
    ) -> None:
        self.model = model.eval()
        self.settings = settings
        self.meta = dict(meta or {})
        self.targets: list[str] = list(model.targets.names)
        self.units: list[str] = list(model.targets.units)
        self.task: str = model.targets.task
        self.node_level: bool = model.node_level
        self.group: str = str(model.model.config.options.get("group", ""))

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Predictor:
        """From a run directory (its ``model.pt``), a model file, or a training checkpoint."""
        model, settings, meta = load_model_file(path)
        return cls(model.to(device), settings, meta)

    def graph(self, structure: Any, id: str = "") -> CrystalGraph:
        """Validated graph of one structure (pymatgen Structure or ASE Atoms); ValueError if bad."""
        structure = as_structure(structure)
        problem = structure_problem(structure)
        if problem is not None:
            raise ValueError(problem)
        g = build_graph(structure, self.settings, id=id)
        if self.group == "glambda":
            attach_orbit_maps([g])
        return g

    def predict(
        self, structures: Sequence[Any], average_translations: bool = False, batch_size: int = 256
    ) -> np.ndarray:
        """Predictions in original units: (n,) for one target, (n, T) for several.

        Classification returns P(class 1). Node-level models return one array per structure,
        (n_supercell_nodes, T), in supercell node order ``k = a * n_atoms + i``.
        """
        graphs = []
        for k, s in enumerate(structures):
            try:
                graphs.append(self.graph(s, id=str(k)))
            except ValueError as exc:
                raise ValueError(f"structure {k}: {exc}") from None
        if not graphs:
            return np.zeros((0,))
        pred = predict_graphs(self.model, graphs, batch_size, average_translations)
        if self.node_level:
            sizes = [g.num_nodes for g in graphs]
            return np.split(pred, np.cumsum(sizes)[:-1])  # type: ignore[return-value]
        return pred[:, 0] if pred.shape[1] == 1 else pred

    def predict_items(
        self, items: Sequence[InputItem], average_translations: bool = False, batch_size: int = 256
    ) -> list[dict[str, Any]]:
        """One output row per input item: id, source, prediction(s), error ('' when fine)."""
        if self.node_level:
            raise ValueError("ecn predict writes one row per structure; this model is node-level")
        graphs: list[CrystalGraph] = []
        where: list[int] = []
        errors: dict[int, str] = {}
        for k, it in enumerate(items):
            if it.error:
                errors[k] = it.error
                continue
            try:
                s = it.structure if it.structure is not None else parse_cif(it.cif or "")
                graphs.append(self.graph(s, id=it.id))
                where.append(k)
            except (BadInput, ValueError) as exc:
                errors[k] = str(exc)
            except Exception as exc:  # noqa: BLE001 - one bad file must not abort the batch
                errors[k] = f"{type(exc).__name__}: {exc}"
        pred = predict_graphs(self.model, graphs, batch_size, average_translations)
        by_item = {k: pred[j] for j, k in enumerate(where)}
        return [self._row(it, by_item.get(k), errors.get(k, "")) for k, it in enumerate(items)]

    def _row(self, item: InputItem, p: np.ndarray | None, error: str) -> dict[str, Any]:
        row: dict[str, Any] = {"id": item.id, "source": item.source}
        if self.task == "classification":
            row["probability"] = "" if p is None else f"{p[0]:.6g}"
            row["prediction"] = "" if p is None else int(p[0] >= 0.5)
        elif len(self.targets) == 1:
            row["prediction"] = "" if p is None else f"{p[0]:.8g}"
        else:
            for j, t in enumerate(self.targets):
                row[f"prediction_{t}"] = "" if p is None else f"{p[j]:.8g}"
        row["error"] = error
        return row


def load_model(path: str | Path, device: str = "cpu") -> Predictor:
    """Load a trained model (run directory, ``model.pt`` or training checkpoint) for prediction."""
    return Predictor.load(path, device)
