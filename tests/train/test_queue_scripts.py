"""The shell steps the background queues share (scripts/queue_common.sh): a paused run is parked
and comes back in a later session, a finished run is kept and its parked copy dropped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from train_helpers import write_record

COMMON = Path(__file__).resolve().parents[2] / "scripts" / "queue_common.sh"


def _bash(script: str, cwd: Path) -> str:
    # the functions call `python`: the interpreter running the tests, first on PATH
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    res = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; . "{COMMON}"; {script}'],
        cwd=cwd, capture_output=True, text=True, env={"PATH": path}, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_paused_run_is_parked_resumed_then_kept(tmp_path: Path) -> None:
    out, parked, kept = tmp_path / "runs" / "r", tmp_path / "parked" / "r", tmp_path / "kept" / "r"
    out.mkdir(parents=True)
    (out / "last.ckpt").write_bytes(b"epoch 3")
    (out / "config.yaml").write_text("{}")
    assert "parked in" in _bash(f"park {out} {parked}", tmp_path)
    assert (parked / "last.ckpt").read_bytes() == b"epoch 3"

    new = tmp_path / "new_session" / "r"  # runs/ is gone: the parked copy comes back
    assert "resuming the parked" in _bash(f"unpark {parked} {new}", tmp_path)
    assert (new / "last.ckpt").read_bytes() == b"epoch 3"

    write_record(new, {"mae": 0.1})  # it finished: kept, parked copy dropped
    (new / "model.pt").write_bytes(b"weights")
    _bash(f"park {new} {parked}; keep {new} {kept}", tmp_path)
    assert not parked.exists()
    assert (kept / "results.json").is_file() and (kept / "model.pt").read_bytes() == b"weights"
    # kept with its weights: train_queued trains nothing (its bogus training arguments unused)
    _bash(f"train_queued {tmp_path / 'gone'} {kept} {parked} --no-such-option", tmp_path)
    assert not (tmp_path / "gone").exists()
    # control: nothing parked, nothing to resume
    assert _bash(f"unpark {parked} {tmp_path / 'other'}", tmp_path) == ""
    assert not (tmp_path / "other").exists()
