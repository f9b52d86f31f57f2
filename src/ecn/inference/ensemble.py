"""Ensembles: K trained members of one architecture on one graph, returning mean and std.

Why: one model gives one number and no sense of its error. K members trained from different
seeds disagree most where they are most often wrong (deep ensembles, Lakshminarayanan et al.
2017), so their spread is a per-prediction uncertainty. The raw spread of a few members is
usually too narrow (or too wide) by a roughly constant factor, so a factor ``s`` per target,
fitted on the validation split when the ensemble is packaged (``ecn.experiments.ensembles``), is
stored with the members and applied here: reported std = ``s`` x the members' std.

Definitions (per structure, per target, K members with predictions ``p_k`` in target units):
mean = mean_k p_k; member std = sqrt(mean_k (p_k - mean)^2) (population std, ``np.std``; the
factor ``s`` absorbs the choice of normalisation); std = s x member std.

Members must agree on everything that defines what they compute (model name, sizes, every
option, precision, targets with their units and task) and are built on one graph
(:func:`check_members`); each keeps its own target standardisation (its training split's).
Only regression ensembles are supported: the spread of a class probability is not what the
calibration here fits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ecn.graphs.graph import CrystalGraph
from ecn.graphs.settings import GraphSettings
from ecn.inference.model import PropertyModel, TargetInfo
from ecn.nn import ModelConfig

__all__ = ["EnsembleModel", "check_members", "member_differences"]


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
    """K :class:`PropertyModel` members predicting together, and the std factor per target.

    Args:
        members: trained members (checked with :func:`check_members`).
        std_scale: (T,) factor s applied to the members' std (default 1: not recalibrated).

    ``predict_members(graph)`` gives (K, G, T) predictions in target units, ``predict_batch``
    their mean (G, T). ``targets`` holds the shared names, units and task (each member keeps its
    own standardisation in its buffers).
    """

    def __init__(self, members: Sequence[PropertyModel], std_scale: Sequence[float] | None = None):
        super().__init__()
        check_members(members)
        self.members = nn.ModuleList(members)
        t = members[0].targets
        self.targets = TargetInfo(t.names, t.units, t.task, node_target=t.node_target)
        scale = [1.0] * len(t.names) if std_scale is None else [float(s) for s in std_scale]
        if len(scale) != len(t.names) or any(not s >= 0 for s in scale):
            raise ValueError(
                f"std_scale needs one factor >= 0 per target {list(t.names)}, got {scale}"
            )
        self.register_buffer("std_scale", torch.tensor(scale, dtype=torch.float64))

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
