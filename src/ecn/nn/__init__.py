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

The baselines (:mod:`ecn.nn.cgcnn`, :mod:`ecn.nn.megnet`, :mod:`ecn.nn.schnet`): the paper
(Kaba & Ravanbakhsh 2022, Tables 1-2) compares ECN with CGCNN and MEGNet trained on the same
splits; SchNet is the continuous-filter reference. Each is a faithful, dependency-free
re-implementation (aggregation with ``index_add_``, :mod:`ecn.nn.scatter`) of the original
architecture with its original hyperparameters as defaults. All three consume a
:class:`~ecn.graphs.graph.CrystalGraph` built on the *unit cell* (``supercell=False``) and use
only interatomic distances, so their predictions are invariant to rotations of the Cartesian
frame, permutations of the atoms and the choice of unit-cell origin (``SYMMETRY =
"euclidean"``, tested in ``tests/nn/test_baselines.py``). Each computes its own radial basis
from ``graph.edge_dist`` (:mod:`ecn.nn.radial`; ``edge_dim`` is accepted for the common
interface and unused) and first restricts the graph to its own cutoff / neighbour cap with
:func:`ecn.graphs.restrict.restrict_neighbors`, so any radius graph at least as large as the
model's cutoff gives the original model's neighbourhoods. Hyperparameter names deliberately
avoid the generic ``width`` / ``layers`` / ``group`` of the ECN model, and ``build_model``
rejects an option a model does not take, so a harness cannot silently change a baseline's
original sizes.
"""

from ecn.nn.cgcnn import CGCNN
from ecn.nn.colored import ColoredLinear, grouped_matmul
from ecn.nn.config import SYMMETRIES, ModelConfig
from ecn.nn.ecn import SMOOTHING_OPTIONS, continuous_options
from ecn.nn.layers import EquivariantMessagePassing
from ecn.nn.megnet import MEGNet
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
from ecn.nn.schnet import SchNet
from ecn.symmetry.colorings import GROUPS

__all__ = [
    "CGCNN",
    "ECN",
    "GROUPS",
    "MODELS",
    "SMOOTHING_OPTIONS",
    "SYMMETRIES",
    "ColorPlan",
    "ColoredLinear",
    "EquivariantMessagePassing",
    "MEGNet",
    "ModelConfig",
    "SchNet",
    "build_color_plan",
    "build_model",
    "continuous_options",
    "finetune_parts",
    "grouped_matmul",
    "model_from_dict",
    "model_options",
    "model_to_dict",
    "n_base_colors",
    "resolve_options",
    "same_atom_mask",
]
