"""``ecn data info | build | download | curate | fetch``: flags -> ``ecn.graphs.dataset`` /
``ecn.data`` -> printed reports."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.table import Table

from ecn.cli.common import console, fail

app = typer.Typer(help="Datasets: info, build graph caches, curate, fetch.", no_args_is_help=True)


def _fmt(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.4g}"


def _settings(dataset: str, model: str, **overrides: object):  # noqa: ANN202 - GraphSettings
    from ecn.nn.graph_settings import resolve_graph_settings

    return resolve_graph_settings(model, dataset, overrides)


@app.command("info")
def info(
    dataset: str = typer.Argument(..., help="Dataset name, e.g. perov5."),
    split: str = typer.Option("all", help="Split name or 'all'."),
    path: str | None = typer.Option(None, help="Data location (required for 'cif')."),
    limit: int | None = typer.Option(None, help="Only the first N rows per split."),
    top: int = typer.Option(15, help="Elements shown in the histogram."),
    fallback: bool = typer.Option(
        True, help="Count structures needing the isolated-atom fallback under the graph settings."
    ),
    model: str = typer.Option("ecn", help="Model whose graph settings apply."),
    strategy: str | None = typer.Option(None, help="Graph strategy (default: resolved)."),
) -> None:
    """Counts per split, training source, target statistics, element histogram."""
    from ecn.graphs.dataset import dataset_info

    try:
        settings = _settings(dataset, model, strategy=strategy) if fallback else None
        rep = dataset_info(dataset, split, path, limit, top, settings)
    except ValueError as exc:
        fail(exc)
    say = lambda text: console.print(text, markup=False, highlight=False)  # noqa: E731
    say(f"{rep.dataset}: {rep.description}")
    say(f"source: {rep.source_note}")
    if rep.training_source:
        n = rep.extra.get("n_train_records")
        say(f"training source: {rep.training_source}" + (f"; train records: {n}" if n else ""))
    if rep.assembly:
        r = rep.assembly
        fam = ", ".join(
            f"{f} {c['e_form_eq_heat_all']}/{c['matched']}" for f, c in r["families"].items()
        )
        say(
            f"assembly check (e_form == heat_all on matched pairs): {fam}; "
            f"O2F: {r['o2f_e_form_ne_heat_all']}/{r['o2f_matched']} differ "
            f"({r['o2f_ne_heat_all_eq_heat_ref']} equal heat_ref on the 0.02 eV grid); "
            f"ind_gap == gap_gllbsc: {r['gap_eq_ind_gap']}/{r['matched_to_val_test']}"
        )
    if rep.notes:
        say(f"notes: {rep.notes}")
    s = rep.settings
    where = (
        ""
        if s is None
        else f" ({s.strategy}" + (f" {s.cutoff} Å)" if s.strategy != "voronoi_radii" else ")")
    )
    counts = Table("split", "records", "rejected", "atoms/cell", "isolated-atom fallback" + where)
    for sp in rep.splits:
        sizes = ", ".join(f"{k}:{v}" for k, v in list(sp.sizes.items())[:6])
        iso = "-" if sp.n_isolated is None else str(sp.n_isolated)
        counts.add_row(sp.split, str(sp.n_records), sp.rejections, sizes, iso)
    console.print(counts)
    for sp in rep.splits:
        t = Table("target", "unit", "task", "count", "mean", "std", "min", "max")
        t.title = f"targets ({sp.split})"
        for name, st in sp.targets.items():
            stats = (_fmt(st[k]) for k in ("mean", "std", "min", "max"))
            t.add_row(
                name, rep.units.get(name, ""), rep.tasks.get(name, "regression"),
                str(st["count"]), *stats,
            )  # fmt: skip
        console.print(t)
    say(
        f"elements (structures containing, top {len(rep.elements)} of {rep.n_elements}): "
        + ", ".join(f"{el} {n}" for el, n in rep.elements)
    )


@app.command("build")
def build(
    dataset: str = typer.Argument(..., help="Dataset name, e.g. perov5."),
    split: str = typer.Option("all", help="Split name or 'all'."),
    model: str = typer.Option("ecn", help="Model whose graph settings apply."),
    strategy: str | None = typer.Option(
        None, help="voronoi_radii | cutoff | min_distance (default: resolved)."
    ),
    cutoff: float | None = typer.Option(None, help="Radius in Å for cutoff strategies."),
    supercell: bool | None = typer.Option(
        None, "--supercell/--unit-cell", help="8-fold cover or unit cell (default: resolved)."
    ),
    path: str | None = typer.Option(None, help="Data location (required for 'cif')."),
    limit: int | None = typer.Option(None, help="Only the first N rows per split."),
    n_jobs: int | None = typer.Option(None, help="Worker processes (default: all)."),
    progress: bool = typer.Option(True, help="Show progress bars."),
    rebuild: bool = typer.Option(False, help="Ignore existing caches."),
    out: Path | None = typer.Option(
        None, help="Where rejected.csv goes (default: <cache dir>/<dataset>-<settings key>)."
    ),
) -> None:
    """Build and cache graphs for the splits (the cache training uses); write rejected.csv."""
    from ecn.graphs.dataset import build_dataset

    try:
        settings = _settings(dataset, model, strategy=strategy, cutoff=cutoff, supercell=supercell)
        rep = build_dataset(dataset, settings, split, path, limit, n_jobs, progress, rebuild, out)
    except ValueError as exc:
        fail(exc)
    say = lambda text: console.print(text, markup=False, highlight=False)  # noqa: E731
    for sp in rep.splits:
        iso = sp.n_isolated_structures
        say(
            f"{dataset}/{sp.split}: {sp.n_graphs} graphs, {sp.n_data_rejected} data + "
            f"{sp.n_graph_rejected} graph rejections; records {sp.seconds_records:.1f} s "
            f"({sp.records_source}), graphs {sp.seconds_graphs:.1f} s "
            f"({'loaded from cache' if sp.graphs_cached else 'built'})"
            + (f"; isolated-atom fallback in {iso} structures" if iso is not None else "")
        )
        if sp.missing_targets:
            say(
                "  kept, but missing a target (each training run drops its own): "
                + ", ".join(f"{t} {n}" for t, n in sp.missing_targets.items())
            )
    say(
        f"{dataset} ({settings.strategy}): {rep.n_graphs} graphs, {len(rep.rejected)} rejected "
        f"-> {rep.rejected_csv}; "
        + ("all loaded from cache" if rep.all_cached else "built and cached")
        + f" in {rep.seconds:.1f} s"
    )


@app.command("download")
def download(
    dataset: str = typer.Argument("perov5", help="Only perov5 has a public URL."),
    dest: Path | None = typer.Option(None, help="Folder (default: user cache)."),
) -> None:
    """Download the official files (checksum-verified) into the user cache."""
    from ecn.data.download import download_perov5

    if dataset != "perov5":
        fail(ValueError("only perov5 can be downloaded (CDVAE files on GitHub)"))
    console.print(f"perov5 files in {download_perov5(dest)}", markup=False)


def _only_mp(dataset: str) -> None:
    if dataset != "mp":
        fail(ValueError(f"only 'mp' supports this command, not {dataset!r}"))


@app.command("curate")
def curate(
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
        help="Duplicates: same (cell formula, space group) = cell (the paper), or "
        "(reduced formula, space group) = reduced.",
    ),
    processes: int = typer.Option(2, help="Worker processes for the structure analysis."),
    limit: int | None = typer.Option(None, help="Only the first N source rows."),
    out: Path | None = typer.Option(None, help="Output directory (default: cache dir)."),
) -> None:
    """Curate as paper §8; print the funnel and write funnel.md/.json + curated.csv.gz."""
    from ecn.data.mp import CurationOptions, curate_report

    _only_mp(dataset)
    if split not in ("paper", "random", "both"):
        fail(ValueError("--split must be paper, random or both"))
    modes = [(m, seed) for m in ("paper", "random") if split in (m, "both")]
    try:
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
    except ValueError as exc:
        fail(exc)
    console.print(cur.funnel.to_markdown(), markup=False, highlight=False, soft_wrap=True)
    for p in paths.values():
        console.print(f"wrote {p}", markup=False)


@app.command("fetch")
def fetch(
    dataset: str = typer.Argument("mp", help="Dataset (only 'mp')."),
    api_key: str = typer.Option(..., envvar="MP_API_KEY", help="Materials Project API key."),
    ids: Path | None = typer.Option(
        None, help="Ids to fetch: text (one per line) or JSON list, e.g. the paper's id lists."
    ),
    out: Path = typer.Option(Path("mp_summary_docs.jsonl.gz"), help="Output JSON-lines file."),
) -> None:
    """Download MP summary documents with the official mp-api client (pip install 'ecn\\[mp]')."""
    from ecn.data.mp import fetch_summary_docs, read_id_file

    _only_mp(dataset)
    try:
        path, n = fetch_summary_docs(api_key, out, read_id_file(ids) if ids else None)
    except (ImportError, ValueError) as exc:
        fail(exc)
    console.print(f"wrote {n} documents to {path}; use it with --path {path}", markup=False)
