"""Helpers shared by the training tests (a plain module: tests/ has no packages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecn.train.config import merge_overrides

N_TRAIN, N_VAL, N_TEST = 24, 7, 8

#: What a finished run directory holds.
RUN_OUTPUTS = (
    "config.yaml",
    "model.pt",
    "metrics.csv",
    "best.ckpt",
    "last.ckpt",
    "predictions_val.csv",
    "predictions_test.csv",
    "results.json",
    "parity.png",
    "learning_curve.png",
    "rejected.csv",
)


def tiny_overrides(data_path: Path, out: Path, **extra: Any) -> dict[str, Any]:
    """Config overrides for a seconds-long run: width 16, 2 layers, 2 epochs, batch 8."""
    cfg: dict[str, Any] = {
        "data": {
            "dataset": "perov5",
            "targets": ["heat_all"],
            "path": str(data_path),
            "cache": False,
        },
        "model": {"name": "ecn", "options": {"group": "slambda", "width": 16, "layers": 2}},
        "optim": {"epochs": 2, "batch_size": 8, "eval_batch_size": 16},
        "run": {
            "seed": 7,
            "out": str(out),
            "accelerator": "cpu",
            "devices": 1,
            "progress_bar": False,
            "threads": 1,
        },
    }
    return merge_overrides(cfg, extra)


def tiny_cli_args(data_path: Path, out: Path) -> list[str]:
    """The same tiny run as CLI flags."""
    return [
        "train",
        "--dataset",
        "perov5",
        "--target",
        "heat_all",
        "--data-path",
        str(data_path),
        "--model",
        "ecn",
        "--group",
        "slambda",
        "--width",
        "16",
        "--layers",
        "2",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--seed",
        "7",
        "--out",
        str(out),
        "--accelerator",
        "cpu",
        "--no-progress",
        "--threads",
        "1",
    ]


def write_record(
    run_dir: Path,
    test: dict[str, Any],
    val: dict[str, Any] | None = None,
    model: str = "ecn",
    options: dict[str, Any] | None = None,
    graph: dict[str, Any] | None = None,
    history: str | None = None,
    **results: Any,
) -> Path:
    """A finished run's record written in code (``results.json`` through ``RunResults``,
    ``config.yaml`` through ``TrainConfig``, optional ``metrics.csv`` text), for table tests
    that need chosen numbers rather than a training run."""
    from ecn.train.config import config_from_dict, save_config
    from ecn.train.record import ModelSummary, RunResults

    options = dict(options or {})
    run_dir.mkdir(parents=True, exist_ok=True)
    defaults: dict[str, Any] = {
        "dataset": "perov5",
        "targets": ["heat_all"],
        "units": ["eV/cell"],
        "task": "regression" if "mae" in test else "classification",
        "metrics": {"val": val or test, "test": test},
        "model": ModelSummary(model, options.get("group"), options, 1),
        "split_sizes": {"train": 5, "val": 2, "test": 2},
    }
    RunResults(**{**defaults, **results}).save(run_dir)
    cfg = config_from_dict({"model": {"name": model, "options": options}, "graph": graph or {}})
    save_config(cfg, run_dir / "config.yaml")
    if history is not None:
        (run_dir / "metrics.csv").write_text(history)
    return run_dir
