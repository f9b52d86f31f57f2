"""CGCNN: Xie & Grossman, PRL 120, 145301 (2018), eq. 5; reference code ``txie-93/cgcnn``
(``model.py``: ``ConvLayer``, ``CrystalGraphConvNet``).

A baseline of the paper's Tables 1-2 (``ecn.nn`` package docstring: the common interface, unit-cell
radius graphs, invariances; tested in ``tests/nn/test_baselines.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ecn.graphs.graph import CrystalGraph
from ecn.graphs.restrict import NEIGHBOR_TIES, restrict_neighbors
from ecn.graphs.settings import unit_cell_radius_graph
from ecn.nn.config import ModelConfig, check_node_features
from ecn.nn.dense import split_linear
from ecn.nn.radial import GaussianRBF
from ecn.nn.scatter import scatter_mean, scatter_sum

__all__ = ["CGCNN", "CGCNNConv"]


class CGCNNConv(nn.Module):
    """CGCNN convolution (Xie & Grossman 2018, eq. 5, with the reference code's batch norms).

    With ``z_ij = v_i ⊕ v_j ⊕ u_ij`` (target, source, edge features)::

        v_i' = softplus(v_i + BN(sum_j sigmoid(BN(z_ij W_f + b_f)) ⊙ softplus(BN(z_ij W_s + b_s))))

    ``W_f`` and ``W_s`` are one ``Linear(2d + K, 2d)`` split in halves, as in ``ConvLayer``.

    Args:
        node_dim: d, atom feature width.
        edge_dim: K, bond feature width.
    """

    def __init__(self, node_dim: int, edge_dim: int) -> None:
        super().__init__()
        self.fc_full = nn.Linear(2 * node_dim + edge_dim, 2 * node_dim)
        self.bn1 = nn.BatchNorm1d(2 * node_dim)
        self.bn2 = nn.BatchNorm1d(node_dim)

    def forward(self, h: Tensor, edge_index: Tensor, e: Tensor) -> Tensor:
        """One convolution.

        Args:
            h: (N, d) atom features.
            edge_index: (2, E) [source j; target i].
            e: (E, K) bond features.

        Returns:
            (N, d) updated atom features.
        """
        src, dst = edge_index
        gated = self.bn1(split_linear(self.fc_full, [(h, dst), (h, src), (e, None)]))
        filt, core = gated.chunk(2, dim=-1)
        msg = torch.sigmoid(filt) * F.softplus(core)
        return F.softplus(h + self.bn2(scatter_sum(msg, dst, h.shape[0])))


class CGCNN(nn.Module):
    """Crystal Graph Convolutional Neural Network (Xie & Grossman, PRL 2018).

    Embedding ``Linear(in_dim, atom_dim)``; `n_conv` :class:`CGCNNConv` layers on Gaussian bond
    features (``exp(-(d - mu_k)^2 / 0.2^2)``, mu_k = 0, 0.2, ..., 8 Å: 41 features); mean pool
    (eq. 6: ``v_c = (1/N) sum_i v_i``); softplus -> ``Linear(atom_dim, hidden_dim)`` ->
    softplus -> (`n_hidden` - 1 more hidden layers) -> ``Linear(hidden_dim, out_dim)``.
    Graph: radius 8 Å, at most 12 neighbours per atom (ties at the cap kept, see
    :func:`restrict_neighbors`). Defaults are the paper's/reference code's.

    Args:
        in_dim: F, node feature width: the reference's 92-number atom encoding by default
            (``cgcnn92``, rebuilt from element data; ``results/baselines/cgcnn_reference.md``
            measures it against txie-93/cgcnn), see ``GRAPH_SETTINGS``.
        edge_dim: K, width of ``graph.edge_attr``; unused (the model expands
            ``graph.edge_dist`` itself), part of the common model interface.
        out_dim: targets per graph.
        node_level: return per-atom outputs (skip the pool).
        atom_dim: atom embedding width (64).
        hidden_dim: width after pooling (128).
        n_conv: convolution layers (3).
        n_hidden: hidden dense layers after pooling (1).
        cutoff: radius in Å (8).
        max_neighbors: neighbour cap (12).
        rbf_step: Gaussian spacing and width in Å (0.2).
        neighbor_ties: ``"keep"`` the neighbours tied with the 12th (default: invariant) or
            ``"cut"`` at exactly 12 as the reference code (see :func:`restrict_neighbors`).
    """

    NAME: ClassVar[str] = "cgcnn"
    #: Parameter-name prefixes of the parts fine-tuning treats apart (``ecn.nn.finetune_parts``).
    PARTS: ClassVar[dict[str, str]] = {
        "embedding": "embedding",
        "layers": "convs",
        "head": "fc_out",
    }
    GRAPH_SETTINGS: ClassVar[dict[str, Any]] = unit_cell_radius_graph(8.0, "cgcnn92")
    SYMMETRY: ClassVar[str] = "euclidean"

    @staticmethod
    def finish_graph_settings(
        merged: dict[str, Any], user: Mapping[str, Any], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Store only about the neighbours the model keeps (its ``max_neighbors`` option, every
        default filled in): on MP's 8 Å graphs ~10x fewer edges to store and load per batch. The
        stored cap is a superset (``ecn.graphs.neighbors.CAP_SLACK``); the model's own rule
        (:func:`restrict_neighbors`, ties) still decides.

        Raises:
            ValueError: a graph ``max_neighbors`` below the model's (it would lose neighbours).
        """
        out = dict(merged)
        k = options["max_neighbors"]
        if "max_neighbors" not in user:
            out["max_neighbors"] = k
        elif user["max_neighbors"] is not None and (k is None or user["max_neighbors"] < k):
            raise ValueError(
                f"graph max_neighbors={user['max_neighbors']} stores fewer neighbours than the "
                f"model keeps (max_neighbors={k})"
            )
        return out

    def __init__(
        self,
        in_dim: int,
        edge_dim: int,
        out_dim: int = 1,
        node_level: bool = False,
        *,
        atom_dim: int = 64,
        hidden_dim: int = 128,
        n_conv: int = 3,
        n_hidden: int = 1,
        cutoff: float = 8.0,
        max_neighbors: int | None = 12,
        rbf_step: float = 0.2,
        neighbor_ties: str = "keep",
    ) -> None:
        super().__init__()
        if n_conv < 1 or n_hidden < 1:
            raise ValueError("n_conv and n_hidden must be >= 1")
        if neighbor_ties not in NEIGHBOR_TIES:
            raise ValueError(f"neighbor_ties must be one of {NEIGHBOR_TIES}, got {neighbor_ties!r}")
        self.config = ModelConfig(
            self.NAME,
            in_dim,
            edge_dim,
            out_dim,
            node_level,
            options={
                "atom_dim": atom_dim,
                "hidden_dim": hidden_dim,
                "n_conv": n_conv,
                "n_hidden": n_hidden,
                "cutoff": cutoff,
                "max_neighbors": max_neighbors,
                "rbf_step": rbf_step,
                "neighbor_ties": neighbor_ties,
            },
        )
        self.in_dim, self.node_level = in_dim, node_level
        self.cutoff, self.max_neighbors = cutoff, max_neighbors
        self.neighbor_ties = neighbor_ties
        n_rbf = round(cutoff / rbf_step) + 1
        self.rbf = GaussianRBF(0.0, (n_rbf - 1) * rbf_step, n_rbf, rbf_step)
        self.embedding = nn.Linear(in_dim, atom_dim)
        self.convs = nn.ModuleList([CGCNNConv(atom_dim, n_rbf) for _ in range(n_conv)])
        self.conv_to_fc = nn.Linear(atom_dim, hidden_dim)
        self.fcs = nn.ModuleList([nn.Linear(hidden_dim, hidden_dim) for _ in range(n_hidden - 1)])
        self.fc_out = nn.Linear(hidden_dim, out_dim)

    def forward(self, graph: CrystalGraph) -> Tensor:
        """Predict.

        Args:
            graph: unit-cell `CrystalGraph` (batched or not) with x: (N, in_dim).

        Returns:
            (G, out_dim), or (N, out_dim) when ``node_level``.
        """
        check_node_features(graph, self.in_dim)
        graph = restrict_neighbors(graph, self.cutoff, self.max_neighbors, ties=self.neighbor_ties)
        e = self.rbf(graph.edge_dist.to(graph.x.dtype))
        h = self.embedding(graph.x)
        for conv in self.convs:
            h = conv(h, graph.edge_index, e)
        if not self.node_level:
            h = scatter_mean(h, graph.batch, graph.num_graphs)
        h = F.softplus(self.conv_to_fc(F.softplus(h)))
        for fc in self.fcs:
            h = F.softplus(fc(h))
        return self.fc_out(h)
