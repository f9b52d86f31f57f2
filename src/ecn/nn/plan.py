"""`ColorPlan`: the per-batch colouring of a graph, computed once and shared by all layers.

Colours are a function of the node labels (cell ``a``, atom ``i``) and, for ``glambda``, of each
crystal's lattice; they do not change during a forward pass. The plan therefore sorts the edges by
colour once, remembers the group sizes (for one matmul per colour) and precomputes the gather
indices into the per-node, per-colour projections.

G_Lambda across a dataset (DESIGN.md): the weights are the 16 P-1 colours; in a crystal whose
lattice group merges P-1 colours into orbits, an edge uses the MEAN of the weights over its orbit.
Effective colours are keyed by (orbit as an 8-bit set of P-1 cell colours, atom colour), so
crystals with different lattices in one batch each get their own averaged weights.

Layout: sorted edges are cut into equal CHUNKS of `chunk_size` slots, each chunk holding edges of
one colour (the last chunk of a colour is padded). Every per-colour matmul is then one
``bmm``/``baddbmm`` over the chunks with the chunk's weights gathered, whatever the number of
colours: few, large kernels (fast on a busy CPU), bias and residual terms fused, padding a few
percent. Padding slots point at a dummy target row ``N`` that the aggregation drops. With
``chunk_size=None`` (or a single colour) edges are only sorted: one group per colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ecn.graphs.graph import CrystalGraph
from ecn.symmetry import colorings
from ecn.symmetry.colorings import GROUPS
from ecn.symmetry.orbit_maps import lattice_orbit_maps


def n_base_colors(group: str) -> int:
    """Number of weight slots (colours with their own parameters) of `group`'s edge MLP."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
    return colorings.n_edge_colors("p1" if group == "glambda" else group)


@dataclass
class ColorPlan:
    """Edges of a batch sorted by effective colour (in slots), with everything layers gather.

    "Slots" are the sorted edges, plus padding when chunked (S >= E).

    Attributes:
        group: model group name.
        n_nodes: N.
        src: (S,) source node per slot (padding: 0).
        dst: (S,) target node per slot (padding: N, a dummy row dropped after aggregation).
        edge_attr: (S, K) edge features per slot (padding: 0).
        perm: (S,) original edge index per slot (padding: -1).
        base_color: (S,) weight slot (0..n_base-1) used to gather node projections.
        eff_color: (S,) effective colour id (0..n_eff-1), non-decreasing.
        counts: per group, python ints: slots per effective colour (unchunked layout) or
            ``[chunk_size] * n_chunks`` (chunked layout).
        offsets: (len(counts),) int32 cumulative counts.
        chunk_color: (n_chunks,) effective colour of each chunk, or None (unchunked layout).
        select: (n_eff,) weight slot of each effective colour, or None when `mix` is used.
        mix: (n_eff, n_base) orbit-averaging rows (glambda only).
        proj_mix: (U, 16, 16) orbit-averaging of the 16 weight slots for each distinct orbit
            map of the batch (glambda only): node projections use weights ``proj_mix[u] @ W``.
        node_groups: U index tensors, the nodes of each distinct orbit map (None when U <= 1).
        n_base: number of weight slots.
        n_edges: E, the real edges.
        node_color: (N,) node colour; n_node_colors: their number (1 for every group here).
    """

    group: str
    n_nodes: int
    src: Tensor
    dst: Tensor
    edge_attr: Tensor
    perm: Tensor
    base_color: Tensor
    eff_color: Tensor
    counts: list[int]
    offsets: Tensor
    chunk_color: Tensor | None
    select: Tensor | None
    mix: Tensor | None
    proj_mix: Tensor | None
    node_groups: list[Tensor] | None
    n_base: int
    n_edges: int
    node_color: Tensor
    n_node_colors: int

    @property
    def n_colors(self) -> int:
        """Number of effective colours present."""
        return int(self.select.shape[0] if self.mix is None else self.mix.shape[0])

    @property
    def proj_colors(self) -> Tensor | None:
        """Weight slots the node projections are computed for (None: all n_base, for glambda)."""
        return self.select

    def gather_index(self, which: str) -> Tensor:
        """(S,) row of each slot in the flattened ``(N, C', 2, d)`` node projection.

        C' is the number of projected colours (:attr:`proj_colors`); slot 0 is the target
        (``which="dst"``), slot 1 the source. Padding slots read node 0.
        """
        node = self.dst.clamp(max=self.n_nodes - 1) if which == "dst" else self.src
        if self.select is None:
            n_proj, col = self.n_base, self.base_color
        else:
            n_proj, col = self.select.shape[0], self.eff_color
        return (node * n_proj + col) * 2 + (0 if which == "dst" else 1)

    def coef(self, dtype: torch.dtype) -> Tensor:
        """(S, n_base) per-slot weight coefficients (one-hot, or orbit-mixing rows): naive path."""
        if self.mix is not None:
            return self.mix.to(dtype)[self.eff_color]
        onehot = torch.zeros(
            self.eff_color.shape[0], self.n_base, dtype=dtype, device=self.eff_color.device
        )
        return onehot.scatter_(1, self.base_color[:, None], 1.0)


def auto_chunk_size(n_edges: int, n_colors: int) -> int:
    """Power of two near ``E / (8 C)``, in [32, 1024]: padding stays a few percent of E."""
    target = max(1, n_edges // max(1, 8 * n_colors))
    return int(min(1024, max(32, 1 << (target.bit_length() - 1))))


def _orbit_masks(orbit_map: Tensor) -> Tensor:
    """(G, 8) bitmask of each P-1 cell colour's G_Lambda orbit: bit c' set iff same orbit."""
    same = orbit_map[:, :, None] == orbit_map[:, None, :]  # (G, 8, 8)
    bits = 1 << torch.arange(8, device=orbit_map.device)
    return (same.long() * bits).sum(-1)


def _cell_mixing(orbit_map: Tensor, dtype: torch.dtype) -> Tensor:
    """(G, 8, 8) row-stochastic matrices averaging P-1 cell colours over each orbit."""
    same = (orbit_map[:, :, None] == orbit_map[:, None, :]).to(dtype)
    return same / same.sum(-1, keepdim=True)


def _orbit_map(graph: CrystalGraph) -> Tensor:
    if graph.cell_orbit_map is not None:
        return graph.cell_orbit_map.long()
    # Fall back to the lattices (spglib per distinct lattice, cached): gives the same map.
    return lattice_orbit_maps(graph.lattice).to(graph.cell.device)


def edge_cells(graph: CrystalGraph) -> tuple[Tensor, Tensor]:
    """(E,) cells ``a`` of the source and target of every edge, as the colourings see them.

    On the 8-fold cover these are the node labels. On a unit-cell graph the edges stand for the
    translation orbits of cover edges: unit edge ``i <- j`` with image offset ``o`` is the cover
    edge ``(0, i) <- (o mod 2, j)`` and its 7 translates, which all have the same colour (the
    cell-pair colour depends on ``a XOR b`` only). So a unit-cell graph is the quotient of the
    cover; when node features do not depend on the cell (no cell one-hot), every cell's copy
    of an atom has the same features at every layer and ECN on the quotient computes exactly
    what it computes on the cover, with 8 times fewer nodes and edges.
    """
    src, dst = graph.edge_index[0], graph.edge_index[1]
    if graph.supercell:
        return graph.cell[src], graph.cell[dst]
    bits = graph.edge_offset.remainder(2)
    a_src = bits[:, 0] * 4 + bits[:, 1] * 2 + bits[:, 2]
    return a_src, torch.zeros_like(a_src)


def build_color_plan(
    graph: CrystalGraph, group: str, chunk_size: int | str | None = "auto"
) -> ColorPlan:
    """Colour the edges and nodes of `graph` for `group` and sort edges by colour.

    Args:
        graph: a (batched) supercell graph, or a unit-cell graph read as the quotient of its
            cover (:func:`edge_cells`).
        group: ``"sn"``, ``"p1"``, ``"glambda"`` or ``"slambda"``.
        chunk_size: slots per chunk (see module docstring), ``"auto"`` (:func:`auto_chunk_size`)
            or None for the unchunked layout (one group per colour).

    Returns:
        The plan shared by all layers of one forward pass.
    """
    n_base = n_base_colors(group)
    src, dst = graph.edge_index[0], graph.edge_index[1]
    a_src, a_dst = edge_cells(graph)
    i_src, i_dst = graph.atom[src], graph.atom[dst]
    base, _ = colorings.edge_colors(
        "p1" if group == "glambda" else group, a_src, i_src, a_dst, i_dst
    )
    base = base.long()
    mix = proj_mix = node_groups = select = None
    if group == "glambda":
        om = _orbit_map(graph)
        if om.shape != (graph.num_graphs, 8):
            raise ValueError(f"cell_orbit_map must be (G, 8), got {tuple(om.shape)}")
        masks = _orbit_masks(om)  # (G, 8)
        cell_c, atom_c = base // 2, base % 2
        key = masks[graph.edge_batch, cell_c] * 2 + atom_c
        keys, eff = torch.unique(key, return_inverse=True)
        k_mask, k_atom = keys // 2, keys % 2
        members = (k_mask[:, None] >> torch.arange(8, device=keys.device)) & 1  # (K, 8)
        mix = torch.zeros(keys.shape[0], 8, 2, device=keys.device)
        mix[torch.arange(keys.shape[0]), :, k_atom] = members.float()
        mix = (mix / members.sum(-1)[:, None, None]).reshape(-1, 16)
        maps, which = torch.unique(om, dim=0, return_inverse=True)  # U distinct orbit maps
        eye2 = torch.eye(2, device=om.device)
        proj_mix = torch.stack([torch.kron(m, eye2) for m in _cell_mixing(maps, torch.float32)])
        if maps.shape[0] > 1:
            node_u = which[graph.batch]
            node_groups = [torch.nonzero(node_u == u).flatten() for u in range(maps.shape[0])]
    else:
        select, eff = torch.unique(base, return_inverse=True)
    eff_sorted, perm = torch.sort(eff, stable=True)
    per_color = torch.bincount(eff_sorted)
    n_eff, n_edges, n = int(per_color.shape[0]), int(eff.shape[0]), graph.num_nodes
    if chunk_size == "auto":
        chunk_size = auto_chunk_size(n_edges, n_eff)
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int, 'auto' or None, got {chunk_size!r}")
    chunk_color = None
    counts_t = per_color
    dev = base.device
    if chunk_size is not None and n_eff > 1:
        n_chunks = (per_color + chunk_size - 1) // chunk_size
        chunk_color = torch.repeat_interleave(torch.arange(n_eff, device=dev), n_chunks)
        # slot s of colour k lives at chunk_start[k] * L + rank of the edge within colour k
        first = torch.cumsum(per_color, 0) - per_color
        chunk_start = torch.cumsum(n_chunks, 0) - n_chunks
        rank = torch.arange(n_edges, device=dev) - first[eff_sorted]
        slot = chunk_start[eff_sorted] * chunk_size + rank
        n_slots = int(n_chunks.sum()) * chunk_size
        perm = torch.full((n_slots,), -1, dtype=torch.long, device=dev).index_put_((slot,), perm)
        eff_sorted = chunk_color.repeat_interleave(chunk_size)
        counts_t = torch.full((chunk_color.shape[0],), chunk_size, device=dev)
    valid = perm >= 0
    safe = perm.clamp(min=0)
    zero = torch.zeros((), dtype=graph.edge_attr.dtype, device=dev)
    node_color, n_node = colorings.node_colors(group, graph.cell, graph.atom)
    return ColorPlan(
        group=group,
        n_nodes=n,
        src=torch.where(valid, src[safe], 0),
        dst=torch.where(valid, dst[safe], n),
        edge_attr=torch.where(valid[:, None], graph.edge_attr[safe], zero),
        perm=perm,
        base_color=base[safe],
        eff_color=eff_sorted,
        counts=counts_t.tolist(),
        offsets=counts_t.cumsum(0).to(torch.int32),
        chunk_color=chunk_color,
        select=select,
        mix=mix,
        proj_mix=proj_mix,
        node_groups=node_groups,
        n_base=n_base,
        n_edges=n_edges,
        node_color=node_color.long(),
        n_node_colors=n_node,
    )
