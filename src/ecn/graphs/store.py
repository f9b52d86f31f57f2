"""Many stored records as memory-mapped columns: `GraphStore`, written by `StoreWriter`.

`GraphStore` keeps many `UnitGraph` records as flat column arrays in CSR layout (per-node,
per-edge and per-crystal columns plus two pointer arrays). On disk each column is a raw file
opened with ``np.memmap``, so a dataset larger than RAM trains: a batch touches only its own rows
and the OS pages them in (DataLoader workers share the mapping). `StoreWriter` appends records
one by one, so building never holds the dataset in memory either.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecn.graphs.record import UnitGraph

__all__ = ["COLUMNS", "STORE_FORMAT", "GraphStore", "StoreWriter", "store_meta"]

#: Store format version (``meta.json``); bump when a column changes meaning or dtype.
#: 2: the ``face`` column (Voronoi face areas, issue 26).
STORE_FORMAT = 2

#: Column name -> (dtype, trailing shape, kind): kind "node" / "edge" rows are addressed by the
#: pointer arrays, "graph" rows are one per crystal.
COLUMNS: dict[str, tuple[str, tuple[int, ...], str]] = {
    "z": ("uint8", (), "node"),
    "frac": ("float32", (3,), "node"),
    "src": ("int32", (), "edge"),
    "dst": ("int32", (), "edge"),
    "offset": ("int8", (3,), "edge"),
    "dist": ("float32", (), "edge"),
    "face": ("float32", (), "edge"),
    "lattice": ("float32", (3, 3), "graph"),
    "hubbard": ("bool", (), "graph"),
}


def _column(u: UnitGraph, name: str) -> Any:
    """The value of column `name` in record `u` (face areas NaN-filled when not recorded)."""
    return u.face_areas() if name == "face" else getattr(u, name)


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
                np.concatenate([_column(u, k) for u in units]).astype(dt)
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
            face=np.asarray(c["face"][e0:e1]),
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
            self.files[k].write(np.ascontiguousarray(_column(u, k), dtype=dt).tobytes())
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
