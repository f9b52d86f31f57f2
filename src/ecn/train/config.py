"""Training configuration: typed dataclasses are the schema, YAML overlays them.

Why dataclasses and not a free dict: a typo in a YAML key (``lr_patence``) must fail loudly before a
one-hour run starts, and the resolved config written to every run directory must be complete. So
unknown keys raise ``ValueError`` and every value is checked against its annotated type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from ecn._version import __version__
from ecn.data.registry import get_spec
from ecn.io import atomic_write

__all__ = [
    "DataConfig",
    "FinetuneConfig",
    "ModelSection",
    "OptimConfig",
    "RunConfig",
    "TrainConfig",
    "config_from_dict",
    "load_config",
    "merge_overrides",
    "save_config",
]

SPLITS = ("train", "val", "test")
#: ``model.continuous`` values (``ModelSection``).
CONTINUOUS_MODES = ("off", "on", "auto")
#: Training precisions (Lightning names); ``auto`` is resolved per device by
#: ``ecn.train.precision.resolve_precision`` and written resolved into ``config.yaml``.
PRECISIONS = ("auto", "32", "bf16-mixed", "16-mixed")
#: Other spellings accepted (YAML ``precision: 32`` is an int; Lightning's short names).
PRECISION_ALIASES = {"32-true": "32", "bf16": "bf16-mixed", "16": "16-mixed"}


@dataclass
class DataConfig:
    """What to learn from.

    Attributes:
        dataset: key of ``ecn.data.DATASETS`` (``perov5``, ``cif``, ...).
        targets: target column(s); one model output per target. Empty = the dataset's
            ``default_target`` (heat_all for Perov-5, e_form for MP, the id_prop column for a
            CIF folder), filled in when the config is validated.
        path: dataset location override (e.g. a CIF folder); None = the dataset's default.
        train_split / val_split / test_split: split names passed to ``ecn.data.load_split``
            (the "split source": the dataset's own published split by default).
        limit: keep only the first N records of each split (quick runs); an int applies to every
            split, a mapping ``{train: 24, val: 8, test: 8}`` sets them one by one.
        node_target: per-site target (node-level training). Only ``synthetic_group`` exists: a
            mechanics test target derived from Z (see ``ecn.train.data.NODE_TARGETS``).
        cache: reuse/write the on-disk graph cache (``ecn.graphs.load_or_build``) when available.
        n_jobs: graph-building processes (None = library default).
        train_fraction: train on a seeded random fraction of the training split (for learning
            curves over training-set size); ``subset_seed`` fixes the permutation, independent of
            the run seed, so every model sees the same structures and a smaller fraction is a
            subset of a larger one.
        train_size: train on a seeded random N structures of the training split (the same
            nested permutation as ``train_fraction``; for fine-tuning studies at fixed sizes).
    """

    dataset: str = "perov5"
    targets: list[str] = field(default_factory=list)
    path: str | None = None
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"
    limit: int | dict[str, int] | None = None
    node_target: str | None = None
    cache: bool = True
    n_jobs: int | None = None
    train_fraction: float | None = None
    train_size: int | None = None
    subset_seed: int = 0

    def limit_for(self, split: str) -> int | None:
        """Record limit for one of ``train``/``val``/``test``."""
        if isinstance(self.limit, dict):
            return self.limit.get(split)
        return self.limit


@dataclass
class ModelSection:
    """Which model, with which options: ``ecn.nn.build_model(ModelConfig(name, ..., options))``.

    Input/output widths come from the data. ``options`` are the model's own hyperparameters
    (``ecn.nn.model_options(name)`` lists them with defaults: ECN ``group``, ``width``,
    ``layers``; CGCNN ``atom_dim``, ``n_conv``, ...); an option the model does not take is an
    error. A run directory's ``config.yaml`` lists every option, defaults included.

    ``continuous`` fills in the smoothing options (``ecn.nn.continuous_options``) that make
    ECN-SΛ on the unit cell continuous in the atomic positions on this run's graph (issue 26):
    ``on`` (an error where the model or graph has none: another group, the supercell, a
    k-neighbour cap), ``auto`` (on where they exist: the default of ``ecn train`` without a
    config file) or ``off`` (the paper's model, unless the options say otherwise). Options set
    in ``options`` win. ``config.yaml`` records ``on`` or ``off``, with every option written out.
    """

    name: str = "ecn"
    node_level: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    continuous: str = "off"


@dataclass
class OptimConfig:
    """AdamW + ReduceLROnPlateau + early stopping (paper §7 recipe).

    ``stop_at_min_lr`` is the authors' schedule (their ``learn_materials`` code): the plateau
    schedule halves the LR until it reaches ``min_lr``, and training stops after one epoch at
    ``min_lr`` instead of when validation stalls; pair it with a ``patience`` of at least
    ``epochs`` so that early stopping never fires first.
    """

    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 64
    eval_batch_size: int = 256
    epochs: int = 300
    patience: int = 30
    lr_factor: float = 0.5
    lr_patience: int = 10
    min_lr: float = 1e-6
    grad_clip: float | None = None
    stop_at_min_lr: bool = False
    #: weight λ of the penalty on the model's squared slopes in atom moves and cell strain
    #: (``ecn.nn.slope``; relaxed crystals have zero forces and stress); 0: off
    slope_penalty: float = 0.0


#: ``finetune.head`` values: re-initialise the output head when the target differs (``auto``),
#: always (``reset``) or never (``keep``: an error when the output count differs).
HEAD_MODES = ("auto", "keep", "reset")


@dataclass
class FinetuneConfig:
    """Start training from a trained model (``ecn train --init-from``).

    ``init_from`` is a pretrained model name (``ecn models``), a run directory or a model file;
    its architecture (model name and options) and graph settings become this run's defaults, and
    a setting given that disagrees with them is an error, since the weights would not fit. The
    output head is re-initialised when the target differs in name, unit, task or count (``head``:
    ``auto``); the target standardisation is always refitted on the new training split (a kept
    head is rescaled so that the starting model predicts exactly what the source predicts).
    ``freeze_embedding`` and ``freeze_layers`` (the first k message-passing layers) keep those
    weights fixed; ``pretrained_lr`` is the learning rate of the loaded weights (None:
    ``optim.lr``).
    ``source`` is filled in when training starts (path, name, sha256, targets, whether the head
    was re-initialised), so ``config.yaml`` says where the run started from and ``--resume``
    rebuilds the same parameter groups.
    """

    init_from: str | None = None
    #: the member of an ensemble ``init_from`` to start from (one fine-tuned model per member)
    member: int = 0
    freeze_embedding: bool = False
    freeze_layers: int = 0
    pretrained_lr: float | None = None
    head: str = "auto"
    source: dict[str, Any] = field(default_factory=dict)


#: ``run.expand_on`` values (where stored records are expanded into graphs).
EXPAND_ON = ("auto", "worker", "device")


@dataclass
class RunConfig:
    """Where and how to run. ``time_budget_min`` stops training cleanly (after validating and
    checkpointing) once the wall-clock budget is spent, for same-budget comparisons.
    ``threads`` sets ``torch.set_num_threads`` per process (None = torch's default); on a shared
    or small CPU, 1 thread per process avoids oversubscription, which can cost 10-50x.
    ``precision`` is the training precision (``32``, ``bf16-mixed``, ``16-mixed`` or ``auto``:
    bf16-mixed where the device computes bf16 natively, else 32; see
    ``ecn.train.precision``). Evaluation, prediction and the model file stay float32.
    ``expand_on`` says where a batch of stored records becomes the graph the model reads
    (cover, one-hots, Gaussians; ``ecn.graphs.cover``): ``worker`` (the DataLoader's
    collate), ``device`` (after the compact batch is moved to the training device: 10-100x fewer
    bytes to move) or ``auto`` (device on CUDA, worker otherwise).
    ``session_cap_min`` stops this process after MIN minutes like ``time_budget_min``, but it
    is not carried across ``--resume`` (Lightning's timer is) and the run is reported as
    unfinished (``stopped_by: session_cap``): a queue that shares a lent GPU or a session's
    last hour among many runs resumes each one later.
    ``compile`` runs the training and validation forward through ``torch.compile`` (dynamic
    shapes: every batch has its own atom and edge counts): the same function, fused elementwise
    kernels; MEGNet's step on MP ~1.4x faster on one CPU thread, at one to two minutes of
    compilation per run. Not with ``optim.slope_penalty`` (double backward): eager there."""

    seed: int = 0
    out: str | None = None
    devices: int | str = 1
    accelerator: str = "auto"
    strategy: str = "auto"
    num_workers: int = 0
    progress_bar: bool = True
    time_budget_min: float | None = None
    name: str | None = None
    threads: int | None = None
    precision: str | int = "auto"
    expand_on: str = "auto"
    session_cap_min: float | None = None
    compile: bool = False


@dataclass
class TrainConfig:
    """Full, resolved training configuration (what ``config.yaml`` in a run directory holds).

    ``graph`` overrides entries of the resolved graph settings (``GraphSettings`` field names,
    e.g. ``{cutoff: 5.0, cell_onehot: true}``; see ``ecn.nn.graph_settings``). Training writes
    the fully resolved settings (every field) and every model option into ``config.yaml``.
    """

    data: DataConfig = field(default_factory=DataConfig)
    graph: dict[str, Any] = field(default_factory=dict)
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON friendly)."""
        return dataclasses.asdict(self)

    def default_out(self) -> str:
        """default run directory (the same in every DDP process, unlike a timestamp)."""
        tgt = "+".join(self.data.targets)
        group = self.model.options.get("group")
        model = f"{self.model.name}_{group}" if group else self.model.name
        name = self.run.name or f"{self.data.dataset}_{tgt}_{model}"
        return str(Path("runs") / f"{name}_seed{self.run.seed}")


def _type_ok(value: Any, tp: Any) -> tuple[bool, Any]:
    """Check (and mildly coerce: int -> float, str digits for devices) ``value`` against ``tp``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return True, value
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, v = _type_ok(value, arg)
            if ok:
                return True, v
        return False, value
    if tp is type(None):
        return value is None, value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return False, value
        (arg,) = typing.get_args(tp)
        out = []
        for v in value:
            ok, v2 = _type_ok(v, arg)
            if not ok:
                return False, value
            out.append(v2)
        return True, out
    if origin is dict:
        if not isinstance(value, dict):
            return False, value
        _, varg = typing.get_args(tp)
        out_d = {}
        for k, v in value.items():
            ok, v2 = _type_ok(v, varg)
            if not ok:
                return False, value
            out_d[str(k)] = v2
        return True, out_d
    if tp is float:
        if isinstance(value, bool):
            return False, value
        if isinstance(value, (int, float)):
            return True, float(value)
        return False, value
    if tp is int:
        return (isinstance(value, int) and not isinstance(value, bool)), value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is str:
        return isinstance(value, str), value
    return isinstance(value, tp), value


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    if not isinstance(raw, dict):
        raise ValueError(  # noqa: TRY004 - config errors are ValueError throughout
            f"config section '{where or 'root'}' must be a mapping, got {type(raw).__name__}"
        )
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ValueError(
            f"unknown config key(s) in '{where or 'root'}': {unknown}; allowed: {sorted(names)}"
        )
    kwargs = {}
    for name, value in raw.items():
        tp = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value or {}, key)
            continue
        ok, coerced = _type_ok(value, tp)
        if not ok:
            raise ValueError(f"config key '{key}' = {value!r} does not match type {tp}")
        kwargs[name] = coerced
    return cls(**kwargs)


def config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    """Build a validated ``TrainConfig`` from a nested dict (missing keys take defaults)."""
    cfg = _build(TrainConfig, raw or {}, "")
    _validate(cfg)
    return cfg


def _validate(cfg: TrainConfig) -> None:
    if not cfg.data.targets:
        cfg.data.targets = [get_spec(cfg.data.dataset).default_target]
    if cfg.optim.lr <= 0 or cfg.optim.batch_size <= 0 or cfg.optim.epochs <= 0:
        raise ValueError("optim.lr, optim.batch_size and optim.epochs must be positive")
    cfg.run.precision = PRECISION_ALIASES.get(str(cfg.run.precision), str(cfg.run.precision))
    if cfg.run.precision not in PRECISIONS:
        raise ValueError(f"run.precision must be one of {PRECISIONS}, got {cfg.run.precision!r}")
    if cfg.run.expand_on not in EXPAND_ON:
        raise ValueError(f"run.expand_on must be one of {EXPAND_ON}, got {cfg.run.expand_on!r}")
    if cfg.data.train_fraction is not None and not 0 < cfg.data.train_fraction <= 1:
        raise ValueError("data.train_fraction must be in (0, 1]")
    if cfg.data.train_size is not None:
        if cfg.data.train_size < 1:
            raise ValueError("data.train_size must be a positive number of structures")
        if cfg.data.train_fraction is not None:
            raise ValueError("give data.train_size or data.train_fraction, not both")
    if cfg.run.time_budget_min is not None and cfg.run.time_budget_min <= 0:
        raise ValueError("run.time_budget_min must be positive")
    if isinstance(cfg.data.limit, dict):
        bad = sorted(set(cfg.data.limit) - set(SPLITS))
        if bad:
            raise ValueError(f"data.limit keys must be among {SPLITS}, got {bad}")
    if cfg.finetune.head not in HEAD_MODES:
        raise ValueError(f"finetune.head must be one of {HEAD_MODES}, got {cfg.finetune.head!r}")
    if cfg.finetune.freeze_layers < 0:
        raise ValueError("finetune.freeze_layers must be >= 0")
    if cfg.finetune.pretrained_lr is not None and cfg.finetune.pretrained_lr < 0:
        raise ValueError("finetune.pretrained_lr must be >= 0")
    if cfg.model.continuous not in CONTINUOUS_MODES:
        raise ValueError(
            f"model.continuous must be one of {CONTINUOUS_MODES}, got {cfg.model.continuous!r}"
        )
    if cfg.model.node_level != (cfg.data.node_target is not None):
        raise ValueError("model.node_level requires data.node_target (and vice versa)")


def merge_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``overrides`` wins. Values that are None in overrides are skipped
    (an unset CLI flag must not erase a YAML value)."""
    out = dict(base)
    for k, v in overrides.items():
        if v is None:
            continue
        if isinstance(v, dict) and k != "limit":
            out[k] = merge_overrides(out.get(k) or {}, v)
        else:
            out[k] = v
    return out


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """Defaults <- YAML file <- overrides (e.g. CLI flags), validated."""
    raw: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text()
        raw = yaml.safe_load(text) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: top level of a config must be a mapping")
        raw.pop("ecn_version", None)  # written by save_config, informative only
    if overrides:
        raw = merge_overrides(raw, overrides)
    ft = raw.get("finetune") or {}
    source = ft.get("init_from") if isinstance(ft, dict) and not ft.get("source") else None
    if source:
        # the source model's architecture and graph are the defaults; what the user set wins
        # here and is checked against the source when its weights are loaded
        from ecn.train.finetune import source_defaults

        raw = merge_overrides(source_defaults(source), raw)
    return config_from_dict(raw)


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write the resolved config with the ecn version (reloadable by ``load_config``)."""
    payload = {"ecn_version": __version__, **cfg.to_dict()}
    with atomic_write(Path(path), "w") as fh:
        yaml.safe_dump(payload, fh, sort_keys=False, allow_unicode=True)
