"""`ColorPlan`: the per-batch colouring of a graph, computed once and shared by all layers.

Colours are a function of the node labels (cell ``a``, atom ``i``) and, for ``glambda``, of each
crystal's lattice; they do not change during a forward pass. The plan therefore sorts the edges by
colour once, remembers the group sizes (for one matmul per colour) and precomputes the gather
indices into the per-node, per-colour projections.

G_Lambda across a dataset (DESIGN.md): the weights are the 16 P-1 colours; in a crystal whose
lattice group merges P-1 colours into orbits, an edge uses the MEAN of the weights over its orbit.
Effective colours are keyed by (orbit as an 8-bit set of P-1 cell colours, atom colour), so
crystals with different lattices in one batch each get their own averaged weights.

Same-atom branch (``build_color_plan(..., same_atom=True)``, the authors' ``identity`` edges): the
edges between two periodic images of one atom (:func:`same_atom_mask`) are carried a second
time, in weight slots of their own after the ``n_base_colors(group)`` ordinary ones: slot
``n_base + cell-pair colour`` (:func:`n_same_atom_colors` of them; their atom-pair colour is
always ``i = j``). One sorted, chunked pass then serves both the ordinary messages and the
branch (``ecn.nn.layers``). Same-atom edges that are exact duplicates (same target, source,
colour and edge features: the images ``o`` and ``-o`` always, all 6 nearest images in a cubic
cell) send the same message, so the branch carries one of each, counted ``mult`` times.

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


def n_same_atom_colors(group: str) -> int:
    """Weight slots of the same-atom branch: the cell-pair colours of `group` (P-1's 8 for
    ``glambda``, averaged over orbits as the ordinary ones), since every same-atom edge has
    the atom-pair colour ``i = j``."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
    return colorings.N_CELL_COLORS["p1" if group == "glambda" else group]


def same_atom_mask(graph: CrystalGraph) -> Tensor:
    """(E,) bool: the edges between two periodic images of ONE atom.

    These are the authors' ``identity`` edges (``compute_indices_identity`` in
    ``learn_materials/equivariant/product_first.py``: both ends are copies of one primitive-cell
    site). The test reads the same on the cover and on its unit-cell quotient: both ends have
    the same unit-cell atom ``graph.atom`` and the image offset is not zero (unit cell: a
    self-loop ``i <- i`` with ``o != 0``; cover: an edge between two copies ``(a, i)``,
    ``(b, i)``, a self-loop when ``o`` is even). A cover edge keeps its unit edge's offset, so
    the 8 lifts of a unit same-atom edge are exactly the cover's same-atom edges. The self-loop
    ``i <- i`` with ``o = 0`` (``GraphSettings.self_loops``, distance 0) is the atom itself, not
    an image: excluded, as the authors' neighbour lists never held it.
    """
    src, dst = graph.edge_index[0], graph.edge_index[1]
    return (graph.atom[src] == graph.atom[dst]) & graph.edge_offset.ne(0).any(1)


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
        perm: (S,) original edge index per slot (padding: -1; with the same-atom branch,
            ``E + k`` is the branch's copy of edge ``same_atom_edges[k]``).
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
            (U, 24, 24) with the same-atom branch: block-diagonal, its 8 slots last.
        node_groups: U index tensors, the nodes of each distinct orbit map (None when U <= 1).
        n_base: number of weight slots (the same-atom branch's included).
        n_edges: E, the real edges (E + E'' with the same-atom branch, see ``perm``).
        node_color: (N,) node colour; n_node_colors: their number (1 for every group here).
        same_atom_colors: C', the last C' of the n_base weight slots belong to the same-atom
            branch (0: no branch).
        n_same_atom: E', the same-atom edges the branch sums over (0: no branch).
        same_atom_edges: (E'',) graph edge id of each distinct same-atom edge the branch
            carries (:func:`_distinct_edges`), or None without the branch.
        mult: (S,) how many same-atom edges each slot stands for (1 for ordinary slots, 0 for
            padding), times the edge's envelope weight when the plan was built with
            ``edge_weight``; None without either (every slot then counts once).
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
    same_atom_colors: int = 0
    n_same_atom: int = 0
    same_atom_edges: Tensor | None = None
    mult: Tensor | None = None

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


def _distinct_edges(graph: CrystalGraph, edges: Tensor, color: Tensor) -> tuple[Tensor, Tensor]:
    """One representative of each group of identical same-atom edges, and the group sizes.

    Edges with the same target, source, colour and edge features send the same message, so a
    sum over them is ``count`` times one of them. Same-atom edges come at least in pairs (the
    images ``o`` and ``-o`` are at one distance), 6 at a time in a cubic crystal. Groups are
    keyed on (target, source cell, colour, float32 distance bits); for a same-atom edge the
    target and the source's cell fix the source. They are used only if every member's edge
    features equal its representative's bit for bit; else every edge is its own group.

    Args:
        graph: the graph; edges: (E',) ids of same-atom edges; color: (E',) their colours < 8.

    Returns:
        (E'',) edge ids and (E'',) counts (summing to E').
    """
    src, dst = graph.edge_index[0, edges], graph.edge_index[1, edges]
    ones = torch.ones_like(edges)
    if edges.numel() == 0 or graph.num_nodes >= 1 << 24:  # the key below has 63 bits
        return edges, ones
    bits = graph.edge_dist[edges].float().contiguous().view(torch.int32).long() & 0xFFFFFFFF
    key = (((dst * 8 + graph.cell[src]) * 8 + color) << 32) | bits
    _, inv, counts = torch.unique(key, return_inverse=True, return_counts=True)
    order = torch.arange(edges.numel(), device=edges.device)
    first = torch.full_like(counts, edges.numel()).scatter_reduce(0, inv, order, "amin")
    rep = edges[first]
    if not torch.equal(graph.edge_attr[edges], graph.edge_attr[rep[inv]]):
        return edges, ones
    return rep, counts


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


def _soft_cells(
    graph: CrystalGraph, group: str, same_cell: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Source cells, graph edge ids and weights of the ordinary edge list under soft cell
    colours: every edge once with the colour it most likely has (weight ``p`` if "same cell",
    ``1 - p`` if not), then a second copy, with the other colour and weight, of each edge
    whose weight ``p`` is strictly between 0 and 1.

    Returns:
        (E + M,) source cells (0: same cell as the target, 7: another; the target is cell 0),
        (E + M,) graph edge ids, (E + M,) weights.
    """
    if group != "slambda":
        raise ValueError(f"soft cell colours are defined for group slambda, not {group!r}")
    if graph.supercell:
        raise ValueError("soft cell colours need the unit-cell graph (no cell one-hot)")
    if same_cell.shape != (graph.num_edges,):
        raise ValueError(f"same_cell must be ({graph.num_edges},), got {tuple(same_cell.shape)}")
    rows = torch.arange(graph.num_edges, device=same_cell.device)
    same = same_cell >= 0.5
    mixed = torch.nonzero((same_cell > 0) & (same_cell < 1)).flatten()
    cells = torch.where(same, 0, 7)
    weight = torch.where(same, same_cell, 1 - same_cell)
    return (
        torch.cat([cells, 7 - cells[mixed]]),
        torch.cat([rows, mixed]),
        torch.cat([weight, 1 - weight[mixed]]),
    )


def build_color_plan(
    graph: CrystalGraph,
    group: str,
    chunk_size: int | str | None = "auto",
    *,
    same_atom: bool = False,
    edge_weight: Tensor | None = None,
    same_cell: Tensor | None = None,
) -> ColorPlan:
    """Colour the edges and nodes of `graph` for `group` and sort edges by colour.

    Args:
        graph: a (batched) supercell graph, or a unit-cell graph read as the quotient of its
            cover (:func:`edge_cells`).
        group: ``"sn"``, ``"p1"``, ``"glambda"`` or ``"slambda"``.
        chunk_size: slots per chunk (see module docstring), ``"auto"`` (:func:`auto_chunk_size`)
            or None for the unchunked layout (one group per colour).
        same_atom: also carry the same-atom edges (:func:`same_atom_mask`) a second time, in
            the branch's :func:`n_same_atom_colors` weight slots after the ordinary ones.
        edge_weight: (E,) factor on each edge's message (a smooth envelope,
            ``ecn.nn.envelope``), folded into ``ColorPlan.mult``; None: every edge counts once.
        same_cell: (E,) soft S_Lambda cell colours (``ecn.graphs.gauge.same_cell_weight``,
            ``slambda`` on a unit-cell graph only): each edge is "same cell" with this weight
            and "other cell" with the rest instead of by its offset's parity; an edge with a
            weight strictly between 0 and 1 is carried twice, once per colour, its two messages
            weighted (in ``ColorPlan.mult``). None: the parity colours.

    Returns:
        The plan shared by all layers of one forward pass.
    """
    n_base = n_base_colors(group)
    src, dst = graph.edge_index[0], graph.edge_index[1]
    a_src, a_dst = edge_cells(graph)
    i_src, i_dst = graph.atom[src], graph.atom[dst]
    if edge_weight is not None and edge_weight.shape != (graph.num_edges,):
        raise ValueError(f"edge_weight must be ({graph.num_edges},), got {edge_weight.shape}")
    edge_attr, edge_batch = graph.edge_attr, graph.edge_batch
    # soft colours: ordinary row r is graph edge ``rows[r]`` (all E, then the second copies);
    # None: row r is edge r (no gather on the parity-colour path)
    rows = soft = None
    if same_cell is not None:
        a_src, rows, soft = _soft_cells(graph, group, same_cell)
        src, dst, a_dst = src[rows], dst[rows], a_dst[rows]
        i_src, i_dst = i_src[rows], i_dst[rows]
        edge_attr, edge_batch = edge_attr[rows], edge_batch[rows]
    base, _ = colorings.edge_colors(
        "p1" if group == "glambda" else group, a_src, i_src, a_dst, i_dst
    )
    base = base.long()
    e_ord = int(src.shape[0])
    n_same = e_same = 0
    extra = mult_edge = None
    if same_atom:
        extra = torch.nonzero(same_atom_mask(graph)).flatten()  # graph edge = row id (< E)
        n_same, e_same = n_same_atom_colors(group), int(extra.shape[0])
        # atom-pair colour 0 (i = j) on these edges: product colour // 2 = cell-pair colour
        extra, count = _distinct_edges(graph, extra, base[extra] // 2)
        src, dst = torch.cat([src, src[extra]]), torch.cat([dst, dst[extra]])
        base = torch.cat([base, n_base + base[extra] // 2])
        edge_attr = torch.cat([edge_attr, edge_attr[extra]])
        edge_batch = torch.cat([edge_batch, edge_batch[extra]])
        mult_edge = torch.cat([torch.ones_like(edge_batch[:e_ord]), count])
    if edge_weight is not None:
        w = edge_weight if rows is None else edge_weight[rows]
        w = w if extra is None else torch.cat([w, edge_weight[extra]])
        mult_edge = w if mult_edge is None else mult_edge.to(w.dtype) * w
    if soft is not None:  # the soft colour weights of the ordinary rows; 1 on branch rows
        w = torch.cat([soft, soft.new_ones(src.shape[0] - e_ord)])
        mult_edge = w if mult_edge is None else mult_edge.to(w.dtype) * w
    mix = proj_mix = node_groups = select = None
    if group == "glambda":
        om = _orbit_map(graph)
        if om.shape != (graph.num_graphs, 8):
            raise ValueError(f"cell_orbit_map must be (G, 8), got {tuple(om.shape)}")
        masks = _orbit_masks(om)  # (G, 8), values < 256
        branch = base >= n_base  # same-atom slots: 8 cell colours, own effective colours
        cell_c = torch.where(branch, base - n_base, base // 2)
        atom_c = torch.where(branch, 0, base % 2)
        key = masks[edge_batch, cell_c] * 2 + atom_c + branch.long() * 512
        keys, eff = torch.unique(key, return_inverse=True)
        k_branch, k_mask, k_atom = keys >= 512, (keys % 512) // 2, keys % 2
        members = (k_mask[:, None] >> torch.arange(8, device=keys.device)) & 1  # (K, 8)
        mix = torch.zeros(keys.shape[0], 8, 2, device=keys.device)
        mix[torch.arange(keys.shape[0]), :, k_atom] = members.float()
        mix = (mix / members.sum(-1)[:, None, None]).reshape(-1, 16)
        if same_atom:  # (K, 16 + 8): a row averages ordinary slots or branch slots, never both
            cell_mix = members.float() / members.sum(-1, keepdim=True)
            on = k_branch.float()[:, None]
            mix = torch.cat([mix * (1 - on), cell_mix * on], 1)
        maps, which = torch.unique(om, dim=0, return_inverse=True)  # U distinct orbit maps
        eye2 = torch.eye(2, device=om.device)
        cell_mixing = _cell_mixing(maps, torch.float32)
        proj_mix = torch.stack(
            [
                torch.block_diag(torch.kron(m, eye2), m) if same_atom else torch.kron(m, eye2)
                for m in cell_mixing
            ]
        )
        if maps.shape[0] > 1:
            node_u = which[graph.batch]
            node_groups = [torch.nonzero(node_u == u).flatten() for u in range(maps.shape[0])]
    else:
        select, eff = torch.unique(base, return_inverse=True)
    eff_sorted, perm = torch.sort(eff, stable=True)
    per_color = torch.bincount(eff_sorted)
    n_eff, n_edges, n = int(per_color.shape[0]), int(eff.shape[0]), graph.num_nodes
    if chunk_size == "auto":  # from the ordinary edges alone: the branch keeps their layout
        # (branch keys sort after every ordinary key, so ordinary colours are ids 0..n-1)
        n_ord = n_eff if extra is None or e_ord == 0 else int(eff[:e_ord].max()) + 1
        chunk_size = auto_chunk_size(e_ord, n_ord)
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
        edge_attr=torch.where(valid[:, None], edge_attr[safe], zero),
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
        n_base=n_base + n_same,
        n_edges=n_edges,
        node_color=node_color.long(),
        n_node_colors=n_node,
        same_atom_colors=n_same,
        n_same_atom=e_same,
        same_atom_edges=extra,
        mult=None if mult_edge is None else torch.where(valid, mult_edge[safe], 0),
    )
