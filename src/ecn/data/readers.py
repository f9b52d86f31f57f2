"""File readers: each turns one source format into rows `(id, cif text, targets)`.

Rows are validated later (`ecn.data.validate`), so a reader only fails for a whole-file problem
(missing file, missing columns) and never for one bad row.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

from ecn.data.validate import to_float

logger = logging.getLogger(__name__)

Row = tuple[str, str, dict[str, float]]

PEROV5_COLUMNS = ("material_id", "cif", "formula", "heat_all", "heat_ref", "dir_gap", "ind_gap")
PEROV5_TARGETS = ("heat_all", "heat_ref", "dir_gap", "ind_gap")
CASTELLI_COLUMNS = (
    "fermi_level",
    "fermi_width",
    "e_form",
    "gap_is_direct",
    "mu_b",
    "formula",
    "vbm",
    "cbm",
    "gap_gllbsc",
    "cif",
)
CASTELLI_TARGETS = (
    "e_form",
    "gap_gllbsc",
    "gap_is_direct",
    "mu_b",
    "fermi_level",
    "fermi_width",
    "vbm",
    "cbm",
)


def read_csv_table(path: str | Path, required: Sequence[str]):
    """Read a CSV (optionally .gz) with pandas, keeping text columns as text.

    Raises:
        FileNotFoundError: no such file.
        ValueError: required columns are missing (names the file and the columns).
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"data file not found: {p}")
    df = pd.read_csv(
        p, dtype={"material_id": str, "cif": str, "formula": str}, keep_default_na=True
    )
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{p}: missing column(s) {missing}; found {list(df.columns)}")
    return df


def perov5_rows(df, targets: Sequence[str] = PEROV5_TARGETS) -> list[Row]:
    """Rows of a Perov-5 (CDVAE) table: id = material_id."""
    out: list[Row] = []
    cols = [df[t].tolist() for t in targets]
    for k, (mid, cif) in enumerate(
        zip(df["material_id"].tolist(), df["cif"].tolist(), strict=False)
    ):
        rid = str(mid) if isinstance(mid, str) and mid.strip() else f"row{k}"
        out.append((rid, cif, {t: to_float(c[k]) for t, c in zip(targets, cols, strict=False)}))
    return out


def read_perov5_csv(path: str | Path) -> list[Row]:
    """Perov-5 CSV (columns material_id, cif, formula, heat_all, heat_ref, dir_gap, ind_gap)."""
    return perov5_rows(read_csv_table(path, PEROV5_COLUMNS))


def castelli_id(index_value: object, k: int) -> str:
    """Id of a row of the matminer castelli export: its row index in the full 18,928 frame."""
    try:
        return f"castelli-{int(index_value)}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"castelli-row{k}"


def castelli_rows(df) -> list[Row]:
    """Rows of the matminer castelli_perovskites export; gap_is_direct becomes 0.0/1.0."""
    index_col = df.columns[0] if str(df.columns[0]).startswith("Unnamed") else None
    idx = df[index_col].tolist() if index_col is not None else list(range(len(df)))
    cols = {t: df[t].tolist() for t in CASTELLI_TARGETS}
    out: list[Row] = []
    for k, cif in enumerate(df["cif"].tolist()):
        out.append((castelli_id(idx[k], k), cif, {t: to_float(cols[t][k]) for t in cols}))
    return out


def read_castelli_csv(path: str | Path) -> list[Row]:
    """matminer castelli_perovskites export (CSV or CSV.gz with a `cif` column)."""
    return castelli_rows(read_csv_table(path, CASTELLI_COLUMNS))


def read_id_prop(folder: str | Path) -> tuple[list[str], list[list[str]], tuple[str, ...]]:
    """`id_prop.csv` of a CGCNN folder: rows `id,target[,more targets]`, usually no header.

    Column 0 is the id, columns 1, 2, ... are targets. A first row whose target fields are all
    non-numbers is a header (the target names). Without one, column 1 is named ``target`` and
    column k > 1 ``target_k`` (so ``target`` is CGCNN's column whatever the width). Rows are
    returned as text; `ecn.data.cif_folder` turns them into numbers or rejections.
    """
    p = Path(folder) / "id_prop.csv"
    if not p.is_file():
        raise FileNotFoundError(f"{p} not found (CGCNN convention: id_prop.csv + <id>.cif)")
    with open(p, newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{p} is empty")
    names: tuple[str, ...] | None = None
    first = rows[0]
    if len(first) > 1 and all(_not_number(c) for c in first[1:]):
        names = tuple(c.strip() for c in first[1:])
        rows = rows[1:]
    width = max((len(r) for r in rows), default=1) - 1
    if names is None and width < 1:
        raise ValueError(f"{p}: rows need an id and at least one target")
    if names is None:
        names = ("target", *(f"target_{k}" for k in range(2, width + 1)))
    ids = [r[0].strip() for r in rows]
    values = [[c.strip() for c in r[1:]] + [""] * (len(names) - len(r) + 1) for r in rows]
    return ids, values, names


def _missing_word(text: str) -> bool:
    """'true'/'false' (read as 1/0) and the usual spellings of a missing value."""
    return text.strip().lower() in ("true", "false", "none", "na", "n/a", "null", "")


def _not_number(text: str) -> bool:
    try:
        float(text)
        return False
    except ValueError:
        return True


def read_cif_folder(
    folder: str | Path,
) -> tuple[list[Row], tuple[str, ...], list[tuple[int, str, str]], dict[int, dict[str, str]]]:
    """Rows of a CGCNN-style folder, the target names, `(row, id, reason)` for rows whose
    `<id>.cif` is missing or unreadable, and `{row: {target: text}}` for target fields that are
    neither a number nor empty (their value in the row is NaN)."""
    folder = Path(folder)
    ids, values, names = read_id_prop(folder)
    rows: list[Row] = []
    missing: list[tuple[int, str, str]] = []
    not_numbers: dict[int, dict[str, str]] = {}
    for k, (rid, vals) in enumerate(zip(ids, values, strict=False)):
        cif_path = folder / f"{rid}.cif"
        try:
            text = cif_path.read_text(errors="replace")
        except OSError as exc:
            missing.append(
                (k, rid, f"CIF file {cif_path.name} not readable: {exc.strerror or exc}")
            )
            text = ""
        fields = dict(zip(names, vals[: len(names)], strict=False))
        bad = {n: v for n, v in fields.items() if v and _not_number(v) and not _missing_word(v)}
        if bad:
            not_numbers[k] = bad
        rows.append((rid, text, {n: to_float(v) for n, v in fields.items()}))
    return rows, names, missing, not_numbers
