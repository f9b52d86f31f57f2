"""Inputs to prediction (structure files, folders, CSVs with a ``cif`` column) and the output CSV.

One input path for structures: CIF (also gzipped, ``.cif.gz``), POSCAR / CONTCAR (``.vasp``),
and with the ``ase`` extra extended XYZ; the format is detected from the content (gzip magic,
CIF ``data_`` / ``_cell_length_a`` tags, the POSCAR scale + 3x3 lattice lines, the extxyz
``Lattice=`` comment line), not from the file name. Every input that cannot be used becomes an
item with an ``error``, never an exception, so one bad file in a folder costs one row, not the
batch; a file is read only up to :data:`MAX_INPUT_BYTES` (also after decompression).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecn.io import atomic_write

__all__ = ["InputItem", "as_structure", "detect_format", "read_inputs", "write_rows"]

#: Largest structure file read (bytes, after decompression): bounds one input's memory.
MAX_INPUT_BYTES = 20_000_000
#: File names a folder scan picks up (lower-case; the format is then read from the content).
_STRUCTURE_NAME = re.compile(
    r"(\.(cif|vasp|poscar|xyz|extxyz)(\.gz)?$)|(^(poscar|contcar)([._-].*)?(\.gz)?$)"
)
_FLOAT = r"[-+]?(\d+\.?\d*|\.\d+)([eEdD][-+]?\d+)?"
_VEC3 = re.compile(rf"^\s*{_FLOAT}\s+{_FLOAT}\s+{_FLOAT}(\s.*)?$")


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
            files = sorted(
                f
                for f in p.iterdir()
                if f.is_file()
                and not f.name.startswith(".")
                and _STRUCTURE_NAME.search(f.name.lower())
            )
            if not files:
                items.append(
                    InputItem(
                        p.name,
                        str(p),
                        error="folder contains no structure files (.cif, "
                        ".cif.gz, POSCAR/CONTCAR, .vasp, .xyz)",
                    )
                )
            items.extend(_read_structure_file(f) for f in files)
        elif p.suffix.lower() == ".csv" and p.is_file():
            items.extend(_read_csv(p))
        elif p.is_file():
            items.append(_read_structure_file(p))
        else:
            items.append(InputItem(p.stem or str(p), str(p), error="file not found"))
    return items


def _stem(path: Path) -> str:
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    return Path(name).stem or name


def _read_bounded(path: Path) -> bytes:
    """File bytes, gunzipped when they start with the gzip magic; ValueError past the limit."""
    with path.open("rb") as fh:
        data = fh.read(MAX_INPUT_BYTES + 1)
    if data[:2] == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            try:
                data = gz.read(MAX_INPUT_BYTES + 1)
            except (OSError, EOFError) as exc:
                raise ValueError(f"corrupt gzip file: {exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise ValueError(f"file larger than {MAX_INPUT_BYTES // 1_000_000} MB")
    return data


def detect_format(text: str) -> str | None:
    """``cif``, ``poscar`` or ``extxyz`` from the content, or None."""
    head = text.lstrip()[:20000]
    if re.search(r"^\s*data_", head, re.M) or "_cell_length_a" in head:
        return "cif"
    lines = head.splitlines()
    if len(lines) >= 2 and lines[0].strip().isdigit() and "lattice=" in lines[1].lower():
        return "extxyz"
    if len(lines) >= 7:
        try:
            [float(v) for v in lines[1].split()[:1] or ["x"]]
        except ValueError:
            return None
        if all(_VEC3.match(ln) for ln in lines[2:5]):
            return "poscar"
    return None


def _read_structure_file(path: Path) -> InputItem:
    sid, src = _stem(path), str(path)
    try:
        text = _read_bounded(path).decode(errors="replace")
    except (OSError, ValueError) as exc:
        return InputItem(sid, src, error=f"cannot read file: {exc}")
    fmt = detect_format(text)
    if fmt is None or fmt == "cif":
        # unrecognised content is handed to the CIF parser, whose error names the problem
        return InputItem(sid, src, cif=text)
    try:
        return InputItem(sid, src, structure=_parse_text(text, fmt))
    except Exception as exc:  # noqa: BLE001 - parsers raise many types for broken text
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return InputItem(sid, src, error=f"unparseable {fmt.upper()}: {msg[:200]}")


def _parse_text(text: str, fmt: str) -> Any:
    """A pymatgen Structure from POSCAR or extxyz text."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "poscar":
            from pymatgen.io.vasp import Poscar

            return Poscar.from_str(text).structure
        try:
            import ase.io
        except ImportError:
            raise ValueError("extxyz input needs the ase extra: pip install 'ecn[ase]'") from None
        return as_structure(ase.io.read(io.StringIO(text), format="extxyz"))


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
