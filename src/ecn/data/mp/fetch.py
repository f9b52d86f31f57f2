"""Fetch Materials Project summary documents through the official `mp-api` client (optional
extra `ecn[mp]`) and write them as JSON lines that `read_summary_docs` reads back."""

from __future__ import annotations

import gzip
import json
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ecn.data.mp.sources import _open_text

logger = logging.getLogger(__name__)

# Fields requested from the Materials Project summary endpoint (and read from dumps).
SUMMARY_FIELDS = (
    "material_id",
    "structure",
    "formation_energy_per_atom",
    "band_gap",
    "efermi",
    "total_magnetization",
    "nsites",
    "symmetry",
    "formula_pretty",
    "is_metal",
    "energy_above_hull",
    "deprecated",
)


def read_id_file(path: str | Path) -> list[str]:
    """Material ids from a JSON list (optionally .gz, e.g. the paper's id lists) or a text file
    with one id per line (`#` comments allowed)."""
    p = Path(path)
    with _open_text(p) as f:
        text = f.read()
    if text.lstrip().startswith("["):
        return [str(x) for x in json.loads(text)]
    return [ln.split("#")[0].strip() for ln in text.splitlines() if ln.split("#")[0].strip()]


def doc_to_jsonable(doc: Any) -> dict[str, Any]:
    """A summary document (mp-api pydantic model or dict) as plain JSON types; the structure
    becomes a pymatgen Structure dict, the material id a string."""
    if hasattr(doc, "model_dump"):
        d = doc.model_dump()
    elif hasattr(doc, "dict") and not isinstance(doc, dict):
        d = doc.dict()
    else:
        d = dict(doc)
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k in ("fields_not_requested",):
            continue
        out[k] = _jsonable(v)
    if "material_id" in out:
        out["material_id"] = str(d["material_id"])
    return out


def _jsonable(v: Any) -> Any:
    if hasattr(v, "as_dict"):
        return v.as_dict()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if hasattr(v, "value") and isinstance(v.value, (str, int, float)):  # enums
        return v.value
    return str(v)


def write_summary_docs(docs: Iterable[Any], out: str | Path) -> tuple[Path, int]:
    """Write documents as JSON lines (gzip when `out` ends in .gz); returns (path, count)."""
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".part")
    n = 0
    gz = p.name.endswith(".gz")
    with gzip.open(tmp, "wt", encoding="utf-8") if gz else open(tmp, "w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc_to_jsonable(doc)) + "\n")
            n += 1
    tmp.replace(p)
    return p, n


def fetch_summary_docs(
    api_key: str,
    out: str | Path,
    ids: Sequence[str] | None = None,
    *,
    fields: Sequence[str] = SUMMARY_FIELDS,
    chunk_size: int = 1000,
) -> tuple[Path, int]:
    """Download summary documents with the official `mp-api` client and write them as JSON lines.

    Args:
        api_key: the user's Materials Project API key.
        out: output file (.jsonl or .jsonl.gz); read it back with `read_summary_docs`.
        ids: material ids to fetch; None = every material (large: ~150k structures).
        fields: summary fields requested.
        chunk_size: documents per request.

    Raises:
        ImportError: mp-api is not installed (install the extra: pip install 'ecn[mp]').
        ValueError: no API key.
    """
    if not api_key:
        raise ValueError("an API key is required (https://next-gen.materialsproject.org/api)")
    try:
        from mp_api.client import MPRester
    except ImportError as exc:
        raise ImportError(
            "fetching from the Materials Project needs the official client: "
            "pip install 'ecn[mp]'  (or: pip install mp-api)"
        ) from exc
    kwargs: dict[str, Any] = {"fields": list(fields), "chunk_size": chunk_size}
    if ids is not None:
        kwargs["material_ids"] = list(ids)
    logger.info(
        "fetching %s summary documents from the Materials Project",
        len(ids) if ids is not None else "all",
    )
    with MPRester(api_key) as mpr:
        docs = mpr.materials.summary.search(**kwargs)
    path, n = write_summary_docs(docs, out)
    logger.info("wrote %d documents to %s", n, path)
    if ids is not None and n < len(ids):
        logger.warning(
            "%d of %d requested ids were not returned (deprecated or unknown ids)",
            len(ids) - n,
            len(ids),
        )
    return path, n
