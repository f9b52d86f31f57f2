"""Training data: dataset splits -> crystal graphs -> DataLoaders.

Kept apart from the model (schnetpack/nequip style): this module knows about ``ecn.data`` and
``ecn.graphs``, the LightningModule only sees batches of ``CrystalGraph``.

Distributed runs: the train split is sharded with ``DistributedSampler`` (which pads the last
shard with repeated samples - harmless for training). Validation and test are sharded WITHOUT
padding (:class:`UnpaddedShardSampler`) and the module all-reduces error *sums*, so a metric
logged under DDP equals the single-process metric over the whole split. Lightning's own sampler
injection is therefore switched off (``use_distributed_sampler=False``).

Per-site (node-level) targets: none of the shipped datasets has one. Perov-5 and the CGCNN-style
MP folder carry only per-structure properties (formation energy, band gaps, Fermi level, volume,
total magnetisation per cell); per-site magnetic moments or charges would need the full DFT
outputs, which are not in /work/shared/data. ``NODE_TARGETS`` therefore only holds a synthetic
target computed from Z, used to test node-level *mechanics* (no pooling, per-node loss).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from ecn.data import LoadedSplit, get_spec, load_split
from ecn.data.checksums import combine
from ecn.data.cif_folder import resolve_targets
from ecn.elements import GROUP
from ecn.graphs import GraphSettings, GraphStore, build_units, expand, load_or_build
from ecn.graphs.cover import Expander, UnitBatch
from ecn.graphs.graph import CrystalGraph
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.nn.inputs import with_model_inputs
from ecn.train.config import TrainConfig

logger = logging.getLogger(__name__)

__all__ = [
    "NODE_TARGETS",
    "CrystalDataModule",
    "PreparedData",
    "UnpaddedShardSampler",
    "build_split_graphs",
    "graph_settings_for",
    "prepare_data",
    "target_info",
]


def _synthetic_group(graph: CrystalGraph) -> torch.Tensor:
    """(N, 1) periodic-table group of each node's element (MECHANICS TEST ONLY, not physics)."""
    return torch.as_tensor(GROUP[graph.z.cpu().numpy()], dtype=torch.float32).view(-1, 1)


NODE_TARGETS: dict[str, Callable[[CrystalGraph], torch.Tensor]] = {
    "synthetic_group": _synthetic_group,
}


class UnpaddedShardSampler(Sampler[int]):
    """Rank ``r`` of ``w`` gets indices ``r, r+w, r+2w, ...`` - no padding, no duplicates.

    Why: ``DistributedSampler`` pads the last shard by repeating samples, which biases a validation
    metric; sums over these shards add up to exactly the full-split sums.
    """

    def __init__(self, n: int, num_replicas: int, rank: int) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside 0..{num_replicas - 1}")
        self.n, self.num_replicas, self.rank = n, num_replicas, rank

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.num_replicas))


@dataclass
class PreparedData:
    """The stored records of every split plus what the results file reports about them.

    ``graphs[split]`` is a `GraphStore` (memory-mapped when it comes from the cache); batches
    are expanded from it by ``ecn.graphs.cover.expand`` with ``settings``.
    """

    graphs: dict[str, GraphStore]
    targets: list[str]
    task: str  # "regression" | "classification"
    units: list[str]
    settings: GraphSettings
    target_mean: torch.Tensor  # (T,) train mean (0 for classification)
    target_std: torch.Tensor  # (T,) train std (1 for classification)
    source_note: str = ""
    checksums: dict[str, str] = field(default_factory=dict)
    n_records: dict[str, int] = field(default_factory=dict)
    n_rejected: dict[str, int] = field(default_factory=dict)
    n_dropped_nan: dict[str, int] = field(default_factory=dict)
    #: (id, split, reason) of every input not used (``rejected.csv`` in the run folder)
    rejected: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def in_dim(self) -> int:
        return self.settings.node_feature_dim

    @property
    def edge_dim(self) -> int:
        return self.settings.n_gaussians


# --- targets and graph settings ------------------------------------------------------------------


def target_info(dataset: str, targets: Sequence[str]) -> tuple[str, list[str]]:
    """(task, units) of the selected targets; mixing regression and classification is refused."""
    spec = get_spec(dataset)
    if dataset == "cif":  # a user's folder: the columns are its own, units unknown
        return "regression", [""] * len(targets)
    chosen = [spec.target(t) for t in targets]  # ValueError naming the dataset's targets
    tasks = {t.task for t in chosen}
    if len(tasks) != 1:
        raise ValueError(
            "cannot mix regression and classification targets: "
            + str({t.name: t.task for t in chosen})
        )
    task = tasks.pop()
    if task == "classification" and len(chosen) != 1:
        raise ValueError("classification supports exactly one (binary) target")
    return task, [t.unit for t in chosen]


def graph_settings_for(cfg: TrainConfig) -> GraphSettings:
    """``resolve_graph_settings`` for this run: dataset defaults <- model <- ``cfg.graph``."""
    return resolve_graph_settings(cfg.model.name, cfg.data.dataset, cfg.graph, cfg.model.options)


# --- building ------------------------------------------------------------------------------------


def build_split_graphs(
    cfg: TrainConfig, split: str, settings: GraphSettings, progress: bool = False
) -> tuple[GraphStore, LoadedSplit, list[tuple[str, str]]]:
    """Load one split and build (or load) its records. Returns (store, LoadedSplit,
    [(id, reason)] of the rows not used: unreadable, invalid, or graph building failed).

    ``split`` is one of train/val/test (mapped through ``cfg.data.*_split``).
    """
    name = {"train": cfg.data.train_split, "val": cfg.data.val_split, "test": cfg.data.test_split}[
        split
    ]
    # required=(): rows with a NaN target come back as records, so they are dropped (and counted)
    # here, for the targets actually selected, rather than rejected for the dataset's default one.
    targets = list(cfg.data.targets)
    loaded = load_split(
        cfg.data.dataset,
        name,
        limit=cfg.data.limit_for(split),
        path=cfg.data.path,
        # a user's folder is read for the selected targets, so a row whose selected target is
        # not a number is rejected with its value (ecn.data.cif_folder); the shared datasets
        # keep every row (one cached build for all their targets)
        required=tuple(targets) if cfg.data.dataset == "cif" else (),
        use_cache=cfg.data.cache,
    )
    if not loaded.records:  # say why before building nothing
        rej = [(r.id, split, r.reason) for r in loaded.rejected]
        raise ValueError(_no_usable(split, len(rej), rej))
    # Graphs carry every target the dataset has, so one cached build (the same one that
    # `ecn data build` writes) serves every target; the selected columns are taken afterwards.
    names = list(loaded.target_names)
    extra = [t for t in targets if t not in names]
    names += extra

    def items() -> list[tuple[str, Any, np.ndarray]]:
        return [
            (r.id, r.structure, np.array([r.targets.get(t, math.nan) for t in names]))
            for r in loaded.records
        ]

    if cfg.data.cache:
        # targets outside the dataset's own list change y's columns, so they join the key
        key = combine([loaded.checksum, "extra=" + ",".join(extra)]) if extra else loaded.checksum
        graphs, rejected = load_or_build(
            f"{cfg.data.dataset}-{name}",
            key,
            settings,
            items,
            n_jobs=cfg.data.n_jobs,
            progress=progress,
            n_targets=len(names),
        )
    else:
        units, rejected = build_units(items(), settings, n_jobs=cfg.data.n_jobs, progress=progress)
        graphs = GraphStore.from_units(units)
    graphs = graphs.with_y(graphs.targets[:, [names.index(t) for t in targets]])
    reasons = [(r.id, r.reason) for r in loaded.rejected] + list(rejected)
    if reasons:
        logger.info("%s: %d structure(s) rejected (see rejected.csv)", split, len(reasons))
    return graphs, loaded, reasons


def drop_nan_targets(graphs: GraphStore) -> tuple[GraphStore, list[str]]:
    """Drop records whose selected target(s) contain NaN; returns (kept, ids dropped)."""
    nan = np.isnan(graphs.targets).any(axis=1)
    ids = graphs.view_ids
    return graphs.subset(np.flatnonzero(~nan)), [ids[k] for k in np.flatnonzero(nan)]


def train_subset(
    graphs: GraphStore, fraction: float | None, seed: int, size: int | None = None
) -> GraphStore:
    """The first ``round(fraction * n)`` (or `size`) of a seeded permutation (kept in store
    order), so subsets are nested: the 25 % subset lies inside the 50 % one, 100 inside 300."""
    n = len(graphs)
    k = min(n, size) if size is not None else max(1, round((fraction or 1.0) * n))
    keep = np.sort(np.random.default_rng(seed).permutation(n)[:k])
    return graphs.subset(keep)


def prepare_data(
    cfg: TrainConfig, splits: Sequence[str] = ("train", "val", "test"), progress: bool = False
) -> PreparedData:
    """Load, graph, clean and standardise every requested split (train first: it sets the stats)."""
    if cfg.data.dataset == "cif":
        cfg.data.targets = resolve_targets(cfg.data.path or "", cfg.data.targets)
    task, units = target_info(cfg.data.dataset, cfg.data.targets)
    settings = graph_settings_for(cfg)
    out = PreparedData(
        graphs={},
        targets=list(cfg.data.targets),
        task=task,
        units=units,
        settings=settings,
        target_mean=torch.zeros(len(cfg.data.targets)),
        target_std=torch.ones(len(cfg.data.targets)),
    )
    for split in splits:
        graphs, loaded, reasons = build_split_graphs(cfg, split, settings, progress=progress)
        graphs, nan_ids = drop_nan_targets(graphs)
        n_rej, n_nan = len(reasons), len(nan_ids)
        if n_nan:
            logger.warning(
                "%s: dropped %d structure(s) with NaN target %s (ids in rejected.csv)",
                split,
                n_nan,
                cfg.data.targets,
            )
        why_nan = f"target {'/'.join(cfg.data.targets)} is missing or NaN"
        out.rejected += [(i, split, r) for i, r in reasons] + [(i, split, why_nan) for i in nan_ids]
        if split == "train" and (cfg.data.train_fraction or cfg.data.train_size) is not None:
            graphs = train_subset(
                graphs, cfg.data.train_fraction, cfg.data.subset_seed, cfg.data.train_size
            )
        graphs = with_model_inputs(graphs, cfg.model.options)
        if not graphs:
            raise ValueError(_no_usable(split, len(loaded.records) + n_rej, out.rejected))
        out.graphs[split] = graphs
        out.n_records[split] = len(graphs)
        out.n_rejected[split] = n_rej
        out.n_dropped_nan[split] = n_nan
        out.checksums[split] = loaded.checksum
        out.source_note = loaded.source_note or out.source_note
    if "train" in out.graphs:
        out.target_mean, out.target_std = target_stats(
            out.graphs["train"], task, cfg.data.node_target, settings
        )
    return out


def _no_usable(split: str, n_rows: int, rejected: list[tuple[str, str, str]]) -> str:
    """Why split `split` ended empty: the commonest reasons, with an example id each."""
    mine = [(i, r) for i, s, r in rejected if s == split]
    if not mine:
        return f"split '{split}' has no usable structures ({n_rows} rows)"
    counts: dict[str, list[str]] = {}
    for i, r in mine:
        counts.setdefault(r, []).append(i)
    top = sorted(counts.items(), key=lambda kv: -len(kv[1]))[:3]
    why = "; ".join(f"{len(ids)} x {r} (e.g. {ids[0]!r})" for r, ids in top)
    return f"split '{split}' has no usable structures: {len(mine)} of {n_rows} rows rejected: {why}"


def node_target_values(
    graphs: GraphStore, node_target: str, settings: GraphSettings
) -> torch.Tensor:
    """(N_total, 1) per-node target of every expanded graph of `graphs`, in batch order."""
    fn = NODE_TARGETS[node_target]
    return torch.cat([fn(expand([u], settings)) for u in graphs])


def target_stats(
    graphs: GraphStore,
    task: str,
    node_target: str | None = None,
    settings: GraphSettings | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean/std per target on the TRAIN split (std floored so constant targets stay finite)."""
    if node_target is not None:
        y = node_target_values(graphs, node_target, settings or GraphSettings())
    else:
        y = torch.from_numpy(np.ascontiguousarray(graphs.targets)).float()
    if task == "classification":
        return torch.zeros(y.shape[1]), torch.ones(y.shape[1])
    mean = y.mean(0)
    std = y.std(0, unbiased=False) if y.shape[0] > 1 else torch.ones(y.shape[1])
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    return mean, std


# --- Lightning data module -----------------------------------------------------------------------


def make_loader(
    graphs: GraphStore,
    settings: GraphSettings,
    batch_size: int,
    num_workers: int = 0,
    sampler: Sampler | None = None,
    expand_on_device: bool = False,
) -> DataLoader:
    """Deterministic DataLoader over stored records (order = sampler order, else store order).

    Each batch is expanded (cover, features) by the collate function, in the worker; with
    `expand_on_device` the loader yields compact `UnitBatch`es instead, which
    ``TrainingModule.on_after_batch_transfer`` expands on the training device.
    """
    return DataLoader(
        graphs,  # type: ignore[arg-type]  # a Sequence: __len__ + __getitem__
        batch_size=batch_size,
        shuffle=False,
        sampler=sampler,
        collate_fn=UnitBatch.collate if expand_on_device else Expander(settings),
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


class CrystalDataModule(pl.LightningDataModule):
    """LightningDataModule over a :class:`PreparedData` (graphs already built).

    Why build outside ``setup``: the run needs in/out dims and the train statistics before the
    model exists, and the same graphs serve the final rank-0 evaluation.
    """

    def __init__(
        self,
        data: PreparedData,
        batch_size: int,
        eval_batch_size: int,
        seed: int,
        num_workers: int = 0,
        expand_on_device: bool = False,
    ) -> None:
        super().__init__()
        self.data = data
        self.expand_on_device = expand_on_device
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.num_workers = num_workers

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def train_dataloader(self) -> DataLoader:
        world, rank = self._world()
        # DistributedSampler even for one process: its permutation depends only on (seed, epoch),
        # and Lightning calls set_epoch, so a resumed run shuffles like an uninterrupted one.
        sampler = DistributedSampler(
            self.data.graphs["train"],  # type: ignore[arg-type]
            num_replicas=world,
            rank=rank,
            shuffle=True,
            seed=self.seed,
        )
        return make_loader(
            self.data.graphs["train"],
            self.data.settings,
            self.batch_size,
            self.num_workers,
            sampler,
            self.expand_on_device,
        )

    def _eval_loader(self, split: str) -> DataLoader:
        world, rank = self._world()
        graphs = self.data.graphs[split]
        sampler = UnpaddedShardSampler(len(graphs), world, rank) if world > 1 else None
        return make_loader(
            graphs,
            self.data.settings,
            self.eval_batch_size,
            self.num_workers,
            sampler,
            self.expand_on_device,
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
