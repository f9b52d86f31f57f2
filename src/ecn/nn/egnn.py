"""The E(n)-equivariant ECN: EGNN layers (Satorras et al. 2021) with ECN's colour sharing.

The paper (§7, "an E(n)-equivariant version of our architecture, a straightforward extension of
[53]") pairs the EGNN layer with its parameter sharing: a separate edge MLP ``phi_e`` and
coordinate MLP ``phi_x`` per edge colour ``alpha(i, j)`` and a node MLP ``phi_h`` per node colour
``beta(i)`` of the chosen group, exactly as in eqs. (8)-(10). On a periodic graph the layer works
with edge vectors, not positions: every edge carries ``r_ij``, the Cartesian vector from target i
to its source's periodic image (``CrystalGraph.edge_vec``), and one layer is

    m_ij  = sigmoid(phi_a(m'_ij)) m'_ij,   m'_ij = phi_e^{alpha(i,j)}(h_i, h_j, e_ij, |r_ij|^2)
    dx_i  = (1 / deg_i) sum_j r_ij tanh(phi_x^{alpha(i,j)}(m_ij))          (N, 3)
    r_ij <- r_ij + dx_j - dx_i                                               (x_i <- x_i + dx_i)
    h_i  <- h_i + phi_h^{beta(i)}(h_i, sum_j m_ij)

``e_ij`` are ECN's Gaussian-expanded input distances (EGNN's edge attributes ``a_ij``); ``|r_ij|^2``
is the squared CURRENT distance, in units of (5 Å)^2. Scalars see only distances, so every
scalar output is invariant to rotations, reflections and translations of the Cartesian frame; the
displacements ``dx_i`` rotate with it (and ignore translations). The last layer updates ``h``
only (its coordinate update would reach no scalar output, and unused weights break training
with several processes), so :meth:`ECNEGNN.node_vectors`, the summed displacement, comes from
the first L - 1 layers.

The layer reuses ECN's colour plan (:mod:`ecn.nn.plan`) and its message MLP, gate and node update
(:class:`~ecn.nn.layers.EquivariantMessagePassing`, with one more edge-feature column); only the
messages are materialised ((S, d) per slot, which ``phi_x`` needs), where ECN fuses them away.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ecn.graphs.graph import CrystalGraph
from ecn.nn.colored import ColoredLinear
from ecn.nn.config import ModelConfig
from ecn.nn.ecn import ECN
from ecn.nn.layers import BACKENDS, EquivariantMessagePassing
from ecn.nn.plan import ColorPlan, build_color_plan, n_base_colors
from ecn.symmetry.colorings import GROUPS

__all__ = ["ECNEGNN", "EGNNMessagePassing", "slot_vectors"]

#: Length unit of the squared-distance message input (Å): ``|r|^2 / DIST_SCALE^2`` is O(1) on
#: the 5 Å graphs ECN uses.
DIST_SCALE = 5.0


def slot_vectors(graph: CrystalGraph, plan: ColorPlan, dtype: torch.dtype) -> Tensor:
    """(S, 3) edge vectors ``r_ij`` in the plan's slot order (padding slots: 0).

    Raises:
        ValueError: the graph carries no ``edge_vec`` (it was not built by ``expand``).
    """
    if graph.edge_vec is None:
        raise ValueError(
            "graph has no edge_vec (the edge vectors an E(n)-equivariant model reads); build it "
            "with ecn.graphs.build_graph / expand"
        )
    if plan.n_edges != graph.num_edges:
        raise ValueError(f"plan has {plan.n_edges} edges, graph {graph.num_edges}")
    valid = (plan.perm >= 0)[:, None]
    return torch.where(valid, graph.edge_vec.to(dtype)[plan.perm.clamp(min=0)], 0.0)


class EGNNMessagePassing(EquivariantMessagePassing):
    """One EGNN layer with ECN's colour sharing (module docstring): ECN's edge MLP, gate and node
    update with one more edge input (the squared current distance), plus a per-colour
    coordinate MLP ``phi_x`` (d -> d -> 1) unless `coords` is False.

    Args:
        width, edge_features, n_edge_colors, n_node_colors, backend: as
            :class:`~ecn.nn.layers.EquivariantMessagePassing` (`edge_features` = K, without the
            distance column this layer adds).
        coords: update the coordinates (False for a model's last layer).
    """

    def __init__(
        self,
        width: int,
        edge_features: int,
        n_edge_colors: int,
        n_node_colors: int = 1,
        backend: str = "bmm",
        coords: bool = True,
    ) -> None:
        super().__init__(width, edge_features + 1, n_edge_colors, n_node_colors, backend)
        self.coord1: ColoredLinear | None = None
        self.coord2: ColoredLinear | None = None
        if coords:
            self.coord1 = ColoredLinear(width, width, n_edge_colors)
            self.coord2 = ColoredLinear(width, 1, n_edge_colors)
            with torch.no_grad():  # start near the identity map of the coordinates (as EGNN)
                self.coord2.weight.mul_(1e-3)
                self.coord2.bias.zero_()

    def step(
        self, h: Tensor, vec: Tensor, plan: ColorPlan, inv_deg: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One layer.

        Args:
            h: (N, d) node features.
            vec: (S, 3) edge vectors per slot (:func:`slot_vectors`).
            plan: the colour plan (its ``edge_attr`` is ECN's K Gaussian features).
            inv_deg: (N, 1) ``1 / max(1, in-degree)``.

        Returns:
            h (N, d), vec (S, 3) updated, and the displacement dx (N, 3) (zeros without
            `coords`).
        """
        n = plan.n_nodes
        dx = vec.new_zeros(n, 3)
        if plan.src.numel() == 0:
            return self.update(h, torch.zeros_like(h), plan), vec, dx
        d2 = (vec * vec).sum(1, keepdim=True) / DIST_SCALE**2
        p = replace(plan, edge_attr=torch.cat([plan.edge_attr.to(h.dtype), d2], 1))
        self._check(h, p)
        m = self.messages(h, p)  # (S, d); padding slots are dropped by their target row N
        h = self.update(h, self.aggregate(m, p), p)
        if self.coord1 is None or self.coord2 is None:
            return h, vec, dx
        layout = self._layout(p, h.dtype)
        phi = self.coord2.grouped(F.silu(self.coord1.grouped(m, **layout)), **layout)  # (S, 1)
        dx = vec.new_zeros(n + 1, 3).index_add(0, plan.dst, vec * torch.tanh(phi))[:n] * inv_deg
        pad = torch.cat([dx, dx.new_zeros(1, 3)])  # padding slots' target row N moves nothing
        vec = vec + pad.index_select(0, plan.src) - pad.index_select(0, plan.dst)
        return h, vec, dx


def _mlp(width: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, out))


class ECNEGNN(nn.Module):
    """The E(n)-equivariant ECN: embedding, L EGNN layers with colour sharing, node MLP, mean
    pool, MLP (ECN's layout, with :class:`EGNNMessagePassing` layers).

    Args:
        in_dim, edge_dim, out_dim, node_level: the core arguments of every model.
        group: ``"sn"`` (plain EGNN, one colour), ``"p1"``, ``"glambda"`` or ``"slambda"``.
        width: hidden width d.
        layers: number of layers L (the first L - 1 update the coordinates).
        backend: per-colour matmuls, as ECN's.

    Attributes:
        config: the resolved `ModelConfig`.
        layers: the L :class:`EGNNMessagePassing` modules.
    """

    NAME: ClassVar[str] = "ecn_egnn"
    #: Parameter-name prefixes of the parts fine-tuning treats apart (as ECN's).
    PARTS: ClassVar[dict[str, str]] = {"embedding": "embedding", "layers": "layers", "head": "head"}
    #: ECN's graphs: the unit-cell quotient by default, the cover with ``cell_onehot: true``.
    GRAPH_SETTINGS: ClassVar[dict[str, Any]] = {"cell_onehot": False}
    #: Equivariant to the node permutations of its group, like ECN; on top of that its scalar
    #: outputs are E(3)-invariant and :meth:`node_vectors` E(3)-equivariant
    #: (``tests/nn/test_egnn.py``).
    SYMMETRY: ClassVar[str] = "supercell_group"

    @staticmethod
    def finish_graph_settings(
        merged: dict[str, Any], user: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]:
        """ECN's rule (the cover only with the cell one-hot, else its unit-cell quotient)."""
        return ECN.finish_graph_settings(merged, user, options)

    def __init__(
        self,
        in_dim: int,
        edge_dim: int,
        out_dim: int = 1,
        node_level: bool = False,
        *,
        group: str = "slambda",
        width: int = 128,
        layers: int = 6,
        backend: str = "bmm",
    ) -> None:
        super().__init__()
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
        if min(in_dim, edge_dim, out_dim, width) < 1 or layers < 0:
            raise ValueError("in_dim, edge_dim, out_dim and width must be >= 1, layers >= 0")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
        options = {"group": group, "width": width, "layers": layers, "backend": backend}
        self.config = ModelConfig(self.NAME, in_dim, edge_dim, out_dim, node_level, options)
        self.group, self.node_level = group, node_level
        self.embedding = nn.Linear(in_dim, width)
        self.layers = nn.ModuleList(
            EGNNMessagePassing(
                width, edge_dim, n_base_colors(group), 1, backend, coords=k < layers - 1
            )
            for k in range(layers)
        )
        self.node_mlp = _mlp(width, width)
        self.head = _mlp(width, out_dim)

    def plan(self, graph: CrystalGraph) -> ColorPlan:
        """The colour plan of `graph` for this model's group (once per batch)."""
        chunk = "auto" if self.config.options["backend"] == "bmm" else None
        return build_color_plan(graph, self.group, chunk)

    def run(
        self, graph: CrystalGraph, plan: ColorPlan | None = None
    ) -> tuple[list[Tensor], Tensor]:
        """Node features after the embedding and each layer (L + 1 tensors (N, d)), and the
        summed coordinate displacement (N, 3)."""
        if graph.x.dim() != 2 or graph.x.shape[1] != self.config.in_dim:
            raise ValueError(
                f"graph.x has shape {tuple(graph.x.shape)}, model expects (N, {self.config.in_dim})"
            )
        plan = self.plan(graph) if plan is None else plan
        h = self.embedding(graph.x)
        vec = slot_vectors(graph, plan, h.dtype)
        real = (plan.perm >= 0).to(h.dtype)
        deg = h.new_zeros(plan.n_nodes + 1).index_add_(0, plan.dst, real)[: plan.n_nodes]
        inv_deg = 1.0 / deg.clamp(min=1.0)[:, None]
        out, total = [h], h.new_zeros(plan.n_nodes, 3)
        for layer in self.layers:
            h, vec, dx = layer.step(h, vec, plan, inv_deg)
            out.append(h)
            total = total + dx
        return out, total

    def node_embeddings(self, graph: CrystalGraph, plan: ColorPlan | None = None) -> list[Tensor]:
        """Node features after the embedding and after each layer: L + 1 tensors (N, d)."""
        return self.run(graph, plan)[0]

    def node_vectors(self, graph: CrystalGraph, plan: ColorPlan | None = None) -> Tensor:
        """(N, 3) per-node vector output: the summed displacement ``x_i^L - x_i^0`` in Å, which
        rotates and reflects with the Cartesian frame and ignores its translations (for
        node-level vector properties, e.g. a force or a moment direction)."""
        return self.run(graph, plan)[1]

    def forward(self, graph: CrystalGraph, plan: ColorPlan | None = None) -> Tensor:
        """(G, out_dim) E(3)-invariant predictions (mean pool), or (N, out_dim) with
        ``node_level``."""
        h = self.node_mlp(self.node_embeddings(graph, plan)[-1])
        if self.node_level:
            return self.head(h)
        g = graph.num_graphs
        pooled = h.new_zeros(g, h.shape[1]).index_add(0, graph.batch, h)
        count = h.new_zeros(g).index_add(
            0, graph.batch, torch.ones_like(graph.batch, dtype=h.dtype)
        )
        return self.head(pooled / count.clamp(min=1)[:, None])
