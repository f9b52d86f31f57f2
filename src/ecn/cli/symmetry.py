"""``ecn symmetry table``."""

from __future__ import annotations

import typer

from ecn.cli.common import console

app = typer.Typer(help="Symmetry groups and parameter-sharing colourings.", no_args_is_help=True)


@app.command("table")
def table() -> None:
    """Print the table: Bravais type -> number of G_Lambda cell-pair orbits."""
    from ecn.symmetry.table import format_bravais_table

    console.print(format_bravais_table())
