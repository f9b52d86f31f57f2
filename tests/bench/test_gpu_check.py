"""`benchmarks/gpu_check.sh` runs to the end on a CPU-only machine: CPU part, "no GPU", exit 0."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU-only path (a GPU is present)")
def test_gpu_check_cpu_only(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {
        **os.environ,
        "ECN_SKIP_INSTALL": "1",  # never reinstall the test environment
        "PYTHON": sys.executable,
        "ECN_GPU_CHECK_CPU_LIMIT": "8",
        "ECN_CACHE_DIR": str(tmp_path / "cache"),
    }
    res = subprocess.run(
        ["bash", str(SCRIPT), str(out)], env=env, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    log = (out / "gpu_check.log").read_text()
    assert "no GPU present" in log
    assert json.loads((out / "gpu_check.json").read_text())["gpu"] is False
    bench = json.loads((out / "bench_cpu.json").read_text())
    assert bench["step_ms"]["ecn-slambda"]["32"] > 0
    assert json.loads((out / "train_cpu_results.json").read_text())["metrics"]["test"]["mae"] > 0
    assert json.loads((out / "env.json").read_text())["cuda_available"] is False
