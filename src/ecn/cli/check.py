"""``ecn check invariance`` / ``ecn check continuity``: the spread of a trained model's
predictions across equivalent descriptions of the same crystals (issue 14), and its change under
small perturbations of them (issue 26). Thin: `ecn.inference.check` does the work and returns
the reports printed here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from ecn.cli.common import console, fail

app = typer.Typer(help="Checks of a trained model on your own crystals.", no_args_is_help=True)


def _structures(predictor: Any, paths: list[Path] | None, limit: int) -> list[tuple[str, Any]]:
    """``(id, structure)`` of the CIFs / folders / CSVs given, else the first `limit` crystals
    of the model dataset's test split (ValueError when the model names no dataset or the data
    is absent)."""
    from ecn.data.validate import parse_cif
    from ecn.inference import read_inputs

    if paths:
        structures = []
        for it in read_inputs(paths):
            if it.error:
                console.print(f"{it.id}: {it.error}", markup=False)
                continue
            try:
                structures.append((it.id, it.structure or parse_cif(it.cif or "")))
            except ValueError as exc:
                console.print(f"{it.id}: {exc}", markup=False)
        return structures
    from ecn.data.registry import load_split

    dataset = predictor.meta.get("dataset") or ""
    if not dataset:
        raise ValueError("the model file names no dataset: pass CIF files")
    try:
        loaded = load_split(dataset, "test", limit=limit)
    except OSError as exc:
        raise ValueError(f"no {dataset} test split here ({exc}); pass CIF files") from None
    return [(r.id, r.structure) for r in loaded.records]


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
    canonical: str = typer.Option(
        None,
        "--canonical",
        help="Override the canonical step (unique, primitive, off): e.g. primitive shows "
        "whether invariance rests on the unique-description choice.",
    ),
) -> None:
    """Predict each crystal as given and in ~17 equivalent descriptions; print the spread."""
    from ecn.inference import Predictor
    from ecn.inference.check import check_invariance, predictor_variant

    try:
        predictor = predictor_variant(Predictor.load(model), canonical)
        structures = _structures(predictor, paths, limit)
        report = check_invariance(predictor, structures, average=average, seed=seed)
    except ValueError as exc:
        fail(exc)
    console.print(report.format(), markup=False, highlight=False)


def _parse_options(options: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in options or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--option takes KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


@app.command("continuity")
def continuity(
    model: Path = typer.Argument(..., help="Pretrained name, run directory or model file."),
    paths: list[Path] = typer.Argument(
        None, help="CIF files, folders or CSVs (default: the model dataset's test split)."
    ),
    limit: int = typer.Option(20, "--limit", help="Crystals of the test split when no CIFs."),
    eps: str = typer.Option(
        "1e-5,1e-4,1e-3,1e-2", "--eps", help="Perturbation sizes in Å, comma-separated."
    ),
    kinds: str = typer.Option(
        "displace,strain", "--kinds", help="Perturbations: displace (every atom), strain."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the perturbation directions."),
    threshold: float = typer.Option(
        None,
        "--threshold",
        help="Smallest change that can count as a jump (model units; default 1 percent of the "
        "model's test MAE when known, else 1e-3).",
    ),
    ratio: float = typer.Option(
        10.0, "--ratio", help="A jump exceeds this times the linear trend from the next size."
    ),
    canonical: str = typer.Option(
        None, "--canonical", help="Override the canonical step (unique, primitive, off)."
    ),
    option: list[str] = typer.Option(
        None,
        "--option",
        help="Diagnosis: a weight-free model option, e.g. envelope=poly (changes the function "
        "of a model trained without it).",
    ),
    wrap: bool = typer.Option(
        True,
        "--wrap/--no-wrap",
        help="Wrap moved atoms into the cell as a CIF does (--no-wrap keeps image offsets, "
        "so only the neighbour graph can jump).",
    ),
    out: Path = typer.Option(
        None, "--out", help="Write the report as JSON here, and a markdown summary beside it."
    ),
) -> None:
    """Predict each crystal and its small perturbations; print max and median change and jumps
    per size (a model continuous in the atomic positions changes by O(eps), no jumps)."""
    from ecn.inference import Predictor
    from ecn.inference.check import check_continuity, default_threshold, predictor_variant

    try:
        sizes = [float(e) for e in eps.split(",") if e.strip()]
        predictor = Predictor.load(model)
        predictor = predictor_variant(predictor, canonical, _parse_options(option) or None)
        if threshold is None:
            threshold, note = default_threshold(model)
        else:
            note = "--threshold"
        structures = _structures(predictor, paths, limit)
        report = check_continuity(
            predictor,
            structures,
            sizes,
            [k.strip() for k in kinds.split(",") if k.strip()],
            seed,
            threshold,
            ratio,
            note,
            model_name=str(model),
            wrap=wrap,
        )
    except ValueError as exc:
        fail(exc)
    console.print(report.format(), markup=False, highlight=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report.to_dict(), indent=1) + "\n")
        out.with_suffix(".md").write_text(report.markdown())
        console.print(f"wrote {out} and {out.with_suffix('.md')}", markup=False, highlight=False)
