"""Dense stacks as the reference implementations build them (Keras MEGNet, schnetpack).

Shifted softplus, an MLP builder and Glorot-uniform initialisation: the defaults where those
codes differ from PyTorch's, kept in one place for the baselines that reproduce them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ShiftedSoftplus", "glorot_init", "mlp", "split_linear"]


class ShiftedSoftplus(nn.Module):
    """``ssp(x) = softplus(x) - log 2`` (SchNet's activation; MEGNet's ``softplus2``)."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = math.log(2.0)

    def forward(self, x: Tensor) -> Tensor:
        """Apply elementwise; any shape."""
        return F.softplus(x) - self.shift


def mlp(dims: list[int], act: type[nn.Module], last_act: bool = True) -> nn.Sequential:
    """Dense layers ``dims[0] -> dims[1] -> ...`` with `act` after each (and after the last
    one when `last_act`)."""
    layers: list[nn.Module] = []
    for k in range(len(dims) - 1):
        layers.append(nn.Linear(dims[k], dims[k + 1]))
        if last_act or k < len(dims) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def glorot_init(module: nn.Module) -> None:
    """Xavier/Glorot-uniform weights and zero biases for every Linear in `module`.

    The initialisation of the reference implementations (Keras ``glorot_uniform`` in MEGNet,
    ``xavier_uniform_`` in schnetpack's ``Dense``); PyTorch's default is about 1.5-2x smaller,
    which leaves these deep softplus2 stacks nearly insensitive to their input at start.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def split_linear(linear: nn.Linear, blocks: Sequence[tuple[Tensor, Tensor | None]]) -> Tensor:
    """``linear(cat([x_1[index_1], x_2[index_2], ...], -1))`` without the concatenation: each
    block goes through its slice of the weight on its own rows, then is gathered (``index``
    None: the block is already one row per output row).

    Why: the edge MLPs of CGCNN and MEGNet read mostly node (and state) features gathered per
    edge; multiplying before gathering does that work once per node instead of once per edge
    (CGCNN's convolution on MP: ~4x fewer edge-level multiply-adds). The same function and
    parameters as the concatenated form, equal to float rounding (tests/nn/test_baselines.py).

    Args:
        linear: ``Linear(sum of the block widths, out)``.
        blocks: ``(x_k, index_k)`` in the order of the concatenation: x_k (R_k, w_k), index_k
            (E,) long rows of x_k, or None when x_k is (E, w_k).

    Returns:
        (E, out).
    """
    w = linear.weight
    if sum(x.shape[1] for x, _ in blocks) != w.shape[1]:
        raise ValueError(f"blocks are {[x.shape[1] for x, _ in blocks]} wide, not {w.shape[1]}")
    out: Tensor | None = None
    at = 0
    for x, index in blocks:
        part = F.linear(x, w[:, at : at + x.shape[1]])
        at += x.shape[1]
        if index is not None:
            part = part[index]
        out = part if out is None else out.add_(part)  # linear/index keep no output for backward
    assert out is not None
    return out if linear.bias is None else out.add_(linear.bias)
