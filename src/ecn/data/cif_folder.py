"""A folder of CIFs in the CGCNN convention (`id_prop.csv` + `<id>.cif`): split 'all' is every
row; train/val/test are a seeded 80/10/10 split of the rows (`ecn.data.splits.seeded_split`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ecn.data.checksums import sha256_bytes, sha256_file
from ecn.data.loading import load_rows
from ecn.data.readers import Row, read_cif_folder
from ecn.data.splits import seeded_split
from ecn.data.types import LoadedSplit
from ecn.settings import display_path

NAME = "cif"
SPLITS = ("all", "train", "val", "test")
SPLIT_SEED = 0


def load(
    split: str,
    limit: int | None = None,
    path: str | Path | None = None,
    *,
    required: Sequence[str] | None = None,
    verify: bool = True,
    use_cache: bool = True,
) -> LoadedSplit:
    """Registry loader (`ecn.data.load_split("cif", ..., path=folder)`); `path` is required.

    `verify` has no effect (a user's folder has no recorded hashes); the checksum covers
    id_prop.csv and every CIF text.
    """
    if path is None:
        raise ValueError("dataset 'cif' needs path= (a folder with id_prop.csv and <id>.cif)")
    if split not in SPLITS:
        raise ValueError(f"cif has splits {SPLITS}, not {split!r}")
    folder = Path(path).expanduser()
    rows_all, names, missing = read_cif_folder(folder)
    if split != "all":
        keep = seeded_split(len(rows_all), seed=SPLIT_SEED)[split].tolist()
    else:
        keep = list(range(len(rows_all)))
    bad = {k: reason for k, _, reason in missing}
    rows = [rows_all[k] for k in keep]
    known = {j: bad[k] for j, k in enumerate(keep) if k in bad}
    # The checksum covers id_prop.csv and every CIF text (a folder has no single file).
    parts = [sha256_file(folder / "id_prop.csv")]
    parts += [f"{rid}:{hash_text(cif)}" for rid, cif, _ in rows]
    req = tuple(required) if required is not None else (names[0],)

    def rows_fn() -> tuple[list[Row], dict[int, str]]:
        return rows, known

    note = f"CIF folder {display_path(folder)} (CGCNN convention, {len(rows_all)} rows" + (
        f"; split {split!r} = seeded 80/10/10, seed {SPLIT_SEED})" if split != "all" else ")"
    )
    return load_rows(
        NAME,
        split,
        rows_fn,
        source_hashes=parts,
        required=req,
        target_names=names,
        limit=limit,
        use_cache=use_cache,
        source_note=note,
        source_files=[display_path(folder / "id_prop.csv")],
    )


def hash_text(text: str) -> str:
    """Short sha256 of a text (a CIF's part of the folder checksum)."""
    return sha256_bytes(text.encode())[:16]
