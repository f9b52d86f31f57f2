"""Node and edge features of a batch, computed per batch and never stored.

Node features are the atom encoding (one-hot Z, group + period, or CGCNN's 92 numbers), the +U
flag and the cell one-hot; edge features are the Gaussian expansion of the distances. Both are
built on whatever device the batch is on, by :meth:`ecn.graphs.cover.UnitBatch.expand`.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from ecn.elements import CGCNN_DIM, GROUP, MAX_Z, N_GROUPS, PERIOD, cgcnn_feature_table
from ecn.graphs.settings import GraphSettings

__all__ = [
    "GAUSSIAN_MIN_EXPONENT",
    "gaussian_basis",
    "gaussian_features",
    "node_features",
]


@lru_cache(maxsize=8)
def _tables(device: str) -> dict[str, Tensor]:
    dev = torch.device(device)
    return {
        "group": torch.as_tensor(GROUP, device=dev),
        "period": torch.as_tensor(PERIOD, device=dev),
        "cgcnn": torch.tensor(cgcnn_feature_table(), dtype=torch.float32, device=dev),
    }


#: Gaussian features exp(a) with exponent a at or below this are exactly 0 (they are < 2e-35).
#: Why: far from its centre a narrow Gaussian underflows into subnormal floats, and subnormal
#: operands make CPU matmuls many times slower (CGCNN's 41 Gaussians of width 0.2 Å on MP: its
#: weight-gradient matmuls ran 10-20x slower, a whole training step 3x; benchmarks/denormals.py).
GAUSSIAN_MIN_EXPONENT = -80.0


def gaussian_basis(dist: Tensor, centers: Tensor, width: float) -> Tensor:
    """exp(-(d - mu_k)^2 / w^2) for every distance and centre, exactly 0 far from a centre
    (:data:`GAUSSIAN_MIN_EXPONENT`): (E,), (K,) -> (E, K). The one Gaussian expansion of ecn."""
    arg = -((dist[:, None] - centers[None, :]) ** 2) / width**2
    return torch.where(arg > GAUSSIAN_MIN_EXPONENT, torch.exp(arg), 0.0)


def gaussian_features(dist: Tensor, settings: GraphSettings) -> Tensor:
    """exp(-(d - mu_k)^2 / w^2), K centres evenly spaced on [0, gaussian_max]: (E,) -> (E, K)."""
    mu = torch.linspace(
        0.0, settings.gaussian_max, settings.n_gaussians, device=dist.device, dtype=torch.float64
    ).to(dist.dtype)
    return gaussian_basis(dist, mu, settings.gaussian_width)


def node_features(z: Tensor, cell: Tensor, settings: GraphSettings, hubbard: Tensor) -> Tensor:
    """Node features [atom encoding, +U flag?, onehot(cell)?]: (N, settings.node_feature_dim).

    Args:
        z: (N,) long atomic numbers 1..MAX_Z.
        cell: (N,) long cell index a in 0..7.
        hubbard: (N,) bool, the structure-level +U flag of each node's crystal.
    """
    t = _tables(str(z.device))
    n = z.shape[0]
    x = torch.zeros(n, settings.node_feature_dim, dtype=torch.float32, device=z.device)
    rows = torch.arange(n, device=z.device)
    if settings.node_features == "onehot_z":
        x[rows, z - 1] = 1.0
        col = MAX_Z
    elif settings.node_features == "cgcnn92":
        x[:, :CGCNN_DIM] = t["cgcnn"][z]
        col = CGCNN_DIM
    else:
        x[rows, t["group"][z] - 1] = 1.0
        x[rows, N_GROUPS + t["period"][z] - 1] = 1.0
        col = N_GROUPS + 7
    if settings.hubbard_u:
        x[:, col] = hubbard.to(x.dtype)
        col += 1
    if settings.cell_onehot:
        x[rows, col + cell] = 1.0
    return x
