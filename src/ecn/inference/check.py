"""``ecn check invariance`` / ``ecn check continuity``: how much a trained model's prediction
moves across equivalent descriptions of the user's own crystals (issue 14), and under small
perturbations of them (issue 26).

:func:`check_invariance` returns an :class:`InvarianceReport` (one row per crystal and
description, a summary per description family), :func:`check_continuity` a
:class:`ContinuityReport` (one row per crystal, perturbation kind and size, a summary per size);
the CLI only prints them. :func:`predictor_variant` gives the same trained weights with the
canonical step or a weight-free model option (e.g. the envelope) changed, for measuring which
part of the pipeline a jump comes from.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecn.graphs.descriptions import DESCRIPTION_KINDS, equivalent_descriptions
from ecn.graphs.perturb import DEFAULT_EPSILONS, PERTURBATION_KINDS, perturbations
from ecn.inference.predictor import Predictor

__all__ = [
    "ContinuityReport",
    "InvarianceReport",
    "check_continuity",
    "check_invariance",
    "predictor_variant",
]


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


def predictor_variant(
    predictor: Predictor,
    canonical: str | None = None,
    options: dict[str, Any] | None = None,
) -> Predictor:
    """The same trained weights with another canonical step and/or model options.

    For diagnosis only: `options` may only change options without weights of their own (e.g.
    ``envelope``, ``backend``); a model trained without an envelope and run with one computes
    another function (edges near the cutoff are damped), so its accuracy is not the trained
    model's. Raises ValueError for options that change the parameters.
    """
    import copy
    from dataclasses import replace

    from ecn.nn import build_model

    settings = (
        predictor.settings
        if canonical is None
        else replace(predictor.settings, canonical=canonical)
    )
    model = predictor.model
    if options and predictor.n_members > 1:
        raise ValueError("model options of an ensemble cannot be changed here; use a member")
    if options:
        inner = model.model
        config = replace(inner.config, options={**inner.config.options, **options})
        new = build_model(config).to(next(inner.parameters()).dtype)
        try:
            new.load_state_dict(inner.state_dict())
        except RuntimeError as exc:
            raise ValueError(f"options {options} change the model's weights: {exc}") from None
        model = copy.deepcopy(model)
        model.model = new
    return Predictor(model, settings, predictor.meta)


@dataclass
class ContinuityReport:
    """Prediction changes under small perturbations (``ecn.graphs.perturb.perturbations``).

    A *jump* of one crystal and perturbation kind at size ε_k: its change exceeds `threshold`
    AND exceeds ``ratio * (ε_k / ε_{k-1}) * change(ε_{k-1})`` (the linear trend from the next
    smaller size; at the smallest size only the threshold applies). A function continuous in
    the positions grows like ε along the fixed direction (factor 10 per decade), so it has no
    jumps once its change clears the threshold; a hard threshold crossed between two sizes
    (an edge, a colour, a canonical choice) shows as a jump at the first size past it. Below
    `threshold` nothing counts (float32 noise, and changes nobody cares about).

    Where the slope vanishes (a symmetric or relaxed crystal, a model trained flat) a smooth
    change grows like ε², 100x per decade, which the rule above flags. So each flagged size is
    refined: ``REFINE_STEPS`` geometric sizes between ε_{k-1} and ε_k, the same rule applied
    step by step (ratio x 1.33 per step lets any smooth growth up to ε^8 through). A
    discontinuity stays a step however fine the sampling and is kept, with ``jump_between``
    (the bracketing sizes); a smooth rise is cleared and marked ``refined``.

    Attributes:
        rows: one dict per (crystal, kind, eps): ``id``, ``kind``, ``eps``, ``prediction``,
            ``change`` (|prediction - unperturbed|, first target), ``jump`` (bool); a flagged
            size also has ``refined`` (cleared by refinement) or ``jump_between``.
        errors: ``{id: reason}`` for crystals that could not be predicted.
        threshold, ratio: the jump rule above; threshold in model units.
        threshold_note: where the threshold came from (e.g. "1% of test MAE 0.0717").
        model, canonical, envelope, wrap, unit, seed, seconds: what was measured and how
            (``wrap``: perturbed coordinates wrapped into the cell).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    threshold: float = 1e-3
    ratio: float = 10.0
    threshold_note: str = ""
    model: str = ""
    canonical: str = ""
    envelope: str = "none"
    unit: str = ""
    seed: int = 0
    wrap: bool = True
    seconds: float = 0.0

    def summary(self) -> list[dict[str, Any]]:
        """Per (kind, eps): ``n``, ``max``, ``median`` |change| and ``jumps`` (crystals)."""
        out = []
        keys = list(dict.fromkeys((r["kind"], r["eps"]) for r in self.rows))
        for kind, eps in keys:
            sel = [r for r in self.rows if r["kind"] == kind and r["eps"] == eps]
            ch = np.array([r["change"] for r in sel])
            out.append(
                {
                    "kind": kind,
                    "eps": eps,
                    "n": len(sel),
                    "max": float(ch.max()),
                    "median": float(np.median(ch)),
                    "jumps": int(sum(r["jump"] for r in sel)),
                }
            )
        return out

    @property
    def n_jumps(self) -> int:
        """Jumps over every crystal, kind and size."""
        return int(sum(r["jump"] for r in self.rows))

    def header(self) -> str:
        n = len({r["id"] for r in self.rows})
        return (
            f"{self.model}: canonical={self.canonical} envelope={self.envelope} "
            f"wrap={'on' if self.wrap else 'off'}; {n} crystal(s), "
            f"seed {self.seed}, {self.seconds:.1f} s; jump = change > {self.threshold:.3g} "
            f"{self.unit} ({self.threshold_note}) and > {self.ratio:g} x the linear trend from "
            f"the next smaller size, still a step on {REFINE_STEPS} finer sizes in between"
        )

    def format(self) -> str:
        """A plain-text table (what the CLI prints)."""
        unit = f" ({self.unit})" if self.unit else ""
        lines = [
            self.header(),
            f"{'kind':<10} {'eps (Å)':>8} {'max |change|' + unit:>22} "
            f"{'median |change|' + unit:>24} {'jumps':>6} {'n':>4}",
        ]
        for r in self.summary():
            lines.append(
                f"{r['kind']:<10} {r['eps']:>8.0e} {r['max']:>22.3g} {r['median']:>24.3g} "
                f"{r['jumps']:>6d} {r['n']:>4d}"
            )
        lines += [f"{k}: {v}" for k, v in self.errors.items()]
        return "\n".join(lines)

    def markdown(self) -> str:
        """The summary as a small markdown table."""
        unit = f" ({self.unit})" if self.unit else ""
        lines = [
            self.header(),
            "",
            f"| kind | ε (Å) | max \\|Δ\\|{unit} | median \\|Δ\\|{unit} | jumps | n |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.summary():
            lines.append(
                f"| {r['kind']} | {r['eps']:.0e} | {r['max']:.3g} | {r['median']:.3g} | "
                f"{r['jumps']} | {r['n']} |"
            )
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (summary first)."""
        keys = ("model", "canonical", "envelope", "wrap", "unit", "seed", "threshold", "ratio")
        return {
            **{k: getattr(self, k) for k in keys},
            "threshold_note": self.threshold_note,
            "seconds": round(self.seconds, 2),
            "n_jumps": self.n_jumps,
            "summary": self.summary(),
            "rows": self.rows,
            "errors": self.errors,
        }


def model_test_mae(model: str | Path) -> float | None:
    """The test MAE of a pretrained model name, or of a run (its directory or a file in it:
    the run's ``results.json``); None otherwise."""
    import json

    from ecn.inference.pretrained import list_models

    for entry in list_models():
        if entry["name"] == str(model):
            return (entry.get("test") or {}).get("mae")
    model = Path(model)
    run = model if model.is_dir() else model.parent
    try:
        metrics = json.loads((run / "results.json").read_text())["metrics"]["test"]
        return float(metrics["mae"]) if "mae" in metrics else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def default_threshold(model: str | Path) -> tuple[float, str]:
    """The jump threshold of :class:`ContinuityReport` for `model` and where it came from: 1% of
    its test MAE (:func:`model_test_mae`), else 1e-3 (a classifier's probability, an unknown
    run)."""
    mae = model_test_mae(model)
    if mae:
        return 0.01 * mae, f"1% of test MAE {mae:.3g}"
    return 1e-3, "default, test MAE unknown"


#: sizes per flagged decade in the refinement of :class:`ContinuityReport`
REFINE_STEPS = 8


def _mark_jumps(rows: list[dict[str, Any]], threshold: float, ratio: float) -> None:
    """Set ``row["jump"]`` by the rule of :class:`ContinuityReport` (rows of one crystal and
    kind, in increasing eps)."""
    prev: dict[str, Any] | None = None
    for r in sorted(rows, key=lambda r: r["eps"]):
        trend = 0.0 if prev is None else ratio * r["eps"] / prev["eps"] * prev["change"]
        r["jump"] = bool(r["change"] > threshold and r["change"] > trend)
        prev = r


def check_continuity(
    predictor: Predictor,
    structures: Sequence[tuple[str, Any]],
    epsilons: Sequence[float] | None = None,
    kinds: Sequence[str] | None = None,
    seed: int = 0,
    threshold: float = 1e-3,
    ratio: float = 10.0,
    threshold_note: str = "",
    model_name: str = "",
    wrap: bool = True,
) -> ContinuityReport:
    """Predict every crystal and its perturbations; mark jumps (see :class:`ContinuityReport`).

    Args:
        predictor: a loaded model (``ecn.load_model``; :func:`predictor_variant` for another
            canonical step or envelope).
        structures: ``(id, pymatgen Structure or ase.Atoms)`` pairs.
        epsilons, kinds, seed: ``ecn.graphs.perturb.perturbations`` (defaults: 1e-5 .. 1e-2 Å,
            displacements and strains).
        threshold, ratio, threshold_note: the jump rule.
        model_name: how the report names the model.
        wrap: wrap perturbed coordinates into the cell as a CIF writer does (False isolates
            the neighbour graph from the image offsets, i.e. the parity colours, that a wrap
            across a cell face changes).
    """
    from ecn.inference.inputs import as_structure

    epsilons = sorted(float(e) for e in (epsilons or DEFAULT_EPSILONS))
    kinds = list(kinds or PERTURBATION_KINDS)
    t0 = time.perf_counter()
    rep = ContinuityReport(
        threshold=float(threshold),
        ratio=float(ratio),
        threshold_note=threshold_note,
        model=model_name,
        canonical=predictor.settings.canonical,
        envelope=str(predictor.model.config.options.get("envelope", "none")),
        unit=predictor.units[0] if predictor.units else "",
        seed=seed,
        wrap=wrap,
    )
    for sid, obj in structures:
        try:
            s = as_structure(obj)
            perts = perturbations(s, epsilons, kinds, seed, wrap)
            pred = np.asarray(predictor.predict([s] + [p.structure for p in perts]))
        except ValueError as exc:
            rep.errors[sid] = str(exc)
            continue
        pred = pred.reshape(len(perts) + 1, -1)[:, 0]
        rows = [
            {
                "id": sid,
                "kind": p.kind,
                "eps": p.eps,
                "prediction": float(v),
                "change": float(abs(v - pred[0])),
            }
            for p, v in zip(perts, pred[1:], strict=True)
        ]
        for kind in kinds:
            _mark_jumps([r for r in rows if r["kind"] == kind], threshold, ratio)
        _refine_jumps(predictor, s, rows, pred[0], seed, wrap, threshold, ratio)
        rep.rows += rows
    rep.seconds = time.perf_counter() - t0
    return rep


def _refine_jumps(
    predictor: Predictor,
    structure: Any,
    rows: list[dict[str, Any]],
    base: float,
    seed: int,
    wrap: bool,
    threshold: float,
    ratio: float,
) -> None:
    """Re-examine each flagged size of one crystal on a finer grid along the same line (see
    :class:`ContinuityReport`): clear a smooth rise, keep a step with its bracketing sizes."""
    for r in [r for r in rows if r["jump"]]:
        lower = [q for q in rows if q["kind"] == r["kind"] and q["eps"] < r["eps"]]
        if not lower:
            continue  # the smallest size: the threshold alone decides
        prev = max(lower, key=lambda q: q["eps"])
        factor = r["eps"] / prev["eps"]
        sizes = [prev["eps"] * factor ** (j / REFINE_STEPS) for j in range(1, REFINE_STEPS)]
        perts = perturbations(structure, sizes, [r["kind"]], seed, wrap)
        pred = np.asarray(predictor.predict([p.structure for p in perts]))
        pred = pred.reshape(len(perts), -1)[:, 0]
        fine = [{"eps": prev["eps"], "change": prev["change"]}]
        fine += [
            {"eps": p.eps, "change": float(abs(v - base))} for p, v in zip(perts, pred, strict=True)
        ]
        fine.append({"eps": r["eps"], "change": r["change"]})
        _mark_jumps(fine, threshold, ratio)
        steps = [(a["eps"], b["eps"]) for a, b in zip(fine, fine[1:], strict=False) if b["jump"]]
        if steps:
            r["jump_between"] = list(steps[0])
        else:
            r["jump"] = False
            r["refined"] = True
