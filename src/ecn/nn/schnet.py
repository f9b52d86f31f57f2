"""SchNet: Schütt, Sauceda, Kindermans, Tkatchenko & Müller, J. Chem. Phys. 148, 241722
(2018), eqs. 3-10; reference code ``atomistic-machine-learning/schnetpack``.

A baseline of the paper's Tables 1-2 (``ecn.nn`` package docstring: the common interface, unit-cell
radius graphs, invariances; tested in ``tests/nn/test_baselines.py``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from torch import Tensor, nn

from ecn.graphs.graph import CrystalGraph
from ecn.graphs.restrict import restrict_neighbors
from ecn.graphs.settings import unit_cell_radius_graph
from ecn.nn.config import ModelConfig, check_node_features
from ecn.nn.dense import ShiftedSoftplus, glorot_init
from ecn.nn.radial import GaussianRBF, cosine_cutoff
from ecn.nn.scatter import scatter_mean, scatter_sum

__all__ = ["SchNet", "SchNetInteraction"]


def _pool(h: Tensor, batch: Tensor, n_graphs: int, pool: str) -> Tensor:
    if pool == "mean":
        return scatter_mean(h, batch, n_graphs)
    return scatter_sum(h, batch, n_graphs)


class SchNetInteraction(nn.Module):
    """SchNet interaction block with a continuous-filter convolution (Schütt et al. 2018).

    Filter-generating network on the RBF expansion, times the cosine cutoff (eqs. 8-10)::

        W_ij = ssp(rbf(d_ij) W_1 + b_1) W_2 + b_2,   W_ij <- W_ij * f_cut(d_ij)
        x_i  = sum_j (h_j W_in) ⊙ W_ij                                  (cfconv, eq. 4)
        v_i  = ssp(x_i W_3 + b_3) W_4 + b_4                             (atom-wise layers)

    and the caller adds ``h_i <- h_i + v_i`` (eq. 3).

    Args:
        dim: atom feature width (64).
        n_filters: filter width (64).
        n_rbf: RBF width K.
    """

    def __init__(self, dim: int, n_filters: int, n_rbf: int) -> None:
        super().__init__()
        self.filter_net = nn.Sequential(
            nn.Linear(n_rbf, n_filters), ShiftedSoftplus(), nn.Linear(n_filters, n_filters)
        )
        self.in2f = nn.Linear(dim, n_filters, bias=False)
        self.f2out = nn.Sequential(
            nn.Linear(n_filters, dim), ShiftedSoftplus(), nn.Linear(dim, dim)
        )

    def forward(self, h: Tensor, edge_index: Tensor, rbf: Tensor, fcut: Tensor) -> Tensor:
        """Compute the residual update v.

        Args:
            h: (N, dim) atom features.
            edge_index: (2, E) [source j; target i].
            rbf: (E, K) radial basis of d_ij.
            fcut: (E,) cosine cutoff of d_ij.

        Returns:
            (N, dim) update v.
        """
        src, dst = edge_index
        w = self.filter_net(rbf) * fcut.unsqueeze(-1)
        x = scatter_sum(self.in2f(h)[src] * w, dst, h.shape[0])
        return self.f2out(x)


class SchNet(nn.Module):
    """SchNet (Schütt et al., J. Chem. Phys. 2018) for periodic crystals.

    Embedding ``Linear(in_dim, dim, bias=False)`` (= embedding table for one-hot Z);
    `n_interactions` :class:`SchNetInteraction` blocks with residual updates; RBF
    ``exp(-gamma (d - mu_k)^2)`` with `n_rbf` centres on [0, cutoff], gamma = 10 Å^-2; cosine
    cutoff; atom-wise ``Dense(dim/2, ssp) -> Dense(out_dim)``; then mean (intensive targets,
    default) or sum (extensive, the original energy model) over atoms. Graph: radius 5 Å (the
    paper's Materials Project setting), no neighbour cap.

    Args:
        in_dim: F, node feature width (one-hot Z by default).
        edge_dim: K, width of ``graph.edge_attr``; unused (the model expands
            ``graph.edge_dist`` itself), part of the common model interface.
        out_dim: targets per graph.
        node_level: per-atom outputs (skip the pool).
        dim: atom feature width (64).
        n_filters: filter width (64).
        n_interactions: interaction blocks (3).
        n_rbf: number of Gaussians (300).
        gamma: Gaussian coefficient in Å^-2 (10).
        cutoff: radius in Å (5).
        max_neighbors: optional cap (None).
        pool: "mean" or "sum".
    """

    NAME: ClassVar[str] = "schnet"
    #: Parameter-name prefixes of the parts fine-tuning treats apart (``ecn.nn.finetune_parts``).
    PARTS: ClassVar[dict[str, str]] = {
        "embedding": "embedding",
        "layers": "interactions",
        "head": "out",
    }
    GRAPH_SETTINGS: ClassVar[dict[str, Any]] = unit_cell_radius_graph(5.0, "onehot_z")
    SYMMETRY: ClassVar[str] = "euclidean"

    def __init__(
        self,
        in_dim: int,
        edge_dim: int,
        out_dim: int = 1,
        node_level: bool = False,
        *,
        dim: int = 64,
        n_filters: int = 64,
        n_interactions: int = 3,
        n_rbf: int = 300,
        gamma: float = 10.0,
        cutoff: float = 5.0,
        max_neighbors: int | None = None,
        pool: str = "mean",
    ) -> None:
        super().__init__()
        if pool not in ("mean", "sum"):
            raise ValueError(f"pool must be 'mean' or 'sum', got {pool!r}")
        if n_interactions < 1:
            raise ValueError(f"n_interactions must be >= 1, got {n_interactions}")
        if gamma <= 0:
            raise ValueError(f"gamma must be positive, got {gamma}")
        self.config = ModelConfig(
            self.NAME,
            in_dim,
            edge_dim,
            out_dim,
            node_level,
            options={
                "dim": dim,
                "n_filters": n_filters,
                "n_interactions": n_interactions,
                "n_rbf": n_rbf,
                "gamma": gamma,
                "cutoff": cutoff,
                "max_neighbors": max_neighbors,
                "pool": pool,
            },
        )
        self.in_dim, self.node_level, self.pool = in_dim, node_level, pool
        self.cutoff, self.max_neighbors = cutoff, max_neighbors
        self.rbf = GaussianRBF(0.0, cutoff, n_rbf, 1.0 / math.sqrt(gamma))
        self.embedding = nn.Linear(in_dim, dim, bias=False)
        self.interactions = nn.ModuleList(
            [SchNetInteraction(dim, n_filters, n_rbf) for _ in range(n_interactions)]
        )
        self.out = nn.Sequential(
            nn.Linear(dim, dim // 2), ShiftedSoftplus(), nn.Linear(dim // 2, out_dim)
        )
        glorot_init(self)

    def forward(self, graph: CrystalGraph) -> Tensor:
        """Predict.

        Args:
            graph: unit-cell `CrystalGraph` with x: (N, in_dim).

        Returns:
            (G, out_dim), or (N, out_dim) when ``node_level``.
        """
        check_node_features(graph, self.in_dim)
        graph = restrict_neighbors(graph, self.cutoff, self.max_neighbors)
        dist = graph.edge_dist.to(graph.x.dtype)
        rbf, fcut = self.rbf(dist), cosine_cutoff(dist, self.cutoff)
        h = self.embedding(graph.x)
        for block in self.interactions:
            h = h + block(h, graph.edge_index, rbf, fcut)
        y = self.out(h)
        if self.node_level:
            return y
        return _pool(y, graph.batch, graph.num_graphs, self.pool)
