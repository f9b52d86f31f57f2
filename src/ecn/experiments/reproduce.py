"""`ecn reproduce table2` and `ecn report`: paper-table reproductions built from run directories.

Every number in a results table comes from a run directory's `results.json`; the tables are
written by these functions, never by hand. Runs that already finished are reused, so an
interrupted reproduction resumes where it stopped (an unfinished run resumes from `last.ckpt`).
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ecn.io import atomic_write_text
from ecn.train.config import TrainConfig, config_from_dict
from ecn.train.run import train

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One row of a table: a model name, its ECN group (if any), and the paper's number."""

    label: str
    model: str
    group: str = "slambda"
    paper_mae: float | None = None


# Paper Table 2 (Perov-5 heat_all, eV per cell; test MAE). None = not reported there.
TABLE2: tuple[Variant, ...] = (
    Variant("ECN-SΛ", "ecn", "slambda", 0.038),
    Variant("ECN-P-1", "ecn", "p1", None),
    Variant("ECN-GΛ", "ecn", "glambda", None),
    Variant("MPNN (S_N)", "ecn", "sn", None),
    Variant("CGCNN", "cgcnn", paper_mae=0.047),
    Variant("MEGNet", "megnet", paper_mae=0.059),
    Variant("SchNet", "schnet"),
)


# Paper Table 1 (Materials Project v2021.05; test MAE, ROC-AUC for is_metal). Order: targets.
TABLE1_TARGETS: tuple[str, ...] = ("e_form", "e_fermi", "magmom_per_atom", "band_gap", "is_metal")
TABLE1_PAPER: dict[str, dict[str, float]] = {
    "ECN-SΛ": {"e_form": 0.046, "e_fermi": 0.281, "magmom_per_atom": 0.106, "band_gap": 0.390},
    "CGCNN": {"e_form": 0.048, "e_fermi": 0.307, "magmom_per_atom": 0.111, "band_gap": 0.399},
    "MEGNet": {"e_form": 0.056, "e_fermi": 0.365, "magmom_per_atom": 0.110, "band_gap": 0.434},
}
#: Paper Table 1, metal/non-metal classification: (metal precision, non-metal precision).
TABLE1_PAPER_PRECISION: dict[str, tuple[float, float]] = {
    "ECN-SΛ": (0.798, 0.832),
    "ECN-P-1": (0.80, 0.84),
    "CGCNN": (0.812, 0.863),
    "MEGNet": (0.721, 0.816),
}
TABLE1_UNITS: dict[str, str] = {
    "e_form": "eV/atom",
    "e_fermi": "eV",
    "magmom_per_atom": "μB/atom",
    "band_gap": "eV",
    "is_metal": "ROC-AUC",
}
TABLE1_PAPER_TRAIN_NOTE = (
    "the paper trains on MP v2021.05 (78,649 curated structures; its train id list has "
    "62,919); our CSV is an older ~2020 release, so the paper split keeps only the listed ids "
    "we have "
    "(about a third of the paper's training set). Numbers are not directly comparable."
)
TABLE1: tuple[Variant, ...] = tuple(
    v for v in TABLE2 if v.model != "schnet" and v.group != "glambda"
)


def _slug(v: Variant) -> str:
    return f"{v.model}_{v.group}" if v.model == "ecn" else v.model


def _options(v: Variant, budget: Budget) -> dict[str, Any]:
    """ECN rows share the table's width/depth; baselines keep their papers' own sizes. A recipe
    (``Budget.recipe``) overrides both, but never an ECN row's group."""
    rec = recipe_for(v, budget.recipe)
    base = (
        {"group": v.group, "width": budget.ecn_width, "layers": budget.ecn_layers}
        if v.model == "ecn"
        else {}
    )
    out = {**base, **rec.get("options", {})}
    if v.model == "ecn":
        out["group"] = v.group
    return out


def recipe_for(v: Variant, recipe: dict[str, Any]) -> dict[str, Any]:
    """The tuned recipe of a row: its own entry, else (ECN rows) ECN-SΛ's, since the search
    (``scripts/tune_recipe.py``) tunes ECN-SΛ and CGCNN; other baselines keep their defaults."""
    own = recipe.get(_slug(v))
    if own is None and v.model == "ecn":
        own = recipe.get("ecn_slambda")
    return own or {}


def load_recipe(path: str | Path | None) -> dict[str, Any]:
    """Read a recipe YAML (``configs/table2_recipe.yaml``): ``{slug: {optim, options}}``."""
    if path is None:
        return {}
    raw = yaml.safe_load(Path(path).read_text()) or {}
    for slug, entry in raw.items():
        extra = set(entry) - {"optim", "options", "trial"}
        if extra:
            raise ValueError(f"recipe {path}: {slug}: unknown keys {sorted(extra)}")
    return raw


@dataclass(frozen=True)
class Budget:
    """What every model of a table gets: seeds 0..seeds-1, the same epochs, wall-clock minutes
    per run, torch threads and data limit; ECN rows also share one width and depth.

    ``patience`` is the early-stopping patience in epochs (None: none, run to ``epochs`` or the
    time budget). ``seeds_for`` gives some rows (by slug, e.g. ``ecn_p1``) fewer or more seeds.
    ``recipe`` holds tuned optimiser settings and model options per slug (``load_recipe``).
    ``train_fraction`` trains on a seeded nested fraction of the training split.
    ``precision`` is every run's training precision (None: ``auto``, which depends on the CPU,
    so rows trained on different machines could differ; pin it when a table spans sessions).
    ``session_cap_min`` pauses each run after that many minutes in this process without
    finishing it (no results), so a queue rerun resumes it instead of a time cap ending it."""

    seeds: int = 3
    epochs: int = 300
    time_budget_min: float | None = None
    ecn_width: int = 128
    ecn_layers: int = 6
    threads: int | None = None
    limit: int | None = None
    patience: int | None = None
    seeds_for: dict[str, int] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    train_fraction: float | None = None
    precision: str | None = None
    progress: bool = False
    session_cap_min: float | None = None

    def n_seeds(self, v: Variant) -> int:
        return self.seeds_for.get(_slug(v), self.seeds)

    def to_dict(self) -> dict[str, Any]:
        """The budget as results files record it (progress display and the per-process session
        cap, which ends no run, are not part of it)."""
        return {k: v for k, v in asdict(self).items() if k not in ("progress", "session_cap_min")}


def table_config(
    v: Variant,
    seed: int,
    out: Path,
    budget: Budget,
    dataset: str = "perov5",
    target: str = "heat_all",
    data_path: str | None = None,
) -> TrainConfig:
    """Same data, splits, optimiser, epochs and time for every model; only the model differs."""
    raw: dict[str, Any] = {
        "data": {"dataset": dataset, "targets": [target], "path": data_path},
        "model": {"name": v.model, "options": _options(v, budget)},
        "optim": {
            "epochs": budget.epochs,
            "patience": budget.patience if budget.patience is not None else max(budget.epochs, 1),
            **recipe_for(v, budget.recipe).get("optim", {}),
        },
        "run": {
            "seed": seed,
            "out": str(out),
            "time_budget_min": budget.time_budget_min,
            "session_cap_min": budget.session_cap_min,
            "threads": budget.threads,
            "progress_bar": budget.progress,
            "accelerator": "cpu",
        },
    }
    if budget.precision is not None:
        raw["run"]["precision"] = budget.precision
    if budget.limit is not None:
        raw["data"]["limit"] = budget.limit
    if budget.train_fraction is not None:
        raw["data"]["train_fraction"] = budget.train_fraction
    return config_from_dict(raw)


def run_or_resume(cfg: TrainConfig) -> Path:
    """Train unless `results.json` exists; resume from `last.ckpt` if a run was interrupted."""
    out = Path(cfg.run.out or cfg.default_out())
    if (out / "results.json").is_file():
        logger.info("%s finished earlier; reusing it", out)
        return out
    return train(cfg, resume=(out / "last.ckpt").is_file())


def run_name(v: Variant, seed: int, budget: Budget) -> str:
    """``<slug>_seed<k>``, with ``_frac<f>`` for a training-size run."""
    frac = "" if budget.train_fraction is None else f"_frac{budget.train_fraction:g}"
    return f"{_slug(v)}{frac}_seed{seed}"


#: What a table needs of a finished run (no checkpoints, no model): kept under ``results/``.
RUN_RECORDS: tuple[str, ...] = (
    "results.json",
    "metrics.csv",
    "config.yaml",
    "predictions_test.csv",
)


def archive_run(run: Path, dest: Path) -> None:
    """Copy a finished run's records (`RUN_RECORDS`, ~0.1 MB) to `dest`, so its table can be
    rewritten from a fresh clone after `runs/` (checkpoints, caches) is gone."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in RUN_RECORDS:
        if (run / name).is_file():
            shutil.copyfile(run / name, dest / name)


def train_variants(
    variants: list[Variant],
    root: Path,
    budget: Budget,
    train: bool = True,
    archive: Path | None = None,
    **data: Any,
) -> dict[str, list[Path]]:
    """Train (or reuse) every variant for each of its seeds under `root/<model>_seed<k>`,
    seed-major so a partial reproduction has every model at the first seeds; `data` (dataset,
    target, data_path) goes to `table_config`. With ``train=False`` nothing is trained: only
    finished runs are collected (so a table can be written while runs go on elsewhere).
    With `archive`, each finished run's records are copied to `archive/<run name>`, and a run
    missing under `root` is taken from there (a table written in an earlier session).
    Returns finished run directories per variant label (labels with none are left out)."""
    run_dirs: dict[str, list[Path]] = {}
    for seed in range(max((budget.n_seeds(v) for v in variants), default=0)):
        for v in variants:
            if seed >= budget.n_seeds(v):
                continue
            name = run_name(v, seed, budget)
            out = root / name
            kept = None if archive is None else archive / name
            archived = kept is not None and (kept / "results.json").is_file()
            if train and not archived:
                run_or_resume(table_config(v, seed, out, budget, **data))
            if (out / "results.json").is_file():
                if kept is not None:
                    archive_run(out, kept)
                run_dirs.setdefault(v.label, []).append(out)
            elif archived:
                run_dirs.setdefault(v.label, []).append(kept)
    return run_dirs


def _select(table: tuple[Variant, ...], models: list[str] | None) -> list[Variant]:
    return [v for v in table if models is None or _slug(v) in models or v.model in models]


def pending_rows(
    variants: list[Variant] | tuple[Variant, ...], run_dirs: dict[str, list[Path]], budget: Budget
) -> dict[str, str]:
    """Rows with fewer finished runs than their seed count: label -> "k of n seeds finished"."""
    out = {}
    for v in variants:
        done, want = len(run_dirs.get(v.label, [])), budget.n_seeds(v)
        if done < want:
            out[v.label] = f"{done} of {want} seeds finished"
    return out


def table_name(base: str, budget: Budget) -> str:
    """``table2``, or ``table2_train25pct`` for a training-size run."""
    if budget.train_fraction is None:
        return base
    return f"{base}_train{round(100 * budget.train_fraction)}pct"


def reproduce_table2(
    budget: Budget | None = None,
    runs_root: str | Path = "runs/table2",
    results_dir: str | Path = "results",
    models: list[str] | None = None,
    train: bool = True,
) -> dict[str, Any]:
    """Train the selected Table-2 models under `budget` (all by default), then write
    `results/table2.{md,json}` + plot from every finished run of the table under `runs_root`
    (so runs split over several processes end in one table); selected rows without all their
    runs finished are listed as pending."""
    budget = budget or Budget()
    name = table_name("table2", budget)
    archive = Path(results_dir) / f"{name}_runs"
    if train:
        train_variants(_select(TABLE2, models), Path(runs_root), budget, archive=archive)
    run_dirs = train_variants(list(TABLE2), Path(runs_root), budget, train=False, archive=archive)
    if not run_dirs:
        raise ValueError(f"no finished runs under {runs_root}")
    frac = "" if budget.train_fraction is None else f", {budget.train_fraction:.0%} of train"
    return write_table(
        run_dirs,
        {v.label: v.paper_mae for v in TABLE2},
        Path(results_dir),
        name,
        f"Perov-5 heat_all (eV per 5-atom cell), test MAE{frac}",
        budget.to_dict(),
        pending_rows(_select(TABLE2, models), run_dirs, budget),
    )


def reproduce_table1(
    budget: Budget | None = None,
    runs_root: str | Path = "runs/table1",
    results_dir: str | Path = "results",
    models: list[str] | None = None,
    targets: list[str] | None = None,
    dataset: str = "mp",
    data_path: str | None = None,
    train: bool = True,
) -> dict[str, Any]:
    """Paper Table 1 on the `mp` dataset (paper split): train the selected models on `targets`
    (all by default), then write one table per target in `results/table1_<target>.{md,json,png}`
    and a summary `results/table1.{md,json}` from every finished run under `runs_root`, of every
    target, so workers that each train one model or target end in one summary.
    (`dataset`/`data_path` exist so the harness can be exercised on small data.)"""
    budget = budget or Budget()
    selected = _select(TABLE1, models)
    variants = list(TABLE1)
    wanted = list(targets or TABLE1_TARGETS)
    out: dict[str, Any] = {}
    unstarted: dict[str, dict[str, str]] = {}  # wanted targets without any finished run
    for target in [*TABLE1_TARGETS, *(t for t in wanted if t not in TABLE1_TARGETS)]:
        data = {"dataset": dataset, "target": target, "data_path": data_path}
        root = Path(runs_root) / target
        archive = Path(results_dir) / "table1_runs" / target
        if train and target in wanted:
            train_variants(selected, root, budget, archive=archive, **data)
        run_dirs = train_variants(variants, root, budget, train=False, archive=archive, **data)
        if not run_dirs:
            if target in wanted:
                unstarted[target] = pending_rows(selected, {}, budget)
            continue
        paper = {v.label: TABLE1_PAPER.get(v.label, {}).get(target) for v in variants}
        out[target] = write_table(
            run_dirs,
            paper,
            Path(results_dir),
            f"table1_{target}",
            f"Materials Project {target}, test",
            budget.to_dict(),
            pending_rows(selected, run_dirs, budget) if target in wanted else {},
        )
    if not out:
        raise ValueError(f"no finished runs under {runs_root}")
    variants = [v for v in variants if any(v.label in out[t]["rows"] for t in out)]
    summary = table1_summary(out, variants, budget.to_dict(), unstarted)
    atomic_write_text(Path(results_dir, "table1.md"), summary)
    atomic_write_text(Path(results_dir, "table1.json"), json.dumps(out, indent=2))
    return out


# Extra classification columns (class 1 = positive, e.g. metal for `is_metal`).
CLASS_EXTRAS: tuple[str, ...] = ("accuracy", "precision_1", "recall_1", "precision_0", "recall_0")


def mean_std(row: dict[str, Any], digits: int = 4) -> str:
    """'0.1234 ± 0.0056', or '0.1234 (1 seed)' when there is no spread to report."""
    if row["std"] is None:
        return f"{row['mean']:.{digits}f} (1 seed)"
    return f"{row['mean']:.{digits}f} ± {row['std']:.{digits}f}"


def stop_reasons(row: dict[str, Any]) -> str:
    """The distinct stop reasons of a row's seeds, e.g. 'early_stopping, time_budget'."""
    return ", ".join(sorted({str(x) for x in row.get("stopped_by", [])}))


def _pending_line(items: list[str]) -> str:
    """The table line naming the runs still to finish (`items`: 'label: k of n seeds ...')."""
    return "Not finished yet (the same command resumes them): " + "; ".join(items) + "."


def table1_summary(
    out: dict[str, Any],
    variants: list[Variant],
    budget: dict[str, Any],
    unstarted: dict[str, dict[str, str]] | None = None,
) -> str:
    """Markdown for `results/table1.md`: our test metric per target with the paper's number in
    brackets, the training-set size of every target, and the data note. `unstarted`: targets
    with no finished run yet (target -> label -> "0 of n seeds finished"), listed as pending."""
    lines = [
        "# Materials Project (paper Table 1): test metric, ours [paper]",
        "",
        f"Generated by `ecn reproduce table1`; budget: `{budget}`.",
        "",
        "| model | " + " | ".join(f"{t} ({TABLE1_UNITS.get(t, '')})" for t in out) + " |",
        "|---|" + "---|" * len(out),
    ]
    for v in variants:
        cells = []
        for t in out:
            row = out[t]["rows"].get(v.label)
            p = TABLE1_PAPER.get(v.label, {}).get(t)
            if row is None:
                cells.append("not run" + ("" if p is None else f" [{p:.3f}]"))
                continue
            cells.append(
                f"{row['metric']} {mean_std(row, 3)}" + ("" if p is None else f" [{p:.3f}]")
            )
        lines.append(f"| {v.label} | " + " | ".join(cells) + " |")
    refs = [out[t].get("constant_reference") for t in out]
    if any(refs):
        lines.append(
            "| no model: train mean | "
            + " | ".join("" if r is None else f"mae {r['train_mean']:.3f}" for r in refs)
            + " |"
        )
    lines += [
        "",
        (
            "Split sizes per target (after dropping rows without that target; E_g is "
            "insulators only):"
        ),
        "",
    ]
    for t in out:
        first = next(iter(out[t]["rows"].values()))
        lines.append(f"- {t}: {first['split_sizes']}")
    note = next(iter(next(iter(out.values()))["rows"].values()))["source_note"] if out else ""
    lines += [
        "",
        "Runs (epochs run / early-stopping best epoch per seed; CPU h = training wall time x "
        "torch threads, all seeds):",
        "",
        "| target | model | seeds | epochs / best epoch | stopped by | CPU h |",
        "|---|---|---|---|---|---|",
    ]
    for t in out:
        for label, r in out[t]["rows"].items():
            epochs = ", ".join(
                f"{e}/{b}" for e, b in zip(r["epochs"], r["best_epochs"], strict=True)
            )
            stopped = stop_reasons(r)
            lines.append(
                f"| {t} | {label} | {len(r['test_values'])} | {epochs} | {stopped} "
                f"| {r['cpu_hours']:.2f} |"
            )
    todo = {**{t: out[t]["pending"] for t in out}, **(unstarted or {})}
    pending = [f"{t} {label}: {what}" for t, rows in todo.items() for label, what in rows.items()]
    if pending:
        lines += ["", _pending_line(pending)]
    lines += [
        "",
        "Training times, parameter counts, recipes and (for is_metal) accuracy and "
        "precision/recall of both classes: `table1_<target>.md`.",
        "",
        f"Training set: {TABLE1_PAPER_TRAIN_NOTE}",
        "",
        "Data note: " + note,
    ]
    return "\n".join(lines) + "\n"


def constant_reference(run_dir: Path) -> dict[str, float] | None:
    """Test MAE of constant predictions (train mean; test median) for a single-target regression
    run, so a table shows what "no model" scores. None for classification or missing files."""
    res = json.loads((run_dir / "results.json").read_text())
    pred = run_dir / "predictions_test.csv"
    if (
        res.get("task") != "regression"
        or len(res.get("target_mean", [])) != 1
        or not pred.is_file()
    ):
        return None
    y = pd.read_csv(pred)["target"].to_numpy(dtype=float)
    return {
        "train_mean": float(np.abs(y - res["target_mean"][0]).mean()),
        "test_median": float(np.abs(y - np.median(y)).mean()),
    }


def _run_config(run_dir: Path) -> dict[str, Any]:
    cfg = run_dir / "config.yaml"
    return (yaml.safe_load(cfg.read_text()) or {}) if cfg.is_file() else {}


def _threads(run_dir: Path) -> int:
    """torch threads of a run (its config.yaml; 1 when unset or unknown)."""
    return int(_run_config(run_dir).get("run", {}).get("threads") or 1)


def _recipe_text(run_dir: Path) -> str:
    """'lr 0.002, wd 0.01, batch 64, 64x4' from a run's config.yaml ('' when absent)."""
    cfg = _run_config(run_dir)
    o, opts = cfg.get("optim"), cfg.get("model", {}).get("options", {})
    if not o:
        return ""
    size = f", {opts['width']}x{opts['layers']}" if "width" in opts and "layers" in opts else ""
    return f"lr {o['lr']:g}, wd {o['weight_decay']:g}, batch {o['batch_size']}{size}"


def _collect(run_dirs: list[Path]) -> dict[str, Any]:
    res = [json.loads((d / "results.json").read_text()) for d in run_dirs]
    # CPU hours: training wall time x torch threads (1 thread per run here)
    cpu_h = sum(
        (r.get("train_time_s") or 0.0) * _threads(d) for r, d in zip(res, run_dirs, strict=True)
    )
    # regression: MAE; classification: ROC-AUC (accuracy, precision/recall per class in the runs)
    metric = "mae" if "mae" in res[0]["metrics"]["test"] else "roc_auc"
    maes = [r["metrics"]["test"][metric] for r in res]
    # classification: the paper's Table 1 reports more than ROC-AUC; mean of each over seeds
    extra = {
        k: statistics.fmean(r["metrics"]["test"][k] for r in res)
        for k in CLASS_EXTRAS
        if metric == "roc_auc" and all(k in r["metrics"]["test"] for r in res)
    }
    return {
        "runs": [str(d) for d in run_dirs],
        "metric": metric,
        "test_values": maes,
        "mean": statistics.fmean(maes),
        # one seed has no spread: None (shown as "1 seed"), never a misleading 0
        "std": statistics.stdev(maes) if len(maes) > 1 else None,
        "extra": extra,
        "epochs": [r.get("epochs_run") for r in res],
        "best_epochs": [r.get("best_epoch") for r in res],
        "stopped_by": [r.get("stopped_by") for r in res],
        "cpu_hours": cpu_h / 3600,
        "recipe": _recipe_text(run_dirs[0]),
        "train_time_s": [r.get("train_time_s") for r in res],
        "n_params": res[0].get("model", {}).get("n_params"),
        "split_sizes": res[0].get("split_sizes"),
        "source_note": res[0].get("source_note", ""),
    }


def write_table(
    run_dirs: dict[str, list[Path]],
    paper: dict[str, float | None],
    out_dir: Path,
    name: str,
    title: str,
    budget: dict[str, Any],
    pending: dict[str, str] | None = None,
    carried: dict[str, dict[str, Any]] | None = None,
    carried_note: str = "",
) -> dict[str, Any]:
    """Write `<name>.md`, `<name>.json` and `<name>_learning_curves.png` from run directories;
    `pending` (label -> e.g. "1 of 3 seeds") lists the rows whose runs have not all finished.
    `carried` rows (label -> a row of an earlier table's JSON) are listed after the measured
    ones, marked with * and `carried_note` (rows not rerun for this table)."""
    rows = {label: _collect(dirs) for label, dirs in run_dirs.items()}
    carried = {k: {**v, "carried": carried_note} for k, v in (carried or {}).items()}
    rows.update({k: v for k, v in carried.items() if k not in rows})
    out_dir.mkdir(parents=True, exist_ok=True)
    # the first run that kept its test predictions (an archived pretrained run may not have)
    refs = (constant_reference(d) for dirs in run_dirs.values() for d in dirs)
    ref = next((r for r in refs if r is not None), None)
    payload = {
        "title": title,
        "budget": budget,
        "rows": rows,
        "paper": paper,
        "constant_reference": ref,
        "pending": pending or {},
    }
    atomic_write_text(out_dir / f"{name}.json", json.dumps(payload, indent=2))
    lines = [
        f"# {title}",
        "",
        f"Generated by `ecn` from run directories; budget: `{budget}`.",
        "",
        "| model | test metric (mean ± std) | per seed | seeds | epochs run | best epoch "
        "| stopped by | train time (s) | CPU h | params | recipe | paper |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        p = paper.get(label)
        times = ", ".join(f"{t:.0f}" for t in r["train_time_s"] if t is not None)
        values = " / ".join(f"{x:.4f}" for x in r["test_values"])
        stopped = stop_reasons(r)
        mark = " *" if label in carried else ""
        lines.append(
            f"| {label}{mark} | {r['metric']} {mean_std(r)} | {values} | "
            f"{len(r['test_values'])} | "
            f"{r['epochs']} | {r.get('best_epochs', [])} | {stopped} | {times} | "
            f"{r.get('cpu_hours', 0.0):.2f} | {r['n_params']} | {r.get('recipe', '')} | "
            f"{'' if p is None else f'{p:.3f}'} |"
        )
    first = next(iter(rows.values()))
    if ref is not None:
        lines += [
            "",
            f"Reference without a model: predicting the training-set mean gives test MAE "
            f"{ref['train_mean']:.4f}; the (oracle) test median gives {ref['test_median']:.4f}.",
        ]
    if first["extra"]:
        keys = list(first["extra"])
        lines += [
            "",
            (
                "Classification details (test, mean over seeds; class 1 = label 1, e.g. "
                "metal for is_metal; class 0 = label 0):"
            ),
            "",
            "| model | " + " | ".join(keys) + " |",
            "|---|" + "---|" * len(keys),
        ]
        lines += [
            f"| {label} | "
            + " | ".join(f"{r['extra'].get(k, float('nan')):.4f}" for k in keys)
            + " |"
            for label, r in rows.items()
        ]
    if carried:
        lines += ["", f"\\* {carried_note}"]
    if pending:
        lines += ["", _pending_line([f"{label}: {what}" for label, what in pending.items()])]
    lines += ["", f"Split sizes: {first['split_sizes']}.", "", "Data note: " + first["source_note"]]
    atomic_write_text(out_dir / f"{name}.md", "\n".join(lines) + "\n")
    plot_learning_curves(run_dirs, out_dir / f"{name}_learning_curves.png", title)
    logger.info("wrote %s/%s.{md,json,png}", out_dir, name)
    return payload


def plot_learning_curves(run_dirs: dict[str, list[Path]], path: Path, title: str) -> None:
    """Validation MAE (classification: loss) against training time, one colour per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    column = "val_mae"
    for k, (label, dirs) in enumerate(run_dirs.items()):
        for j, d in enumerate(dirs):
            m = pd.read_csv(d / "metrics.csv")
            # classification runs log no MAE: their monitored value is the validation loss (BCE)
            # (their metrics.csv still has an empty val_mae column)
            column = "val_mae" if "val_mae" in m and m["val_mae"].notna().any() else "val_loss"
            m = m.dropna(subset=[column])
            ax.plot(
                m["elapsed_s"] / 60,
                m[column],
                color=f"C{k}",
                alpha=0.9,
                label=label if j == 0 else None,
                marker=".",
            )
    ax.set_xlabel("training time (min)")
    ax.set_ylabel("validation MAE" if column == "val_mae" else "validation loss (BCE)")
    ax.set_yscale("log")
    ax.set_title(textwrap.fill(title, 80), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(run_dirs: list[Path], out_dir: Path, name: str, title: str) -> dict[str, Any]:
    """A table from existing run directories, grouped by model + group in their config.yaml
    and, where it is not the model's own default, the element encoding (``node_features``)."""
    from ecn.nn.graph_settings import resolve_graph_settings

    groups: dict[str, list[Path]] = {}
    for d in run_dirs:
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        model = cfg["model"]["name"]
        # runs written before ecn 0.2 kept the group beside the name, not in `options`
        group = cfg["model"].get("options", {}).get("group", cfg["model"].get("group"))
        label = f"ecn-{group}" if model == "ecn" else model
        features = (cfg.get("graph") or {}).get("node_features")
        if features and features != resolve_graph_settings(model).node_features:
            label += f" ({features})"
        groups.setdefault(label, []).append(d)
    return write_table(groups, {}, out_dir, name, title, {"runs": [str(d) for d in run_dirs]})


#: Perov-5's official training split (CDVAE train.csv), which our assembled split is a third of.
PEROV5_OFFICIAL_TRAIN = 11356


def size_curve(
    results_dir: str | Path = "results",
    base: str = "table2",
    extrapolate_to: int = PEROV5_OFFICIAL_TRAIN,
) -> dict[str, Any]:
    """Test MAE against training-set size from ``<base>.json`` and ``<base>_train<P>pct.json``,
    with a power law ``MAE = a * N^b`` fitted per model (least squares in log-log) to say what a
    training set of `extrapolate_to` structures would give; writes ``<base>_sizes.{md,json,png}``.
    An extrapolation from 2-3 sizes, reported as such."""
    import re

    results_dir = Path(results_dir)
    points: dict[str, list[tuple[int, float, float | None, int]]] = {}
    for path in sorted(results_dir.glob(f"{base}*.json")):
        if not re.fullmatch(rf"{re.escape(base)}(_train\d+pct)?\.json", path.name):
            continue
        payload = json.loads(path.read_text())
        for label, row in payload["rows"].items():
            if row["metric"] != "mae" or not row.get("split_sizes"):
                continue
            n = int(row["split_sizes"]["train"])
            points.setdefault(label, []).append(
                (n, row["mean"], row["std"], len(row["test_values"]))
            )
    fits: dict[str, Any] = {}
    for label, pts in points.items():
        pts.sort()
        fit: dict[str, Any] = {"points": pts}
        if len({n for n, *_ in pts}) >= 2:
            b, log_a = np.polyfit(np.log([n for n, *_ in pts]), np.log([m for _, m, *_ in pts]), 1)
            fit.update(exponent=float(b), prediction=float(np.exp(log_a) * extrapolate_to**b))
        fits[label] = fit
    lines = [
        f"# {base}: test MAE against training-set size",
        "",
        f"Generated by `ecn reproduce sizes --base {base}` from `{base}.json` and "
        f"`{base}_train<P>pct.json` (nested seeded subsets of the training split, same recipe). "
        f"Fit: MAE = a N^b per model, least squares in log-log; the last column extrapolates it "
        f"to N = {extrapolate_to:,} (the official Perov-5 training split), an estimate from "
        "few sizes, not a measurement.",
        "",
        "| model | N train: test MAE (seeds) | exponent b | extrapolated MAE |",
        "|---|---|---|---|",
    ]
    for label, fit in fits.items():
        cells = "; ".join(f"{n}: {m:.4f} ({k})" for n, m, _, k in fit["points"])
        b = f"{fit['exponent']:.3f}" if "exponent" in fit else ""
        pred = f"{fit['prediction']:.4f}" if "prediction" in fit else "needs 2 sizes"
        lines.append(f"| {label} | {cells} | {b} | {pred} |")
    atomic_write_text(results_dir / f"{base}_sizes.md", "\n".join(lines) + "\n")
    out = {"extrapolate_to": extrapolate_to, "fits": fits}
    atomic_write_text(results_dir / f"{base}_sizes.json", json.dumps(out, indent=2))
    _plot_sizes(fits, results_dir / f"{base}_sizes.png", extrapolate_to)
    return out


def _plot_sizes(fits: dict[str, Any], path: Path, extrapolate_to: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for k, (label, fit) in enumerate(fits.items()):
        n = [p[0] for p in fit["points"]]
        m = [p[1] for p in fit["points"]]
        ax.plot(n, m, "o", color=f"C{k}", label=label)
        if "exponent" in fit:
            xs = np.geomspace(min(n), extrapolate_to, 20)
            ax.plot(xs, fit["prediction"] * (xs / extrapolate_to) ** fit["exponent"], "--",
                    color=f"C{k}")  # fmt: skip
    ax.axvline(extrapolate_to, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training structures")
    ax.set_ylabel("test MAE")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
