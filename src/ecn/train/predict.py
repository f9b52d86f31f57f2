"""Inference: load a checkpoint, turn structures/CIFs into graphs, predict in original units.

``ecn.load_model(path)`` returns a :class:`Predictor`. Checkpoints are read with
``torch.load(weights_only=True)``: they hold only tensors and plain Python values (model init
kwargs, graph settings, target names/statistics, ecn version), never pickled classes.

Translation averaging (``--average-translations``): with the cell one-hot node features on, a
prediction depends on which supercell cell is called the origin (explicit symmetry breaking,
paper §5). A translation by ``t in Z_2^3`` relabels cell ``a`` as ``a XOR t``; the option averages
the prediction over all 8 relabelings of the one-hot columns (edge colours depend on ``a XOR b``,
which every translation preserves, so only the one-hot changes).

Caveat, measured: on the exact 8-fold cover, ``a -> a XOR t`` is a graph automorphism that keeps
every colouring (sn, p1, glambda, slambda), so the relabeled graph is the original with its nodes
permuted and the pooled prediction is ALREADY invariant (differences 0 to float precision); the
average is then a no-op. What does change a prediction is another choice of unit cell origin that
makes some atoms wrap (e.g. shifting fractional coordinates by 0.6 along a): each wrapped atom's
copies get their cell labels XOR-ed individually, which changes the cell-pair colours as well as
the one-hot; the 8 global relabelings cannot undo that.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecn.graphs.graph import CrystalGraph, collate

logger = logging.getLogger(__name__)

__all__ = ["Predictor", "load_module", "predict_graphs", "read_inputs", "resolve_checkpoint"]


def resolve_checkpoint(path: str | Path) -> Path:
    """A run directory -> its ``best.ckpt`` (else ``last.ckpt``); a file is returned as is."""
    p = Path(path)
    if p.is_dir():
        for name in ("best.ckpt", "last.ckpt"):
            if (p / name).is_file():
                return p / name
        raise ValueError(f"no best.ckpt or last.ckpt in run directory {p}")
    if not p.is_file():
        raise ValueError(f"checkpoint not found: {p}")
    return p


def load_module(path: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the trained ``ECNModule`` from a checkpoint (weights_only load), in eval mode."""
    from ecn.train.module import ECNModule

    ckpt = torch.load(resolve_checkpoint(path), map_location="cpu", weights_only=True)
    if "hyper_parameters" not in ckpt or "state_dict" not in ckpt:
        raise ValueError(f"{path} is not an ecn training checkpoint")
    module = ECNModule(**ckpt["hyper_parameters"])
    module.load_state_dict(ckpt["state_dict"])
    return module.to(device).eval()


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
    from dataclasses import replace

    x = graph.x.clone()
    x[:, cols] = torch.nn.functional.one_hot(graph.cell.long() ^ t, 8).to(x.dtype)
    return replace(graph, x=x)


@torch.no_grad()
def predict_graphs(
    module: Any,
    graphs: Sequence[CrystalGraph],
    batch_size: int = 256,
    average_translations: bool = False,
) -> np.ndarray:
    """(G, T) predictions in original units (node-level: (N_total, T)); one process, no padding."""
    module.eval()
    device = next(module.parameters()).device
    outs = []
    warned = False
    for start in range(0, len(graphs), batch_size):
        batch = collate(graphs[start : start + batch_size]).to(device)
        cols = cell_onehot_columns(batch) if average_translations else None
        if average_translations and cols is None and not warned:
            logger.warning(
                "--average-translations: graphs have no cell one-hot; nothing to average"
            )
            warned = True
        if cols is None:
            outs.append(module.predict_batch(batch).double().cpu())
        else:
            preds = [
                module.predict_batch(translate_cells(batch, t, cols)).double() for t in range(8)
            ]
            outs.append(torch.stack(preds).mean(0).cpu())
    return torch.cat(outs).numpy() if outs else np.zeros((0, len(module.hparams["targets"])))


@dataclass
class InputItem:
    """One input to ``ecn predict``: an id, where it came from, and CIF text or a structure."""

    id: str
    source: str
    cif: str | None = None
    structure: Any = None
    error: str | None = None


def read_inputs(paths: Iterable[str | Path]) -> list[InputItem]:
    """CIF files, folders of CIFs (sorted), or CSV files with a ``cif`` column (+ ``id`` or
    ``material_id``). Unreadable inputs become items with an error, never an exception."""
    items: list[InputItem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".cif")
            if not files:
                items.append(InputItem(p.name, str(p), error="folder contains no .cif files"))
            for f in files:
                items.append(_read_cif_file(f))
        elif p.suffix.lower() == ".csv" and p.is_file():
            items.extend(_read_csv(p))
        elif p.is_file():
            items.append(_read_cif_file(p))
        else:
            items.append(InputItem(p.stem or str(p), str(p), error="file not found"))
    return items


def _read_cif_file(path: Path) -> InputItem:
    try:
        return InputItem(path.stem, str(path), cif=path.read_text(errors="replace"))
    except OSError as exc:
        return InputItem(path.stem, str(path), error=f"cannot read file: {exc}")


def _read_csv(path: Path) -> list[InputItem]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        if "cif" not in cols:
            return [InputItem(path.stem, str(path), error="CSV has no 'cif' column")]
        id_col = next((c for c in ("id", "material_id") if c in cols), None)
        return [
            InputItem(
                str(row[id_col]) if id_col else f"{path.stem}:{k}",
                f"{path}:{k + 2}",
                cif=row["cif"],
            )
            for k, row in enumerate(reader)
        ]


class Predictor:
    """A trained model ready for inference (``ecn.load_model(path)``).

    Example:
        >>> model = ecn.load_model("runs/slambda")        # doctest: +SKIP
        >>> model.predict([structure])                     # (n,) for one target
    """

    def __init__(self, module: Any, path: str = "") -> None:
        from ecn.graphs import GraphSettings

        self.module = module
        self.path = path
        hp = module.hparams
        self.targets: list[str] = list(hp["targets"])
        self.task: str = hp["task"]
        self.units: list[str] = list(hp.get("units") or [""] * len(self.targets))
        self.settings = GraphSettings(**(hp.get("graph_settings") or {}))
        self.group: str = str(hp["model_kwargs"].get("group", ""))
        self.node_level: bool = module.node_level

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Predictor:
        """From a run directory (uses best.ckpt) or a checkpoint file."""
        return cls(load_module(path, device), str(path))

    def graph(self, structure: Any, id: str = "") -> CrystalGraph:
        """Validated graph of one structure (pymatgen Structure or ASE Atoms); ValueError if bad."""
        from ecn.data.validate import structure_problem
        from ecn.graphs import build_graph

        structure = _as_structure(structure)
        problem = structure_problem(structure)
        if problem is not None:
            raise ValueError(problem)
        g = build_graph(structure, self.settings, id=id)
        if self.group == "glambda":
            from ecn.train.data import fill_orbit_maps

            fill_orbit_maps([g])
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
        pred = predict_graphs(self.module, graphs, batch_size, average_translations)
        if self.node_level:
            sizes = [g.num_nodes for g in graphs]
            return np.split(pred, np.cumsum(sizes)[:-1])  # type: ignore[return-value]
        return pred[:, 0] if pred.shape[1] == 1 else pred

    def predict_items(
        self, items: Sequence[InputItem], average_translations: bool = False, batch_size: int = 256
    ) -> list[dict[str, Any]]:
        """One output row per input item: id, source, prediction(s), error ('' when fine)."""
        from ecn.data.validate import BadInput, parse_cif

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
        pred = (
            predict_graphs(self.module, graphs, batch_size, average_translations)
            if graphs
            else np.zeros((0, len(self.targets)))
        )
        by_item = {k: pred[j] for j, k in enumerate(where)}
        rows = []
        for k, it in enumerate(items):
            row: dict[str, Any] = {"id": it.id, "source": it.source}
            p = by_item.get(k)
            if self.task == "classification":
                row["probability"] = "" if p is None else f"{p[0]:.6g}"
                row["prediction"] = "" if p is None else int(p[0] >= 0.5)
            elif len(self.targets) == 1:
                row["prediction"] = "" if p is None else f"{p[0]:.8g}"
            else:
                for j, t in enumerate(self.targets):
                    row[f"prediction_{t}"] = "" if p is None else f"{p[j]:.8g}"
            row["error"] = errors.get(k, "")
            rows.append(row)
        return rows


def _as_structure(obj: Any) -> Any:
    """pymatgen Structure as is; ASE Atoms via pymatgen's AseAtomsAdaptor."""
    from pymatgen.core import Structure

    if isinstance(obj, Structure):
        return obj
    if type(obj).__name__ == "Atoms" and type(obj).__module__.startswith("ase"):
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_structure(obj)
    raise ValueError(f"expected a pymatgen Structure or ase.Atoms, got {type(obj).__name__}")


def write_rows(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write prediction rows as CSV (columns from the first row)."""
    if not rows:
        raise ValueError("nothing to write")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        # one line per input: multi-line parser messages would make the CSV hard to read
        w.writerows(
            {
                k: " ".join(v.split()) if k == "error" and isinstance(v, str) else v
                for k, v in r.items()
            }
            for r in rows
        )
