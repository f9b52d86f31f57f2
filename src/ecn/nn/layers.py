"""Equivariant message passing (paper eqs. 8-10 and 15) with colour-specific weights.

    m_ij = phi_e^{alpha(i,j)}(h_i, h_j, e_ij)       two-layer MLP, SiLU
    w_ij = sigmoid(phi_a(m_ij))                      phi_a linear, shared by all colours
    m_i  = sum_j w_ij m_ij
    h_i <- h_i + phi_h^{beta(i)}(h_i, m_i)           two-layer MLP, SiLU

Optional same-atom branch, as in the authors' ECN code
(``learn_materials/equivariant/product_first.py``: ``cell_layer_identity``,
``lattice_attention_identity``): a second gated edge MLP, with its own weights, gate and
cell-pair colours, over the edges between periodic images of one atom
(``ecn.nn.plan.same_atom_mask``), its sum added to the messages before the node update:

    m_i <- m_i + sum_{j image of i} sigmoid(phi'_a(m'_ij)) m'_ij,
    m'_ij = phi'_e^{alpha'(i,j)}(h_i, h_j, e_ij)     alpha' = cell-pair colour

The colour plan carries those edges a second time, in weight slots of their own after the
ordinary ones (exact duplicates once, counted ``plan.mult`` times), and the layer stacks the two
weight sets (``StackedColoredLinear``): the branch runs inside the ordinary pass with no kernels
of its own (a separate pass cost ~1.9 ms per layer forward + backward in fixed overhead alone on
a 64-crystal Perov-5 batch, one thread).

`EquivariantMessagePassing` is the efficient implementation (no one-hot expansion, see
:mod:`ecn.nn.colored`); `naive_forward` is the one-hot-expanded reference with the SAME
parameters, used by tests (tied weights give equal outputs) and by the benchmark contrast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ecn.nn.colored import ColoredLinear, StackedColoredLinear
from ecn.nn.plan import ColorPlan

BACKENDS = ("bmm", "loop", "grouped_mm", "auto")

_TWICE: ContextVar[bool] = ContextVar("ecn_twice_differentiable", default=False)


@contextmanager
def twice_differentiable() -> Iterator[None]:
    """Within it, the layers use autograd's own ops instead of the hand-written backward of
    the gated pool (:class:`_GatedPool`, whose backward is not itself differentiable), so
    that a loss may hold gradients of the outputs (``create_graph=True``: the slope penalty
    of ``ecn.nn.slope``). The same function; costs the memory the hand-written one saves."""
    token = _TWICE.set(True)
    try:
        yield
    finally:
        _TWICE.reset(token)


class _GatedPool(torch.autograd.Function):
    """Chunked layout: ``gate = sigmoid(s . v^q + u^q)``, ``pooled[r] = sum_{slot=r} gate s``
    and ``weight[r] = sum_{slot=r} gate``, with a hand-written backward that reuses its (S, d)
    buffers (autograd's would keep/allocate about twice as many).

    Shapes: s (S, d) = Q chunks of L rows; vq (Q, d, 1); uq (Q, 1, 1); slot (S,) rows in
    [0, n_rows); mult (S, 1) or None: each slot counted ``mult`` times (``ColorPlan.mult``).
    Returns pooled (n_rows, d), weight (n_rows, 1).
    """

    @staticmethod
    def forward(
        ctx, s: Tensor, vq: Tensor, uq: Tensor, slot: Tensor, n_rows: int, mult: Tensor | None
    ):
        q, d = vq.shape[0], s.shape[1]
        gate = torch.sigmoid(torch.baddbmm(uq, s.view(q, -1, d), vq)).view(-1, 1)
        wgate = gate if mult is None else gate * mult
        pooled = s.new_zeros(n_rows, d).index_add_(0, slot, s * wgate)
        weight = gate.new_zeros(n_rows, 1).index_add_(0, slot, wgate)
        ctx.save_for_backward(s, gate, vq, slot, mult)
        return pooled, weight

    @staticmethod
    def backward(ctx, g_pooled: Tensor, g_weight: Tensor):
        s, gate, vq, slot, mult = ctx.saved_tensors
        q, d = vq.shape[0], s.shape[1]
        g = g_pooled.index_select(0, slot)  # (S, d), fresh: becomes grad_s in place
        g_gate = (g * s).sum(1, keepdim=True) + g_weight.index_select(0, slot)
        # the envelope weights in mult are a function of the geometry: their gradient is what
        # the slope of a prediction in the atomic positions needs (ecn.nn.slope)
        grad_mult = g_gate * gate if mult is not None and ctx.needs_input_grad[5] else None
        if mult is not None:
            g_gate = g_gate * mult
        g_logit = (g_gate * gate * (1 - gate)).view(q, -1, 1)  # (Q, L, 1)
        wgate = gate if mult is None else gate * mult
        grad_s = g.mul_(wgate).view(q, -1, d).baddbmm_(g_logit, vq.transpose(1, 2)).view(-1, d)
        grad_vq = torch.bmm(s.view(q, -1, d).transpose(1, 2), g_logit)
        grad_uq = g_logit.sum(1, keepdim=True)
        return grad_s, grad_vq, grad_uq, None, None, grad_mult


def gated_pool(
    s: Tensor, vq: Tensor, uq: Tensor, slot: Tensor, n_rows: int, mult: Tensor | None
) -> tuple[Tensor, Tensor]:
    """:class:`_GatedPool` (shapes there), or inside :func:`twice_differentiable` the same
    function in autograd's ops."""
    if not _TWICE.get():
        return _GatedPool.apply(s, vq, uq, slot, n_rows, mult)
    q, d = vq.shape[0], s.shape[1]
    gate = torch.sigmoid(torch.baddbmm(uq, s.view(q, -1, d), vq)).view(-1, 1)
    wgate = gate if mult is None else gate * mult
    pooled = s.new_zeros(n_rows, d).index_add(0, slot, s * wgate)
    weight = gate.new_zeros(n_rows, 1).index_add(0, slot, wgate)
    return pooled, weight


class EquivariantMessagePassing(nn.Module):
    """One ECN layer with C_e edge colours and C_h node colours.

    Args:
        width: node feature width d (also the message width).
        edge_features: edge feature width K.
        n_edge_colors: number of edge weight slots (``ecn.nn.plan.n_base_colors(group)``).
        n_node_colors: number of node colours (1 for every model group).
        backend: per-colour matmuls: ``"bmm"`` (chunked plans, see :mod:`ecn.nn.plan`; the
            default) or, for unchunked plans, ``"loop"`` / ``"grouped_mm"`` / ``"auto"``.
        same_atom_colors: 0 (default: no branch) or the weight slots of the same-atom branch,
            ``ecn.nn.plan.n_same_atom_colors(group)`` (module docstring); the plan must then
            be built with ``same_atom=True``.

    Attributes:
        same_atom: the branch's ``edge1``, ``edge2`` (ColoredLinear) and ``attention``
            (Linear d -> 1), shaped like the ordinary ones; None without the branch.
    """

    def __init__(
        self,
        width: int,
        edge_features: int,
        n_edge_colors: int,
        n_node_colors: int = 1,
        backend: str = "bmm",
        same_atom_colors: int = 0,
    ) -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
        self.width = width
        self.edge_features = edge_features
        self.backend = backend
        self.edge1 = ColoredLinear(2 * width + edge_features, width, n_edge_colors)
        self.edge2 = ColoredLinear(width, width, n_edge_colors)
        self.attention = nn.Linear(width, 1)
        self.node1 = ColoredLinear(2 * width, width, n_node_colors)
        self.node2 = ColoredLinear(width, width, n_node_colors)
        if same_atom_colors < 0:
            raise ValueError(f"same_atom_colors must be >= 0, got {same_atom_colors}")
        self.same_atom: nn.Module | None = None
        if same_atom_colors:
            self.same_atom = nn.ModuleDict(
                {
                    "edge1": ColoredLinear(2 * width + edge_features, width, same_atom_colors),
                    "edge2": ColoredLinear(width, width, same_atom_colors),
                    "attention": nn.Linear(width, 1),
                }
            )

    @property
    def same_atom_colors(self) -> int:
        """Weight slots of the same-atom branch (0 without it)."""
        return 0 if self.same_atom is None else self.same_atom["edge1"].n_colors

    def _check(self, h: Tensor, plan: ColorPlan) -> None:
        if h.shape != (plan.n_nodes, self.width):
            raise ValueError(f"h must be ({plan.n_nodes}, {self.width}), got {tuple(h.shape)}")
        if plan.same_atom_colors != self.same_atom_colors:
            raise ValueError(
                f"plan has {plan.same_atom_colors} same-atom colours, layer "
                f"{self.same_atom_colors}: build the plan with same_atom="
                f"{self.same_atom is not None} (ECN.plan does)"
            )
        n = self.edge1.n_colors + self.same_atom_colors
        if plan.n_base != n:
            raise ValueError(f"plan has {plan.n_base} edge colours, layer {n}")
        if plan.chunk_color is not None and self.backend != "bmm":
            raise ValueError(f"backend {self.backend!r} needs an unchunked plan (chunk_size=None)")

    def _stacked(self, name: str) -> ColoredLinear | StackedColoredLinear:
        """Edge layer `name` (``"edge1"``, ``"edge2"``), stacked with the branch's if it exists
        (weight slots ``[0, C)`` ordinary, ``[C, C + C')`` same-atom, as the plan numbers them)."""
        part = getattr(self, name)
        if self.same_atom is None:
            return part
        return StackedColoredLinear([part, self.same_atom[name]])

    def _slot_gates(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """(C + C', d) gate vectors and (C + C',) gate biases, one per weight slot: the
        ordinary gate ``phi_a`` for the C ordinary slots, the branch's ``phi'_a`` for its C'."""
        att = [self.attention] + ([] if self.same_atom is None else [self.same_atom["attention"]])
        counts = (self.edge1.n_colors, self.same_atom_colors)
        a = torch.cat([m.weight.expand(n, -1) for m, n in zip(att, counts, strict=False)])
        a0 = torch.cat([m.bias.expand(n) for m, n in zip(att, counts, strict=False)])
        return a.to(dtype), a0.to(dtype)

    @staticmethod
    def _mult(plan: ColorPlan, dtype: torch.dtype) -> Tensor | None:
        """(S, 1) slot multiplicities (merged duplicate same-atom edges) times the envelope
        weights (``build_color_plan(edge_weight=...)``), or None."""
        return None if plan.mult is None else plan.mult.to(dtype)[:, None]

    def _gates(self, plan: ColorPlan, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """(K, d) gate vectors and (K,) gate biases of the plan's K effective colours.

        A G_Lambda orbit never mixes ordinary and same-atom slots, so the orbit mean of the
        (constant) gate is the gate of its block.
        """
        a, a0 = self._slot_gates(dtype)
        if plan.mix is not None:
            mix = plan.mix.to(dtype)
            return mix @ a, mix @ a0
        return a[plan.select], a0[plan.select]

    def _node_projections(
        self, h: Tensor, plan: ColorPlan, edge1: ColoredLinear | StackedColoredLinear | None = None
    ) -> Tensor:
        """(N * C' * 2, d): ``h_i A^c + b^c`` (slot 0) and ``h_j B^c`` (slot 1) per node, colour.

        The first-layer bias is folded into the target slot (N C' rows instead of E). For
        glambda the weights are first averaged over the orbits of each distinct orbit map of the
        batch (weights-side, so it costs a 16 x 16 mixing, not a per-node one).
        """
        d = self.width
        blocks = [slice(0, d), slice(d, 2 * d)]

        edge1 = self._stacked("edge1") if edge1 is None else edge1

        def project(x: Tensor, mix: Tensor | None) -> Tensor:
            proj, _ = edge1.project(x, blocks, plan.proj_colors, mix, bias_block=0)
            return proj  # (n, C', 2, d)

        if plan.proj_mix is None:
            return project(h, None).reshape(-1, d)
        mixes = plan.proj_mix.to(h.dtype)
        if plan.node_groups is None:
            return project(h, mixes[0]).reshape(-1, d)
        out = h.new_zeros(h.shape[0], plan.n_base, 2, d)
        for u, nodes in enumerate(plan.node_groups):
            out = out.index_copy(0, nodes, project(h.index_select(0, nodes), mixes[u]))
        return out.reshape(-1, d)

    def _layout(self, plan: ColorPlan, dtype: torch.dtype) -> dict:
        mix = None if plan.mix is None else plan.mix.to(dtype)
        return {
            "counts": plan.counts,
            "select": plan.select,
            "mix": mix,
            "offsets": plan.offsets,
            "backend": "auto" if self.backend == "bmm" else self.backend,
            "chunk_color": plan.chunk_color,
        }

    def _hidden(self, h: Tensor, plan: ColorPlan, layout: dict) -> Tensor:
        """(S, d) ``silu([h_i, h_j, e_ij] W1^c + b1^c)`` per slot (the edge MLP's hidden layer).

        The node blocks come from the per-node projections (gathered), the edge-feature block is
        one grouped matmul accumulated into the gathered sum (no (S, 2d + K) concatenation).
        """
        d = self.width
        edge1 = self._stacked("edge1")  # one stack per call
        proj = self._node_projections(h, plan, edge1)
        z = proj.index_select(0, plan.gather_index("dst"))
        z = z.add_(proj.index_select(0, plan.gather_index("src")))  # fresh tensor: in place
        z = edge1.grouped(plan.edge_attr, rows=slice(2 * d, None), bias=False, add=z, **layout)
        return F.silu(z)

    def messages(self, h: Tensor, plan: ColorPlan) -> Tensor:
        """Weighted messages per slot (the reference form of the edge MLP; ``forward`` uses
        the equivalent fused aggregation :meth:`aggregate_messages`).

        Args:
            h: (N, d) node features.
            plan: colour plan of the batch.

        Returns:
            (S, d) ``w_ij m_ij`` in the plan's slot order (times ``plan.mult`` with the
            same-atom branch; padding slots are garbage that the aggregation drops).
        """
        layout = self._layout(plan, h.dtype)
        m = self._stacked("edge2").grouped(self._hidden(h, plan, layout), **layout)
        if self.same_atom is None:
            gate = torch.sigmoid(self.attention(m))
            return gate * m if plan.mult is None else gate * self._mult(plan, m.dtype) * m
        a, a0 = self._gates(plan, m.dtype)
        a, a0 = a.index_select(0, plan.eff_color), a0.index_select(0, plan.eff_color)
        gate = torch.sigmoid((m * a).sum(1, keepdim=True) + a0[:, None])
        return gate * self._mult(plan, m.dtype) * m

    def aggregate_messages(self, h: Tensor, plan: ColorPlan) -> Tensor:
        """``m_i = sum_j w_ij m_ij`` without materialising the (S, d) messages m_ij.

        The second edge layer is linear and its colour k is fixed per slot, so with
        ``s_ij = silu(...)`` (:meth:`_hidden`), ``m_ij = s_ij W2^k + b2^k`` and
        ``w_ij = sigmoid(m_ij a + a0) = sigmoid(s_ij (W2^k a) + b2^k a + a0)``:

            m_i = sum_k [ (sum_{j: k(ij)=k} w_ij s_ij) W2^k + (sum_{j: k(ij)=k} w_ij) b2^k ].

        The attention logit is a dot product with the (K, d) vectors ``W2^k a``, the weighted
        sums go into (N + 1, K, d) per target node and colour, and one (N+1, K d) x (K d, d)
        matmul replaces the per-edge (S, d) x (d, d) one: the same function as
        ``aggregate(messages(h, plan))`` up to floating-point reassociation.

        Args: h (N, d), plan. Returns: (N, d).
        """
        d, n = self.width, plan.n_nodes
        layout = self._layout(plan, h.dtype)
        s = self._hidden(h, plan, layout)
        w2, b2 = self._stacked("edge2").effective(plan.select, layout["mix"])  # (K, d, d), (K, d)
        k = w2.shape[0]
        w2, b2 = w2.to(s.dtype), b2.to(s.dtype)
        if self.same_atom is None:
            a = self.attention.weight[0].to(s.dtype)  # (d,)
            v = w2 @ a  # (K, d)
            u = b2 @ a + self.attention.bias[0].to(s.dtype)  # (K,)
        else:  # per-colour gates: the ordinary one, or the branch's for its colours
            a, a0 = self._gates(plan, s.dtype)  # (K, d), (K,)
            v = torch.bmm(w2, a[:, :, None])[:, :, 0]
            u = (b2 * a).sum(1) + a0
        slot = plan.dst * k + plan.eff_color  # padding slots land in the dropped row N
        if plan.chunk_color is not None:
            vq = v.index_select(0, plan.chunk_color)[:, :, None]  # (Q, d, 1)
            uq = u.index_select(0, plan.chunk_color)[:, None, None]
            mult = self._mult(plan, s.dtype)
            pooled, weight = gated_pool(s, vq, uq, slot, (n + 1) * k, mult)
            return self._combine(pooled, weight, w2, b2, n)
        if k == 1:
            logit = s @ v[0][:, None] + u[0]
        else:
            logit = torch.cat(
                [xs @ v[c][:, None] + u[c] for c, xs in enumerate(s.split(plan.counts))]
            )
        gate = torch.sigmoid(logit)  # (S, 1)
        if plan.mult is not None:
            gate = gate * self._mult(plan, gate.dtype)
        pooled = s.new_zeros((n + 1) * k, d).index_add_(0, slot, gate * s)
        weight = gate.new_zeros((n + 1) * k, 1).index_add_(0, slot, gate)
        return self._combine(pooled, weight, w2, b2, n)

    @staticmethod
    def _combine(pooled: Tensor, weight: Tensor, w2: Tensor, b2: Tensor, n: int) -> Tensor:
        """(N, d) ``sum_k pooled[i, k] W2^k + weight[i, k] b2^k``; inputs ((N+1) K, d / 1)."""
        k, d = w2.shape[0], w2.shape[2]
        wk = weight.view(n + 1, k) @ b2
        return torch.addmm(wk, pooled.view(n + 1, k * w2.shape[1]), w2.reshape(-1, d))[:n]

    @staticmethod
    def aggregate(msg: Tensor, plan: ColorPlan) -> Tensor:
        """Sum messages into their targets: (S, d) -> (N, d); padding slots go to a dropped row."""
        out = msg.new_zeros(plan.n_nodes + 1, msg.shape[1])
        return out.index_add(0, plan.dst, msg)[: plan.n_nodes]

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
        if plan.src.numel() == 0:
            return self.update(h, torch.zeros_like(h), plan)
        return self.update(h, self.aggregate_messages(h, plan), plan)

    def naive_forward(self, h: Tensor, plan: ColorPlan) -> Tensor:
        """Same function as :meth:`forward` with one-hot-expanded weights (C times the FLOPs).

        Args: h (N, d), plan. Returns: (N, d).
        """
        self._check(h, plan)
        coef = plan.coef(h.dtype)
        x = torch.cat([h[plan.dst.clamp(max=plan.n_nodes - 1)], h[plan.src], plan.edge_attr], 1)
        edge1, edge2 = self._stacked("edge1"), self._stacked("edge2")
        m = edge2.naive(F.silu(edge1.naive(x, coef)), coef)
        if self.same_atom is None:
            m = torch.sigmoid(self.attention(m)) * m
            m = m if plan.mult is None else self._mult(plan, m.dtype) * m
        else:  # each slot's gate is its colour's (coefficient rows never mix the two gates)
            a, a0 = self._slot_gates(m.dtype)
            gate = torch.sigmoid((m * (coef @ a)).sum(1, keepdim=True) + (coef @ a0)[:, None])
            m = gate * self._mult(plan, m.dtype) * m
        hm = torch.cat([h, self.aggregate(m, plan)], dim=1)
        ncoef = F.one_hot(plan.node_color, plan.n_node_colors).to(h.dtype)
        return h + self.node2.naive(F.silu(self.node1.naive(hm, ncoef)), ncoef)
