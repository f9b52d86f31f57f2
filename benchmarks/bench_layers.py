"""Layer benchmark: `python benchmarks/bench_layers.py --batch-size 128 --json out.json`.

Same as `ecn bench layers`: forward+backward ms of one ECN layer per group (sn, p1, glambda,
slambda), the per-colour matmul backends and the one-hot-expanded p1 layer, against the plain
MPNN yardstick (`ecn.bench.reference.PlainMPNNLayer`) on the same real Perov-5 batch, in one run.
"""

from __future__ import annotations

import argparse

import torch

from ecn.bench.layers import format_layer_bench, run_layer_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the result JSON here")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = run_layer_bench(
        batch_size=args.batch_size, width=args.width, repeats=args.repeats, json_path=args.json
    )
    print(format_layer_bench(result))


if __name__ == "__main__":
    main()
