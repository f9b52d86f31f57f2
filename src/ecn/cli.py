"""Command-line interface: `ecn data | train | evaluate | predict | bench | symmetry | reproduce`.

Each command is a thin shell over a library function (imported lazily so `ecn --help` is fast);
logging is configured here and only here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(
    help="Equivariant crystal networks: train, evaluate and predict.", no_args_is_help=True
)
data_app = typer.Typer(help="Datasets: info, build graph caches.", no_args_is_help=True)
bench_app = typer.Typer(
    help="Speed benchmarks (ratios against a reference measured in the same run).",
    no_args_is_help=True,
)
symmetry_app = typer.Typer(
    help="Symmetry groups and parameter-sharing colourings.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
app.add_typer(bench_app, name="bench")
app.add_typer(symmetry_app, name="symmetry")
reproduce_app = typer.Typer(
    help="Reproduce the paper's tables (results/*.md, *.json, plots).", no_args_is_help=True
)
app.add_typer(reproduce_app, name="reproduce")

console = Console(emoji=False)  # split names like "random:train:" are not emoji codes


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _write_json(path: Path | None, payload: dict) -> None:
    if path is not None:
        from ecn.bench import write_json

        console.print(f"wrote {write_json(path, payload)}")


from ecn.train.commands import register as _register_train_commands

_register_train_commands(app)  # ecn train | evaluate | predict

from ecn.data.commands import register as _register_data_commands

_register_data_commands(data_app)  # ecn data info | build | download


def _only_mp(dataset: str) -> None:
    if dataset != "mp":
        raise typer.BadParameter(f"only 'mp' supports this command, not {dataset!r}")


@data_app.command("curate")
def data_curate(
    dataset: str = typer.Argument("mp", help="Dataset (only 'mp')."),
    path: Path | None = typer.Option(
        None, help="MP CSV or summary-document dump (default: the mp_cgcnn_36k CSV)."
    ),
    split: str = typer.Option("both", help="Splits to size: paper, random or both."),
    seed: int = typer.Option(0, help="Seed of the random 80/10/10 split."),
    drop_outliers: bool = typer.Option(True, help="Drop |E_form| > threshold (else flag only)."),
    outlier_threshold: float = typer.Option(5.0, help="Outlier threshold in eV/atom."),
    max_sites: int = typer.Option(50, help="Largest cell kept (atoms)."),
    dim_method: str = typer.Option("radii", help="Bonds for the 3D filter: radii | crystalnn."),
    dedupe_key: str = typer.Option(
        "cell",
        help="Duplicates: same (cell formula, space group) = "
        "cell (the paper), or (reduced formula, space group) = reduced.",
    ),
    processes: int = typer.Option(2, help="Worker processes for the structure analysis."),
    limit: int | None = typer.Option(None, help="Only the first N source rows."),
    out: Path | None = typer.Option(None, help="Output directory (default: cache dir)."),
) -> None:
    """Curate as paper §8; print the funnel and write funnel.md/.json + curated.csv.gz."""
    from ecn.data.mp import CurationOptions, curate_report

    _only_mp(dataset)
    if split not in ("paper", "random", "both"):
        raise typer.BadParameter("--split must be paper, random or both")
    modes = [(m, seed) for m in ("paper", "random") if split in (m, "both")]
    opts = CurationOptions(
        drop_outliers=drop_outliers,
        outlier_threshold=outlier_threshold,
        max_sites=max_sites,
        dim_method=dim_method,
        dedupe_key=dedupe_key,
    )
    cur, paths = curate_report(
        path, options=opts, split_modes=modes, out_dir=out, processes=processes, limit=limit
    )
    console.print(cur.funnel.to_markdown(), markup=False, highlight=False, soft_wrap=True)
    for p in paths.values():
        console.print(f"wrote {p}")


@data_app.command("fetch")
def data_fetch(
    dataset: str = typer.Argument("mp", help="Dataset (only 'mp')."),
    api_key: str = typer.Option(..., envvar="MP_API_KEY", help="Materials Project API key."),
    ids: Path | None = typer.Option(
        None,
        help="Ids to fetch: text (one per line) or JSON "
        "list, e.g. the paper's id lists; default: all.",
    ),
    out: Path = typer.Option(Path("mp_summary_docs.jsonl.gz"), help="Output JSON-lines file."),
) -> None:
    """Download MP summary documents with the official mp-api client (pip install 'ecn\\[mp]')."""
    from ecn.data.mp import fetch_summary_docs, read_id_file

    _only_mp(dataset)
    try:
        path, n = fetch_summary_docs(api_key, out, read_id_file(ids) if ids else None)
    except ImportError as exc:
        console.print(str(exc), markup=False, style="red")
        raise typer.Exit(2) from None
    console.print(f"wrote {n} documents to {path}; use it with --path {path}")


@bench_app.command("graphs")
def bench_graphs(
    dataset: str = typer.Option("perov5", help="Dataset name."),
    split: str = typer.Option("test", help="Split."),
    limit: int = typer.Option(300, help="Number of structures."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the result JSON here."),
) -> None:
    """Graph building: ecn vs pymatgen IsayevNN (unit cell and 2x2x2 supercell), same run."""
    from ecn.bench.graphs import format_result, run_graph_bench

    result = run_graph_bench(dataset, split, limit)
    console.print(format_result(result))
    _write_json(json_out, result)


@bench_app.command("layers")
def bench_layers(
    batch_size: int = typer.Option(128, help="Perov-5 crystals per batch (supercell graphs)."),
    width: int = typer.Option(128, help="Node width d."),
    repeats: int = typer.Option(7, help="Timed steps per variant (median reported)."),
    threads: int | None = typer.Option(None, help="torch intra-op threads (default: torch's)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the result JSON here."),
) -> None:
    """One ECN layer per group vs the plain MPNN layer: forward+backward ms, same batch, same run."""
    import torch

    from ecn.bench.layers import format_layer_bench, run_layer_bench

    if threads is not None:
        torch.set_num_threads(threads)
    result = run_layer_bench(batch_size=batch_size, width=width, repeats=repeats)
    console.print(format_layer_bench(result))
    _write_json(json_out, result)


@app.command("quickstart")
def quickstart(
    out: str = typer.Option("runs/quickstart", "--out", "-o", help="Run directory."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override the number of epochs."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar."),
) -> None:
    """Main job: a small real training on Perov-5, then predictions on example CIF files."""
    from ecn.train.quickstart import run_quickstart

    res = run_quickstart(out, epochs, progress)
    console.print(f"run: {res['run_dir']}  test: {res['test']}")
    console.print(
        f"predictions: {res['predictions']} ({res['n_predictions']} rows, "
        f"{res['n_errors']} with a clear error, as intended for the broken example)"
    )


@bench_app.command("train")
def bench_train(
    json_out: Path | None = typer.Option(None, "--json", help="Write the result as JSON."),
    n_structures: int = typer.Option(256, "--n-structures", help="Perov-5 test structures used."),
    batch_size: int = typer.Option(64, "--batch-size"),
    repeats: int = typer.Option(3, "--repeats"),
    threads: int | None = typer.Option(None, "--threads", help="torch threads (1 on busy CPUs)."),
    device: str = typer.Option("cpu", "--device"),
) -> None:
    """Training throughput (graphs/s, fwd+bwd+step) and peak memory of every model, same batches."""
    from ecn.bench.train import format_table, run_train_bench

    res = run_train_bench(
        json_path=json_out,
        n_structures=n_structures,
        batch_size=batch_size,
        repeats=repeats,
        threads=threads,
        device=device,
    )
    console.print(format_table(res))


# Options shared by the `reproduce` commands: every model of a table gets the same budget.
_SEEDS = typer.Option(3, "--seeds", help="Seeds per model (0..N-1).")
_EPOCHS = typer.Option(300, "--epochs", help="Maximum epochs (same for every model).")
_TIME_BUDGET = typer.Option(None, "--time-budget", help="Minutes per run (same for every model).")
_WIDTH = typer.Option(128, "--width", help="ECN width (paper: 128).")
_LAYERS = typer.Option(6, "--layers", help="ECN layers (paper: 6).")
_THREADS = typer.Option(None, "--threads", help="torch threads per run.")
_LIMIT = typer.Option(None, "--limit", help="First N structures per split.")


@reproduce_app.command("table2")
def reproduce_table2(
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
    results_dir: str = typer.Option("results", "--results", help="Where the table goes."),
) -> None:
    """Paper Table 2 (Perov-5): ECN-SΛ, ECN-P-1, MPNN, CGCNN, MEGNet, SchNet with each seed."""
    from ecn.train.reproduce import reproduce_table2 as run

    res = run(
        seeds, epochs, time_budget, runs_root, results_dir, width, layers, threads, limit, models
    )
    console.print((Path(results_dir) / "table2.md").read_text())
    console.print(f"{len(res['rows'])} models")


@reproduce_app.command("table1")
def reproduce_table1(
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
    results_dir: str = typer.Option("results", "--results", help="Where the tables go."),
) -> None:
    """Paper Table 1 (Materials Project, paper split): ECN-SΛ, ECN-P-1, MPNN, CGCNN, MEGNet on
    E_form, E_Fermi, M, E_g (insulators) and metal/non-metal."""
    from ecn.train.reproduce import reproduce_table1 as run

    run(
        seeds,
        epochs,
        time_budget,
        runs_root,
        results_dir,
        width,
        layers,
        threads,
        limit,
        models,
        targets,
    )
    console.print((Path(results_dir) / "table1.md").read_text())


@app.command("report")
def report(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories with results.json."),
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Output folder."),
    name: str = typer.Option("report", "--name", help="File stem for .md/.json/.png."),
    title: str = typer.Option("test MAE by model", "--title"),
) -> None:
    """Tabulate finished runs (mean ± std over seeds per model) with a learning-curve plot."""
    from ecn.train.reproduce import report as run

    run(run_dirs, out, name, title)
    console.print((out / f"{name}.md").read_text())


@symmetry_app.command("table")
def symmetry_table() -> None:
    """Print the table: Bravais type -> number of G_Lambda cell-pair orbits."""
    from ecn.symmetry.table import format_bravais_table

    console.print(format_bravais_table())


if __name__ == "__main__":  # pragma: no cover
    app()
