"""Command-line interface: ``ecn data | train | evaluate | predict | models | bench | symmetry |
check | reproduce | report | results``.

Thin on purpose (schnetpack style): each command parses flags, calls one library function that
returns a value or a report object, and prints it. Heavy imports (torch, Lightning, pymatgen)
happen inside the commands so ``ecn --help`` stays fast. Logging is configured here and only here.
"""

from __future__ import annotations

import logging

import typer

from ecn.cli import bench, check, data, experiments, models, results, symmetry, train

app = typer.Typer(
    help="Equivariant crystal networks: train, evaluate and predict.", no_args_is_help=True
)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


train.register(app)
experiments.register(app)
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(bench.app, name="bench")
app.add_typer(symmetry.app, name="symmetry")
app.add_typer(check.app, name="check")
app.add_typer(results.app, name="results")

__all__ = ["app"]

if __name__ == "__main__":  # pragma: no cover
    app()
