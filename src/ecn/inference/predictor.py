"""Prediction: structures or CIF files -> graphs (the model's own settings) -> properties.

``ecn.load_model(path)`` returns a :class:`Predictor`; nothing here imports Lightning.

Translation averaging (``average_translations``): with the cell one-hot node features on, a
prediction could depend on which supercell cell is called the origin. A translation by
``t in Z_2^3`` relabels cell ``a`` as ``a XOR t``; the option averages over all 8 relabelings of
the one-hot columns. Measured caveat: on the exact 8-fold cover ``a -> a XOR t`` is a graph
automorphism that keeps every colouring, so the pooled prediction is already invariant and the
average is a no-op; what does change a prediction is another unit-cell origin that makes atoms
wrap, which this average cannot undo (issue 14).

Description averaging (``average``, issue 14 item 2): after the canonical step
(``ecn.graphs.canonical``) a prediction can still depend on which of the space group's
equivalent origins and bases spglib picked. ``average="origins"`` predicts the canonical cell
with the origin on each of its atoms in turn and returns the mean: exactly origin-invariant,
``n_atoms`` passes per prediction. ``average="full"`` also runs every lattice point-group image
of the basis (``n_atoms x |holohedry|`` passes, up to 48 x n_atoms): invariant to the basis
choice too. ``"none"`` (default): one pass. A model trained on canonical inputs has only seen
spglib's origin; averaging then also mixes in origins it never saw (measured in
``results/invariance/``).

Ensembles (``ecn.inference.ensemble``): every pass runs all K members; a prediction is the
members' mean and ``std`` is the recalibrated spread of the members, sqrt((a x members' std)^2 +
b^2) with the file's factor a and floor b (each member's prediction averaged over the
descriptions first, when ``average`` is on), while ``spread`` stays the spread over
descriptions of the ensemble mean.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecn.data.validate import MAX_ATOMS, BadInput, parse_cif, shorten, structure_problem
from ecn.graphs import GraphStore, expand
from ecn.graphs.build import unit_graph
from ecn.graphs.canonical import (
    basis_descriptions,
    canonical_structure,
    lattice_point_group,
    origin_description,
)
from ecn.graphs.graph import CrystalGraph, collate
from ecn.graphs.record import UnitGraph
from ecn.graphs.settings import GraphSettings
from ecn.inference.ensemble import EnsembleModel, calibrated_std, member_std
from ecn.inference.inputs import InputItem, as_structure
from ecn.inference.model import PropertyModel
from ecn.inference.model_file import load_any_model_file
from ecn.nn.inputs import with_model_inputs

logger = logging.getLogger(__name__)

__all__ = [
    "AVERAGE_MODES",
    "MAX_PASSES",
    "Averaged",
    "Limits",
    "Predictor",
    "Prepared",
    "description_count",
    "description_set",
    "iter_descriptions",
    "load_model",
    "predict_graphs",
    "predict_member_graphs",
    "prepare_item",
    "structure_units",
]

#: ``Predictor.predict(average=...)`` values: passes per prediction 1, n_atoms, n_atoms x |P|.
AVERAGE_MODES = ("none", "origins", "full")


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


def iter_description_units(
    averaged: Averaged, settings: GraphSettings, id: str = ""
) -> Iterator[UnitGraph]:
    """Unit-graph records of the descriptions of `averaged`, one at a time (their structures
    are already canonical: built with ``canonical="off"``)."""
    raw = replace(settings, canonical="off")
    for d in iter_descriptions(averaged.canonical, settings, averaged.average):
        yield unit_graph(d, raw, id=id)


def _with_orbit_maps(units: list[UnitGraph], group: str) -> list[UnitGraph]:
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
    structure = _validated(structure, limits)
    if average == "none":
        units = [unit_graph(structure, settings, id=id)]
    else:
        av = averaged_input(structure, settings, average, limits)
        units = list(iter_description_units(av, settings, id))
    return _with_orbit_maps(units, group)


def _validated(structure: Any, limits: Limits | None) -> Any:
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
            None, averaged=averaged_input(_validated(s, limits), settings, average, limits)
        )
    except (BadInput, ValueError) as exc:
        return Prepared(None, shorten(str(exc)))
    except Exception as exc:  # noqa: BLE001 - one bad file must not abort the batch
        logger.debug("input %s failed", item.id, exc_info=True)
        return Prepared(None, _graph_error(exc))


def _graph_error(exc: Exception) -> str:
    """The error text of an input whose graph could not be built."""
    if isinstance(exc, (BadInput, ValueError)):
        return shorten(str(exc))
    return (
        f"internal error while building the graph ({type(exc).__name__}); please report this input"
    )


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
    device = next(model.parameters()).device
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


class Predictor:
    """A trained model ready for inference (``ecn.load_model(path)``).

    Example:
        >>> model = ecn.load_model("runs/slambda")        # doctest: +SKIP
        >>> model.predict([structure])                     # (n,) for one target
    """

    def __init__(
        self,
        model: PropertyModel | EnsembleModel,
        settings: GraphSettings,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.model = model.eval()
        self.settings = settings
        self.meta = dict(meta or {})
        self.targets: list[str] = list(model.targets.names)
        self.units: list[str] = list(model.targets.units)
        self.task: str = model.targets.task
        self.node_level: bool = model.node_level
        self.group: str = str(model.config.options.get("group", ""))
        #: members of an ensemble (1: one model)
        self.n_members: int = model.n_members
        #: rows carry ``std`` (``ecn predict --std/--no-std``); on by default for an ensemble
        self.with_std: bool = self.n_members > 1
        #: per-input bounds (``ecn predict --max-atoms / --max-passes``)
        self.limits = Limits()

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Predictor:
        """From a run directory (its ``model.pt``), a model or ensemble file, or a training
        checkpoint."""
        model, settings, meta = load_any_model_file(path)
        return cls(model.to(device), settings, meta)

    @property
    def std_scale(self) -> np.ndarray:
        """(T,) factor a on the members' std fitted on validation (ones: not recalibrated)."""
        scale = getattr(self.model, "std_scale", None)
        return np.ones(len(self.targets)) if scale is None else scale.cpu().numpy()

    @property
    def std_floor(self) -> np.ndarray:
        """(T,) floor b added in quadrature, fitted on validation (zeros: none, as in an
        ensemble file written before the floor existed)."""
        floor = getattr(self.model, "std_floor", None)
        return np.zeros(len(self.targets)) if floor is None else floor.cpu().numpy()

    def graph(self, structure: Any, id: str = "") -> CrystalGraph:
        """Validated graph of one structure (pymatgen Structure or ASE Atoms); ValueError if bad.

        The graph is that of the canonical description (``settings.canonical``).
        """
        return self.graphs(structure, id=id)[0]

    def graphs(self, structure: Any, id: str = "", average: str = "none") -> list[CrystalGraph]:
        """Validated graphs of the descriptions of one structure that `average` runs over."""
        units = structure_units(structure, self.settings, id, average, self.group, self.limits)
        return [expand([u], self.settings) for u in units]

    def passes(self, structure: Any, average: str = "none") -> int:
        """Model passes one prediction of `structure` costs under `average`."""
        if average == "none":
            return 1
        st = self.settings
        canon = canonical_structure(as_structure(structure), st.canonical, st.symprec)
        return description_count(canon, st, average)

    def _mean_and_spread(
        self,
        prepared: Sequence[Prepared],
        batch_size: int,
        average_translations: bool,
    ) -> tuple[dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]], dict[int, str]]:
        """{index: ((T,) mean, (T,) spread, (T,) std)} of every usable prepared item, and
        {index: error} for averaged items one of whose descriptions failed.

        mean: over the members and the item's graphs; spread: over its graphs of the members'
        mean (0 for one graph); std: the members' std of their graph-averaged predictions,
        recalibrated with :attr:`std_scale` and :attr:`std_floor` (0 for one model). Graphs go
        to the model `batch_size` at a time, the descriptions of an `Averaged` item built as
        they are needed: memory is bounded by the batch, not by the items or the passes."""
        preds: dict[int, list[np.ndarray]] = {}
        errors: dict[int, str] = {}
        n_t = len(self.targets)
        n_k = self.n_members

        def stream() -> Iterator[tuple[int, UnitGraph]]:
            for k, p in enumerate(prepared):
                if p.units is not None:
                    yield from ((k, u) for u in p.units)
                elif p.averaged is not None:
                    units = iter_description_units(p.averaged, self.settings)
                    while True:
                        try:
                            chunk = _with_orbit_maps(
                                list(itertools.islice(units, batch_size)), self.group
                            )
                        except Exception as exc:  # noqa: BLE001 - one input must not abort all
                            errors[k] = _graph_error(exc)
                            break
                        if not chunk:
                            break
                        yield from ((k, u) for u in chunk)

        pairs = stream()
        while batch := list(itertools.islice(pairs, batch_size)):
            units = [u for _, u in batch]
            out = predict_member_graphs(
                self.model, units, batch_size, average_translations, self.settings
            ).reshape(n_k, len(units), n_t)
            for j, (k, _) in enumerate(batch):
                preds.setdefault(k, []).append(out[:, j])
        res = {k: self._stats(np.stack(v)) for k, v in preds.items() if k not in errors}
        return res, errors

    def _stats(self, passes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, spread, std), each (T,), of one item's (P, K, T) predictions (P graphs)."""
        if passes.shape[1] == 1:  # one model: exactly the numbers it always gave
            flat = passes[:, 0]
            return np.mean(flat, axis=0), np.std(flat, axis=0), np.zeros(flat.shape[1])
        ens = passes.mean(axis=1)  # (P, T) ensemble mean of each graph
        members = passes.mean(axis=0)  # (K, T) each member averaged over the graphs
        std = calibrated_std(member_std(members), self.std_scale, self.std_floor)
        return ens.mean(axis=0), ens.std(axis=0), std

    def _check_std(self) -> None:
        if self.with_std and self.n_members < 2:
            raise ValueError(
                "a std needs an ensemble (ecn models package RUN1 RUN2 ... --name NAME); "
                "this model file holds one model"
            )

    def predict_stats(
        self,
        structures: Sequence[Any],
        average_translations: bool = False,
        batch_size: int = 256,
        average: str = "none",
    ) -> dict[str, np.ndarray]:
        """``mean``, ``std`` and ``spread``, each (n, T), of graph-level predictions (see
        :meth:`_mean_and_spread`; ``std`` zeros for one model, ``spread`` zeros without
        `average`). ValueError naming the first unusable structure."""
        if average not in AVERAGE_MODES:
            raise ValueError(f"average must be one of {AVERAGE_MODES}, got {average!r}")
        if self.node_level:
            raise ValueError("predict_stats needs a graph-level model")
        prepared = []
        for k, s in enumerate(structures):
            try:
                st = _validated(s, self.limits)
                if average == "none":
                    units = structure_units(st, self.settings, str(k), "none", self.group)
                    prepared.append(Prepared(units))
                else:
                    av = averaged_input(st, self.settings, average, self.limits)
                    prepared.append(Prepared(None, averaged=av))
            except ValueError as exc:
                raise ValueError(f"structure {k}: {exc}") from None
        res, errors = self._mean_and_spread(prepared, batch_size, average_translations)
        if errors:
            k = min(errors)
            raise ValueError(f"structure {k}: {errors[k]}")
        n_t = len(self.targets)
        return {
            name: np.stack([res[k][j] for k in range(len(prepared))])
            if prepared
            else np.zeros((0, n_t))
            for j, name in enumerate(("mean", "spread", "std"))
        }

    def predict(
        self,
        structures: Sequence[Any],
        average_translations: bool = False,
        batch_size: int = 256,
        average: str = "none",
        return_std: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predictions in original units: (n,) for one target, (n, T) for several; an
        ensemble's are the members' mean.

        With `return_std` (ensembles only) a pair (mean, std) of that shape: std is the
        members' spread recalibrated as fitted on validation, sqrt((a x spread)^2 + b^2)
        (:attr:`std_scale`, :attr:`std_floor`; how: ``meta["calibration"]``).
        Classification returns P(class 1). Node-level models return one array per structure,
        (n_supercell_nodes, T), in supercell node order ``k = a * n_atoms + i`` of the canonical
        cell. `average`: see :data:`AVERAGE_MODES` and the module docstring (graph-level
        models only).
        """
        if average not in AVERAGE_MODES:
            raise ValueError(f"average must be one of {AVERAGE_MODES}, got {average!r}")
        if average != "none" and self.node_level:
            raise ValueError("description averaging needs a graph-level model")
        if return_std and (self.n_members < 2 or self.node_level):
            raise ValueError(
                "return_std needs a graph-level ensemble (ecn models package RUN1 RUN2 ...); "
                f"this model file holds {self.n_members} model(s)"
            )
        if not structures:
            return (np.zeros((0,)), np.zeros((0,))) if return_std else np.zeros((0,))
        if self.node_level:
            graphs = []
            for k, s in enumerate(structures):
                try:
                    graphs.append(self.graph(s, id=str(k)))
                except ValueError as exc:
                    raise ValueError(f"structure {k}: {exc}") from None
            pred = predict_graphs(self.model, graphs, batch_size, average_translations)
            sizes = [g.num_nodes for g in graphs]
            return np.split(pred, np.cumsum(sizes)[:-1])  # type: ignore[return-value]
        stats = self.predict_stats(structures, average_translations, batch_size, average)
        pred, std = stats["mean"], stats["std"]
        if pred.shape[1] == 1:
            pred, std = pred[:, 0], std[:, 0]
        return (pred, std) if return_std else pred

    def predict_items(
        self,
        items: Sequence[InputItem],
        average_translations: bool = False,
        batch_size: int = 256,
        average: str = "none",
    ) -> list[dict[str, Any]]:
        """One output row per input item: id, source, prediction(s), error ('' when fine).

        With ``average`` other than ``none`` each row also has ``spread`` (one per target): the
        standard deviation of the prediction over the averaged descriptions, in target units.
        It says how much the answer depends on how the crystal is written down (origin,
        basis) - cheap, and a lower bound on the model's uncertainty, not a calibrated error bar.
        With :attr:`with_std` (an ensemble's default) each row has ``std`` (one per target)
        after the predictions: the members' recalibrated standard deviation.
        """
        self.check_options(average)
        prepared = [
            prepare_item(it, self.settings, average, self.group, self.limits) for it in items
        ]
        return self.predict_prepared(items, prepared, average_translations, batch_size, average)

    def check_options(self, average: str = "none") -> None:
        """ValueError if this model cannot write ``ecn predict`` rows with `average`."""
        if self.node_level:
            raise ValueError("ecn predict writes one row per structure; this model is node-level")
        if average not in AVERAGE_MODES:
            raise ValueError(f"average must be one of {AVERAGE_MODES}, got {average!r}")
        self._check_std()

    def predict_prepared(
        self,
        items: Sequence[InputItem],
        prepared: Sequence[Prepared],
        average_translations: bool = False,
        batch_size: int = 256,
        average: str = "none",
    ) -> list[dict[str, Any]]:
        """The rows of :meth:`predict_items` from items already through :func:`prepare_item`
        (in this process or in workers): the model's half, batched forward passes."""
        res, errors = self._mean_and_spread(prepared, batch_size, average_translations)
        with_spread = average != "none"
        rows = []
        for k, it in enumerate(items):
            mean, spread, std = res.get(k, (None, None, None))
            error = errors.get(k, prepared[k].error)
            rows.append(self._row(it, mean, error, spread, with_spread, std))
        return rows

    def columns(self, average: str = "none") -> list[str]:
        """The columns of :meth:`predict_items` rows (the output CSV's header)."""
        return list(self._row(InputItem("", ""), None, "", None, average != "none"))

    def _row(
        self,
        item: InputItem,
        p: np.ndarray | None,
        error: str,
        spread: np.ndarray | None = None,
        with_spread: bool = False,
        std: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """One output row: id, source, prediction(s), [std(s)], [spread(s)], error."""
        row: dict[str, Any] = {"id": item.id, "source": item.source}
        if self.task == "classification":
            row["probability"] = "" if p is None else f"{p[0]:.6g}"
            row["prediction"] = "" if p is None else int(p[0] >= 0.5)
        elif len(self.targets) == 1:
            row["prediction"] = "" if p is None else f"{p[0]:.8g}"
        else:
            for j, t in enumerate(self.targets):
                row[f"prediction_{t}"] = "" if p is None else f"{p[j]:.8g}"
        if self.with_std:
            names = ["std"] if len(self.targets) == 1 else [f"std_{t}" for t in self.targets]
            for j, name in enumerate(names):
                row[name] = "" if std is None else f"{std[j]:.4g}"
        if with_spread:
            names = ["spread"] if len(self.targets) == 1 else [f"spread_{t}" for t in self.targets]
            for j, name in enumerate(names):
                row[name] = "" if spread is None else f"{spread[j]:.4g}"
        row["error"] = error
        return row


def load_model(path: str | Path, device: str = "cpu") -> Predictor:
    """Load a trained model (run directory, ``model.pt``, ensemble file, pretrained name or
    training checkpoint) for prediction."""
    return Predictor.load(path, device)
