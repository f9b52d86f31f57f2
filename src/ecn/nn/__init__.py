"""Equivariant message passing, the ECN model, the baselines and the one model contract.

* :class:`ColoredLinear`: C affine maps in one tensor, applied without one-hot expansion.
* :func:`build_color_plan` / :class:`ColorPlan`: the per-batch edge colouring, sorted once;
  :func:`same_atom_mask`: the edges between images of one atom (``ECN(same_atom=True)``).
* :class:`EquivariantMessagePassing`: one layer (paper eqs. 8-10, 15).
* :class:`ECN` and the baselines :class:`CGCNN`, :class:`MEGNet`, :class:`SchNet`, all in
  :data:`MODELS`, all taking ``(in_dim, edge_dim, out_dim=1, node_level=False, *, <options>)``.
* :class:`ModelConfig`, :func:`build_model`, :func:`model_options`; one serialisation:
  :func:`model_to_dict` / :func:`model_from_dict` (config + state dict).

Graph settings per model: ``ecn.nn.graph_settings.resolve_graph_settings`` (not imported here:
it reads the dataset registry).
"""

from ecn.nn.baselines import CGCNN, MEGNet, SchNet
from ecn.nn.colored import ColoredLinear, grouped_matmul
from ecn.nn.config import SYMMETRIES, ModelConfig
from ecn.nn.layers import EquivariantMessagePassing
from ecn.nn.models import (
    ECN,
    MODELS,
    build_model,
    finetune_parts,
    model_from_dict,
    model_options,
    model_to_dict,
    resolve_options,
)
from ecn.nn.plan import ColorPlan, build_color_plan, n_base_colors, same_atom_mask
from ecn.symmetry.colorings import GROUPS

__all__ = [
    "CGCNN",
    "ECN",
    "GROUPS",
    "MODELS",
    "SYMMETRIES",
    "ColorPlan",
    "ColoredLinear",
    "EquivariantMessagePassing",
    "MEGNet",
    "ModelConfig",
    "SchNet",
    "build_color_plan",
    "build_model",
    "finetune_parts",
    "grouped_matmul",
    "model_from_dict",
    "model_options",
    "model_to_dict",
    "n_base_colors",
    "resolve_options",
    "same_atom_mask",
]
