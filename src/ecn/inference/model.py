"""A trained property model: an ``ecn.nn`` model plus the target standardisation around it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ecn.graphs.graph import CrystalGraph
from ecn.nn import ModelConfig, build_model, model_from_dict, model_to_dict

__all__ = ["TASKS", "PropertyModel", "TargetInfo"]

TASKS = ("regression", "classification")


@dataclass(frozen=True)
class TargetInfo:
    """What the outputs mean: target names, units, task, and the train-split standardisation.

    Attributes:
        names: target names, one model output each (classification: one binary target, 2 logits).
        units: unit of each target ('' if unknown).
        task: ``regression`` or ``classification``.
        mean, std: (T,) train-split mean/std of each target (0 / 1 for classification); the
            model is trained on ``(y - mean) / std`` and predictions are mapped back.
        node_target: per-site target name of a node-level model, else None.
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    task: str = "regression"
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())
    node_target: str | None = None

    def __post_init__(self) -> None:
        n = len(self.names)
        if n == 0:
            raise ValueError("a model needs at least one target")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.task == "classification" and n != 1:
            raise ValueError("classification supports exactly one (binary) target")
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "units", tuple(self.units) or ("",) * n)
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean) or (0.0,) * n)
        object.__setattr__(self, "std", tuple(float(v) for v in self.std) or (1.0,) * n)
        if not len(self.units) == len(self.mean) == len(self.std) == n:
            raise ValueError("names, units, mean and std must have one entry per target")

    @property
    def out_dim(self) -> int:
        """Model outputs: one per regression target, two logits for a binary classification."""
        return 2 if self.task == "classification" else len(self.names)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, floats, strings): safe for ``torch.load(weights_only=True)``."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TargetInfo:
        known = {"names", "units", "task", "mean", "std", "node_target"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown target field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class PropertyModel(nn.Module):
    """``model`` with its targets: raw outputs for the loss, properties in original units.

    Args:
        model: a model of ``ecn.nn.MODELS`` (built by ``ecn.nn.build_model``).
        targets: what the outputs mean (:class:`TargetInfo`).

    The standardisation is kept as buffers (``target_mean``, ``target_std``: (T,)) so that it
    travels with the state dict and the device.
    """

    def __init__(self, model: nn.Module, targets: TargetInfo) -> None:
        super().__init__()
        if model.config.out_dim != targets.out_dim:
            raise ValueError(
                f"model has {model.config.out_dim} outputs, targets {list(targets.names)} "
                f"({targets.task}) need {targets.out_dim}"
            )
        self.model = model
        self.targets = targets
        self.register_buffer("target_mean", torch.tensor(targets.mean, dtype=torch.float32))
        self.register_buffer("target_std", torch.tensor(targets.std, dtype=torch.float32))

    @classmethod
    def build(cls, config: ModelConfig, targets: TargetInfo) -> PropertyModel:
        """Build a fresh (untrained) model from its config."""
        return cls(build_model(config), targets)

    @property
    def config(self) -> ModelConfig:
        """The wrapped model's architecture (``ecn.nn.ModelConfig``)."""
        return self.model.config

    @property
    def n_members(self) -> int:
        """1: one model (an ``EnsembleModel`` has K)."""
        return 1

    @property
    def node_level(self) -> bool:
        return bool(self.model.config.node_level)

    @property
    def task(self) -> str:
        return self.targets.task

    def forward(self, graph: CrystalGraph) -> Tensor:
        """Raw outputs: (G, out_dim), or (N, out_dim) for a node-level model."""
        return self.model(graph)

    def standardise(self, y: Tensor) -> Tensor:
        """(G, T) targets in original units -> the standardised scale the model is trained on."""
        return (y - self.target_mean) / self.target_std

    def to_units(self, out: Tensor) -> Tensor:
        """Raw outputs -> (G, T) values in original units, or (G, 1) P(class 1)."""
        if self.task == "classification":
            return out.softmax(-1)[:, 1:2]
        return out * self.target_std + self.target_mean

    def predict_batch(self, graph: CrystalGraph) -> Tensor:
        """Predictions in original units for one (batched) graph."""
        return self.to_units(self(graph))

    def predict_members(self, graph: CrystalGraph) -> Tensor:
        """(1, G, T): :meth:`predict_batch` as a one-member ensemble (same code path as K)."""
        return self.predict_batch(graph).unsqueeze(0)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def to_dict(self) -> dict[str, Any]:
        """``{"model": ecn.nn.model_to_dict(model), "targets": TargetInfo dict}``."""
        return {"model": model_to_dict(self.model), "targets": self.targets.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PropertyModel:
        """Rebuild from :meth:`to_dict` output (exact class, kwargs, weights and precision)."""
        model = model_from_dict(d["model"])
        dtype = next(model.parameters()).dtype
        return cls(model, TargetInfo.from_dict(d["targets"])).to(dtype)
