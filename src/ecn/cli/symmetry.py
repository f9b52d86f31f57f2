"""``ecn symmetry table | euclidean``."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer

from ecn.cli.common import console

app = typer.Typer(help="Symmetry groups and parameter-sharing colourings.", no_args_is_help=True)


@app.command("table")
def table() -> None:
    """Print the table: Bravais type -> number of G_Lambda cell-pair orbits."""
    from ecn.symmetry.table import format_bravais_table

    console.print(format_bravais_table())


@app.command("euclidean")
def euclidean(
    json_out: Path | None = typer.Option(None, "--json", help="Write the result as JSON."),
    n: int = typer.Option(100, "--n", help="Test crystals per dataset (the first usable ones)."),
    dataset: list[str] | None = typer.Option(
        None, "--dataset", help="Dataset (repeatable; default: perov5 and mp)."
    ),
    moves: int = typer.Option(8, "--moves", help="Random frame moves per crystal batch."),
    group: str = typer.Option("slambda", "--group", help="Colouring of the ecn_egnn model."),
    threads: int = typer.Option(1, "--threads", help="torch threads."),
) -> None:
    """E(3) errors of the E(n)-equivariant ECN (ecn_egnn) on real crystals: scalar outputs under
    rotations, reflections and translations of the Cartesian frame, vector outputs rotated with
    it, float64 and float32, with raw-coordinate negative controls."""
    import torch

    from ecn.bench.euclidean import format_euclidean, run_euclidean_check

    torch.set_num_threads(threads)
    try:
        res = run_euclidean_check(
            json_out,
            datasets=tuple(dataset) if dataset else ("perov5", "mp"),
            n=n,
            n_moves=moves,
            group=group,
            command=shlex.join(["ecn", *sys.argv[1:]]),
        )
    except ValueError as exc:
        console.print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from exc
    console.print(format_euclidean(res), markup=False)
    if json_out is not None:
        console.print(f"wrote {json_out}", markup=False)
