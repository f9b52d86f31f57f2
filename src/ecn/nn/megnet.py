"""MEGNet: Chen, Ye, Zuo, Zheng & Ong, Chem. Mater. 31, 3564 (2019), eqs. 1-6; reference code
``materialsvirtuallab/megnet`` (``make_megnet_model``, ``MEGNetLayer``, ``Set2Set``).

A baseline of the paper's Tables 1-2 (``ecn.nn`` package docstring: the common interface, unit-cell
radius graphs, invariances; tested in ``tests/nn/test_baselines.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ecn.graphs.graph import CrystalGraph
from ecn.graphs.restrict import restrict_neighbors
from ecn.graphs.settings import unit_cell_radius_graph
from ecn.nn.config import ModelConfig, check_node_features
from ecn.nn.dense import ShiftedSoftplus, glorot_init, mlp, split_linear
from ecn.nn.radial import GaussianRBF
from ecn.nn.scatter import scatter_mean, scatter_softmax, scatter_sum

__all__ = ["MEGNet", "MEGNetBlock", "Set2Set"]


class Set2Set(nn.Module):
    """Set2Set readout (Vinyals, Bengio & Kudlur 2016), as used by MEGNet.

    For t = 1..T: ``q_t = LSTM(q*_{t-1})``, ``a_i = softmax_i(m_i · q_t)`` within each graph,
    ``r_t = sum_i a_i m_i``, ``q*_t = q_t ⊕ r_t``; output q*_T. As in MEGNet's ``Set2Set``
    layer the inputs are first projected, ``m_i = x_i W + b``, to the LSTM width, and the
    forget-gate bias starts at 1. The LSTM is a standard cell (input q*_{t-1}, state
    (q_{t-1}, c_{t-1})); MEGNet's hand-written cell computes the gates from q*_{t-1} alone,
    which already contains q_{t-1}, so the two differ only by a redundant weight block.

    Args:
        in_dim: input width.
        hidden_dim: LSTM width d (output is 2d).
        steps: processing steps T.
    """

    def __init__(self, in_dim: int, hidden_dim: int, steps: int = 3) -> None:
        super().__init__()
        if steps < 1:
            raise ValueError(f"Set2Set needs >= 1 step, got {steps}")
        self.proj = nn.Linear(in_dim, hidden_dim)
        self.lstm = nn.LSTMCell(2 * hidden_dim, hidden_dim)
        with torch.no_grad():  # unit forget-gate bias, as MEGNet's Keras LSTM
            self.lstm.bias_ih[hidden_dim : 2 * hidden_dim].fill_(1.0)
            self.lstm.bias_hh[hidden_dim : 2 * hidden_dim].fill_(0.0)
        self.hidden_dim, self.steps = hidden_dim, steps

    def forward(self, x: Tensor, index: Tensor, n_sets: int) -> Tensor:
        """Pool sets.

        Args:
            x: (M, in_dim) set elements.
            index: (M,) long set of each element.
            n_sets: number of sets G.

        Returns:
            (G, 2 * hidden_dim) set embeddings (an empty set gives q_T ⊕ 0).
        """
        m = self.proj(x)
        q_star = m.new_zeros(n_sets, 2 * self.hidden_dim)
        hc = (m.new_zeros(n_sets, self.hidden_dim), m.new_zeros(n_sets, self.hidden_dim))
        for _ in range(self.steps):
            hc = self.lstm(q_star, hc)
            q = hc[0]
            a = scatter_softmax((m * q[index]).sum(-1), index, n_sets)
            r = scatter_sum(a.unsqueeze(-1) * m, index, n_sets)
            q_star = torch.cat([q, r], dim=-1)
        return q_star


class MEGNetBlock(nn.Module):
    """One MEGNet graph-network block (Chen et al. 2019, eqs. 1-6), with pre-dense layers.

    With ``e_k`` the bond from ``v_sk`` to ``v_rk`` and ``u`` the global state::

        e_k' = phi_e(v_sk ⊕ v_rk ⊕ e_k ⊕ u)                          (eq. 1-2)
        v_i' = phi_v(mean_{k: r_k = i} e_k' ⊕ v_i ⊕ u)                (eq. 3-4)
        u'   = phi_u(mean_k e_k' ⊕ mean_i v_i' ⊕ u)                   (eq. 5-6)

    ``phi_*`` are MLPs with two hidden layers (64, 64) and output 32, softplus2 everywhere
    (``MEGNetLayer([64, 64, 32], ...)``). When `pre_dense`, each of v, e, u first goes through
    ``Dense(64) -> Dense(32)`` (the reference ``one_block(..., has_ff=True)``, blocks 2..n).
    The residual sum is done by the caller.

    Args:
        dim: block input/output width (32).
        hidden: MLP hidden width (64).
        pre_dense: apply the dense pre-layers.
    """

    def __init__(self, dim: int = 32, hidden: int = 64, pre_dense: bool = True) -> None:
        super().__init__()
        act = ShiftedSoftplus
        self.pre = (
            nn.ModuleList([mlp([dim, hidden, dim], act) for _ in range(3)]) if pre_dense else None
        )
        self.phi_e = mlp([4 * dim, hidden, hidden, dim], act)
        self.phi_v = mlp([3 * dim, hidden, hidden, dim], act)
        self.phi_u = mlp([3 * dim, hidden, hidden, dim], act)

    def forward(
        self, v: Tensor, e: Tensor, u: Tensor, graph: CrystalGraph
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Update all three levels.

        Args:
            v: (N, dim) atoms. e: (E, dim) bonds. u: (G, dim) states.
            graph: supplies edge_index (2, E), batch (N,), edge_batch (E,).

        Returns:
            (v', e', u') with the shapes of (v, e, u).
        """
        if self.pre is not None:
            v, e, u = self.pre[0](v), self.pre[1](e), self.pre[2](u)
        src, dst = graph.edge_index
        n, g = v.shape[0], u.shape[0]
        blocks = [(v, src), (v, dst), (e, None), (u, graph.edge_batch)]
        e = self.phi_e[1:](split_linear(self.phi_e[0], blocks))  # phi_e(v_s ⊕ v_r ⊕ e ⊕ u)
        v = self.phi_v(torch.cat([scatter_mean(e, dst, n), v, u[graph.batch]], dim=-1))
        u = self.phi_u(
            torch.cat(
                [scatter_mean(e, graph.edge_batch, g), scatter_mean(v, graph.batch, g), u], dim=-1
            )
        )
        return v, e, u


class MEGNet(nn.Module):
    """MatErials Graph Network (Chen et al., Chem. Mater. 2019), crystal defaults.

    Atom embedding ``Linear(in_dim, 16, bias=False)`` (= an embedding table for one-hot Z);
    bonds: 100 Gaussians on [0, 5] Å, width 0.5 (``exp(-(d - mu_k)^2 / 0.5^2)``); global state
    input of `state_dim` zeros (MEGNet's default ``[0, 0]`` for crystals, overridable with
    ``forward(graph, state=...)``). Each level goes through ``Dense(64) -> Dense(32)``; then
    `n_blocks` :class:`MEGNetBlock` with residual sums; then Set2Set (T = 3, width 16) over
    atoms and over bonds, concatenated with the state (32 + 32 + 32) ->
    ``Dense(32) -> Dense(16) -> Linear(out_dim)``. Activation softplus2 (shifted softplus).
    Graph: radius 5 Å, no neighbour cap. For ``node_level``, the head reads ``v_i ⊕ u``.

    Args:
        in_dim: F, node feature width (one-hot Z by default).
        edge_dim: K, width of ``graph.edge_attr``; unused (the model expands
            ``graph.edge_dist`` itself), part of the common model interface.
        out_dim: targets per graph.
        node_level: per-atom outputs.
        embed_dim: atom embedding width (16).
        dim: block width (32).
        hidden: MLP hidden width (64).
        n_blocks: MEGNet blocks (3).
        set2set_dim: Set2Set LSTM width (16).
        set2set_steps: Set2Set steps (3).
        state_dim: global state input width (2).
        n_rbf: number of Gaussians (100).
        rbf_width: Gaussian width in Å (0.5).
        cutoff: radius in Å (5).
        max_neighbors: optional cap (None, as MEGNet).
    """

    NAME: ClassVar[str] = "megnet"
    #: Parameter-name prefixes of the parts fine-tuning treats apart (``ecn.nn.finetune_parts``).
    PARTS: ClassVar[dict[str, str]] = {"embedding": "embedding", "layers": "blocks", "head": "head"}
    GRAPH_SETTINGS: ClassVar[dict[str, Any]] = unit_cell_radius_graph(5.0, "onehot_z")
    SYMMETRY: ClassVar[str] = "euclidean"

    def __init__(
        self,
        in_dim: int,
        edge_dim: int,
        out_dim: int = 1,
        node_level: bool = False,
        *,
        embed_dim: int = 16,
        dim: int = 32,
        hidden: int = 64,
        n_blocks: int = 3,
        set2set_dim: int = 16,
        set2set_steps: int = 3,
        state_dim: int = 2,
        n_rbf: int = 100,
        rbf_width: float = 0.5,
        cutoff: float = 5.0,
        max_neighbors: int | None = None,
    ) -> None:
        super().__init__()
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
        self.config = ModelConfig(
            self.NAME,
            in_dim,
            edge_dim,
            out_dim,
            node_level,
            options={
                "embed_dim": embed_dim,
                "dim": dim,
                "hidden": hidden,
                "n_blocks": n_blocks,
                "set2set_dim": set2set_dim,
                "set2set_steps": set2set_steps,
                "state_dim": state_dim,
                "n_rbf": n_rbf,
                "rbf_width": rbf_width,
                "cutoff": cutoff,
                "max_neighbors": max_neighbors,
            },
        )
        act = ShiftedSoftplus
        self.in_dim, self.node_level, self.state_dim = in_dim, node_level, state_dim
        self.cutoff, self.max_neighbors = cutoff, max_neighbors
        self.rbf = GaussianRBF(0.0, cutoff, n_rbf, rbf_width)
        self.embedding = nn.Linear(in_dim, embed_dim, bias=False)
        self.ff_v = mlp([embed_dim, hidden, dim], act)
        self.ff_e = mlp([n_rbf, hidden, dim], act)
        self.ff_u = mlp([state_dim, hidden, dim], act)
        self.blocks = nn.ModuleList(
            [MEGNetBlock(dim, hidden, pre_dense=k > 0) for k in range(n_blocks)]
        )
        if node_level:
            self.s2s_v = self.s2s_e = None
            head_in = 2 * dim
        else:
            self.s2s_v = Set2Set(dim, set2set_dim, set2set_steps)
            self.s2s_e = Set2Set(dim, set2set_dim, set2set_steps)
            head_in = 4 * set2set_dim + dim
        self.head = nn.Sequential(
            mlp([head_in, dim, set2set_dim], act), nn.Linear(set2set_dim, out_dim)
        )
        glorot_init(self)

    def forward(self, graph: CrystalGraph, state: Tensor | None = None) -> Tensor:
        """Predict.

        Args:
            graph: unit-cell `CrystalGraph` with x: (N, in_dim).
            state: optional (G, state_dim) global state input (default zeros).

        Returns:
            (G, out_dim), or (N, out_dim) when ``node_level``.
        """
        check_node_features(graph, self.in_dim)
        graph = restrict_neighbors(graph, self.cutoff, self.max_neighbors)
        g = graph.num_graphs
        if state is None:
            state = graph.x.new_zeros(g, self.state_dim)
        elif tuple(state.shape) != (g, self.state_dim):
            raise ValueError(f"state must be ({g}, {self.state_dim}), got {tuple(state.shape)}")
        v = self.ff_v(self.embedding(graph.x))
        e = self.ff_e(self.rbf(graph.edge_dist.to(graph.x.dtype)))
        u = self.ff_u(state)
        for block in self.blocks:
            dv, de, du = block(v, e, u, graph)
            v, e, u = v + dv, e + de, u + du
        if self.node_level:
            return self.head(torch.cat([v, u[graph.batch]], dim=-1))
        if self.s2s_v is None or self.s2s_e is None:
            raise ValueError("graph-level readout missing (model built with node_level=True)")
        pooled = torch.cat(
            [self.s2s_v(v, graph.batch, g), self.s2s_e(e, graph.edge_batch, g), u], dim=-1
        )
        return self.head(pooled)
