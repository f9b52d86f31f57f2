"""On-disk cache of parsed records (arrays in an .npz), so CIFs are parsed once per file version.

Why: pymatgen's CIF parser costs about 3 ms per structure (about 12 s per Perov-5 split);
rebuilding a `Structure` from arrays costs about 0.06 ms. The cache file name holds the split's
checksum (source file hashes + reader version), so a changed file can never hit a stale entry.
Written to a temporary file and renamed, so a crash never leaves a half cache.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecn.data.types import Record, Rejection
from ecn.io import atomic_write
from ecn.settings import cache_dir

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


def records_cache_dir() -> Path:
    """`<cache dir>/records` (cache dir: ECN_CACHE_DIR, else the user cache)."""
    return cache_dir() / "records"


def cache_path(name: str, split: str, checksum: str) -> Path:
    return records_cache_dir() / f"{name}-{split}-{checksum[:20]}.npz"


def save(
    path: Path,
    records: Sequence[Record],
    record_rows: Sequence[int],
    rejected: Sequence[Rejection],
    rejected_rows: Sequence[int],
    target_names: Sequence[str],
    meta: dict[str, Any],
) -> None:
    """Write records + rejections atomically (temp file, then rename)."""
    n_sites = np.array([len(r.structure) for r in records], dtype=np.int64)
    lattice = np.array([r.structure.lattice.matrix for r in records], dtype=np.float64)
    frac = (
        np.concatenate([r.structure.frac_coords for r in records]) if records else np.zeros((0, 3))
    )
    species = [str(s.specie) for r in records for s in r.structure]
    targets = np.array(
        [[r.targets.get(t, np.nan) for t in target_names] for r in records], dtype=np.float64
    ).reshape(len(records), len(target_names))
    payload = {
        "version": np.array(FORMAT_VERSION),
        "ids": np.array([r.id for r in records], dtype=str),
        "rows": np.asarray(record_rows, dtype=np.int64),
        "n_sites": n_sites,
        "lattice": lattice.reshape(-1, 3, 3),
        "frac": frac,
        "species": np.array(species, dtype=str),
        "targets": targets,
        "target_names": np.array(list(target_names), dtype=str),
        "rej_ids": np.array([r.id for r in rejected], dtype=str),
        "rej_reasons": np.array([r.reason for r in rejected], dtype=str),
        "rej_rows": np.asarray(rejected_rows, dtype=np.int64),
        "meta": np.array(json.dumps(meta)),
    }
    with atomic_write(path, "wb") as f:
        np.savez(f, **payload)


def load(
    path: Path, limit: int | None = None
) -> tuple[list[Record], list[Rejection], dict[str, Any]] | None:
    """Read a cache file; rows at index >= `limit` are dropped. None if absent or unreadable."""
    if not path.is_file():
        return None
    from pymatgen.core import Lattice, Structure

    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != FORMAT_VERSION:
                return None
            d = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - a broken cache is rebuilt, not fatal
        logger.warning("ignoring unreadable records cache %s (%s)", path, exc)
        return None
    names = [str(t) for t in d["target_names"]]
    starts = np.concatenate([[0], np.cumsum(d["n_sites"])])
    records: list[Record] = []
    for k, rid in enumerate(d["ids"]):
        if limit is not None and d["rows"][k] >= limit:
            continue
        a, b = starts[k], starts[k + 1]
        s = Structure(Lattice(d["lattice"][k]), [str(x) for x in d["species"][a:b]], d["frac"][a:b])
        records.append(
            Record(str(rid), s, {t: float(v) for t, v in zip(names, d["targets"][k], strict=False)})
        )
    rejected = [
        Rejection(str(i), str(r))
        for i, r, row in zip(d["rej_ids"], d["rej_reasons"], d["rej_rows"], strict=False)
        if limit is None or row < limit
    ]
    return records, rejected, json.loads(str(d["meta"]))
