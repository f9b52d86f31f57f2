"""``ecn reproduce finetune``: does starting from a pretrained model help, and at what size?

Why a study of its own: fine-tuning is sold as the cure for small datasets, and the claim is only
worth what a paired comparison shows. Each cell trains the *same* architecture on the *same*
graph (the source model's, e.g. ``mp-e_form``: ECN-SΛ 64x4 on the Voronoi graph) with the same
recipe and stopping rule, once from random weights ("scratch") and once from the source's
weights ("fine-tuned", head re-initialised when the target differs), on the same seeded subset
of the training split (the seed picks both the subset and the initialisation of what is new).
The table reports whatever the runs show.

Runs go through one resumable queue: a finished run is reused, an interrupted one resumes from
``last.ckpt``, and a run being trained by another process (a claim file holding its pid) is
skipped, so two processes on two cores share one queue. Finished run records are archived under
``results/finetune/runs/`` so the table can be rewritten from a fresh clone (``--no-train``).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecn.experiments.plots import plot_finetune
from ecn.experiments.seeds import format_mean_std, seed_stats
from ecn.io import atomic_write_text
from ecn.train.config import TrainConfig, config_from_dict, load_config, merge_overrides
from ecn.train.record import RunRecord, is_finished

__all__ = [
    "ARMS",
    "PEROV5_SIZES",
    "StudyRun",
    "claim",
    "reproduce_finetune",
    "study_config",
    "study_runs",
]

logger = logging.getLogger(__name__)

#: Training-set sizes of the Perov-5 curve; None = the whole training split (3,890 structures).
PEROV5_SIZES: tuple[int | None, ...] = (100, 300, 1000, None)
#: The two arms of every cell.
ARMS: tuple[str, ...] = ("scratch", "finetuned")
#: Seeds per size: 3 where a size is small (the spread is large), 1 for the whole split.
SMALL_SEEDS = 3
#: The recipe of the settled Table 1/2 ECN-SΛ runs (configs/table2_recipe.yaml), same stopping.
RECIPE: dict[str, Any] = {
    "optim": {"lr": 0.002, "weight_decay": 0.01, "batch_size": 64, "epochs": 1000, "patience": 25},
    "run": {"precision": "32", "accelerator": "cpu", "threads": 1},
}
#: Where a from-scratch run of the same recipe already exists (a Table 1 run), by target.
SCRATCH_FROM_TABLE1 = {("mp", "band_gap"): "table1_runs/band_gap/ecn_slambda_seed0"}


@dataclass(frozen=True)
class StudyRun:
    """One training of the study: a dataset/target at a training size, an arm and a seed."""

    dataset: str
    target: str
    size: int | None
    arm: str
    seed: int

    @property
    def name(self) -> str:
        """``perov5_heat_all_n100_finetuned_seed0`` (``nall`` for the whole split)."""
        n = "all" if self.size is None else str(self.size)
        return f"{self.dataset}_{self.target}_n{n}_{self.arm}_seed{self.seed}"


def study_runs(
    sizes: tuple[int | None, ...] = PEROV5_SIZES, band_gap: bool = True
) -> list[StudyRun]:
    """The queue, seed-major (every size has its first seed before any has its second), small
    sizes first; then MP band gap on its whole split (its scratch arm is Table 1's run, reused
    when its record is in ``results/``)."""
    runs = [
        StudyRun("perov5", "heat_all", size, arm, seed)
        for seed in range(SMALL_SEEDS)
        for size in sizes
        if seed < (SMALL_SEEDS if size is not None else 1)
        for arm in ARMS
    ]
    if band_gap:
        runs += [StudyRun("mp", "band_gap", None, arm, 0) for arm in ARMS]
    return runs


def study_config(
    run: StudyRun, source: str, out: Path, session_cap_min: float | None
) -> TrainConfig:
    """Both arms: the source's architecture and graph, the shared recipe, the run's subset; the
    fine-tuned arm adds ``finetune.init_from`` (head ``auto``: re-initialised for a new target)."""
    raw: dict[str, Any] = merge_overrides(
        RECIPE,
        {
            "data": {"dataset": run.dataset, "targets": [run.target]},
            "run": {"seed": run.seed, "out": str(out), "session_cap_min": session_cap_min},
        },
    )
    if run.size is not None:
        raw["data"].update(train_size=run.size, subset_seed=run.seed)
    if run.arm == "finetuned":
        raw["finetune"] = {"init_from": source, "head": "auto"}
        return load_config(None, raw)  # takes the source's model and graph as defaults
    from ecn.train.finetune import source_defaults

    # exactly as load_config merges a fine-tuning run's defaults (None values of the source kept)
    return config_from_dict(merge_overrides(source_defaults(source), raw))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(out: Path) -> bool:
    """Mark `out` as being trained by this process (``out/.claim`` holds the pid); False when a
    live process holds it. A claim left by a dead process (an ended session) is taken over."""
    out.mkdir(parents=True, exist_ok=True)
    lock = out / ".claim"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                return False
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        return True
    return False


def _train_one(cfg: TrainConfig) -> None:
    from ecn.train.run import train

    out = Path(cfg.run.out or "")
    if not claim(out):
        logger.info("%s is being trained by another process; skipped", out)
        return
    try:
        train(cfg, resume=(out / "last.ckpt").is_file())
    finally:
        (out / ".claim").unlink(missing_ok=True)


def _finished(run: StudyRun, runs_root: Path, archive: Path, results_dir: Path) -> Path | None:
    """The finished record of `run`: under `runs_root` (archived on the way) or the archive; a
    scratch arm may come from Table 1."""
    out, kept = runs_root / run.name, archive / run.name
    if is_finished(out):
        RunRecord.load(out).archive(kept)
        return kept
    if is_finished(kept):
        return kept
    t1 = SCRATCH_FROM_TABLE1.get((run.dataset, run.target))
    if run.arm == "scratch" and run.size is None and t1 and is_finished(results_dir / t1):
        return results_dir / t1
    return None


def _row(records: list[RunRecord]) -> dict[str, Any]:
    maes = [r.results.metric("test", "mae") for r in records]
    mean, std = seed_stats(maes)
    return {
        "mean": mean,
        "std": std,
        "test_mae": maes,
        "epochs": [r.results.epochs_run for r in records],
        "best_epoch": [r.results.best_epoch for r in records],
        "stopped_by": [r.results.stopped_by for r in records],
        "cpu_h": sum((r.results.train_time_s or 0) * r.threads for r in records) / 3600,
        "train_n": records[0].results.split_sizes.get("train"),
        "runs": [r.path.name for r in records],
    }


def reproduce_finetune(
    source: str = "mp-e_form",
    runs_root: str | Path = "runs/finetune",
    results_dir: str | Path = "results",
    sizes: tuple[int | None, ...] = PEROV5_SIZES,
    band_gap: bool = True,
    train: bool = True,
    session_cap_min: float | None = None,
) -> dict[str, Any]:
    """Train (or reuse) every run of the study, then write
    ``results/finetune/finetune.{md,json,png}`` from every finished run (records archived in
    ``results/finetune/runs/``); cells still missing runs are listed as pending."""
    runs_root, results_dir = Path(runs_root), Path(results_dir)
    archive = results_dir / "finetune" / "runs"
    queue = study_runs(sizes, band_gap)
    if train:
        for run in queue:
            if _finished(run, runs_root, archive, results_dir) is None:
                _train_one(study_config(run, source, runs_root / run.name, session_cap_min))
    cells: dict[tuple[str, str, int | None, str], list[RunRecord]] = {}
    pending: list[str] = []
    for run in study_runs(PEROV5_SIZES, True):
        path = _finished(run, runs_root, archive, results_dir)
        if path is None:
            pending.append(run.name)
        else:
            key = (run.dataset, run.target, run.size, run.arm)
            cells.setdefault(key, []).append(RunRecord.load(path))
    if not cells:
        raise ValueError(f"no finished fine-tuning runs under {runs_root} or {archive}")
    return _write(cells, pending, source, results_dir / "finetune")


def _write(
    cells: dict[tuple[str, str, int | None, str], list[RunRecord]],
    pending: list[str],
    source: str,
    results_dir: Path,
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for dataset, target, size in dict.fromkeys(k[:3] for k in cells):
        row: dict[str, Any] = {"dataset": dataset, "target": target, "size": size}
        for arm in ARMS:
            if (dataset, target, size, arm) in cells:
                row[arm] = _row(cells[(dataset, target, size, arm)])
        any_arm = row.get("scratch") or row.get("finetuned")
        row["train_n"] = any_arm["train_n"]
        row["unit"] = cells[next(k for k in cells if k[:3] == (dataset, target, size))][
            0
        ].results.units[0]
        if "scratch" in row and "finetuned" in row:
            row["ratio"] = row["finetuned"]["mean"] / row["scratch"]["mean"]
        rows.append(row)
    rows.sort(key=lambda r: (r["dataset"] != "perov5", r["target"], r["train_n"]))
    first = next(iter(cells.values()))[0]
    src = next(
        (r.results.init_from for rs in cells.values() for r in rs if r.results.init_from), {}
    )
    payload = {
        "source": source,
        "source_sha256": (src or {}).get("sha256"),
        "model": first.config.model.name,
        "options": first.config.model.options,
        "graph": first.results.graph_settings,
        "recipe": RECIPE,
        "rows": rows,
        "pending": pending,
    }
    lines = [
        f"# Fine-tuning from `{source}` against training from scratch",
        "",
        "Generated by `ecn reproduce finetune` (`src/ecn/experiments/finetune_study.py`) from the "
        "run records in `results/finetune/runs/`. Both arms train the source's architecture "
        f"({first.config.model.name} {_options(first.config.model.options)}) on the source's "
        f"graph ({first.results.graph_settings.get('strategy')}), with one recipe: AdamW "
        "lr 2e-3, weight decay 0.01, batch 64, early stopping on validation MAE (patience 25, "
        "at most 1000 epochs), float32, 1 thread. The seed picks the training subset (nested: "
        "100 inside 300 inside 1,000) and the initialisation; both arms of a seed see the same "
        "subset. Fine-tuned: every weight loaded from the source, the output head "
        "re-initialised (new target), all weights trained at the same learning rate. "
        "Validation and test are the full splits. Test MAE, mean ± std over seeds.",
        "",
        "| data | target | N train | scratch | fine-tuned | fine-tuned / scratch "
        "| epochs/best (scratch; fine-tuned) | CPU h |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s, f = r.get("scratch"), r.get("finetuned")
        eps = "; ".join(
            ", ".join(f"{e}/{b}" for e, b in zip(a["epochs"], a["best_epoch"], strict=True))
            if a
            else "-"
            for a in (s, f)
        )
        cpu = sum(a["cpu_h"] for a in (s, f) if a)
        ratio = f"{r['ratio']:.2f}" if "ratio" in r else "-"
        lines.append(
            f"| {r['dataset']} | {r['target']} ({r['unit']}) | {r['train_n']:,} | {_cell(s)} "
            f"| {_cell(f)} | {ratio} | {eps} | {cpu:.2f} |"
        )
    if any(r["dataset"] == "mp" for r in rows):
        lines += [
            "",
            "MP band gap: the scratch arm is the Table 1 ECN-SΛ run "
            "(`results/table1_runs/band_gap/ecn_slambda_seed0`, same architecture, graph and "
            "recipe); the fine-tuned arm starts from the E_form model trained on the same "
            "training structures.",
        ]
    if pending:
        lines += ["", f"Pending ({len(pending)} runs not finished): " + ", ".join(pending) + "."]
    notes = {rs[0].results.dataset: rs[0].results.source_note for rs in cells.values()}
    lines += ["", *(f"Data note ({d}): {n}" for d, n in notes.items() if n)]
    results_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(results_dir / "finetune.md", "\n".join(lines) + "\n")
    atomic_write_text(results_dir / "finetune.json", json.dumps(payload, indent=2) + "\n")
    plot_finetune(
        [r for r in rows if r["dataset"] == "perov5"], results_dir / "finetune.png", source
    )
    return payload


def _options(options: dict[str, Any]) -> str:
    return f"{options.get('width', '?')}x{options.get('layers', '?')}, group {options.get('group')}"


def _cell(arm: dict[str, Any] | None) -> str:
    if not arm:
        return "-"
    return format_mean_std(arm["mean"], arm["std"], len(arm["test_mae"]))
