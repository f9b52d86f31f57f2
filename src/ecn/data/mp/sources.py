"""Materials Project sources, all read into one raw table (id, raw DFT values, structure), and
the Table 1 targets derived from the raw values.

- the `mp_cgcnn_36k` CSV in the data directory (checksum-verified);
- a JSON / JSON-lines dump of Materials Project summary documents (what `mp-api` returns;
  `ecn data fetch mp` writes one).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecn.data.checksums import sha256_file, verify_file
from ecn.settings import data_dir

if TYPE_CHECKING:
    import pandas as pd

MP_CSV = "mp_cgcnn_36k/mp_cgcnn_36k.csv.gz"
CSV_COLUMNS = (
    "index",
    "material_id",
    "formation_energy_per_atom",
    "band_gap",
    "efermi",
    "volume",
    "total_magnetization",
    "cif",
)
RAW_TARGETS = ("formation_energy_per_atom", "band_gap", "efermi", "total_magnetization")


@dataclass
class SourceTable:
    """Raw rows of one source: columns `id`, RAW_TARGETS (float, NaN = missing) and `structure`
    (CIF text or a pymatgen Structure dict), plus the file's sha256 and a provenance note."""

    frame: pd.DataFrame
    sha256: str
    path: str
    note: str


def default_csv_path() -> Path:
    """The mp_cgcnn_36k CSV in the data directory (`ecn.settings.data_dir`)."""
    return data_dir() / MP_CSV


def _numeric(values: Iterable[Any]) -> np.ndarray:
    """Floats with NaN for anything missing or non-numeric ('None', '', None, text)."""
    import pandas as pd

    return pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(float)


def read_cgcnn_csv(
    path: str | Path | None = None, *, verify: bool = True, limit: int | None = None
) -> SourceTable:
    """Read the mp_cgcnn_36k CSV (columns CSV_COLUMNS), checking its sha256 first.

    Raises:
        FileNotFoundError: the file is missing.
        ecn.data.checksums.ChecksumError: the file differs from SOURCES.md (verify=True).
        ValueError: required columns are missing.
    """
    import pandas as pd

    p = Path(path) if path is not None else default_csv_path()
    if not p.is_file():
        raise FileNotFoundError(
            f"Materials Project CSV not found: {p} (set ECN_DATA_DIR or pass path=)"
        )
    digest = verify_file(p) if verify else sha256_file(p)
    df = pd.read_csv(
        p,
        dtype={"material_id": str, "cif": str, "efermi": object},
        keep_default_na=False,
        nrows=limit,
    )
    missing = [c for c in ("material_id", "cif", *RAW_TARGETS) if c not in df.columns]
    if missing:
        raise ValueError(f"{p}: missing column(s) {missing}; found {list(df.columns)}")
    frame = pd.DataFrame({"id": df["material_id"].astype(str)})
    for col in RAW_TARGETS:
        frame[col] = _numeric(df[col])
    frame["structure"] = df["cif"].to_numpy(object)
    note = (
        f"Materials Project structures + DFT values from {p.name} (kdmsit/MEGNet 36k CSV, "
        "an MP release from ~2020, older than the paper's v2021.05)"
    )
    return SourceTable(frame, digest, str(p), note)


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def iter_summary_docs(path: str | Path) -> Iterable[dict[str, Any]]:
    """Summary documents from a JSON list, a REST response `{"data": [...]}`, one document, or
    JSON lines (any of them optionally gzipped)."""
    p = Path(path)
    with _open_text(p) as f:
        text = f.read()
    head = text.lstrip()[:1]
    if head in ("[", "{"):
        try:
            payload = json.loads(text)
        except json.JSONDecodeError:
            payload = None  # several top-level objects: JSON lines
        if payload is not None:
            if isinstance(payload, dict):
                payload = payload["data"] if isinstance(payload.get("data"), list) else [payload]
            if not isinstance(payload, list):
                raise ValueError(f"{p}: expected a list of summary documents")
            yield from payload
            return
    for k, line in enumerate(text.splitlines()):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{p}: line {k + 1} is not JSON ({exc.msg})") from None


def read_summary_docs(path: str | Path, *, limit: int | None = None) -> SourceTable:
    """Read a dump of Materials Project summary documents (mp-api `SummaryDoc` fields).

    Each document needs `material_id` (or legacy `task_id`) and `structure` (a pymatgen Structure
    dict; a legacy `cif` string also works). Missing target fields become NaN.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: a document has no id, or ids repeat.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"summary-document dump not found: {p}")
    rows: list[dict[str, Any]] = []
    for k, doc in enumerate(iter_summary_docs(p)):
        if limit is not None and k >= limit:
            break
        mid = doc.get("material_id", doc.get("task_id"))
        if mid is None:
            raise ValueError(f"{p}: document {k} has no material_id")
        row = {"id": str(mid), "structure": doc.get("structure") or doc.get("cif")}
        row.update({c: doc.get(c) for c in RAW_TARGETS})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["id", *RAW_TARGETS, "structure"])
    for col in RAW_TARGETS:
        frame[col] = _numeric(frame[col])
    if frame["id"].duplicated().any():
        dup = frame.loc[frame["id"].duplicated(), "id"].iloc[0]
        raise ValueError(f"{p}: material_id {dup} appears more than once")
    note = f"Materials Project summary documents from {p.name} ({len(frame)} docs)"
    return SourceTable(frame, sha256_file(p), str(p), note)


def read_source(
    path: str | Path | None = None, *, verify: bool = True, limit: int | None = None
) -> SourceTable:
    """The CSV (default / *.csv[.gz]) or a summary-document dump (*.json[l][.gz])."""
    if path is None:
        return read_cgcnn_csv(None, verify=verify, limit=limit)
    name = Path(path).name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return read_cgcnn_csv(path, verify=verify, limit=limit)
    if name.endswith((".json", ".jsonl", ".ndjson")):
        return read_summary_docs(path, limit=limit)
    raise ValueError(
        f"unknown Materials Project source format: {path} (expected .csv[.gz] or .json/.jsonl[.gz])"
    )


def derive_targets(raw: pd.DataFrame, nsites: Sequence[int] | np.ndarray) -> pd.DataFrame:
    """The five Table 1 targets from raw MP values; NaN wherever a value is unusable.

    Args:
        raw: columns RAW_TARGETS (floats, NaN = missing).
        nsites: (n_rows,) atoms per cell (for the moment per atom); <= 0 means unknown.

    Returns:
        DataFrame with columns TARGET_NAMES, same index as `raw`.
    """
    import pandas as pd

    e = raw["formation_energy_per_atom"].to_numpy(float)
    ef = raw["efermi"].to_numpy(float)
    gap = raw["band_gap"].to_numpy(float)
    mag = raw["total_magnetization"].to_numpy(float)
    n = np.asarray(nsites, dtype=float)
    gap = np.where(gap < 0, np.nan, gap)  # a negative gap is a broken value, not a metal
    with np.errstate(invalid="ignore", divide="ignore"):
        magmom = np.where(n > 0, np.abs(mag) / n, np.nan)
    return pd.DataFrame(
        {
            "e_form": e,
            "e_fermi": ef,
            "band_gap": np.where(gap > 0, gap, np.nan),
            "is_metal": np.where(np.isnan(gap), np.nan, (gap == 0).astype(float)),
            "magmom_per_atom": magmom,
        },
        index=raw.index,
    )
