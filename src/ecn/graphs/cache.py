"""On-disk cache of built graphs: one `GraphStore` folder per (data, settings, code).

Why a folder of flat column files: it holds only the compact unit-cell records (0.5-5 KB per
crystal; the cover and features are expanded per batch), it is memory-mapped, so a split larger
than RAM still trains, and it is written under a temporary name and renamed, so a crashed build
never leaves a half cache. No pickles: every file is raw numbers, JSON or ``.npz``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from ecn.graphs.build import build_units
from ecn.graphs.settings import GraphSettings
from ecn.graphs.store import GraphStore, StoreWriter, store_meta

logger = logging.getLogger(__name__)

# Bump when graph construction changes what it produces (invalidates every cache).
# graphs-4: primitive cell by moyopy (issue 25), Voronoi face areas (issue 26); graphs-3: compact
# stores (issue 12); graphs-2: canonical step
GRAPH_CODE_VERSION = "graphs-4"


def cache_key(data_checksum: str, settings: GraphSettings) -> str:
    """Hash of (data checksum, record-shaping graph settings, graph code version).

    Only ``settings.record_key()`` enters: settings that change the per-batch expansion alone
    (cover, features) reuse the entry.
    """
    text = f"{data_checksum}|{settings.record_key()}|{GRAPH_CODE_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def cache_path(
    name: str, data_checksum: str, settings: GraphSettings, root: Path | None = None
) -> Path:
    """`<cache dir>/<name>-<key>/` (a `GraphStore` folder)."""
    from ecn.settings import cache_dir

    return Path(root or cache_dir()) / f"{name}-{cache_key(data_checksum, settings)}"


def load_or_build(
    name: str,
    data_checksum: str,
    settings: GraphSettings,
    items_fn: Callable[[], Iterable[tuple[str, Structure, np.ndarray | None]]],
    n_jobs: int | None = None,
    progress: bool = True,
    cache_root: Path | None = None,
    rebuild: bool = False,
    stats: dict | None = None,
    n_targets: int | None = None,
) -> tuple[GraphStore, list[tuple[str, str]]]:
    """The records of a dataset split, from the cache when present, else built and cached.

    Args:
        name: cache folder prefix, e.g. ``perov5-test``.
        data_checksum: checksum of the source data (changes -> new cache entry).
        settings: graph settings (part of the key).
        items_fn: called only on a cache miss; yields (id, structure, targets).
        n_jobs, progress: passed to `build_units`.
        cache_root: directory (default `ecn.settings.cache_dir()`).
        rebuild: ignore an existing cache entry.
        stats: filled with ``cached`` (bool), ``path`` and the isolated-atom counts.
        n_targets: width of ``y`` (default: that of the first item).

    Returns:
        (memory-mapped store, rejections) exactly as `build_units` gave them when it was written.
    """
    path = cache_path(name, data_checksum, settings, cache_root)
    stats = {} if stats is None else stats
    if (path / "meta.json").is_file() and not rebuild:
        meta = store_meta(path)
        store = GraphStore.open(path)
        stats.update(meta.get("stats", {}), cached=True, path=str(path))
        logger.info("loaded %d graphs from %s", len(store), path)
        return store, [(str(a), str(b)) for a, b in meta.get("rejected", [])]
    if rebuild and path.exists():
        import shutil

        shutil.rmtree(path)
    items = list(items_fn())
    if n_targets is None:
        n_targets = len(items[0][2]) if items and items[0][2] is not None else 0
    writer = StoreWriter(path, n_targets)
    build_stats: dict = {}
    try:
        _, rejected = build_units(
            items, settings, n_jobs=n_jobs, progress=progress, stats=build_stats, sink=writer.add
        )
    except BaseException:
        writer.abort()
        raise
    meta = {
        "name": name,
        "data_checksum": data_checksum,
        "settings_key": settings.record_key(),
        "code_version": GRAPH_CODE_VERSION,
        "stats": build_stats,
        "rejected": [list(r) for r in rejected],
    }
    store = writer.close(meta)
    stats.update(build_stats, cached=False, path=str(path))
    logger.info("built %d graphs (%d rejected), cached at %s", len(store), len(rejected), path)
    return store, rejected
