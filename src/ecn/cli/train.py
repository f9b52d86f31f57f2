"""``ecn train | evaluate | predict``: flags -> ``ecn.train.run`` / ``ecn.inference``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from ecn.cli.common import console, err_console, fail, quiet_lightning

__all__ = ["cli_overrides", "parse_options", "register"]


def parse_options(pairs: list[str] | None) -> dict[str, Any]:
    """``["width=64", "group=p1"]`` -> ``{"width": 64, "group": "p1"}`` (values read as YAML)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--option takes KEY=VALUE, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def cli_overrides(**flags: Any) -> dict[str, Any]:
    """Map CLI flags onto the config tree; unset flags (None) do not override the YAML."""
    data = {
        "dataset": flags["dataset"],
        "targets": flags["target"] or None,
        "limit": flags["limit"],
        "path": flags["data_path"],
    }
    if flags["node_level"]:
        data["node_target"] = flags["node_target"] or "synthetic_group"
    options = {"group": flags["group"], "width": flags["width"], "layers": flags["layers"]}
    options.update(parse_options(flags["option"]))
    model = {
        "name": flags["model"],
        "node_level": True if flags["node_level"] else None,
        "options": options,
        "continuous": flags.get("continuous"),
    }
    graph = {
        "strategy": flags["graph_strategy"],
        "cutoff": flags["cutoff"],
        "node_features": flags["node_features"],
        "cell_onehot": flags["cell_onehot"],
        "supercell": flags["supercell"],
        "hubbard_u": flags["hubbard_u"],
    }
    optim = {
        "epochs": flags["epochs"],
        "batch_size": flags["batch_size"],
        "lr": flags["lr"],
        "patience": flags["patience"],
        "slope_penalty": flags.get("slope_penalty"),
    }
    run = {
        "seed": flags["seed"],
        "out": flags["out"],
        "devices": flags["devices"],
        "accelerator": flags["accelerator"],
        "strategy": flags["strategy"],
        "time_budget_min": flags["time_budget"],
        "session_cap_min": flags.get("session_cap"),
        "num_workers": flags["num_workers"],
        "progress_bar": flags["progress"],
        "threads": flags["threads"],
        "precision": flags.get("precision"),
        "compile": flags.get("compile_"),
    }
    if run["devices"] is not None and str(run["devices"]).isdigit():
        run["devices"] = int(run["devices"])
    finetune = {
        "init_from": flags.get("init_from"),
        "member": flags.get("init_member"),
        "freeze_embedding": True if flags.get("freeze_embedding") else None,
        "freeze_layers": flags.get("freeze_layers"),
        "pretrained_lr": flags.get("pretrained_lr"),
        "head": flags.get("head"),
    }
    return {
        "data": data,
        "graph": graph,
        "model": model,
        "optim": optim,
        "run": run,
        "finetune": finetune,
    }


def train_command(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="YAML config (CLI flags override it)."
    ),
    dataset: str | None = typer.Option(None, help="Dataset name (perov5, mp, cif, ...)."),
    target: list[str] | None = typer.Option(
        None,
        "--target",
        "-t",
        help="Target column (repeatable). For --dataset cif also a position: 1 = the first "
        "id_prop.csv column after the id (the default), 2 = the next.",
    ),
    data_path: str | None = typer.Option(None, "--data-path", help="Dataset location override."),
    model: str | None = typer.Option(None, help="Model: ecn, cgcnn, megnet, schnet."),
    group: str | None = typer.Option(None, help="ECN symmetry group: sn, p1, glambda, slambda."),
    width: int | None = typer.Option(None, help="ECN hidden width."),
    layers: int | None = typer.Option(None, help="ECN message-passing layers."),
    option: list[str] | None = typer.Option(
        None, "--option", help="Model option KEY=VALUE (repeatable), e.g. n_conv=4 for cgcnn."
    ),
    continuous: str | None = typer.Option(
        None,
        "--continuous",
        help="ECN-SΛ's smooth edge weights and soft cell colours, continuous in the atomic "
        "positions: auto (where the graph allows: the default without --config), on, or off "
        "(the paper's model).",
    ),
    graph_strategy: str | None = typer.Option(
        None, "--graph-strategy", help="Neighbours: voronoi_radii, cutoff or min_distance."
    ),
    cutoff: float | None = typer.Option(None, "--cutoff", help="Radius in Å (radius graphs)."),
    node_features: str | None = typer.Option(
        None, "--node-features", help="onehot_z or group_period."
    ),
    cell_onehot: bool | None = typer.Option(
        None, "--cell-onehot/--no-cell-onehot", help="One-hot of the supercell cell index."
    ),
    supercell: bool | None = typer.Option(
        None, "--supercell/--unit-cell", help="2x2x2 periodic cover or the unit-cell graph."
    ),
    hubbard_u: bool | None = typer.Option(
        None, "--hubbard-u/--no-hubbard-u", help="Hubbard-U node flag."
    ),
    node_level: bool = typer.Option(False, "--node-level", help="Per-node outputs (no pooling)."),
    node_target: str | None = typer.Option(None, help="Per-site target (default synthetic_group)."),
    epochs: int | None = typer.Option(None, help="Maximum epochs."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Training batch size."),
    lr: float | None = typer.Option(None, help="Learning rate."),
    patience: int | None = typer.Option(None, help="Early-stopping patience (epochs)."),
    slope_penalty: float | None = typer.Option(
        None,
        "--slope-penalty",
        help="Weight of the penalty on the model's squared slope in atom moves and strain "
        "(relaxed crystals: zero forces and stress; optim.slope_penalty). 0: off.",
    ),
    seed: int | None = typer.Option(None, help="Random seed."),
    out: str | None = typer.Option(None, "--out", "-o", help="Run directory."),
    limit: int | None = typer.Option(None, help="Use only the first N structures of each split."),
    time_budget: float | None = typer.Option(None, "--time-budget", help="Stop after MIN minutes."),
    session_cap: float | None = typer.Option(
        None,
        "--session-cap",
        help="Pause after MIN minutes in this process, unfinished (no results.json); "
        "--resume continues it. Unlike --time-budget it does not end the run.",
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue from last.ckpt in --out."),
    devices: str | None = typer.Option(None, help="Lightning devices (1, 2, auto, '0,1')."),
    strategy: str | None = typer.Option(None, help="Lightning strategy (auto, ddp, ddp_spawn)."),
    accelerator: str | None = typer.Option(None, help="Lightning accelerator (auto, cpu, gpu)."),
    num_workers: int | None = typer.Option(None, "--num-workers", help="DataLoader workers."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress", help="Progress bar."),
    threads: int | None = typer.Option(None, "--threads", help="torch threads per process."),
    precision: str | None = typer.Option(
        None,
        "--precision",
        help="32, bf16-mixed, 16-mixed or auto (default: bf16-mixed where the device has "
        "native bf16, else 32).",
    ),
    compile_: bool | None = typer.Option(
        None,
        "--compile/--no-compile",
        help="Compile the training forward with torch.compile (same function, fused kernels; "
        "MEGNet ~1.4x faster per step on a CPU; a minute or two of compiling first).",
    ),
    init_from: str | None = typer.Option(
        None,
        "--init-from",
        help="Fine-tune: start from this pretrained model name, run directory or model file "
        "(its architecture and graph settings become the defaults).",
    ),
    init_member: int | None = typer.Option(
        None,
        "--init-member",
        help="Fine-tune: the member of an ensemble --init-from to start from (default 0).",
    ),
    freeze_embedding: bool = typer.Option(
        False, "--freeze-embedding", help="Fine-tune: keep the atom embedding fixed."
    ),
    freeze_layers: int | None = typer.Option(
        None, "--freeze-layers", help="Fine-tune: keep the first K message-passing layers fixed."
    ),
    pretrained_lr: float | None = typer.Option(
        None, "--pretrained-lr", help="Fine-tune: learning rate of the loaded weights."
    ),
    head: str | None = typer.Option(
        None,
        "--head",
        help="Fine-tune: auto (re-initialise the output head when the target differs), keep "
        "or reset.",
    ),
) -> None:
    """Train a model; writes config, metrics, checkpoints, model.pt, predictions and plots."""
    flags = {k: v for k, v in locals().items() if k not in ("config", "resume")}
    from lightning.pytorch.utilities import rank_zero_only

    from ecn.train.config import load_config
    from ecn.train.run import resume_base, train

    quiet_lightning()
    try:
        if config is None and not resume and continuous is None:
            flags["continuous"] = "auto"  # a config file or a resumed run says for itself
        overrides = cli_overrides(**flags)
        base = config
        if resume:
            base, overrides["run"]["out"] = resume_base(config, out)
        cfg = load_config(base, overrides)
        if resume and flags.get("session_cap") is None:
            cfg.run.session_cap_min = None  # per process: the saved cap does not carry over
        out_dir = train(cfg, resume=resume)
    except ValueError as exc:
        fail(exc)
    if rank_zero_only.rank == 0:
        from ecn.train.record import RESULTS_FILE, RunRecord

        if not (Path(out_dir) / RESULTS_FILE).is_file():  # paused by --session-cap: unfinished
            console.print(
                f"{out_dir}: paused at the session cap, unfinished; continue it with "
                f"`ecn train --resume --out {out_dir}`",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            return
        res = RunRecord.load(out_dir).results
        _print_metrics(res.metrics, f"{out_dir} (best epoch {res.best_epoch})")


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
    run_dir: Path = typer.Argument(..., help="Run directory (its model.pt and config.yaml)."),
    split: str = typer.Option("test", help="train, val or test."),
    average_translations: bool = typer.Option(
        False, "--average-translations", help="Average over the 8 cell-origin translations."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the metrics here."),
    predictions: Path | None = typer.Option(
        None,
        "--predictions",
        help="Also write the per-structure predictions CSV here (training's "
        "predictions_<split>.csv format).",
    ),
) -> None:
    """Recompute metrics of a run's model on one split."""
    from ecn.io import atomic_write_text
    from ecn.train.run import evaluate

    try:
        res = evaluate(
            run_dir, split, average_translations=average_translations, predictions=predictions
        )
    except ValueError as exc:
        fail(exc)
    _print_metrics({split: res["metrics"]}, f"{run_dir} {res['checkpoint']}")
    if json_out is not None:
        console.print(f"wrote {atomic_write_text(json_out, json.dumps(res, indent=2))}")
    if predictions is not None:
        console.print(f"wrote {predictions}")


def predict_command(
    args: list[str] = typer.Argument(
        ...,
        metavar="[MODEL] INPUTS...",
        help="Without --model: a run directory, model.pt, .ckpt or pretrained model name, then "
        "the inputs. Inputs: CIF / POSCAR / extxyz files, folders, or CSVs with a cif column.",
    ),
    model_name: str | None = typer.Option(
        None, "--model", "-m", help="Pretrained model name (`ecn models`) or model path."
    ),
    out: str = typer.Option(
        "predictions.csv",
        "--out",
        "-o",
        help="Output CSV (a regular file; a folder, link, FIFO or device is refused). Rows are "
        "streamed to OUT.partial, renamed to OUT at the end.",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Keep the rows already in OUT.partial (else OUT) and predict only the inputs "
        "without a row.",
    ),
    average_translations: bool = typer.Option(
        False, "--average-translations", help="Average over the 8 cell-origin translations."
    ),
    batch_size: int = typer.Option(
        256, "--batch-size", help="Structures per forward pass (and per flush to OUT.partial)."
    ),
    average: str = typer.Option(
        "none",
        "--average",
        help="Average over equivalent descriptions: none (1 pass), origins (one per atom) or "
        "full (origins x lattice point-group bases).",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        "-j",
        help="Processes that parse and build graphs (the model runs in the main process); "
        "0 = one per core. Rows are the same for every N.",
    ),
    threads: int = typer.Option(
        1, "--threads", help="torch threads of the model in the main process."
    ),
    max_atoms: int | None = typer.Option(
        None,
        "--max-atoms",
        help="Largest cell accepted, in atoms (default 2000); a larger one gets an error row "
        "before any work on it. A 1,000-atom cell costs about 0.5 s and 50 MB.",
    ),
    max_passes: int | None = typer.Option(
        None,
        "--max-passes",
        help="Most model passes one --average prediction may cost (default 256; origins: "
        "one per atom, full: atoms x bases); a crystal that needs more gets an error row.",
    ),
    shard: str | None = typer.Option(
        None,
        "--shard",
        help="K/N: predict only the K-th of N contiguous parts of the sorted input list (a job "
        "array: K = task id); `ecn merge` joins the N outputs.",
    ),
    std: bool | None = typer.Option(
        None,
        "--std/--no-std",
        help="Write the std column(s) (an ensemble's recalibrated member spread, next to the "
        "prediction). Default: on for an ensemble; a single model has none.",
    ),
) -> None:
    """Predict for CIF / POSCAR / extxyz inputs: one row per input, unusable inputs get a row
    with an error.

    Ids are unique: the file stem; where stems collide the file name (a.cif, a.cif.gz), then
    the path, then #2, #3. A CIF with several data blocks gives one row per block holding a
    structure, id ID:BLOCK, at most 100 blocks per file.

    Exit codes: 0 the output is written (rows of unusable inputs carry an error); 2 a usage
    error found before any work (bad --out, no inputs, unknown model, bad option, --resume from
    another model's output), nothing written; 130 interrupted (Ctrl-C), the finished rows are
    kept in OUT.partial for --resume; 1 an unexpected error (a bug: please report it).

    Many inputs: --workers N parses and builds graphs in N processes (the rows are identical
    for every N). A cluster job array splits one input list with --shard K/N (no overlap, no
    gap; the ids and row order of shards 1..N are those of one run);
    `ecn merge OUT_1 ... OUT_N --out ALL.csv` joins them.

    An ensemble (`ecn models package RUN1 RUN2 ...`) predicts the members' mean and writes
    std (std_<target> for several targets) after the prediction column(s).
    """
    from ecn.inference.output import check_output
    from ecn.inference.parallel import available_cores, parse_shard

    model, inputs = (model_name, args) if model_name is not None else (args[0], args[1:])
    try:
        if not inputs:
            raise ValueError("no inputs given (CIF files or folders after the model)")
        if batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
        if workers < 0 or threads < 1:
            raise ValueError("--workers takes N >= 0 and --threads N >= 1")
        limits = {"max_atoms": max_atoms, "max_passes": max_passes}
        for name, v in limits.items():
            if v is not None and v < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {v}")
        shard_kn = parse_shard(shard)
        out_path = check_output(out)
    except ValueError as exc:
        fail(exc)
    n_workers = workers or available_cores()
    _predict_to_csv(
        model,
        inputs,
        out_path,
        resume,
        average_translations,
        batch_size,
        average,
        parallel={"workers": n_workers, "threads": threads, "shard": shard_kn},
        limits=limits,
        std=std,
    )


def _predict_to_csv(
    model: str,
    inputs: list[str],
    out: Path,
    resume: bool,
    average_translations: bool,
    batch_size: int,
    average: str,
    parallel: dict[str, Any] | None = None,
    limits: dict[str, int | None] | None = None,
    std: bool | None = None,
) -> None:
    """Predict `inputs` batch by batch, streaming rows to ``out.partial`` (see predict_command).

    `parallel`: ``workers``, ``threads`` and ``shard`` (``ecn.inference.parallel``).
    `limits`: ``max_atoms`` and ``max_passes`` (``ecn.inference.predictor.Limits``; None keeps
    the default). `std`: write the std column(s) (None: an ensemble's default).
    """
    from ecn.inference.parallel import iter_rows, start_fork_server

    par = {"workers": 1, "threads": 1, "shard": None, **(parallel or {})}
    if par["workers"] > 1:
        start_fork_server()  # its imports overlap this process's torch import and model load
    import torch

    from ecn.inference import Predictor
    from ecn.inference.inputs import iter_inputs
    from ecn.inference.output import RowWriter
    from ecn.inference.predictor import Limits

    torch.set_num_threads(par["threads"])
    try:
        predictor = Predictor.load(model)
        predictor.limits = Limits(**{k: v for k, v in (limits or {}).items() if v is not None})
        if std is not None:
            predictor.with_std = std
        predictor.predict_items([], average=average)  # checks the options before any output
        writer = RowWriter(out, predictor.columns(average), resume=resume)
    except ValueError as exc:
        fail(exc)
    if writer.restarted:
        err_console.print(
            f"note: {writer.partial} from an earlier run replaced (see --resume)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    items = iter_inputs([Path(p) for p in inputs], skip=writer.done, shard=par["shard"])
    rows = iter_rows(predictor, items, batch_size, par["workers"], average, average_translations)
    try:
        for batch_rows in rows:
            writer.write(batch_rows)
    except KeyboardInterrupt:
        rows.close()  # stops the worker processes
        writer.close()
        err_console.print(
            f"interrupted: {writer.total} rows kept in {writer.partial}; "
            "rerun with --resume to continue",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None
    except ValueError as exc:
        rows.close()
        writer.close()
        fail(exc)
    except BaseException:
        rows.close()
        writer.close()
        raise
    writer.finish()
    kept = f" ({writer.kept} kept from the earlier run)" if writer.kept else ""
    console.print(
        f"wrote {out}: {writer.total} rows{kept}, {writer.n_errors} with errors",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def merge_command(
    parts: list[Path] = typer.Argument(
        ..., help="The prediction CSVs of `ecn predict --shard K/N`, in shard order 1..N."
    ),
    out: str = typer.Option(..., "--out", "-o", help="The merged CSV (a regular file)."),
) -> None:
    """Join the outputs of `ecn predict --shard` jobs into one CSV, checking that their headers
    agree and that no id appears twice. Exit codes: 0 written; 2 a problem found (named on one
    line), nothing written."""
    from ecn.inference.output import merge_outputs

    try:
        path, n_rows, n_err = merge_outputs([str(p) for p in parts], out)
    except ValueError as exc:
        fail(exc)
    console.print(
        f"wrote {path}: {n_rows} rows from {len(parts)} files, {n_err} with errors",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add ``train``, ``evaluate``, ``predict`` and ``merge`` to the main CLI."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("predict")(predict_command)
    app.command("merge")(merge_command)
