"""The matminer castelli_perovskites export subset (test + valid parts of the
Breaddsmall/materials_pretrain random 6:2:2 split; the 60% train part is not available)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ecn.data.checksums import sha256_file, verify_file
from ecn.data.loading import load_rows
from ecn.data.perov5 import CASTELLI_DIR
from ecn.data.readers import CASTELLI_COLUMNS, CASTELLI_TARGETS, Row, castelli_rows, read_csv_table
from ecn.data.types import LoadedSplit
from ecn.settings import data_dir, display_path

NAME = "castelli"
FILES = {"test": "test.csv.gz", "valid": "valid.csv.gz"}
SPLITS: tuple[str, ...] = tuple(FILES)


def load(
    split: str,
    limit: int | None = None,
    path: str | Path | None = None,
    *,
    required: Sequence[str] | None = None,
    verify: bool = True,
    use_cache: bool = True,
) -> LoadedSplit:
    """Registry loader (`ecn.data.load_split("castelli", ...)`); `path` is the export folder or
    the data directory holding it (default: `data_dir()/castelli_perovskites_matminer_subset`)."""
    if split not in FILES:
        raise ValueError(f"castelli has splits {SPLITS}, not {split!r}")
    folder = Path(path) if path is not None else data_dir() / CASTELLI_DIR
    if (folder / CASTELLI_DIR).is_dir():
        folder = folder / CASTELLI_DIR
    f = folder / FILES[split]
    if not f.is_file():
        raise FileNotFoundError(f"castelli export file not found: {f}")
    digest = verify_file(f) if verify else sha256_file(f)
    req = tuple(required) if required is not None else ("e_form",)

    def rows_fn() -> tuple[list[Row], dict[int, str]]:
        return castelli_rows(read_csv_table(f, CASTELLI_COLUMNS)), {}

    note = (
        f"matminer castelli_perovskites export subset ({display_path(f)}; "
        "Breaddsmall/materials_pretrain datasets/perov, their random 6:2:2 split; the 60% train "
        "part is not available)."
    )
    return load_rows(
        NAME,
        split,
        rows_fn,
        source_hashes=[digest],
        required=req,
        target_names=CASTELLI_TARGETS,
        limit=limit,
        use_cache=use_cache,
        source_note=note,
        source_files=[display_path(f)],
    )
