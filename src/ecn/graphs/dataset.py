"""Whole datasets -> graphs: the library functions behind ``ecn data build`` and ``ecn data info``.

They return report objects (what the CLI prints, what tests check); nothing here prints.
The graph settings are an argument: callers resolve them with
``ecn.nn.graph_settings.resolve_graph_settings`` (dataset defaults <- model <- overrides).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecn.data import LoadedSplit, get_spec, load_split
from ecn.data.info import element_histogram, size_histogram, target_stats
from ecn.data.validate import summarize_rejections
from ecn.graphs.cache import load_or_build
from ecn.graphs.neighbors import neighbor_list
from ecn.graphs.settings import GraphSettings
from ecn.io import atomic_write
from ecn.settings import cache_dir

__all__ = [
    "BuildReport",
    "InfoReport",
    "SplitBuild",
    "build_dataset",
    "dataset_info",
    "resolve_splits",
]


def resolve_splits(dataset: str, split: str) -> list[str]:
    """``split`` of `dataset` as a list; ``"all"`` = every split of the dataset."""
    spec = get_spec(dataset)
    if split == "all":
        return ["all"] if dataset == "cif" else list(spec.splits)
    if split not in spec.splits:
        raise ValueError(f"{dataset} has splits {spec.splits} (or 'all'), not {split!r}")
    return [split]


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


@dataclass
class SplitBuild:
    """What building one split did."""

    split: str
    n_graphs: int
    n_data_rejected: int
    n_graph_rejected: int
    records_source: str  # "cache" | "parsed"
    graphs_cached: bool  # loaded from the graph cache (else built now)
    cache_path: str
    n_isolated_structures: int | None
    missing_targets: dict[str, int]  # target -> rows kept without it
    seconds_records: float
    seconds_graphs: float


@dataclass
class BuildReport:
    """What ``build_dataset`` did, split by split, and where ``rejected.csv`` went."""

    dataset: str
    settings: GraphSettings
    splits: list[SplitBuild]
    rejected: list[tuple[str, str, str]]  # (id, split, reason)
    rejected_csv: Path
    seconds: float

    @property
    def n_graphs(self) -> int:
        return sum(s.n_graphs for s in self.splits)

    @property
    def all_cached(self) -> bool:
        return all(s.graphs_cached for s in self.splits)


def write_rejected(path: Path, rows: Sequence[tuple[str, str, str]]) -> None:
    """``rejected.csv``: one row (id, split, reason) per input not used."""
    with atomic_write(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "split", "reason"])
        w.writerows(rows)


def build_dataset(
    dataset: str,
    settings: GraphSettings,
    split: str = "all",
    path: str | None = None,
    limit: int | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    rebuild: bool = False,
    out: Path | None = None,
) -> BuildReport:
    """Build (or load) the graph cache of every split, the same cache training reads, and write
    ``rejected.csv`` (id, split, reason) to `out` (default: ``<cache dir>/<dataset>-<key>``).

    Records keep rows that lack some target (``required=()``), so one cache serves every
    target; each training run drops the rows missing its own target.
    """
    t_all = time.perf_counter()
    rejected: list[tuple[str, str, str]] = []
    done: list[SplitBuild] = []
    for s in resolve_splits(dataset, split):
        t0 = time.perf_counter()
        ld = load_split(dataset, s, limit=limit, path=path, use_cache=not rebuild, required=())
        t_load = time.perf_counter() - t0
        names = ld.target_names
        rejected += [(r.id, s, r.reason) for r in ld.rejected]

        def items(ld: LoadedSplit = ld, names: Sequence[str] = names) -> list[Any]:
            return [
                (r.id, r.structure, [r.targets.get(t, math.nan) for t in names]) for r in ld.records
            ]

        stats: dict[str, Any] = {}
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
        rejected += [(rid, s, reason) for rid, reason in g_rej]
        missing = {t: sum(1 for r in ld.records if not _finite(r.targets.get(t))) for t in names}
        done.append(
            SplitBuild(
                split=s,
                n_graphs=len(graphs),
                n_data_rejected=len(ld.rejected),
                n_graph_rejected=len(g_rej),
                records_source=str(ld.info.get("records_cache", "parsed")),
                graphs_cached=bool(stats.get("cached")),
                cache_path=str(stats.get("path", "")),
                n_isolated_structures=stats.get("n_isolated_structures"),
                missing_targets={t: n for t, n in missing.items() if n},
                seconds_records=t_load,
                seconds_graphs=time.perf_counter() - t1,
            )
        )
    folder = out or (cache_dir() / f"{dataset}-{settings.key()}")
    write_rejected(folder / "rejected.csv", rejected)
    return BuildReport(
        dataset, settings, done, rejected, folder / "rejected.csv", time.perf_counter() - t_all
    )


@dataclass
class SplitInfo:
    """Counts of one split for ``ecn data info``."""

    split: str
    n_records: int
    rejections: str  # summary, e.g. "2 rejected (1 x unparseable CIF, ...)"
    sizes: dict[int, int]  # atoms per cell -> structures
    n_isolated: int | None  # structures needing the isolated-atom fallback (None: not counted)
    targets: dict[str, dict[str, float]]  # target -> count/mean/std/min/max


@dataclass
class InfoReport:
    """What ``ecn data info`` shows: provenance, notes, counts, target statistics, elements."""

    dataset: str
    description: str
    source_note: str
    notes: str
    units: dict[str, str]
    tasks: dict[str, str]
    splits: list[SplitInfo]
    elements: list[tuple[str, int]]  # (element, structures containing it), most common first
    n_elements: int
    settings: GraphSettings | None
    training_source: str | None = None
    assembly: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _n_isolated(ld: LoadedSplit, settings: GraphSettings) -> int:
    n = 0
    for rec in ld.records:
        try:
            n += neighbor_list(rec.structure, settings).n_isolated > 0
        except ValueError:
            pass
    return n


def dataset_info(
    dataset: str,
    split: str = "all",
    path: str | None = None,
    limit: int | None = None,
    top: int = 15,
    settings: GraphSettings | None = None,
) -> InfoReport:
    """Counts per split, training source, target statistics and the element histogram; with
    `settings`, also how many structures need the isolated-atom fallback under them."""
    spec = get_spec(dataset)
    loaded = {
        s: load_split(dataset, s, limit=limit, path=path, required=())
        for s in resolve_splits(dataset, split)
    }
    first = next(iter(loaded.values()))
    names = list(first.target_names)
    splits = [
        SplitInfo(
            split=s,
            n_records=len(ld),
            rejections=summarize_rejections(ld.rejected),
            sizes=size_histogram(ld.records),
            n_isolated=None if settings is None else _n_isolated(ld, settings),
            targets=target_stats(ld.records, names),
        )
        for s, ld in loaded.items()
    ]
    records = [r for ld in loaded.values() for r in ld.records]
    return InfoReport(
        dataset=spec.name,
        description=spec.description,
        source_note=first.source_note,
        notes=spec.notes,
        units=dict(spec.units),
        tasks=dict(spec.tasks),
        splits=splits,
        elements=element_histogram(records, top),
        n_elements=len(element_histogram(records)),
        settings=settings,
        training_source=first.info.get("training_source"),
        assembly=first.info.get("assembly"),
        extra={"n_train_records": len(loaded["train"])} if "train" in loaded else {},
    )
