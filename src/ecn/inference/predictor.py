"""Prediction: structures or CIF files -> graphs (the model's own settings) -> properties.

``ecn.load_model(path)`` returns a :class:`Predictor`; nothing here imports Lightning.

The stages live by concept, and this module puts them together: input preparation (parse,
validate, canonical step, graph records; the per-input bounds) in :mod:`ecn.inference.prepare`,
description averaging (``average``: which descriptions of a crystal a prediction runs over) in
:mod:`ecn.inference.averaging`, the batched model passes over graphs (and translation averaging)
in :mod:`ecn.inference.forward`. Their public names are importable from here too, where callers
have always found them.

Ensembles (``ecn.inference.ensemble``): every pass runs all K members; a prediction is the
members' mean and ``std`` is the recalibrated spread of the members, sqrt((a x members' std)^2 +
b^2) with the file's factor a and floor b (each member's prediction averaged over the
descriptions first, when ``average`` is on), while ``spread`` stays the spread over
descriptions of the ensemble mean.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecn.graphs import expand
from ecn.graphs.canonical import canonical_structure
from ecn.graphs.graph import CrystalGraph
from ecn.graphs.record import UnitGraph
from ecn.graphs.settings import GraphSettings
from ecn.inference.averaging import (
    AVERAGE_MODES,
    Averaged,
    description_count,
    description_set,
    iter_description_units,
    iter_descriptions,
)
from ecn.inference.ensemble import EnsembleModel, calibrated_std, member_std
from ecn.inference.forward import (
    cell_onehot_columns,
    predict_graphs,
    predict_member_graphs,
    translate_cells,
)
from ecn.inference.inputs import InputItem, as_structure
from ecn.inference.model import PropertyModel
from ecn.inference.model_file import load_any_model_file
from ecn.inference.prepare import (
    MAX_PASSES,
    Limits,
    Prepared,
    averaged_input,
    graph_error,
    prepare_item,
    structure_units,
    validated_structure,
    with_group_inputs,
)

__all__ = [
    "AVERAGE_MODES",
    "MAX_PASSES",
    "Averaged",
    "Limits",
    "Predictor",
    "Prepared",
    "cell_onehot_columns",
    "description_count",
    "description_set",
    "iter_descriptions",
    "load_model",
    "predict_graphs",
    "predict_member_graphs",
    "prepare_item",
    "structure_units",
    "translate_cells",
]


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
                            chunk = with_group_inputs(
                                list(itertools.islice(units, batch_size)), self.group
                            )
                        except Exception as exc:  # noqa: BLE001 - one input must not abort all
                            errors[k] = graph_error(exc)
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
                st = validated_structure(s, self.limits)
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
        cell. `average`: see :data:`AVERAGE_MODES` and :mod:`ecn.inference.averaging`
        (graph-level models only).
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
