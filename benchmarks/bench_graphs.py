"""Graph-building benchmark: `python benchmarks/bench_graphs.py --limit 300 --json out.json`.

Same as `ecn bench graphs`; prints our speed and the ratios against pymatgen's IsayevNN
(unit cell and 2x2x2 supercell) measured in the same run.
"""

from ecn.bench.graphs import _main

if __name__ == "__main__":
    _main()
