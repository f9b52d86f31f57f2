"""``ecn models``: the pretrained models shipped in the package; ``ecn models package`` (one
run, or several as an ensemble)."""

from __future__ import annotations

from pathlib import Path

import typer

from ecn.cli.common import console, fail

app = typer.Typer(
    help="Pretrained models shipped with ecn (use a name with `ecn predict --model NAME`).",
    invoke_without_command=True,
)


def _fmt_metrics(entry: dict) -> str:
    test = entry.get("test", {})
    keys = [k for k in ("mae", "rmse", "r2", "accuracy", "roc_auc") if k in test]
    return ", ".join(f"{k} {test[k]:.4g}" for k in keys)


@app.callback()
def list_command(
    ctx: typer.Context,
    markdown: Path | None = typer.Option(
        None, "--markdown", help="Also write the table beside the paper's numbers here."
    ),
) -> None:
    """List the pretrained models: name, target (unit), model, test metrics, size."""
    if ctx.invoked_subcommand is not None:
        return
    from ecn.inference.pretrained import PRETRAINED_DIR, list_models

    if markdown is not None:
        from ecn.experiments.pretrained_report import pretrained_markdown
        from ecn.io import atomic_write_text

        console.print(f"wrote {atomic_write_text(markdown, pretrained_markdown())}", markup=False)

    models = list_models()
    if not models:
        console.print(f"no pretrained models installed in {PRETRAINED_DIR}", markup=False)
        return
    for m in models:
        console.print(
            f"{m['name']}: {m['target']} ({m['unit'] or 'no unit'}), {m['model']}, "
            f"{m['dataset']} test {_fmt_metrics(m)}, {m['bytes'] / 1e6:.1f} MB; card: "
            f"{PRETRAINED_DIR / m['card']}",
            markup=False,
            soft_wrap=True,
        )


@app.command("package")
def package_command(
    runs: list[Path] = typer.Argument(
        ...,
        help="Finished run directories (model.pt, results.json); several make an ensemble.",
    ),
    name: str = typer.Option(..., "--name", help="Model name, e.g. perov5-heat_all."),
    slice_n: int = typer.Option(200, "--slice", help="Test structures for the slice check."),
    root: Path | None = typer.Option(None, "--root", help="Registry folder (default: package)."),
    compare_n: int = typer.Option(
        300,
        "--compare",
        help="Ensemble: first N test crystals on which the std is compared with the "
        "description spread of --average (0: skip).",
    ),
    average: str = typer.Option(
        "origins", "--average", help="Ensemble: the --average mode compared (origins or full)."
    ),
    json_out: Path | None = typer.Option(
        None,
        "--json",
        help="Ensemble: the calibration report (default results/ensembles/NAME.json).",
    ),
    calibration: str = typer.Option(
        "scaled+floor",
        "--calibration",
        help="Ensemble: the std recalibration fitted on validation and applied: scaled+floor "
        "(alias affine; std = sqrt((a x members' std)^2 + b^2), a and b by Gaussian likelihood: "
        "the floor b covers the error the members share), coverage (b = 0, 68.27 % of the "
        "errors within 1 std) or nll (b = 0, Gaussian likelihood; too wide with few members). "
        "The report gives the test metrics of all three.",
    ),
    note: str = typer.Option(
        "",
        "--note",
        help="Why this run (or these members) is the one shipped, written on the card: e.g. "
        "when a baseline or another ECN group was best, or what the model replaced.",
    ),
) -> None:
    """Ship a run as pretrained model NAME (copy its model.pt, write card and registry entry);
    several runs of one architecture, graph and data become an ensemble: mean and std, the std
    recalibration fitted on the validation split, calibration measured on the test split."""
    try:
        if len(runs) == 1:
            from ecn.experiments.packaging import package_model

            entry = package_model(runs[0], name, root=root, slice_n=slice_n, note=note)
        else:
            from ecn.experiments.ensembles import package_ensemble

            if average not in ("origins", "full"):
                raise ValueError(f"--average takes origins or full, got {average!r}")
            entry = package_ensemble(
                runs, name, root, slice_n, compare_n, average, json_out, calibration, note
            )
    except (ValueError, OSError, KeyError) as exc:
        fail(exc)
    sl = entry["slice"]
    console.print(
        f"packaged {name}: {entry['bytes']} bytes, sha256 {entry['sha256'][:12]}..., slice "
        f"{sl['metric']} {sl['value']:.5f} on {sl['n']} {sl['split']} structures",
        markup=False,
    )
    if "report" in entry:
        rep = entry["report"]
        method = rep["calibration"]["method"]
        for t, cal in rep["calibration"]["test"].items():
            a, b = cal["after"], cal["before"]
            floor = f", floor b {cal['std_floor']:.4g}" if method == "scaled+floor" else ""
            console.print(
                f"{t}: std {method}, factor a {cal['std_scale']:.4g}{floor} (fitted on "
                f"validation); test within 1/2 sigma {a['within_1sigma']:.1%} / "
                f"{a['within_2sigma']:.1%} (before {b['within_1sigma']:.1%} / "
                f"{b['within_2sigma']:.1%}), Spearman "
                f"{a['spearman'] if a['spearman'] is None else round(a['spearman'], 3)}, MAE "
                f"10% most confident {a['mae_confident']:.4g} vs all {a['mae']:.4g}; report: "
                f"{entry['json_path']}",
                markup=False,
                soft_wrap=True,
            )
