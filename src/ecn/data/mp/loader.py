"""Records of one `mp` split: source -> curation -> split -> validated records (the registry
entry point `load`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecn.data.checksums import sha256_file, verify_file
from ecn.data.curation import parse_structure
from ecn.data.loading import load_rows
from ecn.data.mp.curation import CurationOptions, curate
from ecn.data.mp.sources import default_csv_path, derive_targets, read_source
from ecn.data.mp.spec import DEFAULT_TARGET, NAME, TARGET_NAMES
from ecn.data.mp.splits import make_splits, parse_split, split_name, split_note
from ecn.data.types import LoadedSplit
from ecn.settings import display_path


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
                src = parse_structure(src)
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
        f"Materials Project `mp` from {display_path(p)} ({kind}), curated as paper §8 "
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
        source_files=[display_path(p)],
        info={"split_mode": mode, "seed": seed, "part": part},
    )
    loaded.split = split
    if "sizes" in state:
        loaded.info["split_sizes"] = state["sizes"]
    return loaded


def records_by_id(
    ids: Sequence[str], path: str | Path | None = None, *, verify: bool = True
) -> list[tuple[str, Any, dict[str, float]]]:
    """(id, Structure, Table 1 targets) of the source rows with these ids, in their order.

    No curation: for re-checking a known list of structures (a pretrained model's card) in
    seconds on a fresh machine, where `load_mp` would first curate all 36,737 rows.

    Raises:
        KeyError: an id is not in the source.
    """
    p = Path(path) if path is not None else default_csv_path()
    frame = read_source(p, verify=verify).frame
    sub = frame[frame["id"].isin(set(ids))].drop_duplicates("id").set_index("id")
    missing = [i for i in ids if i not in sub.index]
    if missing:
        raise KeyError(f"{len(missing)} id(s) not in {display_path(p)}: {missing[:3]}")
    sub = sub.loc[list(ids)]
    structures = [parse_structure(s) for s in sub["structure"]]
    targets = derive_targets(sub.reset_index(), [len(s) for s in structures])
    return [
        (i, s, {t: float(targets[t].iloc[k]) for t in TARGET_NAMES})
        for k, (i, s) in enumerate(zip(ids, structures, strict=True))
    ]
