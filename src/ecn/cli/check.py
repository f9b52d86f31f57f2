"""``ecn check invariance``: the spread of a trained model's predictions across equivalent
descriptions of the same crystals (issue 14). Thin: `ecn.inference.check.check_invariance`
does the work and returns the report printed here."""

from __future__ import annotations

from pathlib import Path

import typer

from ecn.cli.common import console, fail

app = typer.Typer(help="Checks of a trained model on your own crystals.", no_args_is_help=True)


@app.command("invariance")
def invariance(
    model: Path = typer.Argument(..., help="Run directory, model.pt or .ckpt file."),
    paths: list[Path] = typer.Argument(
        None, help="CIF files, folders or CSVs (default: the model dataset's test split)."
    ),
    limit: int = typer.Option(20, "--limit", help="Crystals of the test split when no CIFs."),
    average: str = typer.Option(
        "none", "--average", help="Description averaging: none, origins or full."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the random descriptions."),
) -> None:
    """Predict each crystal as given and in ~17 equivalent descriptions; print the spread."""
    from ecn.data.validate import parse_cif
    from ecn.inference import Predictor, read_inputs
    from ecn.inference.check import check_invariance

    try:
        predictor = Predictor.load(model)
        if paths:
            items = read_inputs(paths)
            structures = []
            for it in items:
                if it.error:
                    console.print(f"{it.id}: {it.error}", markup=False)
                    continue
                try:
                    structures.append((it.id, it.structure or parse_cif(it.cif or "")))
                except ValueError as exc:
                    console.print(f"{it.id}: {exc}", markup=False)
        else:
            from ecn.data.registry import load_split

            dataset = predictor.meta.get("dataset") or ""
            if not dataset:
                raise ValueError("the model file names no dataset: pass CIF files")
            loaded = load_split(dataset, "test", limit=limit)
            structures = [(r.id, r.structure) for r in loaded.records]
        report = check_invariance(predictor, structures, average=average, seed=seed)
    except ValueError as exc:
        fail(exc)
    console.print(report.format(), markup=False, highlight=False)
