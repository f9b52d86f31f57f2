"""`ColorPlan`: the per-batch colouring of a graph, computed once and shared by all layers.

Colours are a function of the node labels (cell ``a``, atom ``i``) and, for ``glambda``, of each
crystal's lattice; they do not change during a forward pass. The plan therefore sorts the edges by
colour once, remembers the group sizes (for one matmul per colour) and precomputes the gather
indices into the per-node, per-colour projections.

G_Lambda across a dataset (DESIGN.md): the weights are the 16 P-1 colours; in a crystal whose
lattice group merges P-1 colours into orbits, an edge uses the MEAN of the weights over its orbit.
Effective colours are keyed by (orbit as an 8-bit set of P-1 cell colours, atom colour), so
crystals with different lattices in one batch each get their own averaged weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ecn.graphs.graph import CrystalGraph
from ecn.symmetry import colorings

GROUPS: tuple[str, ...] = ("sn", "p1", "glambda", "slambda")


def n_base_colors(group: str) -> int:
    """Number of weight slots (colours with their own parameters) of `group`'s edge MLP."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
    return colorings.n_edge_colors("p1" if group == "glambda" else group)


@dataclass
class ColorPlan:
    """Edges of a batch sorted by effective colour, with everything the layers gather.

    Attributes:
        group: model group name.
        n_nodes: N.
        src: (E,) source node of each sorted edge.
        dst: (E,) target node of each sorted edge.
        edge_attr: (E, K) edge features in sorted order.
        perm: (E,) original edge index of each sorted edge.
        base_color: (E,) weight slot (0..n_base-1) used to gather node projections.
        eff_color: (E,) effective colour id (0..n_eff-1), non-decreasing.
        counts: n_eff python ints, edges per effective colour.
        offsets: (n_eff,) int32 cumulative counts.
        select: (n_eff,) weight slot of each effective colour, or None when `mix` is used.
        mix: (n_eff, n_base) orbit-averaging rows (glambda only).
        node_mix: (N, 8, 8) per-node orbit-averaging of the P-1 cell colours (glambda only).
        n_base: number of weight slots.
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
    select: Tensor | None
    mix: Tensor | None
    node_mix: Tensor | None
    n_base: int
    node_color: Tensor
    n_node_colors: int

    def gather_index(self, which: str) -> Tensor:
        """Row index into a flattened ``(N, n_base, 2, d)`` projection: target (0) or source (1)."""
        node = self.dst if which == "dst" else self.src
        return (node * self.n_base + self.base_color) * 2 + (0 if which == "dst" else 1)

    def coef(self, dtype: torch.dtype) -> Tensor:
        """(E, n_base) per-edge weight coefficients (one-hot, or orbit-mixing rows): naive path."""
        if self.mix is not None:
            return self.mix.to(dtype)[self.eff_color]
        onehot = torch.zeros(self.eff_color.shape[0], self.n_base, dtype=dtype,
                             device=self.eff_color.device)
        return onehot.scatter_(1, self.base_color[:, None], 1.0)


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
    # Fall back to the lattices (spglib per crystal): slower, but gives the same map.
    maps = [colorings.glambda_orbit_map_for_lattice(lat.detach().cpu().double().numpy())
            for lat in graph.lattice]
    return torch.as_tensor(np.array(maps), dtype=torch.long, device=graph.cell.device).reshape(-1, 8)


def build_color_plan(graph: CrystalGraph, group: str) -> ColorPlan:
    """Colour the edges and nodes of `graph` for `group` and sort edges by colour.

    Args:
        graph: a (batched) supercell or unit-cell graph.
        group: ``"sn"``, ``"p1"``, ``"glambda"`` or ``"slambda"``.

    Returns:
        The plan shared by all layers of one forward pass.
    """
    n_base = n_base_colors(group)
    src, dst = graph.edge_index[0], graph.edge_index[1]
    a_src, i_src = graph.cell[src], graph.atom[src]
    a_dst, i_dst = graph.cell[dst], graph.atom[dst]
    base, _ = colorings.edge_colors("p1" if group == "glambda" else group,
                                    a_src, i_src, a_dst, i_dst)
    base = base.long()
    mix = node_mix = select = None
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
        node_mix = _cell_mixing(om, torch.float32)[graph.batch]
    else:
        select, eff = torch.unique(base, return_inverse=True)
    eff_sorted, perm = torch.sort(eff, stable=True)
    counts_t = torch.bincount(eff_sorted)
    node_color, n_node = colorings.node_colors(group, graph.cell, graph.atom)
    return ColorPlan(
        group=group, n_nodes=graph.num_nodes, src=src[perm], dst=dst[perm],
        edge_attr=graph.edge_attr[perm], perm=perm, base_color=base[perm], eff_color=eff_sorted,
        counts=counts_t.tolist(), offsets=counts_t.cumsum(0).to(torch.int32), select=select,
        mix=mix, node_mix=node_mix, n_base=n_base, node_color=node_color.long(),
        n_node_colors=n_node,
    )
