"""Pretrained models shipped in the package, picked by name (``ecn models``, issue 13).

Each model is a model file (``ecn.inference.model_file``) under ``ecn/resources/pretrained/``
with a model card (``<name>.md``) and an entry in ``registry.json``: the file, its SHA-256 and
size, the target, the test metrics of its card and the slice metric the test suite checks. The
files are in the wheel, so names work offline; a name is checked against its checksum before it
loads. This module only reads the packaged files: turning a run into one (card, registry entry,
slice metric) is maintainer tooling above the training layer, ``ecn.experiments.packaging``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ecn.io import atomic_write_text, sha256_file

__all__ = [
    "PRETRAINED_DIR",
    "REGISTRY",
    "list_models",
    "pretrained_path",
    "read_registry",
    "write_registry",
]

#: Where the shipped models live (package data).
PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "resources" / "pretrained"
REGISTRY = "registry.json"


def read_registry(root: Path | None = None) -> dict[str, dict[str, Any]]:
    """``registry.json`` of `root` (default: the package's): name -> entry; {} when absent."""
    path = (root or PRETRAINED_DIR) / REGISTRY
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def write_registry(reg: dict[str, dict[str, Any]], root: Path | None = None) -> Path:
    """Write ``registry.json`` (sorted, so a diff shows only the entry that changed)."""
    path = (root or PRETRAINED_DIR) / REGISTRY
    return atomic_write_text(path, json.dumps(reg, indent=1, sort_keys=True) + "\n")


def list_models(root: Path | None = None) -> list[dict[str, Any]]:
    """Registry entries (name, target, unit, metrics, bytes, ...) sorted by name."""
    return [{"name": k, **v} for k, v in sorted(read_registry(root).items())]


def pretrained_path(name: str, root: Path | None = None) -> Path:
    """The verified model file of pretrained model `name` (ValueError naming the known ones)."""
    root = root or PRETRAINED_DIR
    reg = read_registry(root)
    if name not in reg:
        known = ", ".join(sorted(reg)) or "none installed"
        raise ValueError(f"no pretrained model {name!r}; known: {known}")
    path = root / reg[name]["file"]
    if not path.is_file():
        raise ValueError(f"pretrained model {name!r}: file {path.name} is missing")
    if sha256_file(path) != reg[name]["sha256"]:
        raise ValueError(f"pretrained model {name!r}: checksum mismatch for {path.name}")
    return path
