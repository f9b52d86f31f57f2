"""The model contract: `MODELS`, one builder, one serialisation.

* :class:`~ecn.nn.config.ModelConfig`: name + core sizes + model-specific options.
* :data:`MODELS`: name -> class, each in a module named after it: ECN (:mod:`ecn.nn.ecn`), its
  E(n)-equivariant version ``ecn_egnn`` (:mod:`ecn.nn.egnn`) and the baselines CGCNN, MEGNet,
  SchNet (:mod:`ecn.nn.cgcnn`, :mod:`ecn.nn.megnet`, :mod:`ecn.nn.schnet`); every class takes
  ``(in_dim, edge_dim, out_dim=1, node_level=False, *, <options>)``, stores ``self.config``
  and declares ``GRAPH_SETTINGS`` (the graph it needs) and ``SYMMETRY`` (what it claims, see
  :data:`~ecn.nn.config.SYMMETRIES`).
* :func:`build_model` (unknown options are an error), :func:`model_options`.
* :func:`model_to_dict` / :func:`model_from_dict`: config + state dict, the one serialisation.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ecn.nn.cgcnn import CGCNN
from ecn.nn.config import ModelConfig
from ecn.nn.ecn import ECN
from ecn.nn.egnn import ECNEGNN
from ecn.nn.megnet import MEGNet
from ecn.nn.schnet import SchNet

__all__ = [
    "ECN",
    "MODELS",
    "ModelConfig",
    "build_model",
    "finetune_parts",
    "model_from_dict",
    "model_options",
    "model_to_dict",
]


#: Model name -> class; every class takes ``(in_dim, edge_dim, out_dim=1, node_level=False, *,
#: <options>)`` and stores its resolved ``ModelConfig``. Explicit, no registry side effects.
MODELS: dict[str, type[nn.Module]] = {
    cls.NAME: cls for cls in (ECN, ECNEGNN, CGCNN, MEGNet, SchNet)
}


def finetune_parts(model: nn.Module) -> dict[str, Any]:
    """Parameter names of `model` by part, from its class's ``PARTS`` prefixes.

    Returns ``{"embedding": [names], "layers": [[names of layer 0], ...], "head": [names],
    "body": [names]}`` (``body``: everything else, e.g. ECN's node MLP, CGCNN's dense layers).
    Fine-tuning freezes the embedding and the first k layers and re-initialises the head when
    the target changes; the parts must be named by the model, not guessed by its callers.

    Raises:
        ValueError: the model's class declares no ``PARTS``.
    """
    parts = getattr(type(model), "PARTS", None)
    if not parts:
        raise ValueError(f"{type(model).__name__} declares no PARTS; it cannot be fine-tuned")
    layers = getattr(model, parts["layers"])
    out: dict[str, Any] = {"embedding": [], "layers": [[] for _ in layers], "head": [], "body": []}
    for name, _ in model.named_parameters():
        first, _, rest = name.partition(".")
        if first == parts["embedding"]:
            out["embedding"].append(name)
        elif first == parts["head"]:
            out["head"].append(name)
        elif first == parts["layers"]:
            out["layers"][int(rest.partition(".")[0])].append(name)
        else:
            out["body"].append(name)
    return out


def _model_class(name: str) -> type[nn.Module]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name]


def model_options(name: str) -> dict[str, Any]:
    """Option name -> default of model `name` (its keyword-only ``__init__`` parameters).

    Raises:
        ValueError: unknown name.
    """
    params = inspect.signature(_model_class(name).__init__).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def build_model(config: ModelConfig) -> nn.Module:
    """Build the model `config` describes (float32, fresh weights).

    ``build_model(model.config)`` rebuilds the architecture of `model`.

    Raises:
        ValueError: unknown model name, or an option the model does not take (the message names
            the model, the unknown option(s) and the allowed ones); never silently dropped.
    """
    if not isinstance(config, ModelConfig):
        raise TypeError(
            f"build_model takes a ModelConfig (see ModelConfig.from_dict), got {type(config)}"
        )
    cls = _model_class(config.name)
    options = resolve_options(config.name, config.options)
    return cls(config.in_dim, config.edge_dim, config.out_dim, config.node_level, **options)


def resolve_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Every option of model `name`, defaults filled in, with `options` applied.

    Raises:
        ValueError: unknown model name, or an option the model does not take (the message names
            the model, the unknown option(s) and the allowed ones); never silently dropped.
    """
    allowed = model_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"model {name!r} does not take option(s) {unknown}; allowed options: {sorted(allowed)}"
        )
    return {**allowed, **options}


def model_to_dict(model: nn.Module) -> dict[str, Any]:
    """``{"config": model.config.to_dict(), "state_dict": model.state_dict()}``.

    Plain containers and tensors only, so ``torch.load(..., weights_only=True)`` reads it back.

    Raises:
        ValueError: `model` is not an instance of its ``MODELS`` class with a ``ModelConfig``.
    """
    config = getattr(model, "config", None)
    if not isinstance(config, ModelConfig):
        raise ValueError(f"{type(model).__name__} has no ModelConfig `config`")
    if MODELS.get(config.name) is not type(model):
        raise ValueError(f"{type(model).__name__} is not MODELS[{config.name!r}]")
    return {"config": config.to_dict(), "state_dict": model.state_dict()}


def model_from_dict(d: Mapping[str, Any]) -> nn.Module:
    """Rebuild a model from :func:`model_to_dict` output: exact class, options and weights.

    The saved floating-point precision is kept (a float64 model comes back float64). Works on
    the output of ``torch.load(path, weights_only=True)``. Keys other than ``config`` and
    ``state_dict`` (e.g. a model file's own metadata) are not read.

    Raises:
        ValueError: a missing key, a bad config, or weights that do not fit the config.
    """
    for key in ("config", "state_dict"):
        if key not in d:
            raise ValueError(f"model dict has no {key!r}")
    cfg = d["config"]
    model = build_model(cfg if isinstance(cfg, ModelConfig) else ModelConfig.from_dict(cfg))
    state = d["state_dict"]
    dtypes = {v.dtype for v in state.values() if torch.is_tensor(v) and v.is_floating_point()}
    if len(dtypes) == 1:  # keep the saved precision (e.g. a float64 model stays float64)
        model = model.to(dtypes.pop())
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"weights do not fit model {model.config.name!r}: {err}") from err
    return model
