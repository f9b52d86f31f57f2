"""`mp` splits: the paper's own id lists (Kaba & Ravanbakhsh, MP v2021.05) or a seeded random
80/10/10 split of the curated ids, and the split names that select them."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path

from ecn.data.checksums import verify_file
from ecn.data.splits import seeded_split
from ecn.settings import data_dir

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
