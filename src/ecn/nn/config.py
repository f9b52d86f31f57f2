"""`ModelConfig`: the one typed description of a model (which class, core sizes, its options).

Every model class of :data:`ecn.nn.models.MODELS` takes the same core arguments
``(in_dim, edge_dim, out_dim=1, node_level=False, *, <options>)`` and stores the resolved
``ModelConfig`` (every option filled in) as ``model.config``; ``build_model(model.config)``
rebuilds the same architecture. Lives in its own module so that the model modules
(:mod:`ecn.nn.ecn`, :mod:`ecn.nn.cgcnn`, :mod:`ecn.nn.megnet`, ...) and the registry
(:mod:`ecn.nn.models`) can all use it without importing each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecn.graphs.graph import CrystalGraph

__all__ = ["SYMMETRIES", "ModelConfig", "check_node_features"]

#: What a model class may claim (its ``SYMMETRY`` class attribute), checked by the model tests.
SYMMETRIES: dict[str, str] = {
    "supercell_group": (
        "equivariant to the node permutations of the group named by the model's `group` option "
        "(sn, p1, glambda, slambda) acting on the 2x2x2 supercell graph (paper Claim 6.1); the "
        "pooled output is invariant to them"
    ),
    "euclidean": (
        "invariant to rotations of the Cartesian frame, permutations of the unit-cell atoms "
        "and the choice of unit-cell origin (uses interatomic distances only)"
    ),
}

_CORE = ("name", "in_dim", "edge_dim", "out_dim", "node_level")


@dataclass(frozen=True)
class ModelConfig:
    """Which model to build and how (a plain, JSON/YAML-able value).

    Attributes:
        name: key of ``ecn.nn.MODELS`` (``"ecn"``, ``"cgcnn"``, ``"megnet"``, ``"schnet"``).
        in_dim: node feature width F of ``graph.x``.
        edge_dim: edge feature width K of ``graph.edge_attr``.
        out_dim: outputs per graph (or per node with `node_level`).
        node_level: per-node outputs (N, out_dim), no pooling.
        options: model-specific hyperparameters (``ecn.nn.model_options(name)`` lists them
            with their defaults). A model's own ``config`` has every option filled in.
    """

    name: str
    in_dim: int
    edge_dim: int
    out_dim: int = 1
    node_level: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ValueError(f"model name must be a string, got {self.name!r}")
        for key, low in (("in_dim", 1), ("edge_dim", 0), ("out_dim", 1)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{key} must be an int >= {low}, got {value!r}")
        if not isinstance(self.node_level, bool):
            raise ValueError(f"node_level must be a bool, got {self.node_level!r}")
        if not isinstance(self.options, Mapping) or not all(
            isinstance(k, str) for k in self.options
        ):
            raise ValueError(f"options must be a mapping with string keys, got {self.options!r}")
        object.__setattr__(self, "options", dict(self.options))  # a private copy

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (options as a plain dict), e.g. for YAML, JSON or ``torch.save``."""
        out: dict[str, Any] = {k: getattr(self, k) for k in _CORE}
        out["options"] = dict(self.options)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: an unknown key, a missing ``name`` / ``in_dim`` / ``edge_dim``, or an
                invalid value.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"model config must be a mapping, got {type(d).__name__}")
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(allowed))
        if unknown:
            raise ValueError(f"unknown model config key(s) {unknown}; allowed: {allowed}")
        missing = [k for k in ("name", "in_dim", "edge_dim") if k not in d]
        if missing:
            raise ValueError(f"model config is missing {missing}")
        return cls(**{k: d[k] for k in allowed if k in d})


def check_node_features(graph: CrystalGraph, in_dim: int) -> None:
    """Raise ValueError unless ``graph.x`` is (N, `in_dim`): the width the model was built for
    (a graph built with other settings would otherwise fail deep inside a matmul)."""
    if graph.x.dim() != 2 or graph.x.shape[1] != in_dim:
        raise ValueError(f"expected node features (N, {in_dim}), got {tuple(graph.x.shape)}")
