"""Nearby crystal, nearby prediction (issue 26).

:func:`perturbations` (from :mod:`ecn.graphs.perturb`, re-exported here): the crystal with every
atom moved by ε along fixed directions and under small random strains, over a range of sizes
(:data:`DEFAULT_EPSILONS`, 1e-5 .. 1e-2 Å).
:func:`continuity_errors` / :func:`assert_continuous`: the change of a prediction under them,
asserted against ``atol + lipschitz * ε`` (a function continuous in the positions moves by
O(ε); a hard neighbour threshold, colour or canonical choice crossed by the move jumps).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymatgen.core import Structure

from ecn.graphs.perturb import DEFAULT_EPSILONS, PERTURBATION_KINDS, Perturbation, perturbations
from ecn.graphs.settings import GraphSettings
from ecn.testing.predict import predict_fn

__all__ = [
    "DEFAULT_EPSILONS",
    "PERTURBATION_KINDS",
    "Perturbation",
    "assert_continuous",
    "continuity_errors",
    "perturbations",
]


def continuity_errors(
    predictor_or_model: Any,
    structure: Structure,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    kinds: Sequence[str] = PERTURBATION_KINDS,
    seed: int = 0,
    settings: GraphSettings | None = None,
) -> dict[tuple[str, float], float]:
    """``{(kind, eps): |f(perturbed) - f(structure)|}`` (first target, model units).

    Args:
        predictor_or_model: as for :func:`representation_errors` (a ``Predictor``, an
            ``ecn.nn`` / ``PropertyModel`` with `settings`, or a callable).
        structure, epsilons, kinds, seed: see :func:`perturbations`.
        settings: graph settings for a bare model.
    """
    fn = predict_fn(predictor_or_model, settings)
    perts = perturbations(structure, epsilons, kinds, seed)
    pred = fn([structure] + [p.structure for p in perts])
    return {(p.kind, p.eps): float(abs(v - pred[0])) for p, v in zip(perts, pred[1:], strict=True)}


def assert_continuous(
    predictor_or_model: Any,
    structure: Structure,
    lipschitz: float = 10.0,
    atol: float = 1e-9,
    epsilons: Sequence[float] = DEFAULT_EPSILONS,
    kinds: Sequence[str] = PERTURBATION_KINDS,
    seed: int = 0,
    settings: GraphSettings | None = None,
) -> dict[tuple[str, float], float]:
    """Assert ``|f(perturbed) - f(structure)| <= atol + lipschitz * eps`` for every perturbation.

    `lipschitz` is in model units per Å; `atol` covers rounding (use a float64 model for a
    tight one). A jump (an edge switching on at full weight, a colour or canonical choice
    flipping) breaks the bound at the smallest sizes, where ``lipschitz * eps`` is tiny.

    Returns:
        The errors of :func:`continuity_errors`.

    Raises:
        AssertionError: naming every (kind, ε) over the bound.
    """
    errs = continuity_errors(predictor_or_model, structure, epsilons, kinds, seed, settings)
    bad = {k: v for k, v in errs.items() if not v <= atol + lipschitz * k[1]}
    if bad:
        worst = ", ".join(f"{kind} eps={eps:g}: {v:.3g}" for (kind, eps), v in bad.items())
        raise AssertionError(
            f"prediction jumps under small perturbations of "
            f"{structure.composition.reduced_formula} (bound {atol:g} + {lipschitz:g} * eps): "
            f"{worst}"
        )
    return errs
