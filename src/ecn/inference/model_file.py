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

An ensemble (``ecn.inference.ensemble``, packaged by ``ecn models package RUN1 RUN2 ...``) is
format version 2, so that an older ecn refuses it ("upgrade ecn") instead of reading one
member::

    {"format": "ecn-model", "format_version": 2, "kind": "ensemble", "ecn_version": "...",
     "model": {"config": ModelConfig dict},                       # shared by the members
     "targets": TargetInfo dict,                                  # names, units, task
     "ensemble": {"members": [{"state_dict": ..., "targets": TargetInfo dict}, ...],
                  "std_scale": [a per target], "std_floor": [b per target],
                  "calibration": {...}},                          # fit on validation
     "graph_settings": ..., "dataset": ..., "metadata": {...}}

The reported std is sqrt((a x members' std)^2 + b^2) (``ecn.inference.ensemble``). The floor
was added within format 2 as an optional key: an ensemble file without ``std_floor`` (written
before it existed, with a factor only) reads as b = 0, i.e. exactly the std it always gave.

Single-model files stay format version 1, byte for byte what they were. :func:`load_model_file`
reads single models only (fine-tuning, evaluation); :func:`load_any_model_file` (what
``ecn.load_model`` uses) reads both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ecn._version import __version__
from ecn.graphs.settings import GraphSettings
from ecn.inference.ensemble import EnsembleModel
from ecn.inference.model import PropertyModel
from ecn.io import atomic_write

__all__ = [
    "ENSEMBLE_FORMAT_VERSION",
    "FORMAT",
    "FORMAT_VERSION",
    "MODEL_FILE",
    "load_any_model_file",
    "load_model_file",
    "model_file_payload",
    "resolve_model_path",
    "save_model_file",
]

FORMAT = "ecn-model"
#: Format version of a single-model file (unchanged since the first release).
FORMAT_VERSION = 1
#: Format version of an ensemble file.
ENSEMBLE_FORMAT_VERSION = 2
MODEL_FILE = "model.pt"
#: Prefix of the PropertyModel inside the Lightning training module's state dict.
TRAINING_PREFIX = "net."


def _cpu(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in state.items()}


def _ensemble_payload(
    ensemble: EnsembleModel,
    graph_settings: GraphSettings,
    dataset: str,
    metadata: Mapping[str, Any] | None,
    calibration: Mapping[str, Any] | None,
) -> dict[str, Any]:
    members = [
        {"state_dict": _cpu(m.model.state_dict()), "targets": m.targets.to_dict()}
        for m in ensemble.members
    ]
    return {
        "format": FORMAT,
        "format_version": ENSEMBLE_FORMAT_VERSION,
        "kind": "ensemble",
        "ecn_version": __version__,
        "model": {"config": ensemble.config.to_dict()},
        "targets": ensemble.targets.to_dict(),
        "ensemble": {
            "members": members,
            "std_scale": [float(v) for v in ensemble.std_scale.tolist()],
            "std_floor": [float(v) for v in ensemble.std_floor.tolist()],
            "calibration": dict(calibration or {}),
        },
        "graph_settings": dataclasses.asdict(graph_settings),
        "dataset": dataset,
        "metadata": dict(metadata or {}),
    }


def model_file_payload(
    model: PropertyModel | EnsembleModel,
    graph_settings: GraphSettings,
    dataset: str = "",
    metadata: Mapping[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The dict :func:`save_model_file` writes (tensors on the CPU); `calibration` (how an
    ensemble's std factor was fitted) only for an :class:`EnsembleModel`."""
    if isinstance(model, EnsembleModel):
        return _ensemble_payload(model, graph_settings, dataset, metadata, calibration)
    if calibration:
        raise ValueError("a calibration belongs to an ensemble; this is one model")
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
    model: PropertyModel | EnsembleModel,
    graph_settings: GraphSettings,
    dataset: str = "",
    metadata: Mapping[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> Path:
    """Write the model file of one model or of an ensemble (atomically: a crash never leaves
    half a file)."""
    path = Path(path)
    payload = model_file_payload(model, graph_settings, dataset, metadata, calibration)
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


def _read_payload(path: Path, map_location: str | torch.device) -> dict[str, Any]:
    """The checked dict of a model file, ensemble file or training checkpoint."""
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
    version = int(payload.get("format_version", 0))
    kind = payload.get("kind", "model")
    # what this ecn reads: single models up to version 1, ensembles (version 2)
    newest = {"model": FORMAT_VERSION, "ensemble": ENSEMBLE_FORMAT_VERSION}
    if kind not in newest or version > newest[kind]:
        raise ValueError(
            f"{path} has model-file format {payload['format_version']}"
            + ("" if kind == "model" else f" ({kind})")
            + f"; this ecn ({__version__}) reads single models up to {FORMAT_VERSION} and "
            f"ensembles up to {ENSEMBLE_FORMAT_VERSION}: upgrade ecn"
        )
    if kind == "ensemble" and version < ENSEMBLE_FORMAT_VERSION:
        raise ValueError(f"{path}: an ensemble must be model-file format {ENSEMBLE_FORMAT_VERSION}")
    return payload


def _settings_and_meta(payload: Mapping[str, Any], path: Path) -> tuple[GraphSettings, dict]:
    graph = dict(payload["graph_settings"])
    # Files written before the canonical step existed (issue 14) were trained on structures as
    # given: keep predicting them that way.
    graph.setdefault("canonical", "off")
    meta = {
        "path": str(path),
        "ecn_version": payload.get("ecn_version", ""),
        "dataset": payload.get("dataset", ""),
        "metadata": payload.get("metadata", {}),
    }
    return GraphSettings(**graph), meta


def _ensemble(payload: Mapping[str, Any], path: Path) -> tuple[EnsembleModel, dict[str, Any]]:
    """The members of an ensemble file, with its std recalibration; meta adds ``members`` (K),
    ``std_scale``, ``std_floor`` (zeros for a file written before the floor) and
    ``calibration``."""
    ens = payload.get("ensemble")
    if not isinstance(ens, dict) or not ens.get("members"):
        raise ValueError(f"{path}: an ensemble file without members")
    config = payload["model"]["config"]
    members = [
        PropertyModel.from_dict(
            {"model": {"config": config, "state_dict": m["state_dict"]}, "targets": m["targets"]}
        )
        for m in ens["members"]
    ]
    # no "std_floor": a factor-only file of format 2 (before the floor), b = 0 per target
    model = EnsembleModel(members, ens.get("std_scale"), ens.get("std_floor"))
    extra = {
        "members": len(members),
        "std_scale": [float(v) for v in model.std_scale.tolist()],
        "std_floor": [float(v) for v in model.std_floor.tolist()],
        "calibration": ens.get("calibration", {}),
    }
    return model, extra


def load_any_model_file(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[PropertyModel | EnsembleModel, GraphSettings, dict[str, Any]]:
    """Read a model file, an ensemble file or an ``ecn.train`` checkpoint -> (model in eval
    mode, settings, meta); an ensemble's meta also holds ``members``, ``std_scale``,
    ``std_floor`` and ``calibration``. See :func:`load_model_file` for the rest.

    Raises:
        ValueError: not an ecn model file, or one of a newer format.
    """
    path = resolve_model_path(path)
    payload = _read_payload(path, map_location)
    settings, meta = _settings_and_meta(payload, path)
    if payload.get("kind", "model") == "ensemble":
        model, extra = _ensemble(payload, path)
        return model.eval(), settings, {**meta, **extra}
    model = PropertyModel.from_dict({"model": payload["model"], "targets": payload["targets"]})
    return model.eval(), settings, meta


def load_model_file(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[PropertyModel, GraphSettings, dict[str, Any]]:
    """Read a single-model file (or an ``ecn.train`` checkpoint) -> (model in eval mode,
    settings, meta).

    ``meta`` holds ``ecn_version``, ``dataset``, ``metadata`` and the file's ``path``.

    Raises:
        ValueError: not an ecn model file, one of a newer format, or an ensemble (where one
            model is needed: fine-tuning, evaluation; ``ecn.load_model`` reads ensembles).
    """
    model, settings, meta = load_any_model_file(path, map_location)
    if isinstance(model, EnsembleModel):
        raise ValueError(
            f"{meta['path']} is an ensemble of {model.n_members} models; this needs one model "
            "(use a member's run directory; ecn.load_model and ecn predict read ensembles)"
        )
    return model, settings, meta
