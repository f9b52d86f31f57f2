"""Where data and caches live. One place, resolved lazily (no work at import time)."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]


def user_cache_dir() -> Path:
    """Per-user cache (XDG convention) used when no shared data directory is found."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ecn"


def data_dir() -> Path:
    """Data directory: `ECN_DATA_DIR`, else `../shared/data` beside the repo, else the user cache.

    Why this order: an explicit setting wins; developers and CI here have the shared copy next to
    the checkout; an installed package falls back to a cache it can download into.
    """
    env = os.environ.get("ECN_DATA_DIR")
    if env:
        return Path(env).expanduser()
    for shared in (_REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if shared.is_dir():
            return shared
    return user_cache_dir() / "data"


def cache_dir() -> Path:
    """Directory for built-graph caches: `ECN_CACHE_DIR`, else the user cache."""
    env = os.environ.get("ECN_CACHE_DIR")
    return Path(env).expanduser() if env else user_cache_dir() / "graphs"


def display_path(path: str | Path) -> str:
    """A file's name for source notes and results files, free of local absolute paths.

    Files under the data directory are named relative to it (e.g. "perov_5/test.csv"); any other
    file by the path as given when that is relative, else by its last two components (e.g. the
    package's "resources/perov5_sample.csv.gz", or "my_cifs/id_prop.csv" for a user's folder).
    """
    p = Path(path).expanduser()
    try:
        return p.resolve().relative_to(data_dir().resolve()).as_posix()
    except (ValueError, OSError):
        pass
    if not p.is_absolute():
        return p.as_posix()
    return Path(*p.parts[-2:]).as_posix() if len(p.parts) > 2 else p.name
