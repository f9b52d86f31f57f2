"""The fixed yardstick of `ecn bench layers`: a plain MPNN layer written the obvious way.

Do not optimise this file: layer speed-ups are reported as ratios against it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class PlainMPNNLayer(nn.Module):
    """Edge MLP on ``cat[h_i, h_j, e_ij]``, sum with ``index_add_``, residual node MLP.

    Same widths as one ECN layer: edge MLP ``(2d + K) -> d -> d``, node MLP ``2d -> d -> d``.

    Args:
        width: node width d.
        edge_features: edge feature width K.
    """

    def __init__(self, width: int, edge_features: int) -> None:
        super().__init__()
        self.edge_mlp = nn.Sequential(
            nn.Linear(2 * width + edge_features, width), nn.SiLU(), nn.Linear(width, width)
        )
        self.node_mlp = nn.Sequential(
            nn.Linear(2 * width, width), nn.SiLU(), nn.Linear(width, width)
        )

    def forward(self, h: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        """Args: h (N, d); edge_index (2, E) [source; target]; edge_attr (E, K). Returns (N, d)."""
        src, dst = edge_index
        m = self.edge_mlp(torch.cat([h[dst], h[src], edge_attr], dim=1))
        agg = torch.zeros_like(h)
        agg.index_add_(0, dst, m)
        return h + self.node_mlp(torch.cat([h, agg], dim=1))
