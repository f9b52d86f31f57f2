"""Ensembles: K trained members of one architecture on one graph, returning mean and std.

Why: one model gives one number and no sense of its error. K members trained from different
seeds disagree most where they are most often wrong (deep ensembles, Lakshminarayanan et al.
2017), so their spread is a per-prediction uncertainty. The raw spread of a few members is not
a calibrated standard deviation, so a recalibration fitted on the validation split when the
ensemble is packaged (``ecn.experiments.ensembles``) is stored with the members and applied
here, per target: std = sqrt((a x member std)^2 + b^2). The factor ``a`` (``std_scale``)
corrects the size of the spread; the floor ``b`` (``std_floor``, >= 0) is the part of the
error the members share (their common bias, the noise of the labels), which no spread between
them can show, and it keeps the std from collapsing where 2-3 members happen to agree. A pure
factor (``b = 0``, the ``coverage`` and ``nll`` fits, and every ensemble file written before
the floor existed) is the special case, computed bit for bit as before.

Definitions (per structure, per target, K members with predictions ``p_k`` in target units):
mean = mean_k p_k; member std = sqrt(mean_k (p_k - mean)^2) (population std, ``np.std``, and
exactly 0 where all p_k are equal: :func:`member_std`; the factor ``a`` absorbs the choice of
normalisation); std = :func:`calibrated_std` (member std,
a, b).

Members must agree on everything that defines what they compute (model name, sizes, every
option, precision, targets with their units and task) and are built on one graph
(:func:`check_members`); each keeps its own target standardisation (its training split's).
Only regression ensembles are supported: the spread of a class probability is not what the
calibration here fits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ecn.graphs.graph import CrystalGraph
from ecn.graphs.settings import GraphSettings
from ecn.inference.model import PropertyModel, TargetInfo
from ecn.nn import ModelConfig

__all__ = [
    "EnsembleModel",
    "calibrated_std",
    "check_members",
    "member_differences",
    "member_std",
]


def member_std(preds: np.ndarray, axis: int = 0) -> np.ndarray:
    """Population std of the members' predictions along `axis`, exactly 0 where they agree.

    Why the second part: the mean of K equal floats can differ from them by a rounding step,
    which would give a std of ~1e-17 instead of 0 where the members agree exactly; a fit of
    |error| / std or a floor test (std = 0) must see those structures as agreeing.
    """
    preds = np.asarray(preds, dtype=float)
    return np.where(np.ptp(preds, axis=axis) == 0, 0.0, np.std(preds, axis=axis))


def calibrated_std(member_std: np.ndarray, scale: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """The reported std, sqrt((scale x member_std)^2 + floor^2), per target (last axis).

    ``np.hypot`` so that a zero floor gives exactly ``scale x member_std`` (the numbers a
    pure-factor ensemble always gave) and large values do not overflow when squared.
    """
    return np.hypot(np.asarray(member_std) * scale, floor)


def _label(labels: Sequence[str] | None, k: int) -> str:
    return f"member {k + 1}" + (f" ({labels[k]})" if labels else "")


def member_differences(
    a: PropertyModel,
    b: PropertyModel,
    settings_a: GraphSettings | None = None,
    settings_b: GraphSettings | None = None,
) -> list[str]:
    """What makes `b` compute another kind of function than `a`, one phrase each (empty when
    they may form an ensemble): architecture, options, precision, targets, graph settings."""
    ca, cb = a.config, b.config
    diffs = [
        f"{k} {getattr(ca, k)!r} vs {getattr(cb, k)!r}"
        for k in ("name", "in_dim", "edge_dim", "out_dim", "node_level")
        if getattr(ca, k) != getattr(cb, k)
    ]
    diffs += [
        f"option {k} {ca.options.get(k)!r} vs {cb.options.get(k)!r}"
        for k in sorted(set(ca.options) | set(cb.options))
        if ca.options.get(k) != cb.options.get(k)
    ]
    da, db = next(a.parameters()).dtype, next(b.parameters()).dtype
    if da != db:
        diffs.append(f"precision {da} vs {db}")
    ta, tb = a.targets, b.targets
    for k in ("names", "units", "task", "node_target"):
        va, vb = getattr(ta, k), getattr(tb, k)
        if va != vb:
            diffs.append(
                f"target {k} {list(va) if isinstance(va, tuple) else va!r} vs "
                f"{list(vb) if isinstance(vb, tuple) else vb!r}"
            )
    if settings_a is not None and settings_b is not None:
        ga, gb = dataclasses.asdict(settings_a), dataclasses.asdict(settings_b)
        diffs += [f"graph {k} {ga[k]!r} vs {gb.get(k)!r}" for k in ga if ga[k] != gb.get(k)]
    return diffs


def check_members(
    members: Sequence[PropertyModel],
    settings: Sequence[GraphSettings] | None = None,
    labels: Sequence[str] | None = None,
) -> None:
    """Refuse members that cannot form one ensemble, naming every difference to member 1.

    Args:
        members: the trained models.
        settings: the graph settings each was trained on (None: not checked here).
        labels: how the message names each member (e.g. its run directory).

    Raises:
        ValueError: fewer than two members, a classification model, or members that differ.
    """
    if len(members) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
    if labels is not None and len(labels) != len(members):
        raise ValueError("one label per member")
    if members[0].task != "regression":
        raise ValueError(
            f"ensembles are for regression targets; {_label(labels, 0)} is a "
            f"{members[0].task} model"
        )
    problems = []
    for k in range(1, len(members)):
        sa = None if settings is None else settings[0]
        sb = None if settings is None else settings[k]
        diffs = member_differences(members[0], members[k], sa, sb)
        if diffs:
            problems.append(f"{_label(labels, k)} vs {_label(labels, 0)}: " + "; ".join(diffs))
    if problems:
        raise ValueError(
            "ensemble members must share architecture, options, graph settings and targets: "
            + " | ".join(problems)
        )


class EnsembleModel(nn.Module):
    """K :class:`PropertyModel` members predicting together, and the std recalibration.

    Args:
        members: trained members (checked with :func:`check_members`).
        std_scale: (T,) factor a >= 0 on the members' std (default 1: not recalibrated).
        std_floor: (T,) floor b >= 0 added in quadrature (default 0: none); the reported std is
            :func:`calibrated_std` = sqrt((a x members' std)^2 + b^2).

    ``predict_members(graph)`` gives (K, G, T) predictions in target units, ``predict_batch``
    their mean (G, T). ``targets`` holds the shared names, units and task (each member keeps its
    own standardisation in its buffers).
    """

    def __init__(
        self,
        members: Sequence[PropertyModel],
        std_scale: Sequence[float] | None = None,
        std_floor: Sequence[float] | None = None,
    ):
        super().__init__()
        check_members(members)
        self.members = nn.ModuleList(members)
        t = members[0].targets
        self.targets = TargetInfo(t.names, t.units, t.task, node_target=t.node_target)
        for name, values, default in (("std_scale", std_scale, 1.0), ("std_floor", std_floor, 0.0)):
            vals = [default] * len(t.names) if values is None else [float(v) for v in values]
            # `not v >= 0` also refuses NaN; an infinite std would make every test pass
            if len(vals) != len(t.names) or any(not 0 <= v < float("inf") for v in vals):
                raise ValueError(
                    f"{name} needs one finite value >= 0 per target {list(t.names)}, got {vals}"
                )
            self.register_buffer(name, torch.tensor(vals, dtype=torch.float64))

    @property
    def n_members(self) -> int:
        return len(self.members)

    @property
    def config(self) -> ModelConfig:
        """The members' shared architecture."""
        return self.members[0].config

    @property
    def node_level(self) -> bool:
        return self.members[0].node_level

    @property
    def task(self) -> str:
        return self.targets.task

    def forward(self, graph: CrystalGraph) -> Tensor:
        """(K, G, T) member predictions in target units (:meth:`predict_members`)."""
        return self.predict_members(graph)

    def predict_members(self, graph: CrystalGraph) -> Tensor:
        """(K, G, T) predictions of each member in target units."""
        return torch.stack([m.predict_batch(graph) for m in self.members])

    def predict_batch(self, graph: CrystalGraph) -> Tensor:
        """(G, T) ensemble mean in target units."""
        return self.predict_members(graph).mean(0)

    def n_params(self) -> int:
        return sum(m.n_params() for m in self.members)
