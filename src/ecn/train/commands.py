# ruff: noqa: B008  (typer declares options as argument defaults)
"""``ecn train | evaluate | predict``: thin typer shells over ``ecn.train.run`` / ``ecn.train.predict``.

Registered on the main app by ``ecn.cli`` (``register(app)``). Heavy imports (torch, Lightning,
pymatgen) happen inside the commands so ``ecn --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console(emoji=False)  # split names like "random:train:" are not emoji codes

__all__ = ["register"]


def _cli_overrides(**flags: Any) -> dict[str, Any]:
    """Map CLI flags onto the config tree; unset flags (None) do not override the YAML."""
    data = {
        "dataset": flags["dataset"],
        "targets": flags["target"] or None,
        "limit": flags["limit"],
        "path": flags["data_path"],
    }
    if flags["node_level"]:
        data["node_target"] = flags["node_target"] or "synthetic_group"
    model = {
        "name": flags["model"],
        "group": flags["group"],
        "width": flags["width"],
        "layers": flags["layers"],
        "node_level": True if flags["node_level"] else None,
    }
    optim = {
        "epochs": flags["epochs"],
        "batch_size": flags["batch_size"],
        "lr": flags["lr"],
        "patience": flags["patience"],
    }
    run = {
        "seed": flags["seed"],
        "out": flags["out"],
        "devices": flags["devices"],
        "accelerator": flags["accelerator"],
        "strategy": flags["strategy"],
        "time_budget_min": flags["time_budget"],
        "num_workers": flags["num_workers"],
        "progress_bar": flags["progress"],
        "threads": flags["threads"],
    }
    if run["devices"] is not None and str(run["devices"]).isdigit():
        run["devices"] = int(run["devices"])
    return {"data": data, "model": model, "optim": optim, "run": run}


def train_command(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML config (CLI flags override it)."
    ),
    dataset: str | None = typer.Option(None, help="Dataset name (perov5, cif, ...)."),
    target: list[str] | None = typer.Option(
        None, "--target", "-t", help="Target column (repeatable)."
    ),
    data_path: str | None = typer.Option(None, "--data-path", help="Dataset location override."),
    model: str | None = typer.Option(None, help="Model name (ecn, ...)."),
    group: str | None = typer.Option(None, help="Symmetry group: sn, p1, glambda, slambda."),
    width: int | None = typer.Option(None, help="Hidden width."),
    layers: int | None = typer.Option(None, help="Message-passing layers."),
    node_level: bool = typer.Option(False, "--node-level", help="Per-node outputs (no pooling)."),
    node_target: str | None = typer.Option(None, help="Per-site target (default synthetic_group)."),
    epochs: int | None = typer.Option(None, help="Maximum epochs."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Training batch size."),
    lr: float | None = typer.Option(None, help="Learning rate."),
    patience: int | None = typer.Option(None, help="Early-stopping patience (epochs)."),
    seed: int | None = typer.Option(None, help="Random seed."),
    out: str | None = typer.Option(None, "--out", "-o", help="Run directory."),
    limit: int | None = typer.Option(None, help="Use only the first N structures of each split."),
    time_budget: float | None = typer.Option(None, "--time-budget", help="Stop after MIN minutes."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue from last.ckpt in the run directory."
    ),
    devices: str | None = typer.Option(None, help="Lightning devices (1, 2, auto, '0,1')."),
    strategy: str | None = typer.Option(None, help="Lightning strategy (auto, ddp, ddp_spawn)."),
    accelerator: str | None = typer.Option(None, help="Lightning accelerator (auto, cpu, gpu)."),
    num_workers: int | None = typer.Option(None, "--num-workers", help="DataLoader workers."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress", help="Progress bar."),
    threads: int | None = typer.Option(None, "--threads", help="torch threads per process."),
) -> None:
    """Train a model; writes config, metrics, checkpoints, predictions, results and plots."""
    from ecn.train.config import TrainConfig, load_config
    from ecn.train.run import train

    overrides = _cli_overrides(
        **{k: v for k, v in locals().items() if k not in ("config", "resume")}
    )
    base = config
    if resume:
        run_dir = Path(out) if out else None
        if run_dir is None and config is not None:
            run_dir = Path(load_config(config).run.out or load_config(config).default_out())
        if run_dir is None:
            run_dir = Path(TrainConfig().default_out())
        if (run_dir / "config.yaml").is_file():
            base = run_dir / "config.yaml"  # the run's own resolved config; flags still override
        overrides["run"]["out"] = str(run_dir)
    try:
        cfg = load_config(base, overrides)
        out_dir = train(cfg, resume=resume)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    from lightning.pytorch.utilities import rank_zero_only

    if rank_zero_only.rank == 0:
        res = json.loads((out_dir / "results.json").read_text())
        _print_metrics(res["metrics"], f"{out_dir} (best epoch {res['best_epoch']})")


def _print_metrics(metrics: dict[str, Any], title: str) -> None:
    table = Table(title=title)
    table.add_column("split")
    table.add_column("metrics")
    for split, m in metrics.items():
        if isinstance(m, dict) and all(isinstance(v, dict) for v in m.values()):
            text = "; ".join(f"{t}: " + _fmt(v) for t, v in m.items())
        else:
            text = _fmt(m)
        table.add_row(split, text)
    console.print(table)


def _fmt(m: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items())


def evaluate_command(
    run_dir: Path = typer.Argument(..., help="Run directory (uses its best.ckpt and config.yaml)."),
    split: str = typer.Option("test", help="train, val or test."),
    average_translations: bool = typer.Option(
        False, "--average-translations", help="Average over the 8 cell-origin translations."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the metrics here."),
) -> None:
    """Recompute metrics of a run's best checkpoint on one split."""
    from ecn.train.run import evaluate

    try:
        res = evaluate(run_dir, split, average_translations=average_translations)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    _print_metrics({split: res["metrics"]}, f"{run_dir} best.ckpt")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(res, indent=2))
        console.print(f"wrote {json_out}")


def predict_command(
    checkpoint: Path = typer.Argument(..., help="Run directory or .ckpt file."),
    paths: list[Path] = typer.Argument(
        ..., help="CIF files, folders of CIFs, or CSVs with a cif column."
    ),
    out: Path = typer.Option(Path("predictions.csv"), "--out", "-o", help="Output CSV."),
    average_translations: bool = typer.Option(
        False, "--average-translations", help="Average over the 8 cell-origin translations."
    ),
    batch_size: int = typer.Option(256, "--batch-size", help="Structures per forward pass."),
) -> None:
    """Predict for CIF inputs; unusable inputs get a row with an error message."""
    from ecn.train.predict import Predictor, read_inputs, write_rows

    try:
        predictor = Predictor.load(checkpoint)
        rows = predictor.predict_items(read_inputs(paths), average_translations, batch_size)
        write_rows(out, rows)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    n_err = sum(1 for r in rows if r["error"])
    console.print(f"wrote {out}: {len(rows)} rows, {n_err} with errors")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``evaluate`` and ``predict`` to the main CLI."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("predict")(predict_command)
