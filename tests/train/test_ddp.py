"""Distributed data parallel on CPU: `ecn train --accelerator cpu --devices 2 --strategy ddp`.

Measures: the 2-process (gloo) run finishes; only rank 0 writes, so the parent folder holds one
run directory with exactly the single-run file set; the val metric logged during training (sums
all-reduced over UNPADDED shards of the 7-structure val split, which 2 ranks cannot split evenly)
and results.json's val metric both equal a single-process `ecn evaluate` of best.ckpt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from train_helpers import N_VAL, RUN_OUTPUTS, tiny_cli_args


def test_ddp_two_cpu_processes(tiny_perov5: Path, tmp_path: Path) -> None:
    parent = tmp_path / "runs"
    out = parent / "ddp"
    args = tiny_cli_args(tiny_perov5, out) + ["--devices", "2", "--strategy", "ddp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ecn.cli", *args],
        capture_output=True,
        check=False,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in parent.iterdir()) == ["ddp"]
    assert {p.name for p in out.iterdir()} == set(RUN_OUTPUTS)
    res = json.loads((out / "results.json").read_text())
    assert res["device"]["world_size"] == 2 and res["epochs_run"] == 2
    assert res["split_sizes"]["val"] == N_VAL  # no padded duplicates in the evaluation

    from ecn.train.run import evaluate

    single = evaluate(out, "val")["metrics"]
    assert res["metrics"]["val"]["mae"] == pytest.approx(single["mae"], abs=1e-9)
    assert res["metrics"]["val"]["n"] == single["n"] == N_VAL
    # the metric logged under DDP at the best epoch is the single-process number
    assert res["best_val_logged"] == pytest.approx(single["mae"], abs=1e-6)
