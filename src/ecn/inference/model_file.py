"""The user-facing model file: one ``torch.save`` dict, read back with ``weights_only=True``.

Contents (matgl style, no pickled classes)::

    {"format": "ecn-model", "format_version": 1, "ecn_version": "...",
     "model": {"config": ModelConfig dict, "state_dict": ...},   # ecn.nn.model_to_dict
     "targets": TargetInfo dict,                                  # names, units, task, mean, std
     "graph_settings": GraphSettings dict,                        # resolved: same graphs
     "dataset": "perov5", "metadata": {...}}

Training writes it as ``model.pt`` in the run directory; Lightning checkpoints (``last.ckpt``,
``best.ckpt``) are only for ``--resume``. A training checkpoint can still be read here without
Lightning (its ``hyper_parameters`` hold the same pieces), so an interrupted run can predict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ecn._version import __version__
from ecn.graphs.settings import GraphSettings
from ecn.inference.model import PropertyModel
from ecn.io import atomic_write

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MODEL_FILE",
    "load_model_file",
    "model_file_payload",
    "resolve_model_path",
    "save_model_file",
]

FORMAT = "ecn-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.pt"
#: Prefix of the PropertyModel inside the Lightning training module's state dict.
TRAINING_PREFIX = "net."


def model_file_payload(
    model: PropertyModel,
    graph_settings: GraphSettings,
    dataset: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The dict :func:`save_model_file` writes (tensors on the CPU)."""
    inner = model.to_dict()
    inner["model"]["state_dict"] = {
        k: v.detach().cpu() for k, v in inner["model"]["state_dict"].items()
    }
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ecn_version": __version__,
        **inner,
        "graph_settings": dataclasses.asdict(graph_settings),
        "dataset": dataset,
        "metadata": dict(metadata or {}),
    }


def save_model_file(
    path: str | Path,
    model: PropertyModel,
    graph_settings: GraphSettings,
    dataset: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write the model file (atomically: a crash never leaves half a file)."""
    path = Path(path)
    payload = model_file_payload(model, graph_settings, dataset, metadata)
    with atomic_write(path, "wb") as fh:
        torch.save(payload, fh)
    return path


def resolve_model_path(path: str | Path) -> Path:
    """A run directory -> its ``model.pt`` (else ``best.ckpt``, else ``last.ckpt``); a name of a
    shipped pretrained model (``ecn models``) -> its verified file; a file -> itself."""
    p = Path(path)
    if not p.exists() and p.name == str(path):
        from ecn.inference.pretrained import list_models, pretrained_path

        if any(m["name"] == str(path) for m in list_models()):
            return pretrained_path(str(path))
    if p.is_dir():
        for name in (MODEL_FILE, "best.ckpt", "last.ckpt"):
            if (p / name).is_file():
                return p / name
        raise ValueError(f"no {MODEL_FILE}, best.ckpt or last.ckpt in run directory {p}")
    if not p.is_file():
        raise ValueError(
            f"model file not found: {p} (not a run directory, a model file or a pretrained "
            "model name; `ecn models` lists those)"
        )
    return p


def _from_training_checkpoint(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """The model-file pieces of a Lightning checkpoint written by ``ecn.train`` (no Lightning)."""
    hp = ckpt["hyper_parameters"]
    if "model" not in hp or "targets" not in hp:
        raise ValueError("checkpoint was written by an older ecn; retrain or use its model.pt")
    state = {
        k[len(TRAINING_PREFIX) :]: v
        for k, v in ckpt["state_dict"].items()
        if k.startswith(TRAINING_PREFIX)
    }
    model_state = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ecn_version": hp.get("ecn_version", ""),
        "model": {"config": hp["model"], "state_dict": model_state},
        "targets": hp["targets"],
        "graph_settings": hp["graph_settings"],
        "dataset": hp.get("dataset", ""),
        "metadata": {"from_checkpoint": True},
    }


def load_model_file(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[PropertyModel, GraphSettings, dict[str, Any]]:
    """Read a model file (or an ``ecn.train`` checkpoint) -> (model in eval mode, settings, meta).

    ``meta`` holds ``ecn_version``, ``dataset``, ``metadata`` and the file's ``path``.

    Raises:
        ValueError: not an ecn model file, or one of a newer format.
    """
    path = resolve_model_path(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets one clear line
        raise ValueError(
            f"{path} is not a readable ecn model file ({type(exc).__name__})"
        ) from None
    if not isinstance(payload, dict):
        raise ValueError(f"{path} is not an ecn model file")
    if "hyper_parameters" in payload and "state_dict" in payload:
        payload = _from_training_checkpoint(payload)
    if payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an ecn model file (no format {FORMAT!r})")
    if int(payload.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(
            f"{path} has model-file format {payload['format_version']}; this ecn "
            f"({__version__}) reads up to {FORMAT_VERSION}: upgrade ecn"
        )
    model = PropertyModel.from_dict({"model": payload["model"], "targets": payload["targets"]})
    graph = dict(payload["graph_settings"])
    # Files written before the canonical step existed (issue 14) were trained on structures as
    # given: keep predicting them that way.
    graph.setdefault("canonical", "off")
    settings = GraphSettings(**graph)
    meta = {
        "path": str(path),
        "ecn_version": payload.get("ecn_version", ""),
        "dataset": payload.get("dataset", ""),
        "metadata": payload.get("metadata", {}),
    }
    return model.eval(), settings, meta
