"""The vectorised expansion of stored records into the graphs the models read.

`expand` builds, for a whole batch at once and with tensor ops on any device, what the models
read: the periodic cover (DESIGN.md; or the unit cell, ``settings.supercell``), node features
and the Gaussian edge expansion (:mod:`ecn.graphs.features`). It runs per batch in the
DataLoader (`Expander`) or on the training device (`UnitBatch`), instead of being stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from ecn.graphs.features import gaussian_features, node_features
from ecn.graphs.graph import CELL_BITS, CrystalGraph, tensors_to
from ecn.graphs.neighbors import edge_cutoffs, rank_limits
from ecn.graphs.record import UnitGraph
from ecn.graphs.settings import GraphSettings

__all__ = ["Expander", "UnitBatch", "cover_index", "expand"]


@lru_cache(maxsize=8)
def _cell_bits(device: str) -> Tensor:
    """(8, 3) the bits of each cell index, on `device` (cached: one copy per device)."""
    return torch.tensor(CELL_BITS.copy(), device=torch.device(device))


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
        bits = (_cell_bits(str(dev))[a] + offset[unit_edge]) % 2
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
        face: (sum e,) float32 Voronoi face areas (NaN: no face), or None.
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
    face: Tensor | None = None

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
            face=torch.from_numpy(np.concatenate([u.face_areas() for u in units])),
        )

    def to(self, device: str | torch.device) -> UnitBatch:
        """Move every tensor to `device` (ids are kept)."""
        return tensors_to(self, device)

    def _edge_graph_start(self) -> tuple[Tensor, Tensor]:
        """(sum e,) the record of each unit edge and that record's first node in the batch
        (local ``src`` / ``dst`` + start = batch node index)."""
        g = torch.repeat_interleave(torch.arange(self.n.shape[0], device=self.n.device), self.e)
        return g, (torch.cumsum(self.n, 0) - self.n)[g]

    def edge_vectors(self) -> Tensor:
        """(sum e, 3) Cartesian vector of each unit edge from its target to its source's
        image, ``(frac[src] + offset - frac[dst]) @ lattice`` in Å (computed in float64,
        returned in the dtype of `frac` and `lattice`: float32 like the distances when read
        from a store, float64 when a caller made them float64; needs `frac`)."""
        if self.frac is None:
            raise ValueError("this batch has no fractional coordinates")
        g, start = self._edge_graph_start()
        frac = self.frac.double()
        rel = frac[start + self.src] + self.offset.double() - frac[start + self.dst]
        out = torch.bmm(rel[:, None, :], self.lattice.double()[g])[:, 0]
        return out.to(torch.promote_types(self.frac.dtype, self.lattice.dtype))

    def rank_limits(self, settings: GraphSettings) -> Tensor | None:
        """(sum e,) where each unit edge leaves its nearest-k graph with a margin
        (``ecn.graphs.neighbors.rank_limits``), or None without a margin."""
        if settings.max_neighbors is None or not settings.neighbor_margin > 0:
            return None
        _, start = self._edge_graph_start()
        loop = (self.src == self.dst) & (self.offset == 0).all(dim=1)
        return rank_limits(
            start + self.dst,
            self.dist,
            loop,
            int(self.n.sum()),
            int(settings.max_neighbors),
            float(settings.neighbor_margin),
        )

    def expand(self, settings: GraphSettings) -> CrystalGraph:
        """The `CrystalGraph` batch the models read, on this batch's device."""
        ix = cover_index(self.n, self.e, self.src, self.dst, self.offset, settings.supercell)
        rank = self.rank_limits(settings)
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
            edge_cutoff=edge_cutoffs(
                z[ix["src"]],
                z[ix["dst"]],
                settings,
                d.dtype,
                None if rank is None else rank[ix["unit_edge"]],
            ),
            edge_face=None if self.face is None else self.face[ix["unit_edge"]],
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
