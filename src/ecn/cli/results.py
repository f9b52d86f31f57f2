"""``ecn results index``: the generated index of ``results/``."""

from __future__ import annotations

from pathlib import Path

import typer

from ecn.cli.common import console

app = typer.Typer(help="The results/ folder: its generated index.", no_args_is_help=True)


@app.command("index")
def index(
    root: Path = typer.Option(Path("results"), "--root", help="The results folder."),
    check: bool = typer.Option(
        False, "--check", help="Write nothing; exit 1 if README.md is not what would be written."
    ),
) -> None:
    """Write results/README.md: every table and figure, what it shows, the command that
    regenerates it and the commit it was produced at."""
    from ecn.experiments.results_index import write_index

    path, fresh = write_index(root, check=check)
    if check:
        console.print(f"{path}: {'up to date' if fresh else 'stale (run ecn results index)'}")
        raise typer.Exit(0 if fresh else 1)
    console.print(f"{path}: {'unchanged' if fresh else 'written'}")
