"""Compare ecn's rebuilt CGCNN atom features with a local copy of CGCNN's atom_init.json.

Usage: python scripts/check_cgcnn_atom_init.py PATH/TO/atom_init.json [--quiet]

The reference file (txie-93/cgcnn, data/sample-regression/atom_init.json) maps "Z" to its
92-number vector. For every element it prints whether ecn's `cgcnn_features(Z)` is identical
and, where not, which blocks differ (category index ours/reference, '-' for an all-zero block);
then a per-block and an overall summary. Nothing is downloaded; exit status 2 when the file
cannot be read, 1 when some element of ecn's range differs, 0 when all agree.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from ecn.elements import CGCNN_BLOCKS, CGCNN_DIM, MAX_Z, SYMBOLS, cgcnn_feature_table


def _category(block: np.ndarray) -> str:
    hot = np.flatnonzero(block)
    return ",".join(str(i) for i in hot) if len(hot) else "-"


def compare(reference: dict[str, list[float]]) -> tuple[list[str], dict[str, int], int, int]:
    """Lines per element, mismatches per block, elements compared, elements identical."""
    table = cgcnn_feature_table()
    lines: list[str] = []
    block_bad = {name: 0 for name, _ in CGCNN_BLOCKS}
    compared = identical = 0
    for key in sorted(reference, key=int):
        z = int(key)
        ref = np.asarray(reference[key], dtype=np.float32)
        if ref.shape != (CGCNN_DIM,):
            lines.append(f"{z:3d}: reference vector has shape {ref.shape}, expected ({CGCNN_DIM},)")
            continue
        if not 1 <= z <= MAX_Z:
            lines.append(f"{z:3d}: outside ecn's element range 1..{MAX_Z}, not compared")
            continue
        compared += 1
        ours = table[z]
        diffs = []
        start = 0
        for name, size in CGCNN_BLOCKS:
            a, b = ours[start : start + size], ref[start : start + size]
            if not np.array_equal(a, b):
                block_bad[name] += 1
                diffs.append(f"{name} {_category(a)}/{_category(b)}")
            start += size
        if diffs:
            lines.append(f"{z:3d} {SYMBOLS[z]:2s}: differs: " + "; ".join(diffs))
        else:
            identical += 1
            lines.append(f"{z:3d} {SYMBOLS[z]:2s}: identical")
    return lines, block_bad, compared, identical


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="local copy of CGCNN's atom_init.json")
    parser.add_argument("--quiet", action="store_true", help="print only differing elements")
    args = parser.parse_args(argv)
    try:
        with open(args.path, encoding="utf-8") as fh:
            reference = json.load(fh)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.path}: {exc}", file=sys.stderr)
        return 2
    lines, block_bad, compared, identical = compare(reference)
    for line in lines:
        if not (args.quiet and line.endswith("identical")):
            print(line)
    print(f"\nelements compared: {compared}; identical 92-vectors: {identical}")
    for name, size in CGCNN_BLOCKS:
        print(f"  {name:24s} ({size:2d} categories): {compared - block_bad[name]}/{compared} agree")
    return 0 if identical == compared else 1


if __name__ == "__main__":
    sys.exit(main())
