"""``ecn bench graphs | layers | train | storage | predict | large-cell``: each measures against
a reference of the same run (ratios), or reports sizes and peak memory; ``ecn bench report``
renders a result JSON as markdown."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import typer

from ecn.cli.common import console, fail

app = typer.Typer(
    help="Speed benchmarks (ratios against a reference measured in the same run).",
    no_args_is_help=True,
)


def _write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is not None:
        from ecn.io import write_json

        console.print(f"wrote {write_json(path, payload)}", markup=False)


@app.command("graphs")
def graphs(
    dataset: str = typer.Option("perov5", help="Dataset name."),
    split: str = typer.Option("test", help="Split."),
    limit: int = typer.Option(300, help="Number of structures."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the result JSON here."),
) -> None:
    """Graph building: ecn vs pymatgen IsayevNN (unit cell and 2x2x2 supercell), same run."""
    from ecn.bench.graphs import format_result, run_graph_bench

    result = run_graph_bench(dataset, split, limit)
    console.print(format_result(result), markup=False)
    _write_json(json_out, result)


@app.command("layers")
def layers(
    batch_size: int = typer.Option(128, help="Perov-5 crystals per batch (supercell graphs)."),
    width: int = typer.Option(128, help="Node width d."),
    repeats: int = typer.Option(7, help="Timed steps per variant (median reported)."),
    threads: int | None = typer.Option(None, help="torch intra-op threads (default: torch's)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the result JSON here."),
) -> None:
    """One ECN layer per group vs the plain MPNN layer: fwd+bwd ms, same batch, same run."""
    import torch

    from ecn.bench.layers import format_layer_bench, run_layer_bench

    if threads is not None:
        torch.set_num_threads(threads)
    result = run_layer_bench(batch_size=batch_size, width=width, repeats=repeats)
    console.print(format_layer_bench(result), markup=False)
    _write_json(json_out, result)


@app.command("train")
def train(
    json_out: Path | None = typer.Option(None, "--json", help="Write the result as JSON."),
    n_structures: int = typer.Option(256, "--n-structures", help="Perov-5 test structures used."),
    batch_size: int = typer.Option(64, "--batch-size"),
    repeats: int = typer.Option(3, "--repeats"),
    threads: int | None = typer.Option(None, "--threads", help="torch threads (1 on busy CPUs)."),
    device: str = typer.Option("cpu", "--device"),
    precision: list[str] | None = typer.Option(
        None, "--precision", help="32, bf16-mixed, 16-mixed (repeatable; default: 32 and bf16)."
    ),
    model: list[str] | None = typer.Option(
        None, "--model", help="ecn-<group> or a baseline name (repeatable; default: all)."
    ),
    train_size: int | None = typer.Option(
        None, "--train-size", help="Crystals per epoch (default: the Perov-5 training split)."
    ),
    memory: bool = typer.Option(True, "--memory/--no-memory", help="Measure peak memory."),
) -> None:
    """Training step time of every model in fp32 and bf16 (same batches), epoch ratios vs CGCNN,
    graph-cache bytes per structure."""
    from ecn.bench.train import DEFAULT_MODELS, PRECISIONS, format_table, run_train_bench

    try:
        res = run_train_bench(
            json_path=json_out,
            models=tuple(model) if model else DEFAULT_MODELS,
            n_structures=n_structures,
            batch_size=batch_size,
            repeats=repeats,
            threads=threads,
            device=device,
            precisions=tuple(precision) if precision else PRECISIONS,
            train_size=train_size,
            measure_memory=memory,
            command=shlex.join(["ecn", *sys.argv[1:]]),
        )
    except ValueError as exc:
        console.print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from exc
    console.print(format_table(res), markup=False)


@app.command("report")
def report(
    kind: str = typer.Argument(..., help="train or storage: the benchmark that wrote JSON."),
    json_in: Path = typer.Argument(..., help="The result JSON (e.g. results/bench/train.json)."),
    out: Path | None = typer.Option(None, "--out", help="Markdown file (default: JSON's .md)."),
) -> None:
    """Render a benchmark's result JSON as markdown beside it (results/bench/*.md are never typed
    by hand): host, load, the measuring command and the table."""
    from ecn.bench.report import render
    from ecn.io import atomic_write_text

    try:
        text = render(kind, json_in)
    except (OSError, ValueError) as exc:
        fail(exc)
    atomic_write_text(json_in.with_suffix(".md") if out is None else out, text)
    console.print(text, markup=False)


@app.command("storage")
def storage(
    json_out: Path | None = typer.Option(None, "--json", help="Write the result as JSON."),
    factor: int = typer.Option(10, help="Synthetic dataset = FACTOR x the MP paper train split."),
    batch_size: int = typer.Option(64, "--batch-size"),
    num_workers: int = typer.Option(2, "--num-workers", help="DataLoader workers."),
    max_batches: int | None = typer.Option(
        None, "--max-batches", help="Stop the epoch after N batches (default: a full epoch)."
    ),
    threads: int = typer.Option(1, "--threads", help="torch threads in the main process."),
    mp_limit: int | None = typer.Option(None, "--mp-limit", help="Use only N MP structures."),
    work_dir: Path | None = typer.Option(None, "--work-dir", help="Synthetic store folder."),
    keep: bool = typer.Option(False, "--keep", help="Keep the synthetic store afterwards."),
) -> None:
    """Graph-cache bytes per structure, and one streaming epoch over a synthetic dataset FACTOR x
    the MP paper training split (strained copies) with its peak memory."""
    from ecn.bench.storage import format_storage, run_storage_bench

    res = run_storage_bench(
        factor=factor,
        batch_size=batch_size,
        num_workers=num_workers,
        max_batches=max_batches,
        threads=threads,
        work_dir=work_dir,
        keep=keep,
        mp_limit=mp_limit,
    )
    console.print(format_storage(res), markup=False)
    _write_json(json_out, res)


@app.command("predict")
def predict(
    n: int = typer.Option(1000, "--n", help="MP CIFs (every k-th row of the MP file)."),
    workers: list[int] | None = typer.Option(
        None, "--workers", help="Worker counts for the CLI runs (repeatable; default 1 and 2)."
    ),
    model: str = typer.Option("mp-e_form", "--model", help="Pretrained model name or path."),
    batch_size: int = typer.Option(64, "--batch-size"),
    start_repeats: int = typer.Option(5, "--start-repeats", help="Single-file starts (best)."),
    json_out: Path | None = typer.Option(
        Path("results/bench/predict.json"), "--json", help="Write the result JSON (and .md) here."
    ),
) -> None:
    """ecn predict on N MP CIFs: structures/s at each worker count, pymatgen's parse-only rate on
    the same files (same run), the per-core ratio, and the start time on one CIF."""
    from ecn.bench.predict import format_predict_bench, predict_markdown, run_predict_bench

    try:
        res = run_predict_bench(
            n=n,
            workers=tuple(workers) if workers else (1, 2),
            model=model,
            batch_size=batch_size,
            start_repeats=start_repeats,
            command=shlex.join(["ecn", *sys.argv[1:]]),
        )
    except ValueError as exc:
        console.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from exc
    console.print(format_predict_bench(res), markup=False)
    _write_json(json_out, res)
    if json_out is not None:
        from ecn.io import atomic_write_text

        md = json_out.with_suffix(".md")
        console.print(f"wrote {atomic_write_text(md, predict_markdown(res))}", markup=False)


@app.command("large-cell")
def large_cell(
    model: str = typer.Option("perov5-heat_all", "--model", help="Pretrained model name or path."),
    repeats: int = typer.Option(3, "--repeats", help="Timed repeats per stage (best reported)."),
    before: str | None = typer.Option(
        None, "--before", help="Also time the canonical step of this git revision (same run)."
    ),
    json_out: Path | None = typer.Option(
        Path("results/bench/large_cell.json"), "--json", help="Write the result JSON here."
    ),
) -> None:
    """A 1,000-atom P1 cell through the canonical step, graph build and model: time and peak
    memory (each stage in its own process, 1 thread); --average and many inputs: peak memory."""
    from ecn.bench.large_cell import format_large_cell_bench, run_large_cell_bench

    try:
        res = run_large_cell_bench(model=model, repeats=repeats, before=before)
    except ValueError as exc:
        console.print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from exc
    res["command"] = shlex.join(["ecn", *sys.argv[1:]])
    console.print(format_large_cell_bench(res), markup=False)
    _write_json(json_out, res)
