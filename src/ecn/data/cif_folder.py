"""A folder of CIFs in the CGCNN convention (`id_prop.csv` + `<id>.cif`): split 'all' is every
row; train/val/test are a seeded 80/10/10 split of the rows (`ecn.data.splits.seeded_split`).

The rules, so that a run says what it used and why it skipped a row:

* **Columns.** Column 0 of `id_prop.csv` is the id, columns 1, 2, ... are targets. A first row
  whose target fields are all non-numbers is a header naming them; without one, column 1 is
  ``target`` and column k > 1 ``target_k`` (`ecn.data.readers.read_id_prop`).
* **Which target** (`resolve_targets`, ``ecn train --target``): a header name, or a position
  (``1`` = column 1, CGCNN's target, ``2`` = the next, ...). The default, and ``target`` when no
  column has that name, is column 1 whatever the width. Anything else is refused with the list of
  columns.
* **Rejected rows** (each with its id and reason in the run folder's ``rejected.csv``): a
  selected target that is not a number (the value is quoted; empty, ``nan``, ``None``, ``NA``
  are missing: "missing or NaN"); an id on several rows with different target values (none of
  them is used: which one is right is unknown; the values are listed); a repeat of an earlier
  row with the same values (the first is kept); a missing or unreadable ``<id>.cif``; then the
  structure checks of `ecn.data.validate`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ecn.data.checksums import sha256_bytes, sha256_file
from ecn.data.loading import load_rows
from ecn.data.readers import Row, read_cif_folder, read_id_prop
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
    rows_all, names, missing, not_numbers = read_cif_folder(folder)
    req = tuple(required) if required is not None else (names[0],)
    if split != "all":
        keep = seeded_split(len(rows_all), seed=SPLIT_SEED)[split].tolist()
    else:
        keep = list(range(len(rows_all)))
    bad = {k: reason for k, _, reason in missing}
    bad.update(_duplicates(rows_all, req))
    for k, fields in not_numbers.items():
        for name in req:
            if name in fields:
                bad[k] = f"target '{name}' is not a number: {fields[name]!r}"
                break
    rows = [rows_all[k] for k in keep]
    known = {j: bad[k] for j, k in enumerate(keep) if k in bad}
    # The checksum covers id_prop.csv and every CIF text (a folder has no single file).
    parts = [sha256_file(folder / "id_prop.csv")]
    parts += [f"{rid}:{hash_text(cif)}" for rid, cif, _ in rows]

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


def _duplicates(rows: Sequence[Row], required: Sequence[str]) -> dict[int, str]:
    """{row index: reason} for ids on several rows (module docstring: the rule)."""
    where: dict[str, list[int]] = {}
    for k, (rid, _, _) in enumerate(rows):
        where.setdefault(rid, []).append(k)
    out: dict[int, str] = {}
    for rid, ks in where.items():
        if len(ks) < 2:
            continue
        cols = list(required) or list(rows[ks[0]][2])
        values = [tuple(rows[k][2].get(c, math.nan) for c in cols) for k in ks]
        same = all(_same(v, values[0]) for v in values)
        shown = "; ".join(
            ", ".join(f"{c}={x:g}" for c, x in zip(cols, v, strict=True)) for v in values
        )
        for j, k in enumerate(ks):
            if same and j == 0:
                continue
            out[k] = (
                f"id {rid!r} repeats an earlier row of id_prop.csv with the same targets "
                "(the first is kept)"
                if same
                else f"id {rid!r} is on {len(ks)} rows of id_prop.csv with different targets "
                f"({shown}); none is used"
            )
    return out


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


def resolve_targets(path: str | Path, targets: Sequence[str]) -> list[str]:
    """The column names `targets` select in the folder's `id_prop.csv` (module docstring: a
    name or a position; empty = column 1; ``target`` = column 1 unless a column has that name).

    Raises:
        ValueError: a selector that names no column (the message lists the columns).
        FileNotFoundError: no id_prop.csv.
    """
    names = read_id_prop(Path(path).expanduser())[2]
    out: list[str] = []
    for t in list(targets) or ["1"]:
        t = str(t).strip()
        if t in names:
            out.append(t)
        elif t == "target" or (t.isdigit() and 1 <= int(t) <= len(names)):
            out.append(names[int(t) - 1] if t.isdigit() else names[0])
        else:
            cols = ", ".join(f"{k} {n}" for k, n in enumerate(names, start=1))
            raise ValueError(
                f"{display_path(Path(path) / 'id_prop.csv')} has no target column {t!r}; its "
                f"target columns (position name) are: {cols}. Give a name or a position 1.."
                f"{len(names)} (column 0 is the id)"
            )
    return out


def hash_text(text: str) -> str:
    """Short sha256 of a text (a CIF's part of the folder checksum)."""
    return sha256_bytes(text.encode())[:16]
