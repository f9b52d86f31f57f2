"""``ecn check invariance``: how much a trained model's prediction moves across equivalent
descriptions of the user's own crystals (issue 14).

:func:`check_invariance` returns an :class:`InvarianceReport` (one row per crystal and
description, a summary per description family); the CLI only prints it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecn.graphs.descriptions import DESCRIPTION_KINDS, equivalent_descriptions
from ecn.inference.predictor import Predictor

__all__ = ["InvarianceReport", "check_invariance"]


@dataclass
class InvarianceReport:
    """Prediction spread over equivalent descriptions.

    Attributes:
        rows: one dict per (crystal, description): ``id``, ``kind``, ``description``,
            ``prediction``, ``change`` (absolute change from the crystal as given, first target).
        errors: ``{id: reason}`` for crystals that could not be predicted.
        canonical, average, passes: the model's canonical step, the averaging mode, and model
            passes per prediction (mean over crystals).
        unit: unit of the first target.
        seconds: wall time of the check.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    canonical: str = ""
    average: str = "none"
    passes: float = 1.0
    unit: str = ""
    seconds: float = 0.0

    def by_kind(self) -> dict[str, dict[str, float]]:
        """``{kind: {"mean": ..., "max": ..., "n": ...}}`` of the changes, in family order."""
        out: dict[str, dict[str, float]] = {}
        for kind in DESCRIPTION_KINDS:
            ch = [r["change"] for r in self.rows if r["kind"] == kind]
            if ch:
                out[kind] = {"mean": float(np.mean(ch)), "max": float(np.max(ch)), "n": len(ch)}
        return out

    @property
    def max_change(self) -> float:
        """Largest change over every crystal and description (0 if none)."""
        return max((r["change"] for r in self.rows if r["kind"] != "identity"), default=0.0)

    def format(self) -> str:
        """A plain-text table (what the CLI prints)."""
        unit = f" ({self.unit})" if self.unit else ""
        lines = [
            f"canonical={self.canonical} average={self.average} passes/prediction="
            f"{self.passes:.1f}; {len({r['id'] for r in self.rows})} crystal(s), "
            f"{self.seconds:.1f} s",
            f"{'description change':<24} {'mean |change|' + unit:>24} {'max |change|' + unit:>24}",
        ]
        for kind, v in self.by_kind().items():
            lines.append(f"{kind:<24} {v['mean']:>24.3g} {v['max']:>24.3g}")
        lines += [f"{k}: {v}" for k, v in self.errors.items()]
        return "\n".join(lines)


def check_invariance(
    predictor: Predictor,
    structures: Sequence[tuple[str, Any]],
    average: str = "none",
    seed: int = 0,
    kinds: Sequence[str] | None = None,
) -> InvarianceReport:
    """Predict every crystal in every description of ``ecn.graphs.descriptions``.

    Args:
        predictor: a loaded model (``ecn.load_model``).
        structures: ``(id, pymatgen Structure or ase.Atoms)`` pairs.
        average: ``Predictor.predict`` averaging mode (``none``, ``origins``, ``full``).
        seed: seed of the random descriptions (order, rotation, shift).
        kinds: description families (default all of ``DESCRIPTION_KINDS``).

    Returns:
        The report; a crystal that cannot be predicted becomes an entry of ``errors``.
    """
    from ecn.inference.inputs import as_structure

    t0 = time.perf_counter()
    rep = InvarianceReport(
        canonical=predictor.settings.canonical,
        average=average,
        unit=predictor.units[0] if predictor.units else "",
    )
    passes = []
    for sid, obj in structures:
        try:
            s = as_structure(obj)
            descs = equivalent_descriptions(s, seed=seed, kinds=kinds)
            pred = np.asarray(predictor.predict([d.structure for d in descs], average=average))
            passes.append(predictor.passes(s, average))
        except ValueError as exc:
            rep.errors[sid] = str(exc)
            continue
        pred = pred.reshape(len(descs), -1)[:, 0]
        for d, p in zip(descs, pred, strict=True):
            rep.rows.append(
                {
                    "id": sid,
                    "kind": d.kind,
                    "description": d.name,
                    "prediction": float(p),
                    "change": float(abs(p - pred[0])),
                }
            )
    rep.passes = float(np.mean(passes)) if passes else 0.0
    rep.seconds = time.perf_counter() - t0
    return rep
