"""`ecn reproduce table1 | table2`: train (or reuse) every row's seeds, then write the tables.

Runs that already finished are reused, so an interrupted reproduction resumes where it stopped
(an unfinished run resumes from `last.ckpt`); each finished run's record is archived under
``results/<table>_runs/`` so a table can be rewritten from a fresh clone. The tables go to one
folder per table, ``results/table1/`` and ``results/table2/``. The rows are in
``ecn.experiments.variants``, what each gets in ``ecn.experiments.budget``, and the tables are
written by ``ecn.experiments.tables``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ecn.experiments.budget import Budget, run_name, table_config, table_name
from ecn.experiments.layout import TABLE1_DIR, TABLE1_PARKED, TABLE2_DIR
from ecn.experiments.tables import table1_summary, write_table
from ecn.experiments.variants import (
    TABLE1,
    TABLE1_CONFIG_ROWS,
    TABLE1_PAPER,
    TABLE1_TARGETS,
    TABLE2,
    Variant,
    select,
    table1_seeds,
)
from ecn.io import atomic_write_text
from ecn.train.config import TrainConfig
from ecn.train.data import prepare_data
from ecn.train.record import RunRecord, is_finished, keep_run, park_run, unpark_run
from ecn.train.run import resolve_config, train

__all__ = [
    "pending_rows",
    "prepare_table1",
    "reproduce_table1",
    "reproduce_table2",
    "run_or_resume",
    "train_variants",
]

logger = logging.getLogger(__name__)


def run_or_resume(cfg: TrainConfig) -> Path:
    """Train unless the run finished; resume from `last.ckpt` if it was interrupted."""
    out = Path(cfg.run.out or cfg.default_out())
    if is_finished(out):
        logger.info("%s finished earlier; reusing it", out)
        return out
    return train(cfg, resume=(out / "last.ckpt").is_file())


#: ``stopped_by`` of a run that a time cap ended (not converged).
_TIME_CAP = "time_budget"


def _capped(run_dir: Path | None) -> bool:
    """A finished run that a time cap ended (``stopped_by == "time_budget"``): not converged,
    so a queue that meets it trains the run again under `root` (from its parked checkpoint if
    any); its record counts in tables until the new run finishes and replaces it."""
    return run_dir is not None and RunRecord.load(run_dir).results.stopped_by == _TIME_CAP


def _capped_seeds(run_dirs: list[Path]) -> list[str]:
    """Seeds of the runs in `run_dirs` that a time cap ended (``_capped``)."""
    records = [RunRecord.load(d).results for d in run_dirs]
    return [str(r.seed) for r in records if r.stopped_by == _TIME_CAP]


def train_variants(
    variants: list[Variant],
    root: Path,
    budget: Budget,
    train: bool = True,
    archive: Path | None = None,
    only_seeds: Collection[int] | None = None,
    parked: Path | None = None,
    **data: Any,
) -> dict[str, list[Path]]:
    """Train (or reuse) every variant for each of its seeds under `root/<model>_seed<k>`,
    seed-major so a partial reproduction has every model at the first seeds; `data` (dataset,
    target, data_path) goes to `table_config`. With ``train=False`` nothing is trained: only
    finished runs are collected (so a table can be written while runs go on elsewhere).
    `only_seeds` trains just those seeds (still collecting every finished one), so the seeds of
    one row can train in parallel processes, as the GPU queue (``scripts/table1_gpu.sh``) does.
    With `archive`, each finished run's records (``RunRecord.archive``) are copied to
    `archive/<run name>`, and a run
    missing under `root` is taken from there (a table written in an earlier session); an
    archived run a time cap ended is trained again (``_capped``).
    With `parked`, a run paused by its session cap is parked in `parked/<run name>`
    (``park_run``: last.ckpt and what resuming needs) and put back before training, so a run
    longer than one session (``runs/`` does not outlive it) resumes where it stopped; a finished
    run's parked copy is removed and its ``model.pt`` kept beside its archived record.
    Returns finished run directories per variant label (labels with none are left out)."""
    run_dirs: dict[str, list[Path]] = {}
    for seed in range(max((budget.n_seeds(v) for v in variants), default=0)):
        for v in variants:
            if seed >= budget.n_seeds(v):
                continue
            name = run_name(v, seed, budget)
            out = root / name
            kept = None if archive is None else archive / name
            archived = kept is not None and is_finished(kept)
            wanted = only_seeds is None or seed in only_seeds
            if train and wanted and (not archived or _capped(kept)):
                if parked is not None:
                    unpark_run(parked / name, out)
                run_or_resume(table_config(v, seed, out, budget, **data))
                if parked is not None:
                    park_run(out, parked / name)
            if is_finished(out):
                if kept is not None:
                    RunRecord.load(out).archive(kept)
                    if parked is not None:
                        keep_run(out, kept)
                run_dirs.setdefault(v.label, []).append(out)
            elif archived:
                run_dirs.setdefault(v.label, []).append(kept)
    return run_dirs


def pending_rows(
    variants: list[Variant] | tuple[Variant, ...],
    run_dirs: dict[str, list[Path]],
    budget: Budget,
    target: str | None = None,
) -> dict[str, str]:
    """Rows with fewer finished runs than their seed count, or with a run that a time cap
    ended (not converged: the issue's "no time caps"): label -> "k of n seeds finished[, ...]".
    With a Table 1 `target`, the count is the plan's for that cell (``table1_seeds``)."""
    out = {}
    for v in variants:
        want = budget.n_seeds(v)
        if target is not None:
            want = table1_seeds(v, target, want)
        runs = run_dirs.get(v.label, [])
        capped = _capped_seeds(runs)
        note = f", seed {', '.join(capped)} ended by a time cap (rerun)" if capped else ""
        if len(runs) < want or capped:
            out[v.label] = f"{len(runs)} of {want} seeds finished{note}"
    return out


def reproduce_table2(
    budget: Budget | None = None,
    runs_root: str | Path = "runs/table2",
    results_dir: str | Path = "results",
    models: list[str] | None = None,
    train: bool = True,
) -> dict[str, Any]:
    """Train the selected Table-2 models under `budget` (all by default), then write
    `results/table2/table2.{md,json}` + plot from every finished run of the table under `runs_root`
    (so runs split over several processes end in one table); selected rows without all their
    runs finished are listed as pending."""
    budget = budget or Budget()
    name = table_name("table2", budget)
    archive = Path(results_dir) / f"{name}_runs"
    if train:
        train_variants(select(TABLE2, models), Path(runs_root), budget, archive=archive)
    run_dirs = train_variants(list(TABLE2), Path(runs_root), budget, train=False, archive=archive)
    if not run_dirs:
        raise ValueError(f"no finished runs under {runs_root}")
    frac = "" if budget.train_fraction is None else f", {budget.train_fraction:.0%} of train"
    return write_table(
        run_dirs,
        {v.label: v.paper_mae for v in TABLE2},
        Path(results_dir) / TABLE2_DIR,
        name,
        f"Perov-5 heat_all (eV per 5-atom cell), test MAE{frac}",
        budget.to_dict(),
        pending_rows(select(TABLE2, models), run_dirs, budget),
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
    only_seeds: Collection[int] | None = None,
    table: bool = True,
) -> dict[str, Any]:
    """Paper Table 1 on the `mp` dataset (paper split): train the selected models on `targets`
    (all by default), then write one table per target in
    `results/table1/table1_<target>.{md,json,png}` and a summary `results/table1/table1.{md,json}`
    from every finished run under `runs_root`, of every
    target, so workers that each train one model or target end in one summary.
    `only_seeds` trains only those seeds (``train_variants``); ``table=False`` trains (and
    archives finished runs) without writing tables, for many parallel workers that would
    otherwise all rewrite the same tables at the same deadline; it returns ``{}``.
    (`dataset`/`data_path` exist so the harness can be exercised on small data.)"""
    budget = budget or Budget()
    selected = select(TABLE1, models)
    variants = [*TABLE1, *TABLE1_CONFIG_ROWS]  # config rows: collected, never trained here
    wanted = list(targets or TABLE1_TARGETS)
    out: dict[str, Any] = {}
    unstarted: dict[str, dict[str, str]] = {}  # wanted targets without any finished run
    for target in [*TABLE1_TARGETS, *(t for t in wanted if t not in TABLE1_TARGETS)]:
        data = {"dataset": dataset, "target": target, "data_path": data_path}
        root = Path(runs_root) / target
        archive = Path(results_dir) / "table1_runs" / target
        parked = Path(results_dir) / TABLE1_PARKED / target
        if train and target in wanted:
            train_variants(
                selected,
                root,
                budget,
                archive=archive,
                only_seeds=only_seeds,
                parked=parked,
                **data,
            )
        if not table:
            continue
        run_dirs = train_variants(variants, root, budget, train=False, archive=archive, **data)
        if not run_dirs:
            if target in wanted:
                unstarted[target] = pending_rows(selected, {}, budget, target)
            continue
        paper = {v.label: TABLE1_PAPER.get(v.label, {}).get(target) for v in variants}
        out[target] = write_table(
            run_dirs,
            paper,
            Path(results_dir) / TABLE1_DIR,
            f"table1_{target}",
            f"Materials Project {target}, test",
            budget.to_dict(),
            pending_rows(selected, run_dirs, budget, target) if target in wanted else {},
        )
    if not table:
        return out
    if not out:
        raise ValueError(f"no finished runs under {runs_root}")
    variants = [v for v in variants if any(v.label in out[t]["rows"] for t in out)]
    summary = table1_summary(out, variants, budget.to_dict(), unstarted)
    atomic_write_text(Path(results_dir, TABLE1_DIR, "table1.md"), summary)
    atomic_write_text(Path(results_dir, TABLE1_DIR, "table1.json"), json.dumps(out, indent=2))
    return out


def prepare_table1(
    budget: Budget,
    models: list[str] | None = None,
    targets: list[str] | None = None,
    dataset: str = "mp",
    data_path: str | None = None,
) -> int:
    """Build (or load) the graph caches that the selected Table 1 runs will read, once per
    distinct graph (ECN-SΛ and ECN-P-1 share one; CGCNN and MEGNet each have their own), with
    every core (``prepare_data``'s default), so that many runs started together at once do not
    each build the same cache in one thread. A cache holds every target of the dataset, so one
    target per graph suffices unless a target is outside the dataset's own list (then it joins
    the cache's key, and here). Returns the number of graphs seen."""
    from ecn.data.registry import get_spec

    own = set(get_spec(dataset).target_names)
    seen: set[str] = set()
    n = 0
    for target in targets or list(TABLE1_TARGETS):
        for v in select(TABLE1, models):
            out = Path("unused")  # nothing is written to a run directory
            cfg, _ = resolve_config(
                table_config(v, 0, out, budget, dataset=dataset, target=target, data_path=data_path)
            )
            key = repr((sorted(cfg.graph.items()), None if target in own else target))
            if key in seen:
                continue
            seen.add(key)
            logger.info("graph cache for %s (%s, %s)", v.slug, cfg.graph["strategy"], target)
            n += sum(len(g) for g in prepare_data(cfg).graphs.values())
    return n
