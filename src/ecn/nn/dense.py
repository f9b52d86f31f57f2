"""Dense stacks as the reference implementations build them (Keras MEGNet, schnetpack).

Shifted softplus, an MLP builder and Glorot-uniform initialisation: the defaults where those
codes differ from PyTorch's, kept in one place for the baselines that reproduce them.
"""

from __future__ import annotations

import math

from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ShiftedSoftplus", "glorot_init", "mlp"]


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
