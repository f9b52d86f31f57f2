"""`ecn data info | build | download` (CLI glue, registered on `data_app` by ecn.cli).

The only module of ecn.data that touches ecn.graphs, lazily inside the commands: `data build`
is where records meet graph settings.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

logger = logging.getLogger(__name__)
console = Console(emoji=False)  # split names like "random:train:" are not emoji codes


def _splits(name: str, split: str) -> list[str]:
    from ecn.data import available_splits, get_spec

    spec = get_spec(name)
    if split == "all":
        return list(available_splits(name))
    if split not in spec.splits:
        raise typer.BadParameter(f"{name} has splits {spec.splits} (or 'all'), not {split!r}")
    return [split]


def graph_settings(
    name: str,
    strategy: str | None = None,
    cutoff: float | None = None,
    supercell: bool | None = None,
):
    """The dataset's default GraphSettings with command-line overrides."""
    from ecn.data import get_spec
    from ecn.graphs import GraphSettings

    kw = dict(get_spec(name).graph_defaults)
    if strategy is not None:
        kw["strategy"] = strategy
    if cutoff is not None:
        kw["cutoff"] = cutoff
    if supercell is not None:
        kw["supercell"] = supercell
    return GraphSettings(**kw)


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _fmt(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.4g}"


def info(
    dataset: str = typer.Argument(..., help="Dataset name, e.g. perov5."),
    split: str = typer.Option("all", help="Split name or 'all'."),
    path: str | None = typer.Option(None, help="Data location (required for 'cif')."),
    limit: int | None = typer.Option(None, help="Only the first N rows per split."),
    top: int = typer.Option(15, help="Elements shown in the histogram."),
    fallback: bool = typer.Option(
        True,
        help="Count structures needing the isolated-atom "
        "fallback under the default graph settings.",
    ),
    strategy: str | None = typer.Option(
        None, help="Graph strategy for the fallback count (default: the dataset's)."
    ),
) -> None:
    """Counts per split, training source, target statistics, element histogram."""
    from ecn.data import get_spec, load_split
    from ecn.data.info import element_histogram, size_histogram, target_stats
    from ecn.data.validate import summarize_rejections

    spec = get_spec(dataset)
    loaded = {
        s: load_split(dataset, s, limit=limit, path=path, required=())
        for s in _splits(dataset, split)
    }
    first = next(iter(loaded.values()))
    console.print(f"[bold]{spec.name}[/bold]: {spec.description}")
    console.print(f"source: {first.source_note}")
    if "training_source" in first.info:
        n_train = f"; train records loaded: {len(loaded['train'])}" if "train" in loaded else ""
        console.print(f"training source: {first.info['training_source']}{n_train}")
    if "assembly" in first.info:
        r = first.info["assembly"]
        fam = ", ".join(
            f"{f} {c['e_form_eq_heat_all']}/{c['matched']}" for f, c in r["families"].items()
        )
        console.print(
            f"assembly check (e_form == heat_all on matched pairs): {fam}; "
            f"O2F: {r['o2f_e_form_ne_heat_all']}/{r['o2f_matched']} differ "
            f"({r['o2f_ne_heat_all_eq_heat_ref']} equal heat_ref on the 0.02 eV grid); "
            f"ind_gap == gap_gllbsc: {r['gap_eq_ind_gap']}/{r['matched_to_val_test']}"
        )
    if spec.notes:
        console.print(f"notes: {spec.notes}")
    settings = graph_settings(dataset, strategy) if fallback else None
    counts = Table(
        "split", "records", "rejected", "atoms/cell", "isolated-atom fallback", title="counts"
    )
    for s, ld in loaded.items():
        iso = "-"
        if settings is not None:
            from ecn.graphs import neighbor_list

            n_iso = 0
            for rec in ld.records:
                try:
                    n_iso += neighbor_list(rec.structure, settings).n_isolated > 0
                except ValueError:
                    pass
            iso = f"{n_iso} ({settings.strategy}" + (
                f" {settings.cutoff} Å)" if settings.strategy != "voronoi_radii" else ")"
            )
        sizes = size_histogram(ld.records)
        counts.add_row(
            s,
            str(len(ld)),
            summarize_rejections(ld.rejected),
            ", ".join(f"{k}:{v}" for k, v in list(sizes.items())[:6]),
            iso,
        )
    console.print(counts)
    names = list(first.target_names)
    for s, ld in loaded.items():
        t = Table(
            "target", "unit", "task", "count", "mean", "std", "min", "max", title=f"targets ({s})"
        )
        tasks = spec.tasks
        for name, st in target_stats(ld.records, names).items():
            unit = spec.units.get(name, "")
            t.add_row(
                name,
                unit,
                tasks.get(name, "regression"),
                str(st["count"]),
                *(_fmt(st[k]) for k in ("mean", "std", "min", "max")),
            )
        console.print(t)
    all_records = [r for ld in loaded.values() for r in ld.records]
    hist = element_histogram(all_records, top)
    console.print(
        f"elements (structures containing, top {top} of "
        f"{len(element_histogram(all_records))}): " + ", ".join(f"{el} {n}" for el, n in hist)
    )


def _write_rejected(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """rejected.csv (id, split, reason), written to a temp file then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="rejected.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "split", "reason"])
            w.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build(
    dataset: str = typer.Argument(..., help="Dataset name, e.g. perov5."),
    split: str = typer.Option("all", help="Split name or 'all'."),
    strategy: str | None = typer.Option(
        None, help="voronoi_radii | cutoff | min_distance (default: the dataset's)."
    ),
    cutoff: float | None = typer.Option(None, help="Radius in Å for cutoff strategies."),
    supercell: bool | None = typer.Option(
        None, "--supercell/--unit-cell", help="8-fold cover (default) or unit cell."
    ),
    path: str | None = typer.Option(None, help="Data location (required for 'cif')."),
    limit: int | None = typer.Option(None, help="Only the first N rows per split."),
    n_jobs: int | None = typer.Option(None, help="Worker processes (default: all)."),
    progress: bool = typer.Option(True, help="Show progress bars."),
    rebuild: bool = typer.Option(False, help="Ignore existing caches."),
    out: Path | None = typer.Option(
        None,
        help="Where rejected.csv goes "  # noqa: B008
        "(default: <cache dir>/<dataset>-<settings key>).",
    ),
) -> None:
    """Build and cache graphs for the splits; write rejected.csv (id, split, reason)."""
    from ecn.data import load_split
    from ecn.graphs import load_or_build
    from ecn.settings import cache_dir

    settings = graph_settings(dataset, strategy, cutoff, supercell)
    t_all = time.perf_counter()
    rejected: list[tuple[str, str, str]] = []
    summary = []
    all_cached = True
    for s in _splits(dataset, split):
        t0 = time.perf_counter()
        # required=(): keep rows that lack some target, so this cache is the one every training
        # run uses whatever its target (each run drops the rows missing its own target).
        ld = load_split(dataset, s, limit=limit, path=path, use_cache=not rebuild, required=())
        t_load = time.perf_counter() - t0
        names = ld.target_names
        rejected += [(r.id, s, r.reason) for r in ld.rejected]

        def items(ld=ld, names=names):
            return [
                (r.id, r.structure, [r.targets.get(t, math.nan) for t in names]) for r in ld.records
            ]

        stats: dict = {}
        t1 = time.perf_counter()
        graphs, g_rej = load_or_build(
            f"{dataset}-{s}",
            ld.checksum,
            settings,
            items,
            n_jobs=n_jobs,
            progress=progress,
            rebuild=rebuild,
            stats=stats,
        )
        t_graph = time.perf_counter() - t1
        rejected += [(rid, s, reason) for rid, reason in g_rej]
        cached = bool(stats.get("cached"))
        all_cached &= cached
        iso = stats.get("n_isolated_structures")
        console.print(
            f"{dataset}/{s}: {len(graphs)} graphs, {len(ld.rejected)} data + {len(g_rej)} graph "
            f"rejections; records {t_load:.1f} s ({ld.info.get('records_cache', 'parsed')}), "
            f"graphs {t_graph:.1f} s ({'loaded from cache' if cached else 'built'}: "
            f"{stats.get('path', '')})"
            + (f"; isolated-atom fallback in {iso} structures" if iso is not None else "")
        )
        missing = {t: sum(1 for r in ld.records if not _finite(r.targets.get(t))) for t in names}
        missing = {t: n for t, n in missing.items() if n}
        if missing:
            console.print(
                "  kept, but missing a target (each training run drops its own): "
                + ", ".join(f"{t} {n}" for t, n in missing.items())
            )
        summary.append((s, len(graphs)))
    folder = out or (cache_dir() / f"{dataset}-{settings.key()}")
    _write_rejected(folder / "rejected.csv", rejected)
    total = time.perf_counter() - t_all
    parts = ", ".join(f"{s} {n}" for s, n in summary)
    console.print(
        f"[bold]{dataset}[/bold] ({settings.strategy}"
        + (f", {settings.cutoff} Å" if settings.strategy != "voronoi_radii" else "")
        + f"): {sum(n for _, n in summary)} graphs ({parts}), {len(rejected)} rejected "
        f"-> {folder / 'rejected.csv'}; "
        + ("all loaded from cache" if all_cached else "built and cached")
        + f" in {total:.1f} s"
    )


def download(
    dataset: str = typer.Argument("perov5", help="Only perov5 has a public URL."),
    dest: Path | None = typer.Option(None, help="Folder (default: user cache)."),  # noqa: B008
) -> None:
    """Download the official files (checksum-verified) into the user cache."""
    from ecn.data.download import download_perov5

    if dataset != "perov5":
        raise typer.BadParameter("only perov5 can be downloaded (CDVAE files on GitHub)")
    folder = download_perov5(dest)
    console.print(f"perov5 files in {folder}")


def register(data_app: typer.Typer) -> None:
    """Add the commands to `ecn data`."""
    data_app.command("info")(info)
    data_app.command("build")(build)
    data_app.command("download")(download)
