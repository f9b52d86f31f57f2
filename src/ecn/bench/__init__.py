"""Benchmarks importable by the CLI (`ecn bench ...`); thin scripts in benchmarks/ call these."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(path: str | Path, result: dict[str, Any]) -> Path:
    """Write a benchmark result as indented JSON, creating parent folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(result, indent=2))
    return p
