"""``ecn bench storage``: graph-cache bytes per structure, and one streaming training epoch over
a synthetic dataset `factor` times the Materials Project paper training split (issue 12, item 4).

The synthetic set is the real MP training records replicated with small random symmetric
strains (|eps_ij| <= `max_strain`): each copy keeps the unit-cell edges of its original and gets
its lattice and edge lengths recomputed from the stored fractional coordinates, so it costs no
neighbour search and has realistic sizes. It is written record by record with `StoreWriter`
(never in memory as a whole) and trained on through a memory-mapped `GraphStore` with DataLoader
workers that expand each batch. Memory is sampled from ``/proc`` (main process + workers):
``RssAnon`` is what the run needs; ``RssFile`` is mapped store pages, which the kernel drops
under pressure, so a store larger than RAM still streams.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecn.graphs import GraphStore
from ecn.graphs.cover import Expander, expand
from ecn.graphs.dataset import build_dataset
from ecn.graphs.store import StoreWriter
from ecn.nn import ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.settings import cache_dir, display_path
from ecn.train.module import adamw

__all__ = ["format_storage", "run_storage_bench", "strained_copies"]


def strained_copies(
    store: GraphStore, factor: int, folder: Path, seed: int = 0, max_strain: float = 0.01
) -> GraphStore:
    """`factor` strained copies of every record of `store`, streamed to a store at `folder`.

    Copy r of record u has lattice L (I + eps) (eps symmetric, uniform in +-max_strain) and
    edge lengths |(frac[src] + offset - frac[dst]) L (I + eps)|; copy 0 is strained too.
    """
    rng = np.random.default_rng(seed)
    writer = StoreWriter(folder, n_targets=store.y.shape[1])
    try:
        for r in range(factor):
            for u in store:
                eps = rng.uniform(-max_strain, max_strain, (3, 3))
                lat = u.lattice.astype(np.float64) @ (np.eye(3) + (eps + eps.T) / 2)
                vec = (u.frac[u.src] + u.offset - u.frac[u.dst]).astype(np.float64) @ lat
                writer.add(
                    replace(
                        u,
                        id=f"{u.id}~{r}",
                        lattice=lat.astype(np.float32),
                        dist=np.linalg.norm(vec, axis=1).astype(np.float32),
                    )
                )
    except BaseException:
        writer.abort()
        raise
    return writer.close({"synthetic": f"{factor} strained copies, seed {seed}"})


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def _rss_kb(pid: int) -> tuple[int, int]:
    """(RssAnon, RssFile) of `pid` in kB (0, 0 if gone)."""
    anon = file = 0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
                elif line.startswith("RssFile:"):
                    file = int(line.split()[1])
    except OSError:
        pass
    return anon, file


class MemorySampler(threading.Thread):
    """Peak of (sum over this process and its children) RssAnon and RssFile, every `period` s."""

    def __init__(self, period: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.peak_anon_kb = self.peak_file_kb = self.peak_total_kb = 0
        self.peak_procs = 0
        self._halt = threading.Event()

    def sample(self) -> None:
        pids = [os.getpid(), *_children(os.getpid())]
        rows = [_rss_kb(p) for p in pids]
        anon, file = sum(a for a, _ in rows), sum(f for _, f in rows)
        self.peak_anon_kb = max(self.peak_anon_kb, anon)
        self.peak_file_kb = max(self.peak_file_kb, file)
        self.peak_total_kb = max(self.peak_total_kb, anon + file)
        self.peak_procs = max(self.peak_procs, len(pids))

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            time.sleep(self.period)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()


def stream_epoch(
    store: GraphStore,
    settings: Any,
    model: str = "ecn",
    options: dict | None = None,
    batch_size: int = 64,
    num_workers: int = 2,
    max_batches: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """One shuffled training epoch (forward, backward, AdamW step) over a memory-mapped store."""
    from torch.utils.data import DataLoader, RandomSampler

    torch.manual_seed(seed)
    options = {"group": "slambda", "width": 16, "layers": 2} if options is None else options
    net = build_model(
        ModelConfig(model, settings.node_feature_dim, settings.n_gaussians, 1, options=options)
    )
    opt = adamw(net.parameters(), 1e-3, 1e-2)
    y = store.targets[:, 0]
    mean, std = float(np.nanmean(y)), float(np.nanstd(y)) or 1.0
    loader = DataLoader(
        store,  # type: ignore[arg-type]
        batch_size=batch_size,
        sampler=RandomSampler(store, generator=torch.Generator().manual_seed(seed)),  # type: ignore[arg-type]
        collate_fn=Expander(settings),
        num_workers=num_workers,
        persistent_workers=False,
    )
    mem = MemorySampler()
    mem.start()
    t0 = time.perf_counter()
    n_batches = n_graphs = 0
    loss_sum = 0.0
    try:
        for batch in loader:
            target = (batch.y[:, :1] - mean) / std
            ok = ~torch.isnan(target)
            out = net(batch)
            loss = torch.nn.functional.mse_loss(out[ok], target[ok])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach())
            n_batches += 1
            n_graphs += batch.num_graphs
            if max_batches is not None and n_batches >= max_batches:
                break
    finally:
        mem.stop()
    seconds = time.perf_counter() - t0
    return {
        "model": model,
        "options": options,
        "batch_size": batch_size,
        "num_workers": num_workers,
        "n_structures_seen": n_graphs,
        "n_batches": n_batches,
        "full_epoch": max_batches is None or n_graphs == len(store),
        "seconds": round(seconds, 1),
        "structures_per_s": round(n_graphs / seconds, 1),
        "mean_loss": loss_sum / max(1, n_batches),
        "peak_rss_anon_mb": round(mem.peak_anon_kb / 1024, 1),
        "peak_rss_file_mb": round(mem.peak_file_kb / 1024, 1),
        "peak_rss_total_mb": round(mem.peak_total_kb / 1024, 1),
        "processes": mem.peak_procs,
    }


def expanded_bytes_per_structure(store: GraphStore, settings: Any, n: int = 256) -> float:
    """Bytes per structure of the expanded graphs (what a cache of expanded graphs would hold):
    sum of the tensor sizes of the first `n` records expanded one by one."""
    total = 0
    k = min(n, len(store))
    for i in range(k):
        g = expand([store[i]], settings)
        total += sum(v.nbytes for v in vars(g).values() if isinstance(v, torch.Tensor))
    return total / max(1, k)


def run_storage_bench(
    factor: int = 10,
    model: str = "ecn",
    batch_size: int = 64,
    num_workers: int = 2,
    max_batches: int | None = None,
    threads: int = 1,
    work_dir: Path | None = None,
    keep: bool = False,
    mp_limit: int | None = None,
) -> dict[str, Any]:
    """Bytes per structure (Perov-5 and MP train, ECN's default graphs; Perov-5 also on the 5 Å
    graph) and the streaming epoch over `factor` x the MP paper training split."""
    torch.set_num_threads(threads)
    load = os.getloadavg()
    result: dict[str, Any] = {
        "what": "compact graph storage (issue 12 item 4)",
        "threads": threads,
        "load_before": [round(x, 2) for x in load],
        "cache_bytes_per_structure": {},
        "expanded_bytes_per_structure": {},
    }
    for label, dataset, split, strategy in (
        ("perov5", "perov5", "train", None),
        ("perov5:cutoff5", "perov5", "train", "cutoff"),
        ("mp", "mp", "train", None),
    ):
        settings = resolve_graph_settings(model, dataset, {"strategy": strategy})
        rep = build_dataset(
            dataset,
            settings,
            split=split,
            limit=mp_limit if dataset == "mp" else None,
            progress=False,
        )
        store = GraphStore.open(rep.splits[0].cache_path)
        result["cache_bytes_per_structure"][label] = round(store.nbytes() / len(store))
        result["expanded_bytes_per_structure"][label] = round(
            expanded_bytes_per_structure(store, settings)
        )
        if label == "mp":
            mp_store, mp_settings = store, settings
            result["mp_train_structures"] = len(store)
    folder = (work_dir or cache_dir()) / f"bench-stream-x{factor}"
    if folder.exists():
        shutil.rmtree(folder)
    t0 = time.perf_counter()
    big = strained_copies(mp_store, factor, folder)
    disk = sum(p.stat().st_size for p in folder.iterdir())
    result["synthetic"] = {
        "factor": factor,
        "n_structures": len(big),
        "store_bytes_on_disk": disk,
        "store_folder": display_path(folder),
        "write_seconds": round(time.perf_counter() - t0, 1),
        "expanded_equivalent_gb": round(
            result["expanded_bytes_per_structure"]["mp"] * len(big) / 1e9, 2
        ),
    }
    result["stream_epoch"] = stream_epoch(
        big, mp_settings, model, None, batch_size, num_workers, max_batches
    )
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def format_storage(r: dict[str, Any]) -> str:
    """Human-readable summary."""
    lines = ["bytes per structure (compact cache / expanded graph):"]
    for k, v in r["cache_bytes_per_structure"].items():
        lines.append(f"  {k}: {v} / {r['expanded_bytes_per_structure'][k]}")
    s, e = r["synthetic"], r["stream_epoch"]
    lines.append(
        f"synthetic {s['factor']}x MP train: {s['n_structures']} structures, "
        f"{s['store_bytes_on_disk'] / 1e9:.2f} GB on disk "
        f"(expanded graphs would be {s['expanded_equivalent_gb']} GB)"
    )
    lines.append(
        f"epoch ({e['n_structures_seen']} structures, {e['n_batches']} batches, "
        f"{e['num_workers']} workers): {e['seconds']} s; peak RSS anon {e['peak_rss_anon_mb']} MB, "
        f"file-backed {e['peak_rss_file_mb']} MB, {e['processes']} processes"
    )
    return "\n".join(lines)
