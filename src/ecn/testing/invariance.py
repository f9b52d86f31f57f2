"""Same crystal, same prediction (issue 14, DESIGN.md "The description gauge").

:func:`equivalent_descriptions` writes one crystal down in many ways (conventional and
primitive cells, supercells 2x1x1 / 1x2x3 / 2x2x2, unimodular basis changes, origin shifts, atom
permutations, rotations and reflections of the Cartesian frame), each tagged with its
:data:`DESCRIPTION_KINDS` family; :func:`representation_errors` /
:func:`assert_representation_invariant` measure the change of a prediction across them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymatgen.core import Structure

from ecn.graphs.descriptions import equivalent_descriptions
from ecn.graphs.settings import GraphSettings
from ecn.testing.predict import predict_fn

__all__ = ["assert_representation_invariant", "representation_errors"]


def representation_errors(
    predictor_or_model: Any,
    structure: Structure,
    settings: GraphSettings | None = None,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
) -> dict[str, float]:
    """Absolute change of the prediction per description (see :func:`equivalent_descriptions`).

    Args:
        predictor_or_model: an ``ecn.inference.Predictor``, a ``PropertyModel`` or ``ecn.nn``
            model (graphs built with `settings`, default the model's resolved settings), or a
            callable ``list[Structure] -> (n,) or (n, T)`` (first target used).
        structure: the crystal.
        settings: graph settings for a bare model.
        seed, kinds: passed to :func:`equivalent_descriptions`.

    Returns:
        ``{description name: |f(description) - f(as given)|}`` (first target), in model units.
    """
    fn = predict_fn(predictor_or_model, settings)
    descs = equivalent_descriptions(structure, seed=seed, kinds=kinds)
    pred = fn([d.structure for d in descs])
    return {d.name: float(abs(p - pred[0])) for d, p in zip(descs[1:], pred[1:], strict=True)}


def assert_representation_invariant(
    predictor_or_model: Any,
    structure: Structure,
    atol: float = 1e-4,
    settings: GraphSettings | None = None,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
) -> dict[str, float]:
    """Assert the same prediction for every equivalent description of `structure`.

    Returns:
        The errors of :func:`representation_errors`.

    Raises:
        AssertionError: naming every description whose change exceeds `atol`.
    """
    errs = representation_errors(predictor_or_model, structure, settings, seed, kinds)
    bad = {k: v for k, v in errs.items() if not v <= atol}
    if bad:
        worst = ", ".join(f"{k}: {v:.3g}" for k, v in sorted(bad.items(), key=lambda kv: -kv[1]))
        raise AssertionError(
            f"prediction depends on the description of {structure.composition.reduced_formula} "
            f"(atol={atol}): {worst}"
        )
    return errs
