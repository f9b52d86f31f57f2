"""The prediction CSV of ``ecn predict``: checked before any work, written as rows come.

* :func:`check_output` refuses, with one line, an output path that is empty, a folder, not a
  regular file (a symbolic link, a FIFO, a device node: never replaced), or in a place where no
  file can be created. It runs before the model is loaded or any input read.
* :class:`RowWriter` appends rows to ``<out>.partial`` and flushes after every batch, so an
  interrupted run keeps what it finished; :meth:`RowWriter.finish` renames the partial file to
  ``<out>`` (atomic: a reader sees the old output or the complete new one, never half of one).
* Resuming (``--resume``): the rows already in ``<out>.partial`` (else in a complete ``<out>``)
  are kept, and inputs whose id has a row there, a prediction or an error, are not redone
  (delete an error row's line to retry it). A row cut short by the interruption is dropped.
* :func:`merge_outputs` joins the outputs of ``ecn predict --shard K/N`` jobs into one CSV
  (``ecn merge``): headers must agree and no id may appear twice.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

from ecn.inference.inputs import describe_path
from ecn.io import atomic_write

__all__ = ["PARTIAL_SUFFIX", "RowWriter", "check_output", "merge_outputs", "partial_path"]

#: Suffix of the file rows are streamed to before the final rename.
PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | Path) -> Path:
    """Where rows for `path` are written while a run is going."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def check_output(path: str | Path | None) -> Path:
    """`path` as a Path if the prediction CSV can be written there; else ValueError (one line).

    Creates missing parent folders (as the final write would) and probes that a file can be
    created in the folder; nothing else is written.
    """
    raw = "" if path is None else str(path)
    if not raw.strip():
        raise ValueError("--out is empty: give a file path, e.g. --out predictions.csv")
    out = Path(raw)
    if raw.endswith(("/", os.sep)) or out.is_dir():
        raise ValueError(
            f"--out {raw} is a folder: give a file path, e.g. --out {out / 'predictions.csv'}"
        )
    for p in (out, partial_path(out)):
        if os.path.lexists(p):
            what = describe_path(p)
            if what is not None or os.path.islink(p):
                what = what or f"a symbolic link (to {os.readlink(p)})"
                raise ValueError(
                    f"--out {raw}: {p} is {what}, not a regular file; it is not replaced"
                )
    parent = out.parent
    blocker = next((d for d in (parent, *parent.parents) if os.path.lexists(d)), None)
    if blocker is not None and not blocker.is_dir():
        raise ValueError(f"--out {raw}: {blocker} is not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{out.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise ValueError(f"--out {raw}: cannot create a file in {parent} ({reason})") from None
    return out


class RowWriter:
    """Stream prediction rows to ``<path>.partial``; rename to `path` when done.

    Args:
        path: the output CSV (checked with :func:`check_output` first).
        columns: the header (``Predictor.columns(average)``).
        resume: keep the rows of an earlier run (module docstring) instead of starting over.

    Raises:
        ValueError: resuming from a file whose header is not `columns` (another model or
            averaging mode), or that cannot be read.
    """

    def __init__(self, path: str | Path, columns: list[str], resume: bool = False) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.columns = list(columns)
        self.done: set[str] = set()
        self.n_errors = 0
        self.kept = 0
        self.written = 0
        self.restarted = False
        source = self._resume_source() if resume else None
        if source is not None:
            self._load(source)
            if source != self.partial:
                shutil.copyfile(source, self.partial)
            self._fh: IO[str] = self.partial.open("a", newline="", encoding="utf-8")
        else:
            self.restarted = self.partial.exists()
            self._fh = self.partial.open("w", newline="", encoding="utf-8")
            csv.writer(self._fh).writerow(self.columns)
            self._fh.flush()
        self._writer = csv.DictWriter(self._fh, fieldnames=self.columns)

    def _resume_source(self) -> Path | None:
        for p in (self.partial, self.path):
            if p.is_file() and p.stat().st_size > 0:
                return p
        return None

    def _load(self, source: Path) -> None:
        """Read the ids (and error count) of `source`; cut a last line left half-written."""
        data = source.read_bytes()
        if not data.endswith(b"\n"):
            data = data[: data.rfind(b"\n") + 1]
            if source == self.partial:
                with self.partial.open("r+b") as fh:
                    fh.truncate(len(data))
        try:
            reader = csv.DictReader(data.decode("utf-8").splitlines())
            header = list(reader.fieldnames or [])
            rows = list(reader)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ValueError(f"--resume: cannot read {source}: {exc}") from None
        if header != self.columns:
            raise ValueError(
                f"--resume: {source} has columns {','.join(header) or '(none)'}, this run writes "
                f"{','.join(self.columns)} (another model or --average?); use another --out"
            )
        self.done = {r["id"] for r in rows}
        self.kept = len(rows)
        self.n_errors = sum(1 for r in rows if r.get("error"))

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Append `rows` (error messages on one line) and flush them to disk."""
        for r in rows:
            err = r.get("error")
            if isinstance(err, str) and err:
                r = {**r, "error": " ".join(err.split())}
                self.n_errors += 1
            self._writer.writerow(r)
        self._fh.flush()
        self.written += len(rows)

    @property
    def total(self) -> int:
        """Rows in the output: kept from an earlier run + written now."""
        return self.kept + self.written

    def close(self) -> None:
        """Close the partial file, keeping it (an interrupted run)."""
        if not self._fh.closed:
            self._fh.close()

    def finish(self) -> Path:
        """Close and rename the partial file to the output path."""
        self.close()
        os.replace(self.partial, self.path)
        return self.path


def merge_outputs(parts: list[str | Path], out: str | Path) -> tuple[Path, int, int]:
    """Concatenate prediction CSVs (shards 1..N in the order given) into `out`.

    Everything is checked before `out` is written (atomically, never over a non-regular file):
    every part readable, one header for all, no id twice (ids are unique across the shards of
    one input list, so a repeat means a shard given twice or outputs of two runs mixed).

    Returns:
        (out path, rows, rows with an error).

    Raises:
        ValueError: one line naming the file and the problem.
    """
    if not parts:
        raise ValueError("no prediction CSVs to merge")
    target = check_output(out)
    header: list[str] | None = None
    first = ""
    where: dict[str, str] = {}
    for part in parts:
        p = Path(part)
        what = describe_path(p)
        if what is not None:
            raise ValueError(f"{part}: {what}")
        if p.resolve() == target.resolve():
            raise ValueError(f"{part} is also the --out file: write the merge elsewhere")
        try:
            with p.open(newline="", encoding="utf-8") as fh:
                reader = csv.reader(fh)
                cols = next(reader, None)
                if not cols or "id" not in cols:
                    raise ValueError(f"{part}: not a prediction CSV (no header with an id column)")
                if header is None:
                    header, first = cols, str(part)
                elif cols != header:
                    raise ValueError(
                        f"{part} has columns {','.join(cols)}, {first} has {','.join(header)} "
                        "(another model or --average?)"
                    )
                k = cols.index("id")
                for line_no, row in enumerate(reader, start=2):
                    if len(row) != len(cols):
                        raise ValueError(
                            f"{part} line {line_no}: {len(row)} fields, the header has "
                            f"{len(cols)} (an unfinished or damaged file?)"
                        )
                    if row[k] in where:
                        raise ValueError(
                            f"id {row[k]} is in {where[row[k]]} and in {part} (line {line_no}): "
                            "a shard given twice, or outputs of different runs?"
                        )
                    where[row[k]] = str(part)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ValueError(f"cannot read {part}: {reason}") from None
    assert header is not None
    n_rows = n_err = 0
    err_col = header.index("error") if "error" in header else None
    with atomic_write(target, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for part in parts:
            with Path(part).open(newline="", encoding="utf-8") as src:
                reader = csv.reader(src)
                next(reader)
                for row in reader:
                    writer.writerow(row)
                    n_rows += 1
                    n_err += bool(err_col is not None and row[err_col])
    return target, n_rows, n_err
