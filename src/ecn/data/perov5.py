"""Perov-5 (CDVAE split of Castelli's cubic perovskites): official files, the assembled training
split, and the embedded sample.

Three modes, chosen by what is on disk (never silently mixed):
- "official": `perov_5/{train,val,test}.csv` all present.
- "assembled": only `val.csv` and `test.csv` (the situation on these machines; SOURCES.md). The
  training split is assembled from the matminer castelli export beside it: every row whose
  structure is not in the official val/test (matched by lattice + species + fractional
  coordinates, not by id), with heat_all := e_form and ind_gap := gap_gllbsc, excluding O2F-anion
  compositions (for those the export's e_form does not follow heat_all). Val/test stay official.
- "sample": nothing found; the 600-structure sample shipped in the package, re-split 80/10/10.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ecn.data.cache import records_cache_dir
from ecn.data.checksums import combine, sha256_file, verify_file
from ecn.data.loading import load_rows
from ecn.data.readers import (
    CASTELLI_COLUMNS,
    PEROV5_COLUMNS,
    PEROV5_TARGETS,
    Row,
    castelli_rows,
    perov5_rows,
    read_csv_table,
)
from ecn.data.splits import seeded_split
from ecn.data.types import LoadedSplit
from ecn.data.validate import parse_cif
from ecn.io import atomic_write_text
from ecn.settings import data_dir, display_path, user_cache_dir

logger = logging.getLogger(__name__)

NAME = "perov5"
SPLITS = ("train", "val", "test")
#: A larger training split, NOT the paper's protocol (our training split is a third of the
#: paper's): ``train_plus_val`` is the training split plus ``VAL_INTO_TRAIN`` structures of the
#: official validation split (a seeded draw), ``val_holdout`` the rest of it for validation;
#: the official test split is untouched.
EXTRA_SPLITS = ("train_plus_val", "val_holdout")
VAL_INTO_TRAIN = 3000
VAL_FOLD_SEED = 0
PEROV5_DIR = "perov_5"
CASTELLI_DIR = "castelli_perovskites_matminer_subset"
CASTELLI_FILES = ("test.csv.gz", "valid.csv.gz")
OFFICIAL_TRAIN_SIZE = 11356
CDVAE_URL = "https://raw.githubusercontent.com/txie-93/cdvae/main/data/perov_5/{split}.csv"
SAMPLE_RESOURCE = "perov5_sample.csv.gz"
SAMPLE_SEED = 0
ANIONS = ("O", "N", "F", "S")
EXCLUDED_FAMILIES = ("O2F",)
# Bump when the assembly rule changes (part of the training split's checksum).
ASSEMBLY_VERSION = "assembly-1"
# e_form and heat_all are published on a 0.02 eV grid.
GRID = 0.02

Mode = Literal["official", "assembled", "sample"]


@dataclass(frozen=True)
class Perov5Source:
    """Where each split comes from."""

    mode: Mode
    perov_dir: Path | None = None
    castelli_dir: Path | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def files(self, split: str) -> list[Path]:
        if self.mode == "sample":
            return [sample_path()]
        if self.perov_dir is None:
            raise ValueError(f"mode {self.mode!r} needs perov_dir")
        if split == "train" and self.mode == "assembled":
            if self.castelli_dir is None:
                raise ValueError("assembled mode needs castelli_dir")
            return [
                self.perov_dir / "val.csv",
                self.perov_dir / "test.csv",
                *(self.castelli_dir / f for f in CASTELLI_FILES),
            ]
        return [self.perov_dir / f"{split}.csv"]


def sample_path() -> Path:
    """Path of the embedded sample (package data)."""
    return Path(str(files("ecn").joinpath("resources", SAMPLE_RESOURCE)))


def _has_val_test(d: Path) -> bool:
    return (d / "val.csv").is_file() and (d / "test.csv").is_file()


def _castelli_beside(perov_dir: Path) -> Path | None:
    for c in (perov_dir.parent / CASTELLI_DIR, data_dir() / CASTELLI_DIR):
        if all((c / f).is_file() for f in CASTELLI_FILES):
            return c
    return None


def resolve(path: str | Path | None = None) -> Perov5Source:
    """Find the Perov-5 files: `path` (the perov_5 folder or the data dir holding it), else
    `data_dir()/perov_5`, else the download location in the user cache, else the sample.

    Raises:
        FileNotFoundError: an explicit `path` holds no val.csv/test.csv.
    """
    if path is not None:
        p = Path(path).expanduser()
        cands = [p, p / PEROV5_DIR]
        found = next((c for c in cands if _has_val_test(c)), None)
        if found is None:
            raise FileNotFoundError(f"no Perov-5 val.csv/test.csv in {p} or {p / PEROV5_DIR}")
        cands = [found]
    else:
        cands = [data_dir() / PEROV5_DIR, user_cache_dir() / "data" / PEROV5_DIR]
    for d in cands:
        if not _has_val_test(d):
            continue
        if (d / "train.csv").is_file():
            return Perov5Source("official", d)
        cas = _castelli_beside(d)
        if cas is not None:
            return Perov5Source("assembled", d, cas)
        logger.warning(
            "%s has val/test but neither train.csv nor the castelli export "
            "(%s); cannot form a training split there",
            d,
            CASTELLI_DIR,
        )
        if path is not None:
            raise FileNotFoundError(f"{d}: no train.csv and no {CASTELLI_DIR} beside it")
    return Perov5Source("sample")


# ----------------------------------------------------------------------------- matching keys
_CELL = re.compile(
    r"_cell_(length_a|length_b|length_c|angle_alpha|angle_beta|angle_gamma)"
    r"\s+([-+\d.eE]+)"
)
_CELL_ORDER = ("length_a", "length_b", "length_c", "angle_alpha", "angle_beta", "angle_gamma")


def _fast_p1_sites(cif: str) -> tuple[list[float], list[str], np.ndarray] | None:
    """Cell parameters and sites of a pymatgen-written P1 CIF without a full parse (~30 µs);
    None when the text is not in that form (callers then fall back to pymatgen)."""
    cell = dict(_CELL.findall(cif))
    if len(cell) != 6 or "'x, y, z'" not in cif or cif.count("_symmetry_equiv_pos_as_xyz") != 1:
        return None
    if "_atom_site_occupancy" not in cif:
        return None
    head, body = cif.split("_atom_site_occupancy", 1)
    loop_cols = head[head.rfind("loop_") :].split()
    if loop_cols[1:] != [
        "_atom_site_type_symbol",
        "_atom_site_label",
        "_atom_site_symmetry_multiplicity",
        "_atom_site_fract_x",
        "_atom_site_fract_y",
        "_atom_site_fract_z",
    ]:
        return None
    species: list[str] = []
    frac: list[list[float]] = []
    for line in body.strip().splitlines():
        tok = line.split()
        if len(tok) != 7 or tok[2] != "1" or tok[6] != "1":
            if tok and not tok[0].startswith(("_", "loop_", "#")):
                return None
            break
        species.append(tok[0])
        frac.append([float(x) for x in tok[3:6]])
    if not species:
        return None
    return [float(cell[k]) for k in _CELL_ORDER], species, np.asarray(frac)


def match_key(cif: str, decimals: int = 3) -> tuple | None:
    """Canonical structure key: rounded cell parameters + sorted (species, wrapped rounded frac).

    Why not ids: Perov-5 material_id and the export's row index are unrelated numbers. Why
    rounding + wrapping: the same structure is written with -0.0 / 1.0 / 0.99999 variants.
    """
    fast = _fast_p1_sites(cif)
    if fast is None:
        try:
            s = parse_cif(cif)
        except ValueError:
            return None
        params = list(s.lattice.parameters)
        species = [str(x.specie) for x in s]
        frac = s.frac_coords
    else:
        params, species, frac = fast
    f = np.round(np.round(np.asarray(frac) % 1.0, decimals) % 1.0, decimals) + 0.0
    sites = tuple(sorted((sp, *map(float, row)) for sp, row in zip(species, f, strict=False)))
    return tuple(np.round(params, decimals).tolist()), sites


def anion_family(species: Sequence[str]) -> str:
    """Anion part of a Castelli ABX3 composition, e.g. 'O3', 'O2F', 'ONF' (order O, N, F, S)."""
    c = Counter(s for s in species if s in ANIONS)
    return "".join(f"{a}{c[a] if c[a] > 1 else ''}" for a in ANIONS if c[a])


def _on_grid(x: float) -> float:
    return round(round(x / GRID) * GRID, 10)


def assemble_train_rows(val_df, test_df, castelli_dfs: Sequence) -> tuple[list[Row], dict]:
    """Perov-5 training rows from the castelli export (see module docstring) and a report.

    The report holds, per anion family, on the castelli rows matched to an official val/test
    structure: `matched`, `e_form_eq_heat_all`, `e_form_eq_heat_ref_grid` (heat_ref rounded to
    the 0.02 eV grid both columns use), `ne_heat_all_eq_heat_ref_grid` (differs from heat_all but
    equals gridded heat_ref) and `gap_eq_ind_gap`.
    """
    official = {}
    for df in (val_df, test_df):
        for cif, ha, hr, ig in zip(
            df["cif"], df["heat_all"], df["heat_ref"], df["ind_gap"], strict=False
        ):
            k = match_key(cif)
            if k is not None:
                official[k] = (float(ha), float(hr), float(ig))
    families: dict[str, Counter] = {}
    rows: list[Row] = []
    n_rows = n_unkeyed = 0
    excluded: Counter = Counter()
    for df in castelli_dfs:
        for rid, cif, t in castelli_rows(df):
            n_rows += 1
            k = match_key(cif)
            if k is None:
                n_unkeyed += 1  # unparseable: keep it so validation rejects it visibly
                fam = "?"
            else:
                fam = anion_family([s[0] for s in k[1]])
            hit = official.get(k) if k is not None else None
            if hit is not None:
                ha, hr, ig = hit
                c = families.setdefault(fam, Counter())
                c["matched"] += 1
                c["e_form_eq_heat_all"] += abs(t["e_form"] - ha) < 1e-6
                c["e_form_eq_heat_ref_grid"] += abs(t["e_form"] - _on_grid(hr)) < 1e-6
                c["ne_heat_all_eq_heat_ref_grid"] += (
                    abs(t["e_form"] - ha) >= 1e-6 and abs(t["e_form"] - _on_grid(hr)) < 1e-6
                )
                c["gap_eq_ind_gap"] += abs(t["gap_gllbsc"] - ig) < 1e-9
                continue
            if fam in EXCLUDED_FAMILIES:
                excluded[fam] += 1
                continue
            rows.append(
                (
                    rid,
                    cif,
                    {
                        "heat_all": t["e_form"],
                        "heat_ref": float("nan"),
                        "dir_gap": float("nan"),
                        "ind_gap": t["gap_gllbsc"],
                    },
                )
            )
    fam_report = {f: dict(c) for f, c in sorted(families.items())}
    others = [c for f, c in families.items() if f not in EXCLUDED_FAMILIES]
    report: dict[str, Any] = {
        "castelli_rows": n_rows,
        "official_val_test_structures": len(official),
        "matched_to_val_test": sum(c["matched"] for c in families.values()),
        "excluded_o2f_unmatched": sum(excluded.values()),
        "unkeyed_rows": n_unkeyed,
        "train_rows": len(rows),
        "families": fam_report,
        "o2f_matched": fam_report.get("O2F", {}).get("matched", 0),
        "o2f_e_form_ne_heat_all": (
            fam_report.get("O2F", {}).get("matched", 0)
            - fam_report.get("O2F", {}).get("e_form_eq_heat_all", 0)
        ),
        "o2f_ne_heat_all_eq_heat_ref": fam_report.get("O2F", {}).get(
            "ne_heat_all_eq_heat_ref_grid", 0
        ),
        "others_matched": sum(c["matched"] for c in others),
        "others_e_form_eq_heat_all": sum(c["e_form_eq_heat_all"] for c in others),
        "gap_eq_ind_gap": sum(c["gap_eq_ind_gap"] for c in families.values()),
    }
    return rows, report


@lru_cache(maxsize=4)
def _assembly(perov_dir: str, castelli_dir: str, stamp: tuple[str, ...]) -> tuple[list[Row], dict]:
    """Memoised assembly (about 1 s) keyed by the source hashes in `stamp`."""
    p, c = Path(perov_dir), Path(castelli_dir)
    val = read_csv_table(p / "val.csv", PEROV5_COLUMNS)
    test = read_csv_table(p / "test.csv", PEROV5_COLUMNS)
    cas = [read_csv_table(c / f, CASTELLI_COLUMNS) for f in CASTELLI_FILES]
    return assemble_train_rows(val, test, cas)


def _report(source: Perov5Source, stamp: tuple[str, ...]) -> dict:
    """Assembly report, from a small JSON cache keyed by the source hashes when present (so
    loading val/test does not redo the 15k-row matching just to write the source note)."""
    path = records_cache_dir() / f"perov5-assembly-{combine(list(stamp))[:20]}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    report = _assembly(str(source.perov_dir), str(source.castelli_dir), stamp)[1]
    try:
        atomic_write_text(path, json.dumps(report))
    except OSError as exc:
        logger.debug("could not cache assembly report: %s", exc)
    return report


def assembly_report(source: Perov5Source, verify: bool = True) -> dict:
    """The assembly report for an 'assembled' source (see `assemble_train_rows`)."""
    if source.mode != "assembled":
        raise ValueError(f"no assembly in mode {source.mode!r}")
    stamp = tuple(verify_file(f) if verify else sha256_file(f) for f in source.files("train"))
    return _report(source, stamp)


# ----------------------------------------------------------------------------- notes
def source_note(source: Perov5Source, report: dict | None = None) -> str:
    """Provenance + deviation text for results files (identical for every split of a source)."""
    if source.mode == "official":
        return (
            f"Perov-5 (CDVAE split of Castelli et al. 2012, txie-93/cdvae): official "
            f"train/val/test files from {display_path(source.perov_dir)}."
        )
    if source.mode == "assembled":
        r = report or {}
        return (
            "Perov-5 DEVIATION: val/test are the official CDVAE files "
            f"({display_path(source.perov_dir)}); the official train.csv "
            f"({OFFICIAL_TRAIN_SIZE} structures) was not available, so the TRAINING split is "
            "assembled from the matminer "
            f"castelli_perovskites export subset ({display_path(source.castelli_dir)}, "
            f"{r.get('castelli_rows', '?')} rows): the {r.get('train_rows', '?')} structures "
            "not in the official val/test (matched by lattice + species + fractional "
            f"coordinates; {r.get('matched_to_val_test', '?')} rows matched), with "
            "heat_all := e_form, ind_gap := gap_gllbsc, heat_ref and dir_gap unknown (NaN); "
            f"{r.get('excluded_o2f_unmatched', '?')} O2F-anion rows excluded because the "
            f"export's e_form differs from heat_all for {r.get('o2f_e_form_ne_heat_all', '?')}"
            f" of {r.get('o2f_matched', '?')} matched O2F pairs ("
            f"{r.get('o2f_ne_heat_all_eq_heat_ref', '?')} of them equal heat_ref on the 0.02 eV "
            "grid; all other anion families: "
            f"{r.get('others_e_form_eq_heat_all', '?')}/{r.get('others_matched', '?')} equal). "
            "Test numbers are on the paper's test set; training uses about a third of the "
            "official training data."
        )
    return (
        "Perov-5 EMBEDDED SAMPLE ONLY (full data not found): 600 structures from the official "
        "CDVAE val/test files shipped in the package, re-split 80/10/10 (seed 0). Numbers are "
        "NOT comparable to the paper. Set ECN_DATA_DIR or run `ecn data download perov5`."
    )


# ----------------------------------------------------------------------------- loading
@cache
def _warn_sample() -> None:
    """Once per process (not once per split): every source note still says so."""
    logger.warning(
        "Perov-5 full data not found; using the embedded 600-structure sample "
        "(results are NOT comparable to the paper)"
    )


@lru_cache(maxsize=2)
def _sample_table(stamp: str):
    import pandas as pd

    with gzip.open(sample_path(), "rb") as f:
        return pd.read_csv(io.BytesIO(f.read()), dtype={"material_id": str, "cif": str})


def sample_split_indices(n: int, seed: int = SAMPLE_SEED) -> dict[str, np.ndarray]:
    """Seeded 80/10/10 split of `n` rows (indices sorted to keep the source order)."""
    return seeded_split(n, seed=seed)


def load(
    split: str,
    limit: int | None = None,
    path: str | Path | None = None,
    *,
    required: Sequence[str] | None = None,
    verify: bool = True,
    use_cache: bool = True,
) -> LoadedSplit:
    """Load one Perov-5 split (see module docstring for where each split comes from)."""
    if split in EXTRA_SPLITS:
        return _load_refolded(split, limit, path, required, verify, use_cache)
    if split not in SPLITS:
        raise ValueError(f"perov5 has splits {SPLITS + EXTRA_SPLITS}, not {split!r}")
    req = tuple(required) if required is not None else ("heat_all",)
    unknown = [t for t in req if t not in PEROV5_TARGETS]
    if unknown:
        raise ValueError(f"unknown perov5 target(s) {unknown}; targets: {PEROV5_TARGETS}")
    source = resolve(path)
    files = source.files(split)
    hashes = [verify_file(f) if verify else sha256_file(f) for f in files]
    info: dict[str, Any] = {"mode": source.mode}
    report = None

    if source.mode == "sample":
        _warn_sample()
        idx = sample_split_indices(len(_sample_table(hashes[0])))[split]

        def rows_fn() -> tuple[list[Row], dict[int, str]]:
            return perov5_rows(_sample_table(hashes[0]).iloc[idx]), {}
    elif source.mode == "assembled":
        stamp = (
            tuple(hashes)
            if split == "train"
            else tuple(sha256_file(f) for f in source.files("train"))
        )
        report = _report(source, stamp)
        info["assembly"] = report
        if split == "train":

            def rows_fn() -> tuple[list[Row], dict[int, str]]:
                return list(
                    _assembly(str(source.perov_dir), str(source.castelli_dir), stamp)[0]
                ), {}
        else:

            def rows_fn() -> tuple[list[Row], dict[int, str]]:
                return perov5_rows(read_csv_table(files[0], PEROV5_COLUMNS)), {}
    else:

        def rows_fn() -> tuple[list[Row], dict[int, str]]:
            return perov5_rows(read_csv_table(files[0], PEROV5_COLUMNS)), {}

    info["training_source"] = training_source(source, report)
    key = [source.mode, *hashes] + ([ASSEMBLY_VERSION] if report and split == "train" else [])
    return load_rows(
        NAME,
        split,
        rows_fn,
        source_hashes=key,
        required=req,
        target_names=PEROV5_TARGETS,
        limit=limit,
        use_cache=use_cache,
        source_note=source_note(source, report),
        source_files=[display_path(f) for f in files],
        info=info,
    )


def val_fold(n: int, seed: int = VAL_FOLD_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(indices moved into training, indices kept for validation) of an n-record validation
    split, each sorted: the first ``VAL_INTO_TRAIN`` of a seeded permutation go to training."""
    perm = np.random.default_rng(seed).permutation(n)
    k = min(VAL_INTO_TRAIN, n - 1)
    return np.sort(perm[:k]), np.sort(perm[k:])


def _load_refolded(
    split: str,
    limit: int | None,
    path: str | Path | None,
    required: Sequence[str] | None,
    verify: bool,
    use_cache: bool,
) -> LoadedSplit:
    """``train_plus_val`` / ``val_holdout`` (``EXTRA_SPLITS``), cut from the loaded splits."""
    kw: dict[str, Any] = {"required": required, "verify": verify, "use_cache": use_cache}
    val = load("val", None, path, **kw)
    into, keep = val_fold(len(val.records))
    parts = [val] if split == "val_holdout" else [load("train", None, path, **kw), val]
    if split == "val_holdout":
        records = [val.records[i] for i in keep]
    else:
        records = parts[0].records + [val.records[i] for i in into]
    if limit is not None:
        records = records[:limit]
    note = (
        f"NOT THE PAPER'S PROTOCOL: {split} = "
        + (
            f"training split + {len(into)} of the {len(val.records)} official validation "
            f"structures (seeded draw, seed {VAL_FOLD_SEED})"
            if split == "train_plus_val"
            else f"the {len(keep)} official validation structures not moved into training"
        )
        + "; the official test split is untouched. "
    )
    return LoadedSplit(
        name=NAME,
        split=split,
        records=records,
        rejected=[r for p in parts for r in p.rejected],
        checksum=combine(
            [split, str(VAL_INTO_TRAIN), str(VAL_FOLD_SEED), str(limit)]
            + [p.checksum for p in parts]
        ),
        source_note=note + val.source_note,
        source_files=[f for p in parts for f in p.source_files],
        target_names=val.target_names,
        info={**val.info, "refolded": split},
    )


def training_source(source: Perov5Source, report: dict | None = None) -> str:
    """One line for `ecn data info`: which training split is in use and its size."""
    if source.mode == "official":
        return f"official train.csv ({display_path(source.perov_dir)})"
    if source.mode == "assembled":
        n = (report or {}).get("train_rows", "?")
        return (
            f"assembled from the castelli export ({n} rows before validation; official "
            f"train.csv has {OFFICIAL_TRAIN_SIZE}, not available)"
        )
    return "embedded 600-structure sample, seeded 80/10/10 re-split (480/60/60)"
