"""A run directory as a typed, versioned record: ``results.json`` + ``config.yaml`` + metrics.

Why a type: every table, model card and report reads finished runs; with a plain dict each reader
re-spelled ``res["metrics"]["test"]["mae"]`` and ``cfg["optim"]["lr"]``, and a record of another
layout broke them silently (a ``KeyError`` three calls deep, or a wrong number). Here one class
reads and writes the three files: ``results.json`` through :class:`RunResults` (a format version
and a clear error for a record it cannot read), ``config.yaml`` through ``TrainConfig`` and
``metrics.csv`` (one row per epoch) as a table.

Format versions: 1 is every record written so far; records written before the version field
existed carry none and are read as version 1 (validated like any other). A record of a newer
version, with a required key missing or with a key this version does not know is refused with
:class:`RunRecordError` naming the file and what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ecn._version import __version__
from ecn.io import write_json
from ecn.train.config import TrainConfig, config_from_dict

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "PREDICTIONS_TEST_FILE",
    "PREDICTIONS_VAL_FILE",
    "RECORD_FILES",
    "RECORD_VERSION",
    "RESULTS_FILE",
    "ModelSummary",
    "RunRecord",
    "RunRecordError",
    "RunResults",
    "is_finished",
    "keep_run",
    "park_run",
    "read_history",
    "reference_result",
    "unpark_run",
]

#: Format version of ``results.json`` written by this ecn (a record without one is version 1).
RECORD_VERSION = 1
RESULTS_FILE = "results.json"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"
PREDICTIONS_TEST_FILE = "predictions_test.csv"
PREDICTIONS_VAL_FILE = "predictions_val.csv"
#: What a table needs of a finished run (no checkpoints, no model, ~0.1 MB): kept under
#: ``results/`` so the table can be rewritten from a fresh clone after ``runs/`` is gone.
RECORD_FILES: tuple[str, ...] = (RESULTS_FILE, METRICS_FILE, CONFIG_FILE, PREDICTIONS_TEST_FILE)


class RunRecordError(ValueError):
    """A run directory this ecn cannot read: unfinished, foreign, damaged or of a newer format."""


@dataclass(frozen=True)
class ModelSummary:
    """The model of a run as ``results.json`` records it (``options`` resolved, defaults in)."""

    name: str
    group: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    n_params: int | None = None


@dataclass(frozen=True)
class RunResults:
    """``results.json``: what a finished run measured and how it ran.

    ``metrics`` maps split (``val``, ``test``) to metric name to value; a multi-target
    regression nests one more level (target -> metric -> value). ``split_sizes``, ``rejected``
    and ``dropped_nan_targets`` map split to a count.
    """

    dataset: str
    targets: list[str]
    units: list[str]
    task: str
    metrics: dict[str, dict[str, Any]]
    model: ModelSummary
    split_sizes: dict[str, int]
    record_version: int = RECORD_VERSION
    ecn_version: str = ""
    source_note: str = ""
    checksums: dict[str, str] = field(default_factory=dict)
    node_target: str | None = None
    graph_settings: dict[str, Any] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    dropped_nan_targets: dict[str, int] = field(default_factory=dict)
    target_mean: list[float] = field(default_factory=list)
    target_std: list[float] = field(default_factory=list)
    epochs_run: int | None = None
    best_epoch: int | None = None
    best_val_logged: float | None = None
    monitor: str = ""
    stopped_by: str | None = None
    wall_time_s: float | None = None
    train_time_s: float | None = None
    time_budget_min: float | None = None
    final_lr: float | None = None
    device: dict[str, Any] = field(default_factory=dict)
    precision: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    init_from: dict[str, Any] | None = None
    best_checkpoint: str = ""
    model_file: str = ""

    @property
    def headline(self) -> str:
        """The metric a table reports: ``mae`` (regression) or ``roc_auc`` (classification)."""
        return "mae" if "mae" in self.split_metrics("test") else "roc_auc"

    def split_metrics(self, split: str) -> dict[str, Any]:
        """Metric name -> value of one split (``val`` or ``test``)."""
        if split not in self.metrics:
            raise RunRecordError(f"no {split!r} metrics in this run (have {sorted(self.metrics)})")
        return self.metrics[split]

    def metric(self, split: str, name: str | None = None) -> float:
        """One number: metric `name` (default: :attr:`headline`) on `split`."""
        name = name or self.headline
        values = self.split_metrics(split)
        if name not in values:
            raise RunRecordError(f"no {split} metric {name!r} (have {sorted(values)})")
        return float(values[name])

    @property
    def gpu(self) -> bool:
        """Trained on a GPU (the device string names CUDA)."""
        return "cuda" in str(self.device.get("device", ""))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``results.json`` (version first)."""
        raw = dataclasses.asdict(self)
        return {"record_version": raw.pop("record_version"), **raw}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = RESULTS_FILE) -> RunResults:
        """Validate and type a ``results.json`` object (`source` names it in errors).

        Raises:
            RunRecordError: a newer format version, a required key missing, an unknown key.
        """
        if not isinstance(raw, dict):
            raise RunRecordError(f"{source}: not a JSON object")
        version = raw.get("record_version", 1)  # records before the field existed: version 1
        if not isinstance(version, int) or version < 1:
            raise RunRecordError(f"{source}: bad record_version {version!r}")
        if version > RECORD_VERSION:
            raise RunRecordError(
                f"{source} is a version-{version} run record; this ecn ({__version__}) reads up "
                f"to version {RECORD_VERSION}: upgrade ecn"
            )
        fields = {f.name: f for f in dataclasses.fields(cls)}
        required = [n for n, f in fields.items() if _required(f)]
        missing = [k for k in required if k not in raw]
        if missing:
            raise RunRecordError(
                f"{source}: not an ecn run record (missing {missing}); a reference "
                "implementation's or a damaged file?"
            )
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            raise RunRecordError(f"{source}: unknown keys {unknown} for record version {version}")
        model = raw["model"]
        if not isinstance(model, dict) or "name" not in model:
            raise RunRecordError(f"{source}: 'model' must be an object with a 'name'")
        if not isinstance(raw["metrics"], dict) or "test" not in raw["metrics"]:
            raise RunRecordError(f"{source}: no test metrics")
        return cls(**{**raw, "record_version": version, "model": ModelSummary(**model)})

    def save(self, run_dir: str | Path) -> Path:
        """Write ``results.json`` into `run_dir` (atomically; NaN written as null)."""
        return write_json(Path(run_dir) / RESULTS_FILE, self.to_dict())


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def is_finished(run_dir: str | Path) -> bool:
    """Finished once it wrote ``results.json`` (session-capped or crashed runs have none)."""
    return (Path(run_dir) / RESULTS_FILE).is_file()


def reference_result(run_dir: str | Path) -> dict[str, Any] | None:
    """The result a reference implementation's run wrote (txie-93/cgcnn, matgl: its own JSON,
    with an ``implementation`` key, in the file an ecn run calls ``results.json``, written by
    ``scripts/cgcnn_reference.py`` / ``megnet_reference.py``); None for an ecn run (it has a
    ``config.yaml``: read it with :meth:`RunRecord.load`) or an unfinished one. Here because this
    module is the one reader of run folders; the dict is that script's, not a versioned record."""
    path = Path(run_dir)
    if not is_finished(path) or (path / CONFIG_FILE).is_file():
        return None
    res = json.loads((path / RESULTS_FILE).read_text())
    return res if isinstance(res, dict) and "implementation" in res else None


def read_history(run_dir: str | Path) -> pd.DataFrame:
    """``metrics.csv``: one row per finished epoch (``epoch``, ``train_loss``, ``val_loss``,
    ``val_mae``, ``lr``, ``elapsed_s``, ...; empty cells NaN); an empty table when there is none
    yet, so an unfinished run's progress can be read too."""
    import pandas as pd

    path = Path(run_dir) / METRICS_FILE
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path)


def _config(path: Path) -> TrainConfig:
    """``config.yaml`` through ``TrainConfig`` (the schema); records written before ecn 0.2 kept
    the model's group, width, layers and keyword arguments beside its name, now its options."""
    raw = yaml.safe_load(path.read_text()) or {}
    raw.pop("ecn_version", None)  # informative only
    model = raw.get("model") or {}
    if "options" not in model and {"group", "kwargs", "width", "layers"} & set(model):
        kwargs = model.pop("kwargs", None) or {}
        sized = {k: model.pop(k, None) for k in ("group", "width", "layers")}
        if model.get("name") == "ecn":
            kwargs = {**{k: v for k, v in sized.items() if v is not None}, **kwargs}
        model["options"] = kwargs
    try:
        return config_from_dict(raw)
    except (TypeError, ValueError) as err:
        raise RunRecordError(f"{path}: {err}") from None


@dataclass(frozen=True)
class RunRecord:
    """A finished run directory: its results, its resolved config and where it is."""

    path: Path
    results: RunResults
    config: TrainConfig

    @classmethod
    def load(cls, run_dir: str | Path) -> RunRecord:
        """Read and validate a finished run directory.

        Raises:
            RunRecordError: unfinished (no ``results.json``), no ``config.yaml``, or a file this
                ecn cannot read (see :meth:`RunResults.from_dict`).
        """
        path = Path(run_dir)
        res, cfg = path / RESULTS_FILE, path / CONFIG_FILE
        if not res.is_file():
            raise RunRecordError(f"{path} is not a finished run (no {RESULTS_FILE})")
        if not cfg.is_file():
            raise RunRecordError(f"{path} has no {CONFIG_FILE}")
        try:
            raw = json.loads(res.read_text())
        except json.JSONDecodeError as err:
            raise RunRecordError(f"{res}: not JSON ({err})") from None
        return cls(path, RunResults.from_dict(raw, str(res)), _config(cfg))

    def history(self) -> pd.DataFrame:
        """Per-epoch metrics (:func:`read_history`)."""
        return read_history(self.path)

    def test_predictions(self) -> pd.DataFrame | None:
        """``predictions_test.csv`` (id, target, prediction columns), None when not kept."""
        import pandas as pd

        path = self.path / PREDICTIONS_TEST_FILE
        return pd.read_csv(path) if path.is_file() else None

    def predictions(self, split: str) -> pd.DataFrame:
        """``predictions_<split>.csv`` of ``val`` or ``test`` with its ids as text: ``id``,
        ``target``, ``prediction`` (one target) or ``target_<t>``, ``prediction_<t>`` (several).

        Raises:
            RunRecordError: another split, or a run that did not keep the file.
        """
        import pandas as pd

        names = {"val": PREDICTIONS_VAL_FILE, "test": PREDICTIONS_TEST_FILE}
        if split not in names:
            raise RunRecordError(f"predictions are kept for val and test, not {split!r}")
        path = self.path / names[split]
        if not path.is_file():
            raise RunRecordError(f"{self.path} has no {names[split]}")
        return pd.read_csv(path, dtype={"id": str}, keep_default_na=False, na_values=[""])

    @property
    def threads(self) -> int:
        """torch threads the run trained with (1 when unset)."""
        return int(self.config.run.threads or 1)

    @property
    def label(self) -> str:
        """``ecn-<group>`` for ECN, else the model name (how a report names a run's model)."""
        m = self.config.model
        return f"ecn-{m.options.get('group')}" if m.name == "ecn" else m.name

    def archive(self, dest: str | Path) -> Path:
        """Copy the record's files (:data:`RECORD_FILES` present) to `dest`; returns `dest`."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for name in RECORD_FILES:
            if (self.path / name).is_file():
                shutil.copyfile(self.path / name, dest / name)
        return dest


def keep_run(out: str | Path, kept: str | Path) -> list[Path]:
    """Keep a finished run of the background queues (``scripts/flat_queue.sh``,
    ``scripts/continuous_queue.sh``) beyond the session that ran it: its record
    (:meth:`RunRecord.archive`) unless `kept` has one already (a rerun does not overwrite what a
    table was made from), and its ``model.pt`` unless `kept` has one (the weights a shipped model
    needs; ``runs/`` does not outlive a session). Returns what it copied."""
    out, kept = Path(out), Path(kept)
    copied: list[Path] = []
    if (out / RESULTS_FILE).is_file() and not (kept / RESULTS_FILE).is_file():
        copied.append(RunRecord.load(out).archive(kept))
    if (out / "model.pt").is_file() and not (kept / "model.pt").is_file():
        kept.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "model.pt", kept / "model.pt")
        copied.append(kept / "model.pt")
    return copied


#: What a later session needs to resume an unfinished run where it stopped: the config, the
#: epochs so far, ``last.ckpt`` (weights, optimiser, scheduler, early-stopping and timer state)
#: and ``best.ckpt`` (what the final evaluation loads).
PARK_FILES = (CONFIG_FILE, METRICS_FILE, "last.ckpt", "best.ckpt")


def park_run(out: str | Path, parked: str | Path) -> list[Path]:
    """Keep an unfinished run (paused by its session cap: ``last.ckpt``, no ``results.json``)
    beyond the session that ran it, so a later session resumes it instead of starting at epoch 0
    (``runs/`` does not outlive a session; a Table 1 run can need more than one). Copies
    :data:`PARK_FILES` to `parked`; a run without ``last.ckpt`` is not parked, and a finished
    run's parked copy is removed (nothing is left to resume). Returns what it copied."""
    out, parked = Path(out), Path(parked)
    if is_finished(out):
        shutil.rmtree(parked, ignore_errors=True)
        return []
    if not (out / "last.ckpt").is_file():
        return []
    parked.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in PARK_FILES:
        if (out / name).is_file():
            shutil.copyfile(out / name, parked / name)
            copied.append(parked / name)
    if (parked / "best.ckpt").is_file():
        _weights_only_checkpoint(parked / "best.ckpt")
    return copied


def _weights_only_checkpoint(path: Path) -> None:
    """Drop the optimiser and scheduler state of a checkpoint only ever read for its weights
    (``best.ckpt``: the final evaluation; resuming reads ``last.ckpt``): two thirds of its size
    under Adam, for a parked run that is committed."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    ckpt.pop("optimizer_states", None)
    ckpt.pop("lr_schedulers", None)
    torch.save(ckpt, path)


def unpark_run(parked: str | Path, out: str | Path) -> bool:
    """Put a parked run (:func:`park_run`) back where training resumes it, unless `out` already
    holds a ``last.ckpt`` (this session's own progress is never overwritten). True if restored."""
    parked, out = Path(parked), Path(out)
    if not (parked / "last.ckpt").is_file() or (out / "last.ckpt").is_file():
        return False
    out.mkdir(parents=True, exist_ok=True)
    for name in PARK_FILES:
        if (parked / name).is_file():
            shutil.copyfile(parked / name, out / name)
    return True
