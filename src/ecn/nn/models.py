"""The ECN model (paper §7), the model builder and checkpoint (config + state dict) helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ecn.graphs.graph import CrystalGraph
from ecn.nn.baselines import BASELINES
from ecn.nn.layers import EquivariantMessagePassing
from ecn.nn.plan import GROUPS, ColorPlan, build_color_plan, n_base_colors


def _mlp(width: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, out))


class ECN(nn.Module):
    """Equivariant crystal network: embedding, L equivariant layers, node MLP, mean pool, MLP.

    Args:
        in_features: node feature width F of ``graph.x``.
        edge_features: edge feature width K of ``graph.edge_attr``.
        out_dim: number of outputs per graph (or per node with ``node_level=True``).
        group: ``"sn"`` (plain MPNN), ``"p1"``, ``"glambda"`` or ``"slambda"``.
        width: hidden width d (paper: 128).
        n_layers: number of message-passing layers L (paper: 6).
        backend: per-colour matmuls: ``"bmm"`` (chunked colour plan, default), ``"loop"`` or
            ``"grouped_mm"`` (unchunked plan), see :mod:`ecn.nn.plan`.

    Attributes:
        config: the init kwargs; ``build_model("ecn", **model.config)`` rebuilds the model.
    """

    def __init__(
        self,
        in_features: int,
        edge_features: int,
        out_dim: int = 1,
        group: str = "slambda",
        width: int = 128,
        n_layers: int = 6,
        backend: str = "bmm",
    ) -> None:
        super().__init__()
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
        if min(in_features, edge_features, out_dim, width) < 1 or n_layers < 0:
            raise ValueError("widths must be >= 1 and n_layers >= 0")
        self.config: dict[str, Any] = {
            "in_features": in_features,
            "edge_features": edge_features,
            "out_dim": out_dim,
            "group": group,
            "width": width,
            "n_layers": n_layers,
            "backend": backend,
        }
        self.group = group
        self.embedding = nn.Linear(in_features, width)
        self.layers = nn.ModuleList(
            EquivariantMessagePassing(width, edge_features, n_base_colors(group), 1, backend)
            for _ in range(n_layers)
        )
        self.node_mlp = _mlp(width, width)
        self.head = _mlp(width, out_dim)

    def plan(self, graph: CrystalGraph) -> ColorPlan:
        """The colour plan of `graph` for this model's group (computed once per batch)."""
        return build_color_plan(
            graph, self.group, "auto" if self.config["backend"] == "bmm" else None
        )

    def node_embeddings(self, graph: CrystalGraph, plan: ColorPlan | None = None) -> list[Tensor]:
        """Node features after the embedding and after each layer.

        Returns:
            L + 1 tensors of shape (N, d).
        """
        if graph.x.shape[1] != self.config["in_features"]:
            raise ValueError(
                f"graph.x has {graph.x.shape[1]} features, model expects "
                f"{self.config['in_features']}"
            )
        plan = self.plan(graph) if plan is None else plan
        h = self.embedding(graph.x)
        out = [h]
        for layer in self.layers:
            h = layer(h, plan)
            out.append(h)
        return out

    def forward(
        self, graph: CrystalGraph, node_level: bool = False, plan: ColorPlan | None = None
    ) -> Tensor:
        """Predict per graph (mean pool) or, with ``node_level=True``, per node.

        Args:
            graph: a (batched) `CrystalGraph`.
            node_level: skip the pool and return one output row per node.
            plan: a precomputed colour plan (optional).

        Returns:
            (G, out_dim), or (N, out_dim) with ``node_level``.
        """
        h = self.node_mlp(self.node_embeddings(graph, plan)[-1])
        if node_level:
            return self.head(h)
        g = graph.num_graphs
        pooled = torch.zeros(g, h.shape[1], dtype=h.dtype, device=h.device)
        pooled = pooled.index_add(0, graph.batch, h)
        count = torch.zeros(g, dtype=h.dtype, device=h.device).index_add(
            0, graph.batch, torch.ones_like(graph.batch, dtype=h.dtype)
        )
        return self.head(pooled / count.clamp(min=1)[:, None])


#: Model name -> class. Baselines are added here explicitly (no registry side effects).
MODELS: dict[str, type[nn.Module]] = {"ecn": ECN, **BASELINES}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a model by name from its init kwargs, e.g. ``build_model("ecn", in_features=...)``.

    Raises:
        ValueError: unknown name.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name](**kwargs)


def model_name(model: nn.Module) -> str:
    """The `MODELS` key of `model`'s class."""
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise ValueError(f"{type(model).__name__} is not in MODELS")


def model_checkpoint(model: nn.Module) -> dict[str, Any]:
    """``{"model": name, "config": init kwargs, "state_dict": ..., "version": ecn version}``."""
    from ecn import __version__

    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TypeError("model has no `config` dict of init kwargs")
    return {
        "model": model_name(model),
        "config": dict(config),
        "state_dict": model.state_dict(),
        "version": __version__,
    }


def model_from_checkpoint(checkpoint: dict[str, Any]) -> nn.Module:
    """Rebuild a model from :func:`model_checkpoint` output (exact class, kwargs, weights, dtype)."""
    for key in ("model", "config", "state_dict"):
        if key not in checkpoint:
            raise ValueError(f"checkpoint has no {key!r}")
    model = build_model(checkpoint["model"], **checkpoint["config"])
    state = checkpoint["state_dict"]
    dtypes = {v.dtype for v in state.values() if torch.is_tensor(v) and v.is_floating_point()}
    if len(dtypes) == 1:  # keep the saved precision (e.g. a float64 model stays float64)
        model = model.to(dtypes.pop())
    model.load_state_dict(state)
    return model


def save_model(model: nn.Module, path: str | Path) -> None:
    """Save config + state dict to `path` (``torch.save``)."""
    torch.save(model_checkpoint(model), Path(path))


def restore_model(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a file written by :func:`save_model` (``weights_only=True``)."""
    ckpt = torch.load(Path(path), map_location=map_location, weights_only=True)
    return model_from_checkpoint(ckpt)
