"""The one path every dataset goes through: rows -> validated records, with the parsed-records
cache, the split checksum and the summary log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from ecn.data import cache
from ecn.data.checksums import combine
from ecn.data.readers import Row
from ecn.data.types import LoadedSplit, Record, Rejection
from ecn.data.validate import log_summary, make_record

logger = logging.getLogger(__name__)

# Bump when parsing/validation changes what a source file turns into (invalidates caches).
READER_VERSION = "ecn.data-1"

RowsFn = Callable[[], tuple[list[Row], dict[int, str]]]


def split_checksum(
    name: str, split: str, source_hashes: Sequence[str], required: Sequence[str], limit: int | None
) -> str:
    """sha256 that identifies exactly the records of a load (use as a cache key)."""
    parts = [READER_VERSION, name, split, *source_hashes, "required=" + ",".join(required)]
    if limit is not None:
        parts.append(f"limit={limit}")
    return combine(parts)


def load_rows(
    name: str,
    split: str,
    rows_fn: RowsFn,
    *,
    source_hashes: Sequence[str],
    required: Sequence[str],
    target_names: Sequence[str],
    limit: int | None,
    use_cache: bool,
    source_note: str,
    source_files: Sequence[str],
    info: dict[str, Any] | None = None,
) -> LoadedSplit:
    """Validate the rows of one split (or read them from the records cache).

    `rows_fn` returns the rows and `{row index: reason}` for rows already known to be unusable
    (e.g. a missing CIF file). With `limit`, only the first `limit` rows are considered.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    full_sum = split_checksum(name, split, source_hashes, required, None)
    checksum = split_checksum(name, split, source_hashes, required, limit)
    path = cache.cache_path(name, split, full_sum)
    t0 = time.perf_counter()
    hit = cache.load(path, limit) if use_cache else None
    info = dict(info or {})
    if hit is not None:
        records, rejected, _ = hit
        info["records_cache"] = f"hit {path}"
    else:
        rows, known_bad = rows_fn()
        if limit is not None:
            rows = rows[:limit]
        records, rejected = [], []
        rec_rows: list[int] = []
        rej_rows: list[int] = []
        for k, (rid, cif, targets) in enumerate(rows):
            out = (
                Rejection(rid, known_bad[k])
                if k in known_bad
                else make_record(rid, cif, targets, required)
            )
            if isinstance(out, Record):
                records.append(out)
                rec_rows.append(k)
            else:
                rejected.append(out)
                rej_rows.append(k)
        if use_cache and limit is None:
            try:
                cache.save(
                    path,
                    records,
                    rec_rows,
                    rejected,
                    rej_rows,
                    target_names,
                    {"name": name, "split": split, "checksum": full_sum},
                )
                info["records_cache"] = f"written {path}"
            except OSError as exc:
                logger.warning("could not write records cache %s: %s", path, exc)
    info["load_seconds"] = round(time.perf_counter() - t0, 3)
    log_summary(f"{name}/{split}", records, rejected)
    return LoadedSplit(
        name=name,
        split=split,
        records=records,
        rejected=rejected,
        checksum=checksum,
        source_note=source_note,
        source_files=list(source_files),
        target_names=tuple(target_names),
        info=info,
    )
