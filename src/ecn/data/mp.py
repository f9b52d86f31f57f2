"""Materials Project dataset `mp`: readers, the paper's §8 curation, its splits and Table 1 targets.

Sources (all become one table: id, raw DFT values, structure):
- the `mp_cgcnn_36k` CSV in the data directory (36,737 MP structures with DFT targets, an MP
  release from ~2020 — older than the paper's v2021.05; see ../shared/data/SOURCES.md),
  checksum-verified;
- a JSON / JSON-lines dump of Materials Project summary documents, the format the official
  `mp-api` client returns (`ecn data fetch mp` writes one);
- `fetch_summary_docs`, which downloads such a dump through `mp-api` (optional extra `ecn[mp]`).

Targets (Table 1 of the paper):

| name | from | unit | task |
|---|---|---|---|
| e_form | formation_energy_per_atom | eV/atom | regression |
| e_fermi | efermi | eV | regression |
| band_gap | band_gap, insulators only (band_gap > 0; NaN for metals) | eV | regression |
| is_metal | band_gap == 0 -> 1, band_gap > 0 -> 0 | - | classification |
| magmom_per_atom | abs(total_magnetization) / n_sites | μB/atom | regression |

Missing or non-numeric values (e.g. `efermi` == "None") are NaN and drop per target, not per row.

Hubbard U: MP computes oxides and fluorides containing Co, Cr, Fe, Mn, Mo, Ni, V or W with GGA+U
(`ecn.elements.hubbard_u_flag`); the dataset's default graph settings switch the `hubbard_u` node
feature on (the paper adds it as a binary atom feature, §7).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecn.data import curation
from ecn.data.checksums import sha256_file, verify_file
from ecn.data.splits import seeded_split
from ecn.data.types import Target
from ecn.elements import hubbard_u_flag

if TYPE_CHECKING:
    import pandas as pd

    from ecn.data.types import LoadedSplit

logger = logging.getLogger(__name__)

NAME = "mp"
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

PAPER_SPLIT_DIR = "kaba_mp_v2021_05_split_ids"
PAPER_SPLIT_FILE = "matproj_ids_nonduplicate_small_3d_valid_graphs_v2021_05_{part}.json.gz"
PAPER_SPLIT_SHA256 = {  # sha256 of the .gz files (../shared/data/SOURCES.md)
    "train": "6810a726171f16caba56f53d9844ce02d8403a6a3388c1170c5551c0fd681bd6",
    "valid": "837a62a73b4bbd667d2014b673a8d6494d68072a05f113d67c1e242fe2eecdb1",
    "test": "4de994e88dc36e8fee55892717b7f5fe813cac06f3a8d64bae3d6160c64e1e1f",
}
PARTS = ("train", "valid", "test")
_PART_ALIASES = {
    "train": "train",
    "valid": "valid",
    "val": "valid",
    "validation": "valid",
    "test": "test",
}
SPLIT_MODES = ("paper", "random")
RANDOM_FRACTIONS = (0.8, 0.1, 0.1)

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

# Default graph settings of this dataset (keys of ecn.graphs.GraphSettings).
GRAPH_SETTINGS: dict[str, Any] = {"strategy": "voronoi_radii", "hubbard_u": True}

# Registry entry (ecn.data.registry.DATASETS["mp"] is built from these).
DESCRIPTION = (
    "Materials Project (36,737-structure CSV or a mp-api summary dump), curated as "
    "paper §8; paper or seeded random split"
)
DEFAULT_TARGET = "e_form"
SPLITS: tuple[str, ...] = ("train", "val", "test", "random:train", "random:val", "random:test")
NOTES = (
    "Splits: train/val/test = the paper's own id lists intersected with our curated rows; "
    "random:<part> = seeded (0) 80/10/10 of the curated rows (other seeds: "
    "ecn.data.mp.load_mp('random<seed>:<part>')). The CSV is an MP release from ~2020, not "
    "v2021.05, so about a third of the paper's training set is available. Hubbard U: "
    "oxides/fluorides with Co, Cr, Fe, Mn, Mo, Ni, V or W (ecn.elements.hubbard_u_flag)."
)


# Table 1 columns; `source` is the raw MP field each is derived from (see `derive_targets`).
TARGETS: tuple[Target, ...] = (
    Target(
        "e_form",
        "eV/atom",
        "regression",
        "formation energy per atom E",
        source="formation_energy_per_atom",
    ),
    Target("e_fermi", "eV", "regression", "Fermi energy E_F", source="efermi"),
    Target(
        "band_gap",
        "eV",
        "regression",
        "band gap E_g of insulators (band_gap > 0; metals are NaN)",
        source="band_gap",
    ),
    Target(
        "is_metal",
        "",
        "classification",
        "1 = metal (band_gap == 0), 0 = non-metal",
        source="band_gap",
    ),
    Target(
        "magmom_per_atom",
        "μB/atom",
        "regression",
        "magnetic moment per atom M = |total_magnetization| / n_sites",
        source="total_magnetization",
    ),
)
TARGET_NAMES: tuple[str, ...] = tuple(t.name for t in TARGETS)


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


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
    from ecn.settings import data_dir

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


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Curation
# --------------------------------------------------------------------------------------------


# Duplicate keys. "cell" (default): the paper's wording, "same unit cell chemical formula and the
# same space group" (reduced formula + atoms in the cell = the cell formula). "reduced": same
# reduced formula and spglib space group, a coarser key. Why "cell": on the 36k CSV the paper's
# own curated lists keep two ids of one (reduced formula, space group) group in 134 groups, and in
# 132 of them the cells differ in size; and the paper split built with "cell" keeps 26,379 of the
# 26,417 listed ids we have (train 21,181 / valid 2,588 / test 2,610), "reduced" only 26,161.
DEDUPE_KEYS: dict[str, tuple[str, ...]] = {
    "reduced": ("reduced_formula", "spacegroup"),
    "cell": ("reduced_formula", "spacegroup", "nsites"),
}


@dataclass(frozen=True)
class CurationOptions:
    """Switches of the §8 curation (defaults = the paper plus the outlier guard)."""

    drop_outliers: bool = True
    outlier_threshold: float = 5.0  # eV/atom
    max_sites: int = 50
    dim_method: str = "radii"
    symprec: float = curation.SYMPREC
    dedupe_key: str = "cell"  # "cell": (cell formula, sg) as the paper; "reduced": (reduced, sg)

    def __post_init__(self) -> None:
        if self.dedupe_key not in DEDUPE_KEYS:
            raise ValueError(
                f"dedupe_key must be one of {tuple(DEDUPE_KEYS)}, not {self.dedupe_key!r}"
            )
        if self.dim_method not in curation.DIM_METHODS:
            raise ValueError(
                f"dim_method must be one of {curation.DIM_METHODS}, not {self.dim_method!r}"
            )

    def key(self) -> str:
        return (
            f"outliers={'drop' if self.drop_outliers else 'flag'}@{self.outlier_threshold:g},"
            f"dedupe={self.dedupe_key},max_sites={self.max_sites},dim={self.dim_method},"
            f"symprec={self.symprec:g}"
        )


@dataclass
class Curated:
    """Curated table (one row per kept material, targets included) and its funnel."""

    table: pd.DataFrame
    funnel: curation.Funnel
    rejected: list[tuple[str, str]] = field(default_factory=list)
    source: SourceTable | None = None
    options: CurationOptions = field(default_factory=CurationOptions)

    @property
    def ids(self) -> list[str]:
        return self.table["id"].tolist()


def facts_cache_path(source_sha256: str, options: CurationOptions) -> Path:
    """Per-structure facts cache, keyed by the source file's checksum and the analysis settings."""
    from ecn.settings import cache_dir

    tol = f"-tol{curation.BOND_TOLERANCE:g}" if options.dim_method == "radii" else ""
    return (
        cache_dir()
        / "curation"
        / NAME
        / f"facts-{source_sha256[:16]}-{options.dim_method}{tol}-sp{options.symprec:g}.csv.gz"
    )


def output_dir() -> Path:
    """Where `ecn data curate mp` writes its funnel (the dataset's cache directory)."""
    from ecn.settings import cache_dir

    return cache_dir() / "curation" / NAME


def curate(
    source: SourceTable,
    options: CurationOptions | None = None,
    *,
    processes: int = 2,
    use_cache: bool = True,
    progress: bool = False,
) -> Curated:
    """Run the paper's §8 curation on a source table and count every step.

    Steps, in order: readable structures; energy outliers (|E_form| > threshold, dropped by
    default — before dedup so a bogus low energy cannot win its group); duplicates by (reduced
    formula, spglib space group) keeping the lowest formation energy; 3D-bonded only; <= max_sites
    atoms. Missing targets drop per target (counted, rows kept).
    """
    import pandas as pd

    opts = options or CurationOptions()
    t0 = time.perf_counter()
    raw = source.frame
    items = list(zip(raw["id"].tolist(), raw["structure"].tolist(), strict=False))
    facts = curation.compute_facts(
        items,
        method=opts.dim_method,
        symprec=opts.symprec,
        processes=processes,
        cache_path=facts_cache_path(source.sha256, opts) if use_cache else None,
        progress=progress,
    )
    df = raw.drop(columns=["structure"]).reset_index(drop=True)
    df = pd.concat([df, facts.drop(columns=["id"])], axis=1)
    funnel = curation.Funnel(
        dataset=NAME,
        source=source.note,
        rows_in=len(df),
        settings={
            "drop_outliers": opts.drop_outliers,
            "outlier_threshold_eV_per_atom": opts.outlier_threshold,
            "max_sites": opts.max_sites,
            "dedupe_key": opts.dedupe_key,
            "dimensionality": f"larsen/{opts.dim_method}",
            "spglib_symprec": opts.symprec,
            "source_sha256": source.sha256,
        },
    )
    rejected = [
        (r.id, f"structure analysis failed: {r.error}") for r in df[df["error"] != ""].itertuples()
    ]
    steps = (
        curation.drop_unparsable,
        lambda d: curation.drop_energy_outliers(
            d, threshold=opts.outlier_threshold, drop=opts.drop_outliers
        ),
        lambda d: curation.drop_duplicates(d, key=DEDUPE_KEYS[opts.dedupe_key]),
        lambda d: curation.keep_3d(d, method=opts.dim_method),
        lambda d: curation.drop_large_cells(d, max_sites=opts.max_sites),
    )
    for step_fn in steps:
        df, step = step_fn(df)
        funnel.steps.append(step)
        logger.info("curation %-20s %6d -> %6d", step.name, step.rows_in, step.rows_out)
    targets = derive_targets(df, df["nsites"].to_numpy())
    raw_cols = df.rename(columns={c: f"{c}_raw" for c in RAW_TARGETS})  # band_gap is both
    table = pd.concat([raw_cols.reset_index(drop=True), targets.reset_index(drop=True)], axis=1)
    table["hubbard_u"] = [_hubbard(f) for f in table["reduced_formula"]]
    funnel.targets = curation.target_counts(table, TARGET_NAMES)
    funnel.settings["hubbard_u_fraction"] = (
        round(float(table["hubbard_u"].mean()), 4) if len(table) else 0.0
    )
    funnel.seconds = time.perf_counter() - t0
    structures = dict(items)
    table["structure"] = [structures[i] for i in table["id"]]
    return Curated(table, funnel, rejected, source, opts)


def _hubbard(formula: str) -> bool:
    from pymatgen.core import Composition

    return hubbard_u_flag({el.symbol for el in Composition(formula).elements})


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def parse_split(split: str) -> tuple[str, int, str]:
    """Split name -> (mode, seed, part).

    Accepted: "train" | "valid" (alias "val") | "test" (the paper split), "paper:<part>",
    "random:<part>" (seed 0) and "random<seed>:<part>", e.g. "random7:test".
    """
    mode, _, part = split.rpartition(":")
    mode = mode or "paper"
    seed = 0
    if mode.startswith("random"):
        digits = mode[len("random") :]
        if digits and not digits.isdigit():
            raise ValueError(f"bad random split '{split}': use random<seed>:<part>")
        seed, mode = int(digits or 0), "random"
    if mode not in SPLIT_MODES:
        raise ValueError(f"unknown split mode '{mode}' in '{split}'; use one of {SPLIT_MODES}")
    if part not in _PART_ALIASES:
        raise ValueError(f"unknown split part '{part}' in '{split}'; use train, valid or test")
    return mode, seed, _PART_ALIASES[part]


def split_name(mode: str, part: str, seed: int = 0) -> str:
    """Inverse of `parse_split` (canonical form)."""
    return f"{part}" if mode == "paper" else f"random{seed}:{part}"


def paper_split_ids(
    directory: str | Path | None = None, *, verify: bool = True
) -> dict[str, list[str]]:
    """The paper's train/valid/test id lists (Kaba & Ravanbakhsh, MP v2021.05, curated)."""
    from ecn.settings import data_dir

    d = Path(directory) if directory is not None else data_dir() / PAPER_SPLIT_DIR
    out: dict[str, list[str]] = {}
    for part in PARTS:
        p = d / PAPER_SPLIT_FILE.format(part=part)
        if not p.is_file():
            raise FileNotFoundError(f"paper split file not found: {p}")
        if verify:
            verify_file(p, PAPER_SPLIT_SHA256[part])
        with gzip.open(p, "rt") as f:
            out[part] = [str(x) for x in json.load(f)]
    return out


def make_splits(
    ids: Sequence[str],
    mode: str = "paper",
    seed: int = 0,
    paper_ids: dict[str, list[str]] | None = None,
) -> dict[str, list[str]]:
    """Partition curated ids into train/valid/test.

    paper: intersection with the paper's lists (curated ids absent from them are left out, as the
    paper's own curation excluded them). random: seeded 80/10/10 permutation of the sorted ids
    (independent of row order).
    """
    if mode == "paper":
        lists = paper_ids if paper_ids is not None else paper_split_ids()
        have = set(ids)
        order = {i: k for k, i in enumerate(ids)}
        return {
            part: sorted((i for i in set(lists[part]) if i in have), key=order.__getitem__)
            for part in PARTS
        }
    if mode == "random":
        uniq = sorted(set(ids))
        # sort=False: records keep the permutation order the results were produced with.
        idx = seeded_split(len(uniq), RANDOM_FRACTIONS, seed, sort=False)
        return {
            part: [uniq[k] for k in idx[key]]
            for part, key in zip(PARTS, ("train", "val", "test"), strict=True)
        }
    raise ValueError(f"unknown split mode '{mode}'; use one of {SPLIT_MODES}")


def split_note(mode: str, seed: int, sizes: dict[str, int]) -> str:
    s = ", ".join(f"{k} {v}" for k, v in sizes.items())
    if mode == "paper":
        return (
            "split: paper (intersection with Kaba & Ravanbakhsh's MP v2021.05 curated id lists "
            f"{PAPER_SPLIT_FILE.format(part='{train,valid,test}')}): {s}"
        )
    return f"split: random seed {seed}, 80/10/10 of the curated ids: {s}"


# --------------------------------------------------------------------------------------------
# Loading (the registry entry point)
# --------------------------------------------------------------------------------------------


def load(
    split: str,
    limit: int | None = None,
    path: str | Path | None = None,
    *,
    required: Sequence[str] | None = None,
    verify: bool = True,
    use_cache: bool = True,
) -> LoadedSplit:
    """Registry loader (`ecn.data.load_split("mp", ...)`): `required` defaults to
    (DEFAULT_TARGET,), so rows without a finite formation energy become rejections; pass
    `required=()` to keep every row and drop missing values per target downstream."""
    return load_mp(split, limit, path, required=required, verify=verify, use_cache=use_cache)


def load_mp(
    split: str = "train",
    limit: int | None = None,
    path: str | Path | None = None,
    *,
    required: Sequence[str] | None = None,
    options: CurationOptions | None = None,
    verify: bool = True,
    use_cache: bool = True,
    processes: int = 2,
) -> LoadedSplit:
    """Records of one split of the curated Materials Project dataset.

    Args:
        split: see `parse_split` ("train", "valid"/"val", "test", "random7:train", ...).
        limit: keep the first `limit` records of the split (curation always sees all rows).
        path: the CSV or a summary-document dump; None = the mp_cgcnn_36k CSV.
        required: targets that must be finite for a row to become a record (others may be NaN;
            default: DEFAULT_TARGET). Missing values are per target: pass the target trained on.
        options: curation switches.
        verify: check the CSV's sha256.
        use_cache: reuse structure facts and parsed records from the cache directory.
        processes: worker processes for the (once per file) structure analysis.
    """
    from ecn.data.loading import load_rows

    mode, seed, part = parse_split(split)
    opts = options or CurationOptions()
    req = tuple(required) if required is not None else (DEFAULT_TARGET,)
    unknown = sorted(set(req) - set(TARGET_NAMES))
    if unknown:
        raise ValueError(f"mp has no target(s) {unknown}; targets: {TARGET_NAMES}")
    p = Path(path) if path is not None else default_csv_path()
    digest = verify_file(p) if verify and p.name.endswith((".csv", ".csv.gz")) else sha256_file(p)
    state: dict[str, Any] = {}

    def rows_fn() -> tuple[list[tuple[str, Any, dict[str, float]]], dict[int, str]]:
        cur = curate(read_source(p, verify=verify), opts, processes=processes, use_cache=use_cache)
        parts = make_splits(cur.ids, mode, seed)
        state["sizes"] = {k: len(v) for k, v in parts.items()}
        keep = set(parts[part])
        sub = cur.table[cur.table["id"].isin(keep)]
        order = {i: k for k, i in enumerate(parts[part])}
        sub = sub.iloc[np.argsort([order[i] for i in sub["id"]], kind="stable")]
        rows = []
        for rec in sub.itertuples(index=False):
            src = rec.structure
            if not isinstance(src, str):
                src = curation.parse_structure(src)
            rows.append((rec.id, src, {t: float(getattr(rec, t)) for t in TARGET_NAMES}))
        return rows, {}

    canonical = split_name(mode, part, seed)
    split_key = canonical if mode == "paper" else f"random{seed}-{part}"
    kind = (
        "36k CSV, an MP release from ~2020, not the paper's v2021.05"
        if p.name.endswith((".csv", ".csv.gz"))
        else "Materials Project summary-document dump"
    )
    note_head = (
        f"Materials Project `mp` from {p.name} ({kind}), curated as paper §8 "
        f"({opts.key()}); {split_note(mode, seed, {})}"
    )
    loaded = load_rows(
        NAME,
        split_key,
        rows_fn,
        source_hashes=[digest, opts.key(), canonical],
        required=req,
        target_names=TARGET_NAMES,
        limit=limit,
        use_cache=use_cache,
        source_note=note_head.rstrip(": "),
        source_files=[str(p)],
        info={"split_mode": mode, "seed": seed, "part": part},
    )
    loaded.split = split
    if "sizes" in state:
        loaded.info["split_sizes"] = state["sizes"]
    return loaded


# --------------------------------------------------------------------------------------------
# Report (`ecn data curate mp`)
# --------------------------------------------------------------------------------------------


def curate_report(
    path: str | Path | None = None,
    *,
    options: CurationOptions | None = None,
    split_modes: Sequence[tuple[str, int]] = (("paper", 0), ("random", 0)),
    out_dir: str | Path | None = None,
    processes: int = 2,
    verify: bool = True,
    limit: int | None = None,
    progress: bool = True,
) -> tuple[Curated, dict[str, Path]]:
    """Curate, size the requested splits, and write `funnel.md`/`funnel.json` (+ curated ids).

    Returns:
        (curated result, {"markdown", "json", "ids"} output paths).
    """
    t0 = time.perf_counter()
    source = read_source(path, verify=verify, limit=limit)
    cur = curate(source, options, processes=processes, progress=progress)
    for mode, seed in split_modes:
        parts = make_splits(cur.ids, mode, seed)
        label = "paper" if mode == "paper" else f"random (seed {seed}, 80/10/10)"
        cur.funnel.splits[label] = {k: len(v) for k, v in parts.items()}
        if mode == "paper":
            cur.funnel.splits[label]["not in paper lists"] = len(cur.ids) - sum(
                len(v) for v in parts.values()
            )
            for part, ids in parts.items():
                sub = cur.table[cur.table["id"].isin(set(ids))]
                cur.funnel.splits[f"paper {part}, per target"] = curation.target_counts(
                    sub, TARGET_NAMES
                )
    cur.funnel.seconds = time.perf_counter() - t0
    d = Path(out_dir) if out_dir is not None else output_dir()
    md, js = cur.funnel.write(d)
    ids_path = d / "curated.csv.gz"
    cols = [
        "id",
        "reduced_formula",
        "spacegroup",
        "nsites",
        "dimensionality",
        "hubbard_u",
        "outlier",
        *TARGET_NAMES,
    ]
    cur.table[cols].to_csv(ids_path, index=False)
    return cur, {"markdown": md, "json": js, "ids": ids_path}


# --------------------------------------------------------------------------------------------
# Fetch through the official client
# --------------------------------------------------------------------------------------------


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


__all__ = [
    "DEFAULT_TARGET",
    "DESCRIPTION",
    "GRAPH_SETTINGS",
    "NAME",
    "NOTES",
    "SPLITS",
    "TARGETS",
    "TARGET_NAMES",
    "Curated",
    "CurationOptions",
    "SourceTable",
    "curate",
    "curate_report",
    "derive_targets",
    "fetch_summary_docs",
    "load",
    "load_mp",
    "make_splits",
    "paper_split_ids",
    "parse_split",
    "read_cgcnn_csv",
    "read_id_file",
    "read_source",
    "read_summary_docs",
    "write_summary_docs",
]
