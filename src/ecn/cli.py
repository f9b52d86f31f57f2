"""Command-line interface: `ecn data | train | evaluate | predict | bench | symmetry | reproduce`.

Each command is a thin shell over a library function (imported lazily so `ecn --help` is fast);
logging is configured here and only here.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(help="Equivariant crystal networks: train, evaluate and predict.", no_args_is_help=True)
data_app = typer.Typer(help="Datasets: info, build graph caches.", no_args_is_help=True)
bench_app = typer.Typer(help="Speed benchmarks (ratios against a reference measured in the same run).",
                        no_args_is_help=True)
symmetry_app = typer.Typer(help="Symmetry groups and parameter-sharing colourings.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(bench_app, name="bench")
app.add_typer(symmetry_app, name="symmetry")

console = Console()


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")


def _write_json(path: Optional[Path], payload: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2))
        console.print(f"wrote {path}")


from ecn.train.commands import register as _register_train_commands  # noqa: E402

_register_train_commands(app)  # ecn train | evaluate | predict

from ecn.data.commands import register as _register_data_commands  # noqa: E402

_register_data_commands(data_app)  # ecn data info | build | download


@bench_app.command("graphs")
def bench_graphs(
    dataset: str = typer.Option("perov5", help="Dataset name."),
    split: str = typer.Option("test", help="Split."),
    limit: int = typer.Option(300, help="Number of structures."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the result JSON here."),
) -> None:
    """Graph building: ecn vs pymatgen IsayevNN (unit cell and 2x2x2 supercell), same run."""
    from ecn.bench.graphs import format_result, run_graph_bench

    result = run_graph_bench(dataset, split, limit)
    console.print(format_result(result))
    _write_json(json_out, result)


@symmetry_app.command("table")
def symmetry_table() -> None:
    """Print the table: Bravais type -> number of G_Lambda cell-pair orbits."""
    from ecn.symmetry.table import format_bravais_table

    console.print(format_bravais_table())


if __name__ == "__main__":  # pragma: no cover
    app()
