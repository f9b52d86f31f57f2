"""The authors' stopping rule (stop at the plateau schedule's floor) and the per-process cap."""

from __future__ import annotations

import json
from pathlib import Path

from ecn.train.config import config_from_dict
from ecn.train.outputs import read_metrics
from ecn.train.run import train
from train_helpers import tiny_overrides


def test_stop_at_min_lr_stops_after_one_epoch_at_the_floor(
    tiny_perov5: Path, tmp_path: Path
) -> None:
    # LR starts at the floor: the rule must stop after the first epoch, early stopping not
    optim = {"epochs": 4, "lr": 1e-3, "min_lr": 1e-3, "patience": 100, "stop_at_min_lr": True}
    out = train(config_from_dict(tiny_overrides(tiny_perov5, tmp_path / "a", optim=optim)))
    res = json.loads((out / "results.json").read_text())
    assert res["stopped_by"] == "min_lr" and res["epochs_run"] == 1
    assert res["final_lr"] == 1e-3

    # negative control: the same run without the rule trains all its epochs
    optim["stop_at_min_lr"] = False
    out = train(config_from_dict(tiny_overrides(tiny_perov5, tmp_path / "b", optim=optim)))
    res = json.loads((out / "results.json").read_text())
    assert res["stopped_by"] == "max_epochs" and res["epochs_run"] == 4


def test_session_cap_leaves_a_resumable_unfinished_run(tiny_perov5: Path, tmp_path: Path) -> None:
    optim = {"epochs": 3}
    capped = tiny_overrides(tiny_perov5, tmp_path / "r", optim=optim, run={"session_cap_min": 1e-6})
    out = train(config_from_dict(capped))
    # unfinished: a checkpoint to resume from, no results.json
    assert (out / "last.ckpt").is_file() and not (out / "results.json").exists()
    assert len(read_metrics(out / "metrics.csv")) < 3

    # the cap is per process: resuming without it finishes the same run
    out = train(config_from_dict(tiny_overrides(tiny_perov5, out, optim=optim)), resume=True)
    res = json.loads((out / "results.json").read_text())
    assert res["stopped_by"] == "max_epochs" and res["epochs_run"] == 3


def test_ecn_train_paused_by_the_session_cap_says_so(tiny_perov5: Path, tmp_path: Path) -> None:
    # `ecn train --session-cap` ending unfinished: exit 0 and one line naming --resume (it
    # ended in a traceback looking for results.json); the control finishes and prints metrics
    from typer.testing import CliRunner

    from ecn.cli import app
    from train_helpers import tiny_cli_args

    out = tmp_path / "run"
    args = tiny_cli_args(tiny_perov5, out)
    res = CliRunner().invoke(app, [*args, "--session-cap", "0.000001"])
    assert res.exit_code == 0, res.output
    assert "paused at the session cap" in res.output and "--resume" in res.output
    assert (out / "last.ckpt").is_file() and not (out / "results.json").exists()
    res = CliRunner().invoke(app, [*args, "--resume"])
    assert res.exit_code == 0, res.output
    assert (out / "results.json").is_file() and "paused at the session cap" not in res.output


def test_last_checkpoint_is_the_last_epoch_not_the_best(tiny_perov5: Path, tmp_path: Path) -> None:
    # lr 1e-12: validation never improves after epoch 0, so best.ckpt stays at epoch 0; last.ckpt
    # (what --resume continues from) must still hold the last epoch trained
    import torch

    optim = {"epochs": 3, "lr": 1e-12, "patience": 100}
    out = train(config_from_dict(tiny_overrides(tiny_perov5, tmp_path / "r", optim=optim)))
    last = torch.load(out / "last.ckpt", map_location="cpu", weights_only=False)
    best = torch.load(out / "best.ckpt", map_location="cpu", weights_only=False)
    assert best["epoch"] == 0  # control: the best really is the first epoch
    assert last["epoch"] == 2
