"""Atomic file writes: one helper, used by every cache, download and report writer.

Why: a crash (or Ctrl-C) in the middle of a write must never leave a half file where a reader
would take it for a complete one. Writing to a temporary file in the same directory and renaming
it over the destination with `os.replace` is atomic on POSIX and Windows for files on one
filesystem. Bottom layer: imports nothing from `ecn`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "json_safe",
    "sha256_file",
    "write_json",
]


@contextmanager
def atomic_write(
    path: str | Path,
    mode: Literal["w", "wb"] = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = None,
    suffix: str = ".tmp",
) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing; on success rename it to `path`.

    The parent directories are created. If the body raises (any exception, including
    KeyboardInterrupt), the temporary file is removed and `path` is left as it was. The file gets
    the usual permissions (0o666 minus the umask), not mkstemp's 0o600. No fsync: this protects
    against crashed processes, not against power loss.

    Args:
        path: destination file.
        mode: "w" (text) or "wb" (bytes).
        encoding: text encoding (ignored in binary mode).
        newline: as in `open` (text mode only).
        suffix: suffix of the temporary file (e.g. ".part" for downloads).

    Yields:
        The open temporary file.

    Example::

        with atomic_write(out, "wb") as f:
            np.savez(f, **arrays)
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=suffix)
    try:
        if mode == "wb":
            f = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding=encoding, newline=newline)
        with f:
            os.chmod(tmp, 0o666 & ~_umask())
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically; returns the path."""
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns the path."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def json_safe(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None (JSON has neither), numpy scalars/arrays -> Python."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if type(obj).__module__ == "numpy" and hasattr(obj, "tolist"):
        return json_safe(obj.tolist())  # numpy scalar or array, without importing numpy here
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | Path, payload: Any, indent: int | None = 2) -> Path:
    """Write `payload` (made :func:`json_safe`) as JSON to `path` atomically; returns the path."""
    return atomic_write_text(path, json.dumps(json_safe(payload), indent=indent))


def sha256_file(path: str | Path) -> str:
    """sha256 hex digest of a file, read in 1 MiB blocks (model files and data files alike)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
