"""The `CrystalGraph` container and batching.

One container serves both the unit-cell graph (n nodes) and the supercell graph (8 n nodes, the
exact periodic cover of the unit-cell graph, DESIGN.md). A batch is again a `CrystalGraph` whose
`batch` vector maps nodes to graphs, so models never need two code paths.

Conventions (shared with `ecn.symmetry`):
- cell index ``a`` in 0..7 encodes (a0, a1, a2) in {0,1}^3 as ``a = 4*a0 + 2*a1 + a2``;
- supercell node index ``k = a * n_atoms + i``;
- ``edge_index[0]`` is the source j, ``edge_index[1]`` the target i: messages flow j -> i;
- ``edge_offset`` is the integer image offset of the source in units of the *unit-cell* lattice,
  as found by the neighbour search: source position = frac[j] + offset (for supercell edges the
  offset of the underlying unit-cell edge is kept, so distances can be recomputed exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

#: ``CELL_BITS[a]`` is the vector ``(a0, a1, a2)`` in ``{0,1}^3`` of cell ``a = 4*a0 + 2*a1 + a2``
#: (the one table of the convention; ``ecn.symmetry`` uses it too). Read-only, (8, 3) int64.
CELL_BITS: np.ndarray = np.array(
    [[(a >> 2) & 1, (a >> 1) & 1, a & 1] for a in range(8)], dtype=np.int64
)
CELL_BITS.setflags(write=False)


def tensors_to(obj: Any, device: torch.device | str) -> Any:
    """A copy of the dataclass `obj` with every tensor field on `device` (others kept)."""
    kw = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        kw[f.name] = v.to(device) if isinstance(v, Tensor) else v
    return replace(obj, **kw)


@dataclass
class CrystalGraph:
    """Tensors describing one crystal graph (or a batch of them).

    Attributes:
        x: (N, F) float node features.
        z: (N,) long atomic numbers.
        cell: (N,) long cell index a in 0..7 (all 0 for a unit-cell graph).
        atom: (N,) long atom index i within the unit cell.
        edge_index: (2, E) long, [source; target].
        edge_dist: (E,) float distances in Å.
        edge_offset: (E, 3) long image offsets (unit-cell lattice basis).
        edge_attr: (E, K) float edge features (Gaussian expansion of edge_dist).
        lattice: (G, 3, 3) float unit-cell lattice, rows are lattice vectors (Å).
        n_atoms: (G,) long atoms per unit cell.
        y: (G, T) float targets (NaN where unknown).
        batch: (N,) long graph index of each node.
        edge_batch: (E,) long graph index of each edge.
        cell_orbit_map: (G, 8) long, G_Lambda orbit id of each P-1 cell colour (optional).
        edge_vec: (E, 3) float, Cartesian vector in Å from each edge's target to its source's
            periodic image, ``(frac[j] + offset - frac[i]) @ lattice`` (optional, set by
            ``expand``): the relative position an E(n)-equivariant model (``ecn.nn.egnn``)
            reads; the same for the 8 lifts of a unit edge, like ``edge_dist`` = its norm.
        edge_cutoff: (E,) float, the length in Å at which each edge would leave the graph under
            its graph settings (``ecn.graphs.neighbors.edge_cutoffs``; optional, set by
            ``expand``): what a smooth envelope (``ecn.nn.envelope``) takes to zero.
        edge_face: (E,) float, the Voronoi face area in Å^2 each edge crosses, NaN where it
            crosses none (optional, set by ``expand``): what a face weight takes to zero.
        ids: material ids, one per graph.
        supercell: whether nodes are the 8-fold cover.
    """

    x: Tensor
    z: Tensor
    cell: Tensor
    atom: Tensor
    edge_index: Tensor
    edge_dist: Tensor
    edge_offset: Tensor
    edge_attr: Tensor
    lattice: Tensor
    n_atoms: Tensor
    y: Tensor
    batch: Tensor
    edge_batch: Tensor
    cell_orbit_map: Tensor | None = None
    edge_vec: Tensor | None = None
    edge_cutoff: Tensor | None = None
    edge_face: Tensor | None = None
    ids: list[str] = field(default_factory=list)
    supercell: bool = True

    @property
    def num_nodes(self) -> int:
        return int(self.z.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def num_graphs(self) -> int:
        return int(self.lattice.shape[0])

    def to(self, device: torch.device | str) -> CrystalGraph:
        """Move every tensor to `device` (non-tensors are kept)."""
        return tensors_to(self, device)

    def with_targets(self, y: Tensor) -> CrystalGraph:
        """Return a shallow copy with other targets (e.g. standardised)."""
        return replace(self, y=y)


def collate(graphs: Sequence[CrystalGraph]) -> CrystalGraph:
    """Concatenate graphs into one batch, shifting edge indices by node offsets.

    Why a plain function: it is what `torch.utils.data.DataLoader(collate_fn=...)` wants, and
    keeping batching in one place makes "batched == one-by-one" a single test.
    """
    if len(graphs) == 0:
        raise ValueError("cannot collate an empty list of graphs")
    if len({g.supercell for g in graphs}) != 1:
        raise ValueError("cannot mix unit-cell and supercell graphs in one batch")
    node_counts = torch.tensor([g.num_nodes for g in graphs])
    node_shift = torch.cumsum(node_counts, 0) - node_counts
    edge_index = torch.cat(
        [g.edge_index + s for g, s in zip(graphs, node_shift.tolist(), strict=False)], dim=1
    )
    batch = torch.cat([g.batch.new_full((g.num_nodes,), k) for k, g in enumerate(graphs)])
    edge_batch = torch.cat([g.edge_batch.new_full((g.num_edges,), k) for k, g in enumerate(graphs)])
    maps = [g.cell_orbit_map for g in graphs]
    cell_orbit_map = None if any(m is None for m in maps) else torch.cat(maps)  # type: ignore[arg-type]
    vecs = [g.edge_vec for g in graphs]
    edge_vec = None if any(v is None for v in vecs) else torch.cat(vecs)  # type: ignore[arg-type]
    cuts = [g.edge_cutoff for g in graphs]
    edge_cutoff = None if any(c is None for c in cuts) else torch.cat(cuts)  # type: ignore[arg-type]
    faces = [g.edge_face for g in graphs]
    edge_face = None if any(f is None for f in faces) else torch.cat(faces)  # type: ignore[arg-type]
    return CrystalGraph(
        x=torch.cat([g.x for g in graphs]),
        z=torch.cat([g.z for g in graphs]),
        cell=torch.cat([g.cell for g in graphs]),
        atom=torch.cat([g.atom for g in graphs]),
        edge_index=edge_index,
        edge_dist=torch.cat([g.edge_dist for g in graphs]),
        edge_offset=torch.cat([g.edge_offset for g in graphs]),
        edge_attr=torch.cat([g.edge_attr for g in graphs]),
        lattice=torch.cat([g.lattice for g in graphs]),
        n_atoms=torch.cat([g.n_atoms for g in graphs]),
        y=torch.cat([g.y for g in graphs]),
        batch=batch,
        edge_batch=edge_batch,
        cell_orbit_map=cell_orbit_map,
        edge_vec=edge_vec,
        edge_cutoff=edge_cutoff,
        edge_face=edge_face,
        ids=[i for g in graphs for i in g.ids],
        supercell=graphs[0].supercell,
    )
