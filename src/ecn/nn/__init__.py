"""Equivariant message passing and the ECN model (paper §6-7).

* :class:`ColoredLinear`: C affine maps in one tensor, applied without one-hot expansion.
* :func:`build_color_plan` / :class:`ColorPlan`: the per-batch edge colouring, sorted once.
* :class:`EquivariantMessagePassing`: one layer (eqs. 8-10, 15).
* :class:`ECN`, :data:`MODELS`, :func:`build_model`; checkpoints as config + state dict.
"""

from ecn.nn.colored import ColoredLinear, grouped_matmul
from ecn.nn.layers import EquivariantMessagePassing
from ecn.nn.models import (
    ECN,
    MODELS,
    build_model,
    model_checkpoint,
    model_from_checkpoint,
    restore_model,
    save_model,
)
from ecn.nn.plan import GROUPS, ColorPlan, build_color_plan, n_base_colors

__all__ = [
    "ECN",
    "GROUPS",
    "MODELS",
    "ColorPlan",
    "ColoredLinear",
    "EquivariantMessagePassing",
    "build_color_plan",
    "build_model",
    "grouped_matmul",
    "model_checkpoint",
    "model_from_checkpoint",
    "n_base_colors",
    "restore_model",
    "save_model",
]
