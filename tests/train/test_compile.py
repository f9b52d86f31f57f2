"""``run.compile``: the training forward through ``torch.compile`` is the same function.

Two tiny CGCNN runs with one seed, eager and compiled, follow the same training curve (to float
rounding) and write model files with the same keys; control: another seed moves the curve far
more than the tolerance, so the comparison can fail.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from ecn.train.config import config_from_dict
from ecn.train.run import train
from train_helpers import tiny_overrides

pytestmark = pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None,
    reason="torch.compile on CPU needs a C compiler",
)


def _run(data: Path, out: Path, seed: int, compile_: bool) -> pd.DataFrame:
    over = tiny_overrides(
        data, out, optim={"epochs": 2}, run={"seed": seed, "compile": compile_, "precision": "32"}
    )
    over["model"] = {"name": "cgcnn", "options": {"atom_dim": 8, "hidden_dim": 16, "n_conv": 1}}
    train(config_from_dict(over))
    return pd.read_csv(out / "metrics.csv")


def test_compiled_training_matches_eager(tiny_perov5: Path, tmp_path: Path) -> None:
    eager = _run(tiny_perov5, tmp_path / "eager", 3, False)
    compiled = _run(tiny_perov5, tmp_path / "compiled", 3, True)
    other = _run(tiny_perov5, tmp_path / "other", 4, False)
    for col in ("train_loss", "val_mae"):
        a, b, c = eager[col].to_numpy(), compiled[col].to_numpy(), other[col].to_numpy()
        scale = abs(a).max()
        assert abs(a - b).max() <= 1e-4 * scale, (col, a, b)
        assert abs(a - c).max() > 1e-2 * scale, (col, a, c)  # control: the test can fail
    keys = [torch.load(tmp_path / d / "model.pt", weights_only=True) for d in ("eager", "compiled")]
    assert keys[0]["model"]["state_dict"].keys() == keys[1]["model"]["state_dict"].keys()
    assert "compile: true" in (tmp_path / "compiled" / "config.yaml").read_text()
