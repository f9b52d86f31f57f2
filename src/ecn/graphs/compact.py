"""Compact graph records and their vectorised expansion (issue 12, item 4).

What is stored per crystal is only its unit-cell graph, a `UnitGraph`: atomic numbers,
fractional coordinates, the unit edges (source, target, small-int image offset, float32
distance), the lattice, the targets and the +U flag - about 0.5-5 KB, where the expanded graph
(8-fold cover, one-hot nodes, Gaussian edges) is 10-100x that. `expand` builds what the models
read - the periodic cover (DESIGN.md), node features and the Gaussian edge expansion - for a
whole batch at once, with tensor ops on any device, so it runs per batch in the DataLoader (or
on the training device) instead of being stored.

`GraphStore` keeps many records as flat column arrays in CSR layout (per-node, per-edge and
per-crystal columns plus two pointer arrays). On disk each column is a raw file opened with
``np.memmap``, so a dataset larger than RAM trains: a batch touches only its own rows and the OS
pages them in (DataLoader workers share the mapping). `StoreWriter` appends records one by one,
so building never holds the dataset in memory either.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ecn.elements import CGCNN_DIM, GROUP, MAX_Z, N_GROUPS, PERIOD, cgcnn_feature_table
from ecn.graphs.graph import CELL_BITS, CrystalGraph, tensors_to
from ecn.graphs.neighbors import edge_cutoffs
from ecn.graphs.settings import GraphSettings

__all__ = [
    "GraphStore",
    "StoreWriter",
    "UnitBatch",
    "UnitGraph",
    "expand",
    "gaussian_features",
    "node_features",
]

#: Store format version (``meta.json``); bump when a column changes meaning or dtype.
STORE_FORMAT = 1

#: Column name -> (dtype, trailing shape, kind): kind "node" / "edge" rows are addressed by the
#: pointer arrays, "graph" rows are one per crystal.
COLUMNS: dict[str, tuple[str, tuple[int, ...], str]] = {
    "z": ("uint8", (), "node"),
    "frac": ("float32", (3,), "node"),
    "src": ("int32", (), "edge"),
    "dst": ("int32", (), "edge"),
    "offset": ("int8", (3,), "edge"),
    "dist": ("float32", (), "edge"),
    "lattice": ("float32", (3, 3), "graph"),
    "hubbard": ("bool", (), "graph"),
}


@dataclass(frozen=True)
class UnitGraph:
    """The stored record of one crystal: its unit-cell graph (canonical description).

    Attributes:
        id: material id.
        z: (n,) uint8 atomic numbers.
        frac: (n, 3) float32 fractional coordinates.
        src, dst: (E,) int32 unit-cell atom indices; messages flow src -> dst.
        offset: (E, 3) int8 image offset of the source (unit-cell lattice basis).
        dist: (E,) float32 edge lengths in Å.
        lattice: (3, 3) float32, rows are lattice vectors (Å).
        y: (T,) float32 targets (NaN where unknown).
        hubbard: the structure-level +U flag (paper §8).
        orbit_map: (8,) G_Lambda orbit of each P-1 cell colour, or None (``glambda`` only).
    """

    id: str
    z: np.ndarray
    frac: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    offset: np.ndarray
    dist: np.ndarray
    lattice: np.ndarray
    y: np.ndarray
    hubbard: bool = False
    orbit_map: np.ndarray | None = None

    @property
    def n_atoms(self) -> int:
        return int(self.z.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.src.shape[0])

    @staticmethod
    def make(
        id: str,
        z: Any,
        frac: Any,
        src: Any,
        dst: Any,
        offset: Any,
        dist: Any,
        lattice: Any,
        y: Any = None,
        hubbard: bool = False,
    ) -> UnitGraph:
        """Cast to the stored dtypes (ValueError if an offset or Z does not fit)."""
        off = np.asarray(offset).reshape(-1, 3)
        if off.size and np.abs(off).max() > 127:
            raise ValueError(f"image offset {int(np.abs(off).max())} does not fit the store")
        zz = np.asarray(z).reshape(-1)
        if zz.size and (zz.min() < 1 or zz.max() > MAX_Z):
            raise ValueError(f"atomic numbers must be 1..{MAX_Z}")
        return UnitGraph(
            id=str(id),
            z=zz.astype(np.uint8),
            frac=np.asarray(frac, dtype=np.float32).reshape(-1, 3),
            src=np.asarray(src).astype(np.int32).reshape(-1),
            dst=np.asarray(dst).astype(np.int32).reshape(-1),
            offset=off.astype(np.int8),
            dist=np.asarray(dist, dtype=np.float32).reshape(-1),
            lattice=np.asarray(lattice, dtype=np.float32).reshape(3, 3),
            y=np.zeros(0, np.float32) if y is None else np.asarray(y, np.float32).reshape(-1),
            hubbard=bool(hubbard),
        )


# --- expansion -----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _tables(device: str) -> dict[str, Tensor]:
    dev = torch.device(device)
    return {
        "bits": torch.tensor(CELL_BITS.copy(), device=dev),
        "group": torch.as_tensor(GROUP, device=dev),
        "period": torch.as_tensor(PERIOD, device=dev),
        "cgcnn": torch.tensor(cgcnn_feature_table(), dtype=torch.float32, device=dev),
    }


#: Gaussian features exp(a) with exponent a at or below this are exactly 0 (they are < 2e-35).
#: Why: far from its centre a narrow Gaussian underflows into subnormal floats, and subnormal
#: operands make CPU matmuls many times slower (CGCNN's 41 Gaussians of width 0.2 Å on MP: its
#: weight-gradient matmuls ran 10-20x slower, a whole training step 3x; benchmarks/denormals.py).
GAUSSIAN_MIN_EXPONENT = -80.0


def gaussian_basis(dist: Tensor, centers: Tensor, width: float) -> Tensor:
    """exp(-(d - mu_k)^2 / w^2) for every distance and centre, exactly 0 far from a centre
    (:data:`GAUSSIAN_MIN_EXPONENT`): (E,), (K,) -> (E, K). The one Gaussian expansion of ecn."""
    arg = -((dist[:, None] - centers[None, :]) ** 2) / width**2
    return torch.where(arg > GAUSSIAN_MIN_EXPONENT, torch.exp(arg), 0.0)


def gaussian_features(dist: Tensor, settings: GraphSettings) -> Tensor:
    """exp(-(d - mu_k)^2 / w^2), K centres evenly spaced on [0, gaussian_max]: (E,) -> (E, K)."""
    mu = torch.linspace(
        0.0, settings.gaussian_max, settings.n_gaussians, device=dist.device, dtype=torch.float64
    ).to(dist.dtype)
    return gaussian_basis(dist, mu, settings.gaussian_width)


def node_features(z: Tensor, cell: Tensor, settings: GraphSettings, hubbard: Tensor) -> Tensor:
    """Node features [atom encoding, +U flag?, onehot(cell)?]: (N, settings.node_feature_dim).

    Args:
        z: (N,) long atomic numbers 1..MAX_Z.
        cell: (N,) long cell index a in 0..7.
        hubbard: (N,) bool, the structure-level +U flag of each node's crystal.
    """
    t = _tables(str(z.device))
    n = z.shape[0]
    x = torch.zeros(n, settings.node_feature_dim, dtype=torch.float32, device=z.device)
    rows = torch.arange(n, device=z.device)
    if settings.node_features == "onehot_z":
        x[rows, z - 1] = 1.0
        col = MAX_Z
    elif settings.node_features == "cgcnn92":
        x[:, :CGCNN_DIM] = t["cgcnn"][z]
        col = CGCNN_DIM
    else:
        x[rows, t["group"][z] - 1] = 1.0
        x[rows, N_GROUPS + t["period"][z] - 1] = 1.0
        col = N_GROUPS + 7
    if settings.hubbard_u:
        x[:, col] = hubbard.to(x.dtype)
        col += 1
    if settings.cell_onehot:
        x[rows, col + cell] = 1.0
    return x


def cover_index(
    n: Tensor, e: Tensor, src: Tensor, dst: Tensor, offset: Tensor, supercell: bool
) -> dict[str, Tensor]:
    """Node and edge indexing of a batch of unit-cell graphs, or of their 8-fold covers.

    Order (what every model and test relies on): graph by graph; inside a graph node
    k = a * n_atoms + i and cover edges cell-major, (a, unit edge). Unit edge i <- j with image
    offset o becomes, for each cell a in {0,1}^3, (a, i) <- ((a + o) mod 2, j) (DESIGN.md).

    Args:
        n, e: (G,) long atoms and unit edges per graph.
        src, dst: (sum e,) long unit-cell atom indices (local to their graph).
        offset: (sum e, 3) long image offsets.

    Returns:
        dict with ``node_graph``, ``cell``, ``atom``, ``unit_node`` (index into the concatenated
        per-atom arrays) of shape (N,), and ``edge_graph``, ``unit_edge``, ``src``, ``dst`` of
        shape (E_out,) (src/dst are batch node indices).
    """
    dev = n.device
    g = torch.arange(n.shape[0], device=dev)
    node_ptr = torch.cumsum(n, 0) - n
    edge_ptr = torch.cumsum(e, 0) - e
    m = 8 if supercell else 1
    nn_ = m * n
    node_graph = torch.repeat_interleave(g, nn_)
    local = torch.arange(node_graph.shape[0], device=dev) - (m * node_ptr)[node_graph]
    n_rep = n[node_graph]
    cell, atom = local // n_rep, local % n_rep
    edge_graph = torch.repeat_interleave(g, m * e)
    le = torch.arange(edge_graph.shape[0], device=dev) - (m * edge_ptr)[edge_graph]
    e_rep = e[edge_graph]
    a, unit_edge = le // e_rep, edge_ptr[edge_graph] + le % e_rep
    base, ng = (m * node_ptr)[edge_graph], n[edge_graph]
    if supercell:
        bits = (_tables(str(dev))["bits"][a] + offset[unit_edge]) % 2
        b = 4 * bits[:, 0] + 2 * bits[:, 1] + bits[:, 2]
    else:
        b = a  # all zero
    return {
        "node_graph": node_graph,
        "cell": cell,
        "atom": atom,
        "unit_node": node_ptr[node_graph] + atom,
        "edge_graph": edge_graph,
        "unit_edge": unit_edge,
        "src": base + b * ng + src[unit_edge],
        "dst": base + a * ng + dst[unit_edge],
    }


@dataclass
class UnitBatch:
    """A batch of stored records as concatenated tensors, before expansion.

    What a DataLoader hands over when the expansion runs on the training device
    (``run.expand_on: device``): 10-100x fewer bytes to move than the expanded graph. Lightning
    moves it like any dataclass of tensors; `expand` then builds the `CrystalGraph` where the
    tensors are.

    Attributes:
        n, e: (G,) long atoms and unit edges per crystal.
        z: (sum n,) long; src, dst: (sum e,) long local atom indices; offset: (sum e, 3) long;
        dist: (sum e,) float32; lattice: (G, 3, 3) float32; y: (G, T) float32;
        hubbard: (G,) bool; orbit_map: (G, 8) long or None; ids: material ids;
        frac: (sum n, 3) float32 fractional coordinates, or None (no ``edge_vec`` then).
    """

    n: Tensor
    e: Tensor
    z: Tensor
    src: Tensor
    dst: Tensor
    offset: Tensor
    dist: Tensor
    lattice: Tensor
    y: Tensor
    hubbard: Tensor
    orbit_map: Tensor | None = None
    ids: list[str] = field(default_factory=list)
    frac: Tensor | None = None

    @classmethod
    def collate(cls, units: Sequence[UnitGraph]) -> UnitBatch:
        """Concatenate records (CPU tensors); the DataLoader ``collate_fn`` of device mode."""
        if len(units) == 0:
            raise ValueError("cannot expand an empty list of graphs")

        def cat(name: str, dtype: torch.dtype) -> Tensor:
            arr = np.concatenate([np.asarray(getattr(u, name)) for u in units])
            return torch.from_numpy(arr).to(dtype=dtype)

        maps = [u.orbit_map for u in units]
        return cls(
            n=torch.tensor([u.n_atoms for u in units], dtype=torch.long),
            e=torch.tensor([u.num_edges for u in units], dtype=torch.long),
            z=cat("z", torch.long),
            src=cat("src", torch.long),
            dst=cat("dst", torch.long),
            offset=cat("offset", torch.long).reshape(-1, 3),
            dist=cat("dist", torch.float32),
            lattice=torch.from_numpy(np.stack([u.lattice for u in units])).float(),
            y=torch.from_numpy(
                np.stack([np.asarray(u.y, dtype=np.float32).reshape(-1) for u in units])
            ),
            hubbard=torch.tensor([u.hubbard for u in units], dtype=torch.bool),
            orbit_map=None
            if any(m is None for m in maps)
            else torch.as_tensor(np.stack(maps), dtype=torch.long),  # type: ignore[arg-type]
            ids=[u.id for u in units],
            frac=cat("frac", torch.float32).reshape(-1, 3),
        )

    def to(self, device: str | torch.device) -> UnitBatch:
        """Move every tensor to `device` (ids are kept)."""
        return tensors_to(self, device)

    def edge_vectors(self) -> Tensor:
        """(sum e, 3) Cartesian vector of each unit edge from its target to its source's
        image, ``(frac[src] + offset - frac[dst]) @ lattice`` in Å (computed in float64,
        returned in the dtype of `frac` and `lattice`: float32 like the distances when read
        from a store, float64 when a caller made them float64; needs `frac`)."""
        if self.frac is None:
            raise ValueError("this batch has no fractional coordinates")
        g = torch.repeat_interleave(torch.arange(self.n.shape[0], device=self.n.device), self.e)
        start = (torch.cumsum(self.n, 0) - self.n)[g]
        frac = self.frac.double()
        rel = frac[start + self.src] + self.offset.double() - frac[start + self.dst]
        out = torch.bmm(rel[:, None, :], self.lattice.double()[g])[:, 0]
        return out.to(torch.promote_types(self.frac.dtype, self.lattice.dtype))

    def expand(self, settings: GraphSettings) -> CrystalGraph:
        """The `CrystalGraph` batch the models read, on this batch's device."""
        ix = cover_index(self.n, self.e, self.src, self.dst, self.offset, settings.supercell)
        vec = None if self.frac is None else self.edge_vectors()[ix["unit_edge"]]
        z = self.z[ix["unit_node"]]
        d = self.dist[ix["unit_edge"]]
        return CrystalGraph(
            x=node_features(z, ix["cell"], settings, self.hubbard[ix["node_graph"]]),
            z=z,
            cell=ix["cell"],
            atom=ix["atom"],
            edge_index=torch.stack([ix["src"], ix["dst"]]),
            edge_dist=d,
            edge_offset=self.offset[ix["unit_edge"]],
            edge_attr=gaussian_features(d, settings),
            lattice=self.lattice,
            n_atoms=self.n,
            y=self.y,
            batch=ix["node_graph"],
            edge_batch=ix["edge_graph"],
            cell_orbit_map=self.orbit_map,
            edge_vec=vec,
            edge_cutoff=edge_cutoffs(z[ix["src"]], z[ix["dst"]], settings, d.dtype),
            ids=list(self.ids),
            supercell=settings.supercell,
        )


def expand(
    units: Sequence[UnitGraph], settings: GraphSettings, device: str | torch.device | None = None
) -> CrystalGraph:
    """A batch of stored records -> the `CrystalGraph` batch the models read.

    Vectorised over the whole batch (no per-crystal Python loop beyond concatenation), on
    `device` (default CPU): the cover (``settings.supercell``), node features and Gaussian edge
    features are computed here, never stored. ``UnitBatch.collate(units).to(device).expand()``.
    """
    batch = UnitBatch.collate(units)
    return (batch if device is None else batch.to(device)).expand(settings)


@dataclass(frozen=True)
class Expander:
    """``collate_fn`` for a DataLoader over a `GraphStore` (a picklable callable for workers)."""

    settings: GraphSettings

    def __call__(self, units: Sequence[UnitGraph]) -> CrystalGraph:
        return expand(units, self.settings)


# --- the store -----------------------------------------------------------------------------------


class GraphStore(Sequence[UnitGraph]):
    """Many `UnitGraph` records as column arrays (in RAM or memory-mapped from a folder).

    Per-crystal columns that training changes (targets ``y``, orbit maps, the row selection
    ``index``) live in RAM and are replaced by `with_y` / `with_orbit_maps` / `subset`, which
    return new stores sharing the (possibly mapped) node and edge columns.
    """

    def __init__(
        self,
        columns: dict[str, np.ndarray],
        node_ptr: np.ndarray,
        edge_ptr: np.ndarray,
        ids: Sequence[str],
        y: np.ndarray,
        *,
        index: np.ndarray | None = None,
        orbit_map: np.ndarray | None = None,
        folder: Path | None = None,
    ) -> None:
        self.columns = columns
        self.node_ptr = np.asarray(node_ptr, dtype=np.int64)
        self.edge_ptr = np.asarray(edge_ptr, dtype=np.int64)
        self.ids = list(ids)
        self.y = np.asarray(y, dtype=np.float32).reshape(len(self.ids), -1)
        self.index = np.arange(len(self.ids)) if index is None else np.asarray(index, np.int64)
        self.orbit_map = orbit_map
        self.folder = folder

    # -- construction --
    @classmethod
    def from_units(cls, units: Iterable[UnitGraph]) -> GraphStore:
        """An in-RAM store of `units` (in order)."""
        units = list(units)
        cols = {
            k: (
                np.concatenate([np.asarray(getattr(u, k)) for u in units]).astype(dt)
                if units
                else np.zeros((0, *shape), dtype=dt)
            )
            if kind != "graph"
            else np.array([getattr(u, k) for u in units], dtype=dt).reshape(-1, *shape)
            for k, (dt, shape, kind) in COLUMNS.items()
        }
        n_t = max((len(u.y) for u in units), default=0)
        return cls(
            cols,
            np.concatenate([[0], np.cumsum([u.n_atoms for u in units])]),
            np.concatenate([[0], np.cumsum([u.num_edges for u in units])]),
            [u.id for u in units],
            np.array([u.y for u in units], dtype=np.float32).reshape(len(units), n_t),
        )

    @classmethod
    def open(cls, folder: str | Path, mmap: bool = True) -> GraphStore:
        """A store written by `StoreWriter`; node/edge columns memory-mapped when `mmap`."""
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != STORE_FORMAT:
            raise ValueError(f"{folder}: graph store format {meta.get('format')} != {STORE_FORMAT}")
        rows = {"node": meta["n_nodes"], "edge": meta["n_edges"], "graph": meta["n_graphs"]}
        cols = {}
        for k, (dt, shape, kind) in COLUMNS.items():
            path = folder / f"{k}.bin"
            count = rows[kind]
            if count == 0 or not mmap or kind == "graph":
                arr = np.fromfile(path, dtype=dt).reshape(count, *shape)
            else:
                arr = np.memmap(path, dtype=dt, mode="r", shape=(count, *shape))
            cols[k] = arr
        ptr = np.load(folder / "ptr.npz")
        y = np.fromfile(folder / "y.bin", dtype=np.float32)
        y = y.reshape(rows["graph"], meta["n_targets"])
        ids = json.loads((folder / "ids.json").read_text())
        return cls(cols, ptr["node_ptr"], ptr["edge_ptr"], ids, y, folder=folder)

    def __getstate__(self) -> dict:
        # memmaps pickle by value; a worker (spawn) re-opens the folder instead
        state = dict(self.__dict__)
        if self.folder is not None:
            state["columns"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.columns is None:
            self.columns = GraphStore.open(self.folder).columns

    # -- views --
    def subset(self, rows: Sequence[int] | np.ndarray) -> GraphStore:
        """The records at positions `rows` of this store (a view: columns are shared)."""
        return self._view(index=self.index[np.asarray(rows, dtype=np.int64)])

    def with_y(self, y: np.ndarray) -> GraphStore:
        """Other targets for the rows of this view: (len(self), T)."""
        full = np.full((len(self.ids), y.shape[1]), np.nan, dtype=np.float32)
        full[self.index] = y
        return self._view(y=full)

    def with_orbit_maps(self, maps: np.ndarray) -> GraphStore:
        """G_Lambda orbit maps (len(self), 8) for the rows of this view."""
        full = np.zeros((len(self.ids), 8), dtype=np.int8)
        full[self.index] = np.asarray(maps, dtype=np.int8)
        return self._view(orbit_map=full)

    def _view(self, **kw: Any) -> GraphStore:
        args = {
            "index": self.index,
            "orbit_map": self.orbit_map,
            "y": self.y,
            "folder": self.folder,
        }
        args.update(kw)
        y = args.pop("y")
        return GraphStore(self.columns, self.node_ptr, self.edge_ptr, self.ids, y, **args)

    # -- per-view arrays --
    @property
    def targets(self) -> np.ndarray:
        """(len(self), T) targets of this view."""
        return self.y[self.index]

    @property
    def lattices(self) -> np.ndarray:
        """(len(self), 3, 3) lattices of this view."""
        return np.asarray(self.columns["lattice"])[self.index]

    @property
    def view_ids(self) -> list[str]:
        return [self.ids[k] for k in self.index]

    def atomic_numbers(self, k: int) -> np.ndarray:
        g = int(self.index[k])
        return np.asarray(self.columns["z"][self.node_ptr[g] : self.node_ptr[g + 1]])

    def nbytes(self) -> int:
        """Bytes of every stored column of the whole store (what the cache folder holds)."""
        total = sum(int(np.asarray(c).nbytes) for c in self.columns.values())
        total += self.node_ptr.nbytes + self.edge_ptr.nbytes + self.y.nbytes
        return total + sum(len(i.encode()) + 4 for i in self.ids)

    # -- Sequence --
    def __len__(self) -> int:
        return int(self.index.shape[0])

    def __getitem__(self, k: int) -> UnitGraph:  # type: ignore[override]
        if not -len(self) <= k < len(self):
            raise IndexError(k)
        g = int(self.index[k])
        n0, n1 = int(self.node_ptr[g]), int(self.node_ptr[g + 1])
        e0, e1 = int(self.edge_ptr[g]), int(self.edge_ptr[g + 1])
        c = self.columns
        return UnitGraph(
            id=self.ids[g],
            z=np.asarray(c["z"][n0:n1]),
            frac=np.asarray(c["frac"][n0:n1]),
            src=np.asarray(c["src"][e0:e1]),
            dst=np.asarray(c["dst"][e0:e1]),
            offset=np.asarray(c["offset"][e0:e1]),
            dist=np.asarray(c["dist"][e0:e1]),
            lattice=np.asarray(c["lattice"][g]),
            y=self.y[g],
            hubbard=bool(c["hubbard"][g]),
            orbit_map=None if self.orbit_map is None else self.orbit_map[g],
        )

    def __iter__(self) -> Iterator[UnitGraph]:
        for k in range(len(self)):
            yield self[k]

    def write(self, folder: str | Path, meta: dict | None = None) -> GraphStore:
        """Write this view to `folder` (atomically) and return the mapped store."""
        w = StoreWriter(folder, n_targets=self.y.shape[1])
        for u in self:
            w.add(u)
        return w.close(meta)


class StoreWriter:
    """Append `UnitGraph` records to a store folder, then `close` it (atomic rename).

    Records go straight to the column files, so writing needs memory for the pointer arrays and
    ids only. The folder appears complete or not at all: it is written as ``<folder>.tmp-<pid>``
    and renamed by `close`; if another process finished the same folder first, its copy is kept.
    """

    def __init__(self, folder: str | Path, n_targets: int) -> None:
        self.folder = Path(folder)
        self.tmp = self.folder.with_name(f"{self.folder.name}.tmp-{os.getpid()}")
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        self.n_targets = n_targets
        self.files = {k: open(self.tmp / f"{k}.bin", "wb") for k in COLUMNS}  # noqa: SIM115
        self.files["y"] = open(self.tmp / "y.bin", "wb")  # noqa: SIM115
        self.node_ptr, self.edge_ptr, self.ids = [0], [0], []

    def add(self, u: UnitGraph) -> None:
        for k, (dt, _, _) in COLUMNS.items():
            self.files[k].write(np.ascontiguousarray(getattr(u, k), dtype=dt).tobytes())
        y = np.full(self.n_targets, np.nan, np.float32)
        y[: len(u.y)] = u.y
        self.files["y"].write(y.tobytes())
        self.node_ptr.append(self.node_ptr[-1] + u.n_atoms)
        self.edge_ptr.append(self.edge_ptr[-1] + u.num_edges)
        self.ids.append(u.id)

    def abort(self) -> None:
        for f in self.files.values():
            f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def close(self, meta: dict | None = None) -> GraphStore:
        for f in self.files.values():
            f.close()
        np.savez(
            self.tmp / "ptr.npz",
            node_ptr=np.asarray(self.node_ptr, np.int64),
            edge_ptr=np.asarray(self.edge_ptr, np.int64),
        )
        (self.tmp / "ids.json").write_text(json.dumps(self.ids))
        info = {
            "format": STORE_FORMAT,
            "n_graphs": len(self.ids),
            "n_nodes": self.node_ptr[-1],
            "n_edges": self.edge_ptr[-1],
            "n_targets": self.n_targets,
            **(meta or {}),
        }
        (self.tmp / "meta.json").write_text(json.dumps(info, indent=1))
        try:
            os.rename(self.tmp, self.folder)
        except OSError:
            if not (self.folder / "meta.json").is_file():
                raise
            shutil.rmtree(self.tmp, ignore_errors=True)  # another process won the race
        return GraphStore.open(self.folder)


def store_meta(folder: str | Path) -> dict:
    """The ``meta.json`` of a store folder."""
    return json.loads((Path(folder) / "meta.json").read_text())
