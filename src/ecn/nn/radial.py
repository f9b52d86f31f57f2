"""Radial parts of the baselines: a Gaussian basis of distances and SchNet's cosine cutoff.

Each baseline expands ``graph.edge_dist`` with its own basis (the graph's ``edge_attr`` is
ignored), so the original model's features do not depend on the graph settings.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ecn.graphs.features import gaussian_basis

__all__ = ["GaussianRBF", "cosine_cutoff"]


def cosine_cutoff(dist: Tensor, cutoff: float) -> Tensor:
    """Cosine cutoff of SchNet (Schütt et al. 2018, eq. 10; Behler 2011).

    ``f(d) = 0.5 (cos(pi d / r_c) + 1)`` for ``d < r_c``, else 0.

    Args:
        dist: (E,) distances in Å.
        cutoff: r_c in Å.

    Returns:
        (E,) weights in [0, 1].
    """
    f = 0.5 * (torch.cos(dist * (math.pi / cutoff)) + 1.0)
    return f * (dist < cutoff).to(dist.dtype)


class GaussianRBF(nn.Module):
    """Gaussian radial basis ``exp(-(d - mu_k)^2 / width^2)`` on evenly spaced centres.

    CGCNN: 41 centres on [0, 8] Å (step 0.2), width 0.2. MEGNet: 100 centres on [0, 5] Å,
    width 0.5. SchNet writes the same function as ``exp(-gamma (d - mu_k)^2)``, i.e.
    ``width = gamma^-1/2`` (gamma = 10 Å^-2).

    Args:
        start: first centre (Å).
        stop: last centre (Å).
        n: number of centres K.
        width: Gaussian width w (Å).
    """

    def __init__(self, start: float, stop: float, n: int, width: float) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"need at least one Gaussian, got n={n}")
        if width <= 0:
            raise ValueError(f"Gaussian width must be positive, got {width}")
        self.register_buffer("centers", torch.linspace(start, stop, n), persistent=False)
        self.width = width

    def forward(self, dist: Tensor) -> Tensor:
        """Expand distances.

        Args:
            dist: (E,) distances in Å.

        Returns:
            (E, K) features.
        """
        return gaussian_basis(dist, self.centers.to(dist.dtype), self.width)
