"""Equivariant message passing (paper eqs. 8-10 and 15) with colour-specific weights.

    m_ij = phi_e^{alpha(i,j)}(h_i, h_j, e_ij)       two-layer MLP, SiLU
    w_ij = sigmoid(phi_a(m_ij))                      phi_a linear, shared by all colours
    m_i  = sum_j w_ij m_ij
    h_i <- h_i + phi_h^{beta(i)}(h_i, m_i)           two-layer MLP, SiLU

`EquivariantMessagePassing` is the efficient implementation (no one-hot expansion, see
:mod:`ecn.nn.colored`); `naive_forward` is the one-hot-expanded reference with the SAME
parameters, used by tests (tied weights give equal outputs) and by the benchmark contrast.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ecn.nn.colored import ColoredLinear
from ecn.nn.plan import ColorPlan


class EquivariantMessagePassing(nn.Module):
    """One ECN layer with C_e edge colours and C_h node colours.

    Args:
        width: node feature width d (also the message width).
        edge_features: edge feature width K.
        n_edge_colors: number of edge weight slots (``ecn.nn.plan.n_base_colors(group)``).
        n_node_colors: number of node colours (1 for every model group).
        backend: ``"auto"``, ``"loop"`` or ``"grouped_mm"`` for the per-colour matmuls.
    """

    def __init__(self, width: int, edge_features: int, n_edge_colors: int,
                 n_node_colors: int = 1, backend: str = "auto") -> None:
        super().__init__()
        self.width = width
        self.edge_features = edge_features
        self.backend = backend
        self.edge1 = ColoredLinear(2 * width + edge_features, width, n_edge_colors)
        self.edge2 = ColoredLinear(width, width, n_edge_colors)
        self.attention = nn.Linear(width, 1)
        self.node1 = ColoredLinear(2 * width, width, n_node_colors)
        self.node2 = ColoredLinear(width, width, n_node_colors)

    def _check(self, h: Tensor, plan: ColorPlan) -> None:
        if h.shape != (plan.n_nodes, self.width):
            raise ValueError(f"h must be ({plan.n_nodes}, {self.width}), got {tuple(h.shape)}")
        if plan.n_base != self.edge1.n_colors:
            raise ValueError(f"plan has {plan.n_base} edge colours, layer {self.edge1.n_colors}")

    def _node_projections(self, h: Tensor, plan: ColorPlan) -> Tensor:
        """(N * C * 2, d): h_i A^c (slot 0) and h_j B^c (slot 1) for every node and colour."""
        d = self.width
        proj = self.edge1.project(h, [slice(0, d), slice(d, 2 * d)])  # (N, C, 2, d)
        if plan.node_mix is not None:  # glambda: average the P-1 cell colours over each orbit
            n = h.shape[0]
            cells = proj.reshape(n, 8, -1)
            proj = torch.bmm(plan.node_mix.to(h.dtype), cells).reshape(proj.shape)
        return proj.reshape(-1, d)

    def messages(self, h: Tensor, plan: ColorPlan) -> Tensor:
        """Weighted messages per sorted edge.

        Args:
            h: (N, d) node features.
            plan: colour plan of the batch.

        Returns:
            (E, d) ``w_ij m_ij`` in the plan's (colour-sorted) edge order.
        """
        d = self.width
        proj = self._node_projections(h, plan)
        mix = None if plan.mix is None else plan.mix.to(h.dtype)
        z = proj[plan.gather_index("dst")] + proj[plan.gather_index("src")]
        z = z + self.edge1.grouped(plan.edge_attr, plan.counts, plan.select, mix,
                                   rows=slice(2 * d, None), offsets=plan.offsets,
                                   backend=self.backend)
        m = self.edge2.grouped(F.silu(z), plan.counts, plan.select, mix,
                               offsets=plan.offsets, backend=self.backend)
        return torch.sigmoid(self.attention(m)) * m

    def update(self, h: Tensor, agg: Tensor, plan: ColorPlan) -> Tensor:
        """Residual node update ``h + phi_h^{beta(i)}(h, m)``; (N, d) -> (N, d)."""
        hm = torch.cat([h, agg], dim=1)
        if plan.n_node_colors == 1:
            u = self.node2.grouped(F.silu(self.node1.grouped(hm, [hm.shape[0]])), [hm.shape[0]])
            return h + u
        coef = F.one_hot(plan.node_color, plan.n_node_colors).to(h.dtype)
        return h + self.node2.naive(F.silu(self.node1.naive(hm, coef)), coef)

    def forward(self, h: Tensor, plan: ColorPlan) -> Tensor:
        """Args: h (N, d), plan. Returns: (N, d) updated node features."""
        self._check(h, plan)
        agg = torch.zeros_like(h)
        if plan.src.numel():
            agg = agg.index_add(0, plan.dst, self.messages(h, plan))
        return self.update(h, agg, plan)

    def naive_forward(self, h: Tensor, plan: ColorPlan) -> Tensor:
        """Same function as :meth:`forward` with one-hot-expanded weights (C times the FLOPs).

        Args: h (N, d), plan. Returns: (N, d).
        """
        self._check(h, plan)
        coef = plan.coef(h.dtype)
        x = torch.cat([h[plan.dst], h[plan.src], plan.edge_attr], dim=1)
        m = self.edge2.naive(F.silu(self.edge1.naive(x, coef)), coef)
        m = torch.sigmoid(self.attention(m)) * m
        agg = torch.zeros_like(h).index_add(0, plan.dst, m)
        hm = torch.cat([h, agg], dim=1)
        ncoef = F.one_hot(plan.node_color, plan.n_node_colors).to(h.dtype)
        return h + self.node2.naive(F.silu(self.node1.naive(hm, ncoef)), ncoef)
