"""``ecn quickstart``, ``ecn reproduce table1 | table2`` and ``ecn report``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ecn.cli.common import console, fail, quiet_lightning

if TYPE_CHECKING:  # the CLI imports training code only inside commands (fast `ecn --help`)
    from ecn.experiments.budget import Budget

reproduce_app = typer.Typer(
    help="Reproduce the paper's tables (results/table1/, results/table2/, ...: md, json, plots).",
    no_args_is_help=True,
)

# Options shared by the `reproduce` commands: every model of a table gets the same budget.
_SEEDS = typer.Option(3, "--seeds", help="Seeds per model (0..N-1).")
_EPOCHS = typer.Option(300, "--epochs", help="Maximum epochs (same for every model).")
_TIME_BUDGET = typer.Option(None, "--time-budget", help="Minutes per run (same for every model).")
_WIDTH = typer.Option(128, "--width", help="ECN width (paper: 128).")
_LAYERS = typer.Option(6, "--layers", help="ECN layers (paper: 6).")
_THREADS = typer.Option(None, "--threads", help="torch threads per run.")
_LIMIT = typer.Option(None, "--limit", help="First N structures per split.")
_PATIENCE = typer.Option(
    None, "--patience", help="Early-stopping patience in epochs (default: none, run to the end)."
)
_SEEDS_FOR = typer.Option(
    None, "--seeds-for", help="SLUG=N: another seed count for one row (e.g. ecn_p1=1)."
)
_RECIPE = typer.Option(
    None, "--recipe", help="Tuned recipe YAML per model (configs/table2_recipe.yaml)."
)
_FRACTION = typer.Option(
    None, "--train-fraction", help="Train on a seeded nested fraction of the training split."
)
_PRECISION = typer.Option(
    None,
    "--precision",
    help="Training precision of every run: 32, bf16-mixed (default: auto, per CPU).",
)
_TRAIN = typer.Option(
    True, "--train/--no-train", help="--no-train: only tabulate the runs that finished."
)
_ACCELERATOR = typer.Option(
    "cpu",
    "--accelerator",
    help="cpu or gpu: where this process trains (a paused run resumes on either).",
)


def quickstart(
    out: str = typer.Option("runs/quickstart", "--out", "-o", help="Run directory."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override the number of epochs."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
) -> None:
    """Main job: a small real training on Perov-5, then predictions on example CIF files."""
    from ecn.experiments.quickstart import run_quickstart

    quiet_lightning()
    try:
        res = run_quickstart(out, epochs, progress)
    except ValueError as exc:
        fail(exc)
    console.print(f"run: {res['run_dir']}  test: {res['test']}", markup=False)
    console.print(
        f"predictions: {res['predictions']} ({res['n_predictions']} rows, "
        f"{res['n_errors']} with a clear error, as intended for the broken example)",
        markup=False,
    )


def _budget(
    seeds: int,
    epochs: int,
    time_budget: float | None,
    width: int,
    layers: int,
    threads: int | None,
    limit: int | None,
    patience: int | None = None,
    seeds_for: list[str] | None = None,
    recipe: str | None = None,
    train_fraction: float | None = None,
    precision: str | None = None,
    session_cap: float | None = None,
    accelerator: str = "cpu",
    compile_: bool = False,
) -> Budget:
    from ecn.experiments.budget import Budget, load_recipe

    if accelerator not in ("cpu", "gpu"):
        # the runs of one table resume across machines; other Lightning names would not
        fail(ValueError(f"--accelerator {accelerator!r}: expected cpu or gpu"))
    per: dict[str, int] = {}
    for item in seeds_for or []:
        slug, _, n = item.partition("=")
        if not n.isdigit():
            fail(ValueError(f"--seeds-for {item!r}: expected SLUG=N"))
        per[slug] = int(n)
    try:
        rec = load_recipe(recipe)
    except (OSError, ValueError) as exc:
        fail(exc)
    return Budget(
        seeds,
        epochs,
        time_budget,
        width,
        layers,
        threads,
        limit,
        patience=patience,
        seeds_for=per,
        recipe=rec,
        train_fraction=train_fraction,
        precision=precision,
        session_cap_min=session_cap,
        accelerator=accelerator,
        compile=compile_,
    )


_COMPILE = typer.Option(
    False,
    "--compile/--no-compile",
    help="Compile each run's training forward (torch.compile; same function, faster steps).",
)
_SESSION_CAP = typer.Option(
    None,
    "--session-cap",
    help="Minutes per run in this process; the run stays unfinished and resumes on the next call.",
)


@reproduce_app.command("table2")
def table2(
    seeds: int = _SEEDS,
    epochs: int = _EPOCHS,
    time_budget: float | None = _TIME_BUDGET,
    width: int = _WIDTH,
    layers: int = _LAYERS,
    threads: int | None = _THREADS,
    limit: int | None = _LIMIT,
    models: list[str] | None = typer.Option(
        None, "--model", help="Subset (ecn_slambda, ecn_p1, ecn_sn, cgcnn, ...)."
    ),
    runs_root: str = typer.Option("runs/table2", "--runs", help="Where run directories go."),
    results_dir: str = typer.Option(
        "results", "--results", help="Results root (the table goes to its table2/ folder)."
    ),
    patience: int | None = _PATIENCE,
    seeds_for: list[str] | None = _SEEDS_FOR,
    recipe: str | None = _RECIPE,
    train_fraction: float | None = _FRACTION,
    precision: str | None = _PRECISION,
    session_cap: float | None = _SESSION_CAP,
    do_train: bool = _TRAIN,
    accelerator: str = _ACCELERATOR,
    compile_: bool = _COMPILE,
) -> None:
    """Paper Table 2 (Perov-5): ECN-SΛ, ECN-P-1, ECN-GΛ, MPNN, CGCNN, MEGNet, SchNet with each
    seed. The table covers every finished run under --runs, so a --model subset trained in one
    process and another subset in a second one end in one table."""
    from ecn.experiments.budget import table_name
    from ecn.experiments.layout import TABLE2_DIR
    from ecn.experiments.reproduce import reproduce_table2

    quiet_lightning()
    budget = _budget(
        seeds, epochs, time_budget, width, layers, threads, limit,
        patience, seeds_for, recipe, train_fraction, precision, session_cap, accelerator,
        compile_,
    )  # fmt: skip
    try:
        res = reproduce_table2(budget, runs_root, results_dir, models, train=do_train)
    except ValueError as exc:
        fail(exc)
    md = Path(results_dir) / TABLE2_DIR / f"{table_name('table2', budget)}.md"
    console.print(md.read_text(), markup=False)
    console.print(f"{len(res['rows'])} models", markup=False)


@reproduce_app.command("table1")
def table1(
    seeds: int = _SEEDS,
    epochs: int = _EPOCHS,
    time_budget: float | None = _TIME_BUDGET,
    width: int = _WIDTH,
    layers: int = _LAYERS,
    threads: int | None = _THREADS,
    limit: int | None = _LIMIT,
    models: list[str] | None = typer.Option(None, "--model", help="Subset of models."),
    targets: list[str] | None = typer.Option(None, "--target", help="Subset of the MP targets."),
    runs_root: str = typer.Option("runs/table1", "--runs", help="Where run directories go."),
    results_dir: str = typer.Option(
        "results", "--results", help="Results root (the tables go to its table1/ folder)."
    ),
    patience: int | None = _PATIENCE,
    seeds_for: list[str] | None = _SEEDS_FOR,
    recipe: str | None = _RECIPE,
    precision: str | None = _PRECISION,
    session_cap: float | None = _SESSION_CAP,
    do_train: bool = _TRAIN,
    accelerator: str = _ACCELERATOR,
    compile_: bool = _COMPILE,
    seed: list[int] | None = typer.Option(
        None,
        "--seed",
        help="Train only these seeds of 0..N-1 (repeatable), e.g. one process per seed.",
    ),
    table: bool = typer.Option(
        True, "--table/--no-table", help="--no-table: train only; tables stay as they are."
    ),
    prepare: bool = typer.Option(
        False,
        "--prepare",
        help="Only build the graph caches the selected runs read (all cores), then exit.",
    ),
) -> None:
    """Paper Table 1 (Materials Project, paper split): ECN-SΛ, ECN-P-1, MPNN, CGCNN, MEGNet on
    E_form, E_Fermi, M, E_g (insulators) and metal/non-metal."""
    from ecn.experiments.layout import TABLE1_DIR
    from ecn.experiments.reproduce import prepare_table1, reproduce_table1

    quiet_lightning()
    budget = _budget(
        seeds, epochs, time_budget, width, layers, threads, limit,
        patience, seeds_for, recipe, None, precision, session_cap, accelerator,
        compile_,
    )  # fmt: skip
    if prepare:
        try:
            n = prepare_table1(budget, models, targets)
        except ValueError as exc:
            fail(exc)
        console.print(f"graph caches ready: {n} graphs", markup=False)
        return
    try:
        reproduce_table1(
            budget, runs_root, results_dir, models, targets, train=do_train,
            only_seeds=seed or None, table=table,
        )  # fmt: skip
    except ValueError as exc:
        fail(exc)
    if table:
        console.print((Path(results_dir) / TABLE1_DIR / "table1.md").read_text(), markup=False)


@reproduce_app.command("sizes")
def sizes(
    results_dir: str = typer.Option(
        "results", "--results", help="Results root (the tables are in its BASE/ folder)."
    ),
    base: str = typer.Option("table2", "--base", help="Table stem and folder (table2)."),
    extrapolate_to: int = typer.Option(11356, "--extrapolate-to", help="Training size to fit."),
) -> None:
    """Test MAE against training-set size, from `table2 --train-fraction` tables, with a
    power-law fit extrapolated to the official training-set size."""
    from ecn.experiments.size_curve import size_curve

    res = size_curve(results_dir, base, extrapolate_to)
    if not res["fits"]:
        fail(ValueError(f"no {base}*.json tables with regression rows in {results_dir}/{base}"))
    console.print((Path(results_dir) / base / f"{base}_sizes.md").read_text(), markup=False)


@reproduce_app.command("finetune")
def finetune(
    source: str = typer.Option("mp-e_form", "--source", help="Pretrained model to start from."),
    runs: str = typer.Option("runs/finetune", "--runs", help="Run directories."),
    results_dir: str = typer.Option("results", "--results", help="Where the table goes."),
    size: list[int] = typer.Option(
        None,
        "--size",
        help="Training sizes to train (repeatable; 0 = all; default 100, 300, 1000, all).",
    ),
    band_gap: bool = typer.Option(
        True, "--band-gap/--no-band-gap", help="Also fine-tune MP band gap on its whole split."
    ),
    session_cap: float | None = typer.Option(
        None, "--session-cap", help="Minutes per run in this process; the run resumes later."
    ),
    train: bool = _TRAIN,
) -> None:
    """Fine-tuned from a pretrained model against from scratch, Perov-5 at 100 / 300 / 1,000 /
    all training structures (3 seeds at the small sizes) and MP band gap: trains or resumes the
    queue (two processes share it), then writes results/finetune/finetune.{md,json,png}."""
    from ecn.experiments.finetune_study import PEROV5_SIZES, reproduce_finetune

    quiet_lightning()
    sizes = PEROV5_SIZES if not size else tuple(s if s > 0 else None for s in size)
    try:
        reproduce_finetune(source, runs, results_dir, sizes, band_gap, train, session_cap)
    except ValueError as exc:
        fail(exc)
    console.print((Path(results_dir) / "finetune" / "finetune.md").read_text(), markup=False)


def report(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories with results.json."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (default results/NAME: one topic, one folder)."
    ),
    name: str = typer.Option("report", "--name", help="File stem for .md/.json/.png."),
    title: str = typer.Option(None, "--title", help="Default: 'test MAE by model' (or setup)."),
    group_by: str = typer.Option(
        "model",
        "--group-by",
        help="model: mean ± std per model, learning curves; setup: one row per run, then mean "
        "± std per model size, graph and canonical step, with s/epoch (same-budget studies).",
    ),
    note: str = typer.Option(
        "", "--note", help="--group-by setup: text after the 'Generated by' line (how, what data)."
    ),
) -> None:
    """Tabulate finished runs: mean ± std over seeds per model (with a learning-curve plot), or
    per setup at the same budget (--group-by setup)."""
    from ecn.experiments.tables import report as run

    out = Path("results") / name if out is None else out
    title = f"test MAE by {group_by}" if title is None else title
    try:
        run(run_dirs, out, name, title, group_by, note)
    except ValueError as exc:
        fail(exc)
    console.print((out / f"{name}.md").read_text(), markup=False)


@reproduce_app.command("ablation")
def ablation(
    rung: list[str] = typer.Option(None, "--rung", help="Rung name (repeatable; default: all)."),
    seed: list[int] = typer.Option(None, "--seed", help="Only these seeds (repeatable)."),
    accelerator: str = typer.Option("cpu", "--accelerator", help="cpu or gpu."),
    threads: int = typer.Option(1, "--threads", help="torch threads per run."),
    session_cap: float = typer.Option(
        None, "--session-cap", help="Minutes per run in this process; the run resumes later."
    ),
    limit: int = typer.Option(None, "--limit", help="First N structures per split (smoke test)."),
    runs_root: str = typer.Option("runs/ablation", "--runs", help="Run directories."),
    results_dir: str = typer.Option(
        "results", "--results", help="Results root (tables go to table2_ablation/ and table2/)."
    ),
    train: bool = typer.Option(True, "--train/--no-train", help="--no-train: table only."),
    table: bool = typer.Option(True, "--table/--no-table", help="Write the table at the end."),
    list_jobs: bool = typer.Option(False, "--list", help="Print 'rung seed' per job and exit."),
    prepare: bool = typer.Option(
        False, "--prepare", help="Only build the selected rungs' graph caches (all cores)."
    ),
) -> None:
    """The Perov-5 ablation ladder (graph, schedule, size, cover, same-atom branch, group):
    trains or resumes every selected run, then writes results/table2_ablation/table2_ablation.md
    and .json, and Table 2 on the settled setup (results/table2/)."""
    from ecn.experiments.ablation import (
        LADDER,
        prepare_rungs,
        run_rung,
        rung_by_name,
        write_ablation,
    )
    from ecn.experiments.layout import ABLATION_DIR, TABLE2_DIR
    from ecn.experiments.size_curve import size_curve
    from ecn.experiments.table2_settled import write_table2

    try:
        rungs = [rung_by_name(r) for r in rung] if rung else list(LADDER)
    except ValueError as err:
        fail(err)
    jobs = [
        (r, k)
        for k in range(max(r.seeds for r in rungs))
        for r in rungs
        if k < r.seeds and (not seed or k in seed)
    ]
    if list_jobs:
        for r, k in jobs:
            print(r.name, k)
        return
    if prepare:
        n = prepare_rungs(rungs, limit)
        console.print(f"graph caches ready for {len(rungs)} rung(s): {n} graphs")
        return
    if train:
        quiet_lightning()
        archive = Path(results_dir) / "table2_ablation_runs"
        for r, k in jobs:
            run_rung(
                r,
                k,
                Path(runs_root),
                archive,
                accelerator=accelerator,
                threads=threads,
                session_cap_min=session_cap,
                limit=limit,
            )
    if table:
        write_ablation(runs_root, results_dir)
        write_table2(runs_root, results_dir)  # paper Table 2 on the settled setup
        if list(Path(results_dir, TABLE2_DIR).glob("table2_train*pct.json")):
            size_curve(results_dir, TABLE2_DIR)
        md = Path(results_dir) / ABLATION_DIR / "table2_ablation.md"
        console.print(md.read_text(), markup=False)


def register(app: typer.Typer) -> None:
    """Add ``quickstart``, ``report`` and the ``reproduce`` group to the main CLI."""
    app.command("quickstart")(quickstart)
    app.command("report")(report)
    app.add_typer(reproduce_app, name="reproduce")
