#!/usr/bin/env python
"""Do the paper's MP id lists drop structures whose Voronoi graph leaves an atom isolated?

Why: the paper's curated list is named `matproj_ids_nonduplicate_small_3d_valid_graphs`, and §8
names only the first three filters. This compares our curated rows that are NOT in the paper's
lists with an equally large seeded sample of rows that are, counting structures in which
`voronoi_radii` gives some atom no neighbour (ecn then adds its nearest neighbour(s)).

Usage: python scripts/mp_isolated_atoms.py [--seed 0]   (about 2 minutes on one core)
"""

from __future__ import annotations

import argparse
import random

from pymatgen.core import Structure

from ecn.data import mp
from ecn.graphs import GraphSettings
from ecn.graphs.neighbors import neighbor_list


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    src = mp.read_cgcnn_csv()
    cur = mp.curate(src)
    listed = set().union(*map(set, mp.paper_split_ids().values()))
    missing = [i for i in cur.ids if i not in listed]
    sample = random.Random(args.seed).sample([i for i in cur.ids if i in listed], len(missing))
    cif = dict(zip(src.frame["id"], src.frame["structure"], strict=True))
    settings = GraphSettings(strategy="voronoi_radii")
    print(f"curated rows: {len(cur.ids)} ({cur.options.key()})")
    for name, ids in (
        ("not in the paper's lists", missing),
        ("in the paper's lists (sample)", sample),
    ):
        n_iso = sum(
            neighbor_list(Structure.from_str(cif[i], fmt="cif"), settings).n_isolated > 0
            for i in ids
        )
        print(f"{name}: {len(ids)} structures, {n_iso} with an isolated atom")


if __name__ == "__main__":
    main()
