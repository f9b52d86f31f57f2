"""Training precision: ``32``, ``bf16-mixed``, ``16-mixed``, and what ``auto`` means per device.

``auto`` is a measured choice (results/precision/): bf16 autocast pays only where the device
computes bf16 natively. On a CPU with AMX-BF16 or AVX512-BF16 one ECN step ran 3x faster under
bf16 autocast (issue 12); on an AVX2-only CPU (no bf16 instructions) the same step ran 3.5x
SLOWER than float32, because bf16 is emulated. So ``auto`` is ``bf16-mixed`` on such CPUs and
on CUDA devices that support bf16, and ``32`` everywhere else. Weights stay float32 under mixed
precision; evaluation, prediction and the model file are float32.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

__all__ = [
    "BF16_CPU_FLAGS",
    "cpu_has_native_bf16",
    "flush_subnormals",
    "resolve_precision",
    "training_device",
]

#: /proc/cpuinfo flags of x86 CPUs with native bf16 arithmetic.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def _cpuinfo_flags(path: str | Path = "/proc/cpuinfo") -> set[str] | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return None


def cpu_has_native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether this CPU has bf16 instructions (AMX-BF16 or AVX512-BF16).

    Reads the CPU flags from `cpuinfo` (Linux); elsewhere asks torch's own CPU probes.
    """
    flags = _cpuinfo_flags(cpuinfo)
    if flags is not None:
        return any(f in flags for f in BF16_CPU_FLAGS)
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def training_device(accelerator: str) -> str:
    """``cuda``, ``cpu`` or another Lightning accelerator name, for ``run.accelerator``."""
    acc = accelerator.lower()
    if acc == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if acc in ("gpu", "cuda") else acc


def resolve_precision(precision: str, accelerator: str = "auto") -> tuple[str, str]:
    """(Lightning precision, why): ``auto`` -> ``bf16-mixed`` or ``32`` for the device.

    Args:
        precision: ``auto``, ``32``, ``bf16-mixed`` or ``16-mixed``.
        accelerator: ``run.accelerator`` (``auto``, ``cpu``, ``gpu``, ``cuda``, ...).

    Raises:
        ValueError: ``16-mixed`` on a CPU (Lightning would silently use bf16-mixed).
    """
    device = training_device(accelerator)
    if precision == "16-mixed" and device == "cpu":
        # Lightning would silently train in bf16-mixed instead (fp16 autocast needs CUDA).
        raise ValueError("precision 16-mixed needs a CUDA device; on CPU use bf16-mixed or 32")
    if precision != "auto":
        return precision, "requested"
    if device == "cuda":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return "bf16-mixed", "auto: CUDA device with bf16 support"
        return "32", "auto: CUDA device without bf16 support"
    if device == "cpu":
        if cpu_has_native_bf16():
            return "bf16-mixed", "auto: CPU with native bf16 (amx_bf16 / avx512_bf16)"
        return "32", "auto: CPU without native bf16 (bf16 would be emulated, slower)"
    return "32", f"auto: accelerator {accelerator!r}"


def _flushing() -> bool:
    """Whether the CPU flushes subnormal float32 results to zero now (torch has no getter)."""
    return bool((torch.tensor([1e-30]) * torch.tensor([1e-10])).item() == 0.0)


@contextmanager
def flush_subnormals() -> Iterator[None]:
    """Flush subnormal floats to zero inside the block, then restore the previous mode.

    Why: tiny gradients and far Gaussian tails underflow into subnormal floats, which CPUs
    compute many times slower (``benchmarks/denormals.py``); flushing changes values below
    1.2e-38 only. The mode is per thread and process-wide, hence the restore.
    """
    before = _flushing()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
