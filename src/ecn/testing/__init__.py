"""Checks users can run on their own models, shipped with ecn (as e3nn and nequip ship theirs).

Equivariance on crystal graphs (:mod:`ecn.testing.equivariance`, paper Claim 6.1):
:func:`permute_graph`, :func:`equivariance_errors`, :func:`max_equivariance_error`,
:func:`assert_equivariant` with the negative control :func:`assert_not_equivariant`; storing
the nodes in another order: :func:`relabel_nodes`, :func:`relabelling_error`,
:func:`random_cycle` (never the identity).

Same crystal, same prediction (:mod:`ecn.testing.invariance`, issue 14):
:func:`equivalent_descriptions` (each tagged with its :data:`DESCRIPTION_KINDS` family),
:func:`representation_errors`, :func:`assert_representation_invariant`; for models that claim
Euclidean invariance, :func:`rotated_structure` / :func:`shifted_origin`.

Nearby crystal, nearby prediction (:mod:`ecn.testing.continuity`, issue 26):
:func:`perturbations` (from :mod:`ecn.graphs.perturb`), :func:`continuity_errors`,
:func:`assert_continuous`.

The crystal-level checks predict as users do: a model goes through an
``ecn.inference.Predictor`` (:mod:`ecn.testing.predict`), so ``ecn.testing`` sits above
``ecn.inference``.

The model contract (:mod:`ecn.testing.model_contract`): :class:`ModelContract`, the pytest
mixin every model in ``ecn.nn.MODELS`` runs (``tests/nn/test_model_contract.py``), in float32
and float64 with per-dtype :data:`~ecn.testing.model_contract.TOLERANCES`. It needs pytest, so
it is imported on first use: ``from ecn.testing import ModelContract``.

Small real crystals built in code: :mod:`ecn.testing.crystals`.
"""

from __future__ import annotations

from typing import Any

from ecn.graphs.descriptions import (
    DESCRIPTION_KINDS,
    Description,
    equivalent_descriptions,
    rotated_structure,
    shifted_origin,
)
from ecn.graphs.perturb import DEFAULT_EPSILONS, PERTURBATION_KINDS, Perturbation, perturbations
from ecn.testing.continuity import assert_continuous, continuity_errors
from ecn.testing.equivariance import (
    assert_equivariant,
    assert_not_equivariant,
    equivariance_errors,
    max_equivariance_error,
    permute_graph,
    random_cycle,
    relabel_nodes,
    relabelling_error,
)
from ecn.testing.invariance import assert_representation_invariant, representation_errors

__all__ = [
    "DEFAULT_EPSILONS",
    "DESCRIPTION_KINDS",
    "PERTURBATION_KINDS",
    "Description",
    "ModelContract",
    "Perturbation",
    "assert_continuous",
    "assert_equivariant",
    "assert_not_equivariant",
    "assert_representation_invariant",
    "continuity_errors",
    "equivalent_descriptions",
    "equivariance_errors",
    "max_equivariance_error",
    "permute_graph",
    "perturbations",
    "random_cycle",
    "relabel_nodes",
    "relabelling_error",
    "representation_errors",
    "rotated_structure",
    "shifted_origin",
]


def __getattr__(name: str) -> Any:
    """``ModelContract`` on first use: it imports pytest, which users of the checks need not
    have installed."""
    if name == "ModelContract":
        from ecn.testing.model_contract import ModelContract

        return ModelContract
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
