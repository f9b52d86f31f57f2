"""The package version, defined once: in ``pyproject.toml``, read here from the installed metadata.

Bottom layer (imports nothing of ecn), so every layer may record the version it ran with.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__: str = version("ecn")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
