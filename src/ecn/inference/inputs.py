"""Inputs to prediction (structure files, folders, CSVs with a ``cif`` column) and the output CSV.

One input path for structures: CIF (also gzipped, ``.cif.gz``), POSCAR / CONTCAR (``.vasp``),
and with the ``ase`` extra extended XYZ; the format is detected from the content (gzip magic,
CIF ``data_`` / ``_cell_length_a`` tags, the POSCAR scale + 3x3 lattice lines, the extxyz
``Lattice=`` comment line), not from the file name. A file is read only up to
:data:`MAX_INPUT_BYTES` (also after decompression).

Every input is accounted for (issue 25): each path given, and each folder entry whose name looks
like a structure file (hidden files skipped), gets at least one item, and an input that cannot
be used gets an item with an ``error``, never an exception and never silence: a missing file,
a broken link, a folder, a FIFO, a device (also behind a symbolic link: such a path is never
opened), an unreadable, binary or UTF-16 file, an XYZ file without a lattice.

Ids are unique:

* a structure file's id is its name without ``.gz`` and the last suffix (``a.cif.gz`` -> ``a``);
  when several inputs would share an id, each of them gets its file name instead (``a.cif``,
  ``a.cif.gz``), and the path as found where names collide too (same name in two folders);
* a CIF with several data blocks gives one item per block holding a structure, with id
  ``<id>:<block name>`` (blocks with neither a cell nor atom sites, e.g. a publication block,
  are skipped; a single remaining block keeps the file's id). More than
  :data:`MAX_CIF_BLOCKS` blocks: one error item, found by counting ``data_`` lines before
  anything is parsed;
* CSV rows take their ``id`` / ``material_id`` column (``<csv name>:<row>`` without one);
* any id still seen before gets ``#2``, ``#3``, ... in input order.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import math
import os
import re
import stat
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecn.data.validate import shorten
from ecn.io import atomic_write

__all__ = [
    "MAX_CIF_BLOCKS",
    "InputItem",
    "as_structure",
    "cif_blocks",
    "describe_path",
    "detect_format",
    "iter_inputs",
    "read_inputs",
    "write_rows",
]

#: Largest structure file read (bytes, after decompression): bounds one input's memory.
MAX_INPUT_BYTES = 20_000_000
#: Most data blocks one CIF file may hold (one row each); more are rejected before parsing.
MAX_CIF_BLOCKS = 100
#: File names a folder scan picks up (lower-case; the format is then read from the content).
_STRUCTURE_NAME = re.compile(
    r"(\.(cif|vasp|poscar|xyz|extxyz)(\.gz)?$)|(^(poscar|contcar)([._-].*)?(\.gz)?$)"
)
_FLOAT = r"[-+]?(\d+\.?\d*|\.\d+)([eEdD][-+]?\d+)?"
_VEC3 = re.compile(rf"^\s*{_FLOAT}\s+{_FLOAT}\s+{_FLOAT}(\s.*)?$")
_XYZ_ATOM = re.compile(rf"^\s*[A-Za-z][a-z]?\s+{_FLOAT}\s+{_FLOAT}\s+{_FLOAT}(\s.*)?$")
_DATA_LINE = re.compile(r"^[ \t]*data_(\S*)", re.M | re.I)


@dataclass
class InputItem:
    """One input: an id, where it came from, and CIF text or a structure (or an error)."""

    id: str
    source: str
    cif: str | None = None
    structure: Any = None
    error: str | None = None


@dataclass
class _Entry:
    """One input path after folders are expanded: its id, and what is wrong with it if not a
    regular file (None) or a folder without structure files."""

    path: Path
    id: str = ""
    problem: str | None = None


def read_inputs(paths: Iterable[str | Path]) -> list[InputItem]:
    """CIF files, folders of CIFs (sorted), or CSV files with a ``cif`` column (+ ``id`` or
    ``material_id``). Unusable inputs become items with an error (module docstring)."""
    return list(iter_inputs(paths))


def iter_inputs(
    paths: Iterable[str | Path],
    skip: Collection[str] = (),
    shard: tuple[int, int] | None = None,
) -> Iterator[InputItem]:
    """The items of :func:`read_inputs`, read one file at a time (memory flat in the number of
    inputs). Items whose id is in `skip` are not yielded, and a structure file whose id is in
    `skip` is not even read (``ecn predict --resume``); ids are the same as without `skip`.

    `shard` ``(K, N)`` (``ecn predict --shard K/N``) yields only the K-th of N contiguous, near
    equal parts of the input units: a unit is a structure file (all its blocks) or a CSV row,
    numbered in input order after folders are expanded and sorted. The N parts cover every unit
    once, so the outputs of shards 1..N, concatenated in that order, are the rows of one
    unsharded run, ids included. Files outside the shard are not read; CSVs are read by every
    shard (to number their rows), their CIF text parsed only in its own.
    """
    entries = _expand(paths)
    _assign_ids(entries)
    lo, hi = _shard_bounds(entries, shard)
    seen: set[str] = set()
    unit = 0
    for entry in entries:
        if entry.problem is None and _is_csv(entry.path):
            for row_items in _read_csv(entry.path):
                mine = lo <= unit < hi
                unit += 1
                for item in row_items:
                    item.id = _unique(item.id, seen)
                    if mine and item.id not in skip:
                        yield item
            continue
        mine = lo <= unit < hi
        unit += 1
        if not mine:
            _unique(entry.id, seen)
            continue
        if entry.problem is None and entry.id in skip:
            seen.add(entry.id)
            continue
        for item in _entry_items(entry):
            item.id = _unique(item.id, seen)
            if item.id not in skip:
                yield item


def _shard_bounds(entries: list[_Entry], shard: tuple[int, int] | None) -> tuple[int, float]:
    """Unit numbers ``[lo, hi)`` of shard ``(K, N)`` (all units without a shard)."""
    if shard is None:
        return 0, math.inf
    k, n = shard
    if not 1 <= k <= n:
        raise ValueError(f"shard K/N needs 1 <= K <= N, got {k}/{n}")
    total = sum(
        sum(1 for _ in _read_csv(e.path)) if e.problem is None and _is_csv(e.path) else 1
        for e in entries
    )
    return total * (k - 1) // n, total * k // n


def describe_path(path: Path) -> str | None:
    """None for a regular file (or a symbolic link to one); else what `path` is, in words:
    ``file not found``, ``a folder``, ``a FIFO (named pipe)``, ``a symbolic link to a
    character device (/dev/zero)``, ... Never opens the path."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            return f"a broken symbolic link (to {os.readlink(path)}, which does not exist)"
        return "file not found"
    except OSError as exc:
        return f"not accessible ({(exc.strerror or type(exc).__name__).lower()})"
    if stat.S_ISREG(st.st_mode):
        return None
    kinds = (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    )
    kind = next((k for test, k in kinds if test(st.st_mode)), "not a regular file")
    if os.path.islink(path):
        return f"a symbolic link to {kind} ({os.path.realpath(path)})"
    return kind


def _expand(paths: Iterable[str | Path]) -> list[_Entry]:
    """Input paths -> entries; a folder becomes its structure files (sorted by name)."""
    entries: list[_Entry] = []
    for raw in paths:
        p = Path(raw)
        what = describe_path(p)
        if what != "a folder":
            entries.append(_Entry(p, problem=None if what is None else _problem_text(what)))
            continue
        try:
            names = sorted(
                f.name
                for f in p.iterdir()
                if not f.name.startswith(".") and _STRUCTURE_NAME.search(f.name.lower())
            )
        except OSError as exc:
            msg = f"cannot list folder: {(exc.strerror or type(exc).__name__).lower()}"
            entries.append(_Entry(p, p.name or str(p), msg))
            continue
        if not names:
            msg = "folder contains no structure files (.cif, .cif.gz, POSCAR/CONTCAR, .vasp, .xyz)"
            entries.append(_Entry(p, p.name or str(p), msg))
        for name in names:
            f = p / name
            what = describe_path(f)
            entries.append(_Entry(f, problem=None if what is None else _problem_text(what)))
    return entries


def _problem_text(what: str) -> str:
    if what == "file not found" or what.startswith("not accessible"):
        return what
    return f"not a regular file: {what}"


def _is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def _assign_ids(entries: list[_Entry]) -> None:
    """File ids: the stem; the file name where stems collide; the path where names do too."""
    todo = [e for e in entries if not e.id]
    for e in todo:
        e.id = _stem(e.path) or str(e.path)
    for key in (lambda e: e.path.name, lambda e: str(e.path)):
        counts: dict[str, int] = {}
        for e in todo:
            counts[e.id] = counts.get(e.id, 0) + 1
        for e in todo:
            if counts[e.id] > 1:
                e.id = key(e) or str(e.path)


def _unique(sid: str, seen: set[str]) -> str:
    """`sid`, or ``sid#2``, ``sid#3``, ... if already seen; records the result in `seen`."""
    out, k = sid, 1
    while out in seen:
        k += 1
        out = f"{sid}#{k}"
    seen.add(out)
    return out


def _entry_items(entry: _Entry) -> Iterator[InputItem]:
    src = str(entry.path)
    if entry.problem is not None:
        yield InputItem(entry.id, src, error=entry.problem)
    elif _is_csv(entry.path):
        for row_items in _read_csv(entry.path):
            yield from row_items
    else:
        yield from _read_structure_file(entry.path, entry.id)


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
                raise ValueError(f"corrupt gzip file: {shorten(str(exc))}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise ValueError(f"file larger than {MAX_INPUT_BYTES // 1_000_000} MB")
    return data


def detect_format(text: str) -> str | None:
    """``cif``, ``poscar``, ``extxyz`` or ``xyz`` (no lattice) from the content, or None."""
    head = text.lstrip()[:20000]
    if re.search(r"^\s*data_", head, re.M) or "_cell_length_a" in head:
        return "cif"
    lines = head.splitlines()
    if len(lines) >= 2 and lines[0].strip().isdigit():
        if "lattice=" in lines[1].lower():
            return "extxyz"
        if len(lines) >= 3 and _XYZ_ATOM.match(lines[2]):
            return "xyz"  # plain XYZ: atoms without a cell
    if len(lines) >= 7:
        try:
            [float(v) for v in lines[1].split()[:1] or ["x"]]
        except ValueError:
            return None
        if all(_VEC3.match(ln) for ln in lines[2:5]):
            return "poscar"
    return None


def _read_structure_file(path: Path, sid: str) -> Iterator[InputItem]:
    src = str(path)
    try:
        data = _read_bounded(path)
    except OSError as exc:
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
        yield InputItem(sid, src, error=f"cannot read file: {reason}")
        return
    except ValueError as exc:
        yield InputItem(sid, src, error=f"cannot read file: {exc}")
        return
    problem = encoding_problem(data)
    if problem is not None:
        yield InputItem(sid, src, error=problem)
        return
    text = data.decode("utf-8-sig", errors="replace")
    fmt = detect_format(text)
    if fmt is None or fmt == "cif":
        # unrecognised content is handed to the CIF parser, whose error names the problem
        yield from cif_items(sid, src, text)
    elif fmt == "xyz":
        yield InputItem(sid, src, error=_XYZ_NO_LATTICE)
    else:
        try:
            yield InputItem(sid, src, structure=_parse_text(text, fmt))
        except Exception as exc:  # noqa: BLE001 - parsers raise many types for broken text
            msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            yield InputItem(sid, src, error=f"unparseable {fmt.upper()}: {shorten(msg)}")


_XYZ_NO_LATTICE = (
    'XYZ file without a lattice (no Lattice="..." on its comment line): a crystal needs its '
    "cell; write it as extended XYZ"
)


def encoding_problem(data: bytes) -> str | None:
    """Why raw file bytes are not a text structure file (UTF-16, binary), or None."""
    head = data[:4096]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "file is UTF-16 encoded, not UTF-8: convert it (iconv -f UTF-16 -t UTF-8)"
    if b"\x00" in head:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if max(even, odd) > 0.3 * len(head) / 2 and min(even, odd) < 0.05 * len(head) / 2:
            return "file looks UTF-16 encoded (no BOM), not UTF-8: convert it to UTF-8"
        return "binary file (NUL bytes), not a text structure file"
    return None


def cif_blocks(text: str) -> list[tuple[str, str]]:
    """``(block name, block text)`` for each data block of CIF text that holds a structure
    (a cell or atom sites); ``[("", text)]`` for a single block or none.

    Raises:
        ValueError: more than :data:`MAX_CIF_BLOCKS` ``data_`` lines (counted first, so a file
            of thousands of blocks is rejected without parsing them).
    """
    n = sum(1 for _ in itertools.islice(_DATA_LINE.finditer(text), MAX_CIF_BLOCKS + 1))
    if n <= 1:
        return [("", text)]
    if n > MAX_CIF_BLOCKS:
        raise ValueError(
            f"CIF holds more than {MAX_CIF_BLOCKS} data blocks (at most {MAX_CIF_BLOCKS} per "
            "file, one row each): split the file"
        )
    starts: list[tuple[int, str]] = []
    in_text, pos = False, 0
    for line in text.splitlines(keepends=True):
        if line.startswith(";"):
            in_text = not in_text
        elif not in_text and (m := _DATA_LINE.match(line)):
            starts.append((pos, m.group(1)))
        pos += len(line)
    bounds = [p for p, _ in starts[1:]] + [len(text)]
    blocks = [(name, text[p:end]) for (p, name), end in zip(starts, bounds, strict=True)]
    blocks = [(n_, b) for n_, b in blocks if _holds_structure(b)]
    if len(blocks) <= 1:
        return [("", blocks[0][1] if blocks else text)]
    names: list[str] = []
    for k, (name, _) in enumerate(blocks):
        names.append(name if name and name not in names else str(k + 1))
    return list(zip(names, [b for _, b in blocks], strict=True))


def _holds_structure(block: str) -> bool:
    low = block.lower()
    return "_cell_length_a" in low or "_atom_site_fract_x" in low or "_atom_site_cartn_x" in low


def cif_items(sid: str, source: str, text: str) -> list[InputItem]:
    """One item per structure block of CIF text (:func:`cif_blocks`), ids ``sid:block``."""
    try:
        blocks = cif_blocks(text)
    except ValueError as exc:
        return [InputItem(sid, source, error=str(exc))]
    if len(blocks) == 1:
        return [InputItem(sid, source, cif=blocks[0][1])]
    return [InputItem(f"{sid}:{name}", f"{source}:data_{name}", cif=b) for name, b in blocks]


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


def _read_csv(path: Path) -> Iterator[list[InputItem]]:
    """The items of each row of a CSV (one list per row; a read error ends it with one more)."""
    row_no = 1
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            if "cif" not in cols:
                yield [InputItem(path.stem, str(path), error="CSV has no 'cif' column")]
                return
            id_col = next((c for c in ("id", "material_id") if c in cols), None)
            for k, row in enumerate(reader):
                row_no = k + 2
                sid = str(row[id_col]) if id_col else f"{path.stem}:{k}"
                yield cif_items(sid, f"{path}:{row_no}", row["cif"] or "")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        yield [
            InputItem(
                f"{path.stem}:line{row_no}", str(path), error=f"cannot read CSV: {shorten(reason)}"
            )
        ]


def as_structure(obj: Any) -> Any:
    """pymatgen ``Structure`` as is; ``ase.Atoms`` (or a subclass, such as pymatgen's own
    ``MSONAtoms`` that ase's readers return once pymatgen is loaded) via ``AseAtomsAdaptor``."""
    from pymatgen.core import Structure  # lazy: pymatgen costs ~1 s to import

    if isinstance(obj, Structure):
        return obj
    if any(c.__name__ == "Atoms" and c.__module__.startswith("ase") for c in type(obj).__mro__):
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
