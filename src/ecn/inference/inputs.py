"""Inputs to prediction (CIF files, folders, CSVs with a ``cif`` column) and the output CSV.

Every input that cannot be used becomes an item with an ``error``, never an exception, so one bad
file in a folder costs one row, not the batch.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecn.io import atomic_write

__all__ = ["InputItem", "as_structure", "read_inputs", "write_rows"]


@dataclass
class InputItem:
    """One input: an id, where it came from, and CIF text or a structure (or an error)."""

    id: str
    source: str
    cif: str | None = None
    structure: Any = None
    error: str | None = None


def read_inputs(paths: Iterable[str | Path]) -> list[InputItem]:
    """CIF files, folders of CIFs (sorted), or CSV files with a ``cif`` column (+ ``id`` or
    ``material_id``). Unreadable inputs become items with an error."""
    items: list[InputItem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".cif")
            if not files:
                items.append(InputItem(p.name, str(p), error="folder contains no .cif files"))
            items.extend(_read_cif_file(f) for f in files)
        elif p.suffix.lower() == ".csv" and p.is_file():
            items.extend(_read_csv(p))
        elif p.is_file():
            items.append(_read_cif_file(p))
        else:
            items.append(InputItem(p.stem or str(p), str(p), error="file not found"))
    return items


def _read_cif_file(path: Path) -> InputItem:
    try:
        return InputItem(path.stem, str(path), cif=path.read_text(errors="replace"))
    except OSError as exc:
        return InputItem(path.stem, str(path), error=f"cannot read file: {exc}")


def _read_csv(path: Path) -> list[InputItem]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        if "cif" not in cols:
            return [InputItem(path.stem, str(path), error="CSV has no 'cif' column")]
        id_col = next((c for c in ("id", "material_id") if c in cols), None)
        return [
            InputItem(
                str(row[id_col]) if id_col else f"{path.stem}:{k}",
                f"{path}:{k + 2}",
                cif=row["cif"],
            )
            for k, row in enumerate(reader)
        ]


def as_structure(obj: Any) -> Any:
    """pymatgen ``Structure`` as is; ``ase.Atoms`` via pymatgen's ``AseAtomsAdaptor``."""
    from pymatgen.core import Structure  # lazy: pymatgen costs ~1 s to import

    if isinstance(obj, Structure):
        return obj
    if type(obj).__name__ == "Atoms" and type(obj).__module__.startswith("ase"):
        from pymatgen.io.ase import AseAtomsAdaptor

        return AseAtomsAdaptor.get_structure(obj)
    raise ValueError(f"expected a pymatgen Structure or ase.Atoms, got {type(obj).__name__}")


def write_rows(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Write prediction rows as CSV (columns from the first row), one line per input."""
    if not rows:
        raise ValueError("nothing to write")
    path = Path(path)
    with atomic_write(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        # multi-line parser messages would make the CSV hard to read
        w.writerows(
            {
                k: " ".join(v.split()) if k == "error" and isinstance(v, str) else v
                for k, v in r.items()
            }
            for r in rows
        )
    return path
