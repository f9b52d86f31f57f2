"""What every row of a reproduced table gets: the :class:`Budget`, tuned recipes, run configs.

Same data, splits, optimiser, epochs and time for every model of a table; only the model (and,
with a recipe, its tuned optimiser settings) differs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ecn.experiments.variants import Variant
from ecn.train.config import TrainConfig, config_from_dict

__all__ = [
    "Budget",
    "load_recipe",
    "recipe_for",
    "row_options",
    "run_name",
    "table_config",
    "table_name",
]


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
    finishing it (no results), so a queue rerun resumes it instead of a time cap ending it.
    ``accelerator`` is where this process trains (``cpu`` or ``gpu``); a run paused on one
    resumes on the other from the same ``last.ckpt``, and its record keeps the device, so it
    is no part of the table's budget either; nor is ``compile`` (``run.compile``: the same
    function, compiled kernels)."""

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
    accelerator: str = "cpu"
    compile: bool = False

    def n_seeds(self, v: Variant) -> int:
        return self.seeds_for.get(v.slug, self.seeds)

    def to_dict(self) -> dict[str, Any]:
        """The budget as results files record it (progress display, the per-process session
        cap, which ends no run, and the accelerator, which one run may change between sessions,
        are not part of it: the table headers stay the same whichever machine trained)."""
        per_process = ("progress", "session_cap_min", "accelerator", "compile")
        return {k: v for k, v in asdict(self).items() if k not in per_process}


def recipe_for(v: Variant, recipe: dict[str, Any]) -> dict[str, Any]:
    """The tuned recipe of a row: its own entry, else (ECN rows) ECN-SΛ's, since the search
    (``scripts/tune_recipe.py``) tunes ECN-SΛ and CGCNN; other baselines keep their defaults."""
    own = recipe.get(v.slug)
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


def row_options(v: Variant, budget: Budget) -> dict[str, Any]:
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
        "model": {"name": v.model, "options": row_options(v, budget)},
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
            "accelerator": budget.accelerator,
            "compile": budget.compile,
        },
    }
    if budget.precision is not None:
        raw["run"]["precision"] = budget.precision
    if budget.limit is not None:
        raw["data"]["limit"] = budget.limit
    if budget.train_fraction is not None:
        raw["data"]["train_fraction"] = budget.train_fraction
    return config_from_dict(raw)


def run_name(v: Variant, seed: int, budget: Budget) -> str:
    """``<slug>_seed<k>`` (``Variant.run``), with ``_frac<f>`` for a training-size run."""
    frac = "" if budget.train_fraction is None else f"_frac{budget.train_fraction:g}"
    return f"{v.run}{frac}_seed{seed}"


def table_name(base: str, budget: Budget) -> str:
    """``table2``, or ``table2_train25pct`` for a training-size run."""
    if budget.train_fraction is None:
        return base
    return f"{base}_train{round(100 * budget.train_fraction)}pct"
