"""``train(cfg)`` and ``evaluate(run_dir)``: the functions behind ``ecn train`` / ``ecn evaluate``.

Distributed runs (``--strategy ddp``): Lightning re-executes the command line once per extra
process, so everything before ``trainer.fit`` runs in every process. Only rank 0 (read from the
launcher's environment, ``rank_zero_only.rank``) creates/writes the run directory. After fitting,
rank 0 alone re-evaluates ``best.ckpt`` on the full validation and test splits in one process
(no sampler padding), which is exactly what ``ecn evaluate`` computes.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichProgressBar, Timer
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_only

from ecn._version import __version__
from ecn.graphs import GraphSettings
from ecn.graphs.dataset import write_rejected
from ecn.inference import (
    MODEL_FILE,
    PropertyModel,
    TargetInfo,
    load_model_file,
    predict_graphs,
    resolve_model_path,
    save_model_file,
)
from ecn.io import write_json
from ecn.nn import ModelConfig, continuous_options, resolve_options
from ecn.train.config import TrainConfig, load_config, save_config
from ecn.train.data import (
    NODE_TARGETS,
    CrystalDataModule,
    PreparedData,
    graph_settings_for,
    node_target_values,
    prepare_data,
)
from ecn.train.finetune import initialise
from ecn.train.metrics import classification_metrics, regression_metrics
from ecn.train.module import TrainingModule
from ecn.train.outputs import (
    MetricsCSV,
    plot_learning_curve,
    plot_parity,
    read_metrics,
    write_predictions,
)
from ecn.train.precision import (
    cpu_has_native_bf16,
    flush_subnormals,
    resolve_precision,
    training_device,
)
from ecn.train.record import RESULTS_FILE, RunRecordError, RunResults

logger = logging.getLogger(__name__)

__all__ = [
    "build_module",
    "evaluate",
    "evaluate_split",
    "resolve_config",
    "resume_base",
    "train",
]


def with_continuous_options(cfg: TrainConfig) -> TrainConfig:
    """`cfg` with ``model.continuous`` applied: the smoothing options of its graph
    (``ecn.nn.continuous_options``) under the options it sets, and the mode resolved to ``on``
    or ``off``.

    Raises:
        ValueError: ``continuous: on`` where the model or its graph has no continuous setting.
    """
    mode = cfg.model.continuous
    if mode == "off":
        return cfg
    found = None
    if cfg.model.name == "ecn":
        group = resolve_options("ecn", cfg.model.options)["group"]
        s = graph_settings_for(cfg)
        found = continuous_options(
            group,
            s.strategy,
            supercell=s.supercell,
            max_neighbors=s.max_neighbors,
            neighbor_margin=s.neighbor_margin,
        )
    if found is None:
        if mode == "on":
            raise ValueError(
                "model.continuous: on needs ECN-SΛ (group slambda) on the unit cell of a "
                "voronoi_radii or cutoff graph without a neighbour cap (or a cutoff graph whose "
                "cap has a neighbor_margin); got model "
                f"{cfg.model.name!r} with {cfg.model.options} and graph {cfg.graph}"
            )
        logger.info("no continuous setting for this model and graph: the paper's model")
        return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, continuous="off"))
    options = {**found, **cfg.model.options}
    mode = "on" if all(options[k] == v for k, v in found.items()) else "off"  # options win
    return dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, options=options, continuous=mode)
    )


def resolve_config(cfg: TrainConfig) -> tuple[TrainConfig, GraphSettings]:
    """Fill in what the run will really use: every model option (defaults included), the
    resolved graph settings (``resolve_graph_settings``) and the training precision (``auto``
    resolved for the device, ``ecn.train.precision``), so ``config.yaml`` is complete.

    Raises:
        ValueError: an unknown model, an option the model does not take, a bad graph setting.
    """
    cfg = with_continuous_options(cfg)
    options = resolve_options(cfg.model.name, cfg.model.options)
    settings = graph_settings_for(cfg)
    precision, why = resolve_precision(str(cfg.run.precision), cfg.run.accelerator)
    if why != "requested":
        logger.info("precision %s (%s)", precision, why)
    expand_on = cfg.run.expand_on
    if expand_on == "auto":
        expand_on = "device" if training_device(cfg.run.accelerator) == "cuda" else "worker"
    resolved = dataclasses.replace(
        cfg,
        graph=dataclasses.asdict(settings),
        model=dataclasses.replace(cfg.model, options=options),
        run=dataclasses.replace(cfg.run, precision=precision, expand_on=expand_on),
    )
    return resolved, settings


def build_module(cfg: TrainConfig, data: PreparedData) -> TrainingModule:
    """The ``TrainingModule`` for ``cfg``, widths and statistics taken from the prepared data."""
    if cfg.data.node_target is not None and cfg.data.node_target not in NODE_TARGETS:
        raise ValueError(
            f"unknown node target '{cfg.data.node_target}'; have {sorted(NODE_TARGETS)}"
        )
    targets = TargetInfo(
        names=tuple(data.targets),
        units=tuple(data.units),
        task=data.task,
        mean=tuple(data.target_mean.tolist()),
        std=tuple(data.target_std.tolist()),
        node_target=cfg.data.node_target,
    )
    model = ModelConfig(
        name=cfg.model.name,
        in_dim=data.in_dim,
        edge_dim=data.edge_dim,
        out_dim=targets.out_dim,
        node_level=cfg.model.node_level,
        options=dict(cfg.model.options),
    )
    return TrainingModule(
        model=model.to_dict(),
        targets=targets.to_dict(),
        graph_settings=dataclasses.asdict(data.settings),
        optim=dataclasses.asdict(cfg.optim),
        dataset=cfg.data.dataset,
        finetune=dataclasses.asdict(cfg.finetune) if cfg.finetune.init_from else None,
    )


def _strategy(cfg: TrainConfig) -> Any:
    """'ddp'/'ddp_spawn' with find_unused_parameters: colours absent from a batch leave weights
    without gradient, which plain DDP rejects."""
    if cfg.run.strategy == "ddp":
        return DDPStrategy(find_unused_parameters=True)
    if cfg.run.strategy == "ddp_spawn":
        return DDPStrategy(start_method="spawn", find_unused_parameters=True)
    return cfg.run.strategy


def _devices(value: int | str) -> int | str:
    return int(value) if isinstance(value, str) and value.isdigit() else value


class StopAtMinLR(pl.Callback):
    """Stop once a whole epoch has run at the plateau schedule's floor ``min_lr`` (the authors'
    stopping rule, ``OptimConfig.stop_at_min_lr``). Checked after validation, before the
    scheduler steps, so the LR read is the one the epoch trained with."""

    def __init__(self, min_lr: float) -> None:
        self.min_lr = min_lr
        self.stopped = False

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.optimizers:
            return
        lrs = [g["lr"] for g in trainer.optimizers[0].param_groups]
        if max(lrs) <= self.min_lr * (1 + 1e-6):
            self.stopped = True
            trainer.should_stop = True


class SessionCap(pl.Callback):
    """Stop after ``minutes`` of wall clock in this process (``RunConfig.session_cap_min``).

    Unlike Lightning's ``Timer`` it keeps no state in the checkpoint, so a resumed run gets a
    fresh cap: a run cut here is unfinished, not converged."""

    def __init__(self, minutes: float) -> None:
        self.deadline = time.monotonic() + 60.0 * minutes
        self.stopped = False

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if time.monotonic() >= self.deadline:
            self.stopped = True
            trainer.should_stop = True


def stop_reason(cbs: dict[str, Any]) -> str:
    """Why ``trainer.fit`` returned: ``session_cap`` (unfinished: resume it), ``time_budget``,
    ``min_lr``, ``early_stopping`` or ``max_epochs``."""
    if "cap" in cbs and cbs["cap"].stopped:
        return "session_cap"
    if "timer" in cbs and cbs["timer"].time_remaining() <= 0:
        return "time_budget"
    if "min_lr" in cbs and cbs["min_lr"].stopped:
        return "min_lr"
    return "early_stopping" if cbs["early"].stopped_epoch > 0 else "max_epochs"


def _make_trainer(cfg: TrainConfig, out: Path, monitor: str) -> tuple[pl.Trainer, dict[str, Any]]:
    cbs: dict[str, Any] = {
        "ckpt": ModelCheckpoint(
            dirpath=out,
            filename="best",
            monitor=monitor,
            mode="min",
            save_top_k=1,
            auto_insert_metric_name=False,
            enable_version_counter=False,
        ),
        # last.ckpt after every epoch (what --resume continues from). Not ``save_last`` of the
        # callback above: Lightning writes that copy only when a best checkpoint is saved, so a
        # paused run resumed from its best epoch and replayed every epoch after it.
        "last": ModelCheckpoint(
            dirpath=out,
            filename="last",
            monitor=None,
            save_top_k=1,
            every_n_epochs=1,
            auto_insert_metric_name=False,
            enable_version_counter=False,
        ),
        "early": EarlyStopping(monitor=monitor, mode="min", patience=cfg.optim.patience),
        "csv": MetricsCSV(out / "metrics.csv"),
    }
    if cfg.run.progress_bar:
        cbs["bar"] = RichProgressBar()
    if cfg.run.time_budget_min is not None:
        # Checked after every step; Lightning then validates and checkpoints before stopping.
        cbs["timer"] = Timer(duration=timedelta(minutes=cfg.run.time_budget_min), interval="step")
    if cfg.run.session_cap_min is not None:
        cbs["cap"] = SessionCap(cfg.run.session_cap_min)
    if cfg.optim.stop_at_min_lr:
        cbs["min_lr"] = StopAtMinLR(cfg.optim.min_lr)
    trainer = pl.Trainer(
        max_epochs=cfg.optim.epochs,
        accelerator=cfg.run.accelerator,
        devices=_devices(cfg.run.devices),
        strategy=_strategy(cfg),
        callbacks=list(cbs.values()),
        logger=False,
        enable_progress_bar=cfg.run.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        deterministic="warn",
        gradient_clip_val=cfg.optim.grad_clip,
        precision=cfg.run.precision,
        default_root_dir=str(out),
        log_every_n_steps=1,
    )
    return trainer, cbs


def resume_base(config: str | Path | None, out: str | None) -> tuple[Path | None, str]:
    """For ``--resume``: (the config to start from, the run directory).

    The run directory is ``out``, else the config's ``run.out`` / default directory; the config
    is the run's own resolved ``config.yaml`` when it exists (flags still override it).
    """
    if out:
        run_dir = Path(out)
    elif config is not None:
        c = load_config(config)
        run_dir = Path(c.run.out or c.default_out())
    else:
        run_dir = Path(TrainConfig().default_out())
    own = run_dir / "config.yaml"
    return (own if own.is_file() else (Path(config) if config else None)), str(run_dir)


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train and write the run directory; returns it (on every rank; only rank 0 writes).

    Subnormal floats are flushed to zero while it runs (``flush_subnormals``: they are many
    times slower on CPUs).

    Raises:
        ValueError: resuming without ``last.ckpt``, or a fresh run into a directory that already
            holds checkpoints (use ``--resume`` or another ``--out``).
    """
    with flush_subnormals():
        return _train(cfg, resume)


def _saved_finetune_source(out: Path) -> dict[str, Any]:
    """The ``finetune.source`` record a fine-tuning run wrote when it started.

    Raises:
        ValueError: the run directory has no such record (it was not started as this run).
    """
    path = out / "config.yaml"
    source = load_config(path).finetune.source if path.is_file() else {}
    if not source:
        raise ValueError(f"--resume: {path} does not record where the fine-tuning started")
    return source


def _train(cfg: TrainConfig, resume: bool) -> Path:
    t0 = time.monotonic()
    if cfg.run.threads is not None:
        torch.set_num_threads(cfg.run.threads)
    cfg, _ = resolve_config(cfg)
    out = Path(cfg.run.out or cfg.default_out())
    cfg.run.out = str(out)
    rank0 = rank_zero_only.rank == 0
    last = out / "last.ckpt"
    if resume and not last.is_file():
        raise ValueError(f"--resume: {last} not found")
    if resume and cfg.finetune.init_from and not cfg.finetune.source:
        # the source record (which parts were loaded, whether the head was reset) decides the
        # optimiser's parameter groups: take it from the run's own config before rewriting it
        cfg.finetune.source = _saved_finetune_source(out)
    if rank0:
        if not resume and (last.exists() or (out / "best.ckpt").exists()):
            raise ValueError(
                f"{out} already holds checkpoints; pass --resume or choose another --out"
            )
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
    data = prepare_data(cfg, progress=cfg.run.progress_bar and rank0)
    if rank0:  # every input not used, with its reason (header only when none)
        write_rejected(out / "rejected.csv", data.rejected)
    pl.seed_everything(cfg.run.seed, workers=True, verbose=False)
    module = build_module(cfg, data)
    if cfg.finetune.init_from and not resume:  # a resumed run takes its weights from last.ckpt
        record = initialise(
            module.net,
            data.settings,
            cfg.finetune.init_from,
            cfg.finetune.head,
            cfg.finetune.member,
        )
        cfg.finetune.source = record
        module.hparams["finetune"]["source"] = record
        if rank0:
            save_config(cfg, out / "config.yaml")
    if cfg.run.compile:
        module.compile_forward()
    dm = CrystalDataModule(
        data,
        cfg.optim.batch_size,
        cfg.optim.eval_batch_size,
        cfg.run.seed,
        cfg.run.num_workers,
        expand_on_device=cfg.run.expand_on == "device",
    )
    # config.yaml is written first on purpose, so the run directory is never empty.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    # intended: the module's hook expands compact batches on the device (`expand_on: device`)
    warnings.filterwarnings("ignore", message=r"You have overridden `on_after_batch_transfer`")
    trainer, cbs = _make_trainer(cfg, out, module.monitor)
    trainer.fit(module, datamodule=dm, ckpt_path=str(last) if resume else None)
    if trainer.is_global_zero:
        reason = stop_reason(cbs)
        if reason == "session_cap":  # unfinished: no results.json, `--resume` continues it
            logger.info("%s: session cap reached; resume from last.ckpt", out)
            return out
        _finish(cfg, out, data, module, trainer, reason, time.monotonic() - t0)
    return out


def _device_info(trainer: pl.Trainer) -> dict[str, Any]:
    dev = trainer.strategy.root_device
    name = (
        torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or "cpu")
    )
    return {
        "accelerator": type(trainer.accelerator).__name__,
        "device": str(dev),
        "name": name,
        "world_size": int(trainer.world_size),
        "strategy": type(trainer.strategy).__name__,
        "torch_threads": torch.get_num_threads(),
        # training times are only comparable on the same kind of CPU (AVX2 vs AVX-512 + AMX)
        "cpu": torch.backends.cpu.get_cpu_capability(),
        "cpu_native_bf16": cpu_has_native_bf16(),
    }


def evaluate_split(
    model: PropertyModel,
    data: PreparedData,
    split: str,
    batch_size: int = 256,
    average_translations: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics + arrays (ids, y, pred) of one split, single process over the whole split."""
    graphs = data.graphs[split]
    pred = predict_graphs(model, graphs, batch_size, average_translations, data.settings)
    node_target = model.targets.node_target
    if node_target is not None:
        y = node_target_values(graphs, node_target, data.settings).double().numpy()
        sizes = [len(u.z) * (8 if data.settings.supercell else 1) for u in graphs]
        ids = [u.id for u, n in zip(graphs, sizes, strict=True) for _ in range(n)]
        node = [k for n in sizes for k in range(n)]
    else:
        y = graphs.targets.astype(np.float64)
        ids = graphs.view_ids
        node = None
    if data.task == "classification":
        metrics: dict[str, Any] = classification_metrics(y[:, 0], pred[:, 0])
    elif len(data.targets) == 1:
        metrics = regression_metrics(y[:, 0], pred[:, 0])
    else:
        metrics = {t: regression_metrics(y[:, j], pred[:, j]) for j, t in enumerate(data.targets)}
    return metrics, {"ids": ids, "y": y, "pred": pred, "node": node}


def _write_split_predictions(path: Path, arr: dict[str, Any], data: PreparedData) -> None:
    """``predictions_<split>.csv`` from :func:`evaluate_split`'s arrays: one writer for the
    files training leaves and the ones ``ecn evaluate --predictions`` rebuilds."""
    write_predictions(path, arr["ids"], arr["y"], arr["pred"], data.targets, data.task, arr["node"])


def _finish(
    cfg: TrainConfig,
    out: Path,
    data: PreparedData,
    module: TrainingModule,
    trainer: pl.Trainer,
    stopped: str,
    wall: float,
) -> None:
    """Rank 0: write ``model.pt`` from the best checkpoint, evaluate it on val/test, and write
    predictions, results and plots."""
    best_path = out / "best.ckpt" if (out / "best.ckpt").is_file() else out / "last.ckpt"
    best, settings, _ = load_model_file(best_path)
    save_model_file(
        out / MODEL_FILE,
        best,
        settings,
        dataset=cfg.data.dataset,
        metadata={"source_note": data.source_note, "checkpoint": best_path.name},
    )
    results: dict[str, Any] = {}
    series = {}
    for split in ("val", "test"):
        metrics, arr = evaluate_split(best, data, split, cfg.optim.eval_batch_size)
        results[split] = metrics
        series[split] = (arr["y"], arr["pred"])
        _write_split_predictions(out / f"predictions_{split}.csv", arr, data)
    rows = read_metrics(out / "metrics.csv")
    monitor = module.monitor
    scored = [(float(r[monitor]), int(float(r["epoch"]))) for r in rows if r.get(monitor)]
    payload = {
        "ecn_version": __version__,
        "dataset": cfg.data.dataset,
        "source_note": data.source_note,
        "checksums": data.checksums,
        "targets": data.targets,
        "units": data.units,
        "task": data.task,
        "node_target": cfg.data.node_target,
        "model": {
            "name": cfg.model.name,
            "group": cfg.model.options.get("group"),
            "options": cfg.model.options,
            "n_params": best.n_params(),
        },
        "graph_settings": cfg.graph,
        "metrics": results,
        "split_sizes": data.n_records,
        "rejected": data.n_rejected,
        "dropped_nan_targets": data.n_dropped_nan,
        "target_mean": data.target_mean.tolist(),
        "target_std": data.target_std.tolist(),
        "epochs_run": len(rows),
        "best_epoch": min(scored)[1] if scored else None,
        "best_val_logged": min(scored)[0] if scored else None,
        "monitor": monitor,
        "stopped_by": stopped,
        "wall_time_s": round(wall, 2),
        "train_time_s": float(rows[-1]["elapsed_s"]) if rows else None,
        "time_budget_min": cfg.run.time_budget_min,
        "final_lr": float(trainer.optimizers[0].param_groups[0]["lr"])
        if trainer.optimizers
        else None,
        "device": _device_info(trainer),
        "precision": {"train": str(trainer.precision), "evaluation": "32"},
        "seed": cfg.run.seed,
        "init_from": cfg.finetune.source or None,
        "best_checkpoint": best_path.name,
        "model_file": MODEL_FILE,
    }
    try:  # typed and validated, so every reader can load it
        RunResults.from_dict(payload).save(out)
    except RunRecordError as err:  # a schema slip must never lose a finished run: keep it, loudly
        logger.error("results.json does not match RunResults (%s); written unvalidated", err)
        write_json(out / RESULTS_FILE, payload)
    label = cfg.data.node_target or data.targets[0]
    try:
        plot_parity(out / "parity.png", series, label, data.units[0] if data.units else "")
        plot_learning_curve(
            out / "learning_curve.png",
            rows,
            "val_mae" if data.task == "regression" else "val_acc",
            data.units[0] if len(data.units) == 1 else "",
        )
    except Exception as exc:  # noqa: BLE001 - a plot must never lose a finished run
        logger.warning("plotting failed: %s", exc)
    logger.info("run written to %s (test: %s)", out, _short(results["test"]))


def _short(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float))


def evaluate(
    run_dir: str | Path,
    split: str = "test",
    batch_size: int | None = None,
    average_translations: bool = False,
    device: str = "cpu",
    predictions: str | Path | None = None,
) -> dict[str, Any]:
    """Recompute the metrics of the run's model (``model.pt``, else its best checkpoint) on one
    split, with the run's own data and graph settings.

    ``predictions``: also write the per-structure CSV in the format training writes
    (``predictions_<split>.csv``), e.g. to rebuild a run directory whose CSVs were not kept
    from its shipped weights.
    """
    run_dir = Path(run_dir)
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got '{split}'")
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise ValueError(f"{run_dir} is not a run directory (no config.yaml)")
    cfg = load_config(cfg_path)
    path = resolve_model_path(run_dir)
    model, _, _ = load_model_file(path)
    data = prepare_data(cfg, splits=(split,))
    metrics, arr = evaluate_split(
        model.to(device), data, split, batch_size or cfg.optim.eval_batch_size, average_translations
    )
    if predictions is not None:
        _write_split_predictions(Path(predictions), arr, data)
    return {
        "run": str(run_dir),
        "split": split,
        "checkpoint": path.name,
        "task": data.task,
        "targets": data.targets,
        "metrics": metrics,
    }
