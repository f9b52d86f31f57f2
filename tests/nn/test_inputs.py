"""`with_model_inputs`: a model's needs beyond the built graph, said in one place (issue 24).

The G_Λ orbit maps are attached for a ``glambda`` model (ECN or ECN-EGNN) and for nothing else,
whichever form the caller holds; and no module outside the ones that define the colourings
tests the group name itself to decide it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from ecn.graphs.record import UnitGraph
from ecn.nn import ModelConfig
from ecn.nn.inputs import needs_orbit_maps, with_model_inputs
from ecn.symmetry.bravais import representative_lattice

SRC = Path(__file__).resolve().parents[2] / "src" / "ecn"
#: Modules that define what the groups mean (the colourings, the colour plan, this hook) and
#: the paper-table rows (which select rows by group, not inputs).
DEFINE_GROUPS = ("symmetry/", "nn/plan.py", "nn/inputs.py", "experiments/variants.py")


def _units() -> list[UnitGraph]:
    lat = representative_lattice("tP")
    return [UnitGraph.make("a", [1], [[0, 0, 0]], [], [], np.zeros((0, 3)), [], lat)]


@pytest.mark.parametrize(
    ("config", "needs"),
    [
        (ModelConfig("ecn", 3, 2, options={"group": "glambda"}), True),
        (ModelConfig("ecn_egnn", 3, 2, options={"group": "glambda"}), True),
        (ModelConfig("ecn", 3, 2, options={"group": "slambda"}), False),
        (ModelConfig("cgcnn", 3, 2), False),
        ({"group": "glambda"}, True),  # the options alone (what a prediction worker carries)
        ({}, False),
    ],
)
def test_orbit_maps_follow_the_model(config: ModelConfig | dict, needs: bool) -> None:
    assert needs_orbit_maps(config) is needs
    (unit,) = with_model_inputs(_units(), config)
    assert (unit.orbit_map is not None) is needs


def _group_tests(source: str) -> list[int]:
    """Lines of `source` that compare something with the string ``"glambda"`` (code only, not
    docstrings or comments)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Compare)
        and any(
            isinstance(c, ast.Constant) and c.value == "glambda"
            for c in (node.left, *node.comparators)
        )
    ]


def test_no_caller_tests_the_group_to_attach_inputs() -> None:
    """Negative control included: the finder sees the test this hook replaced."""
    assert _group_tests('if cfg.model.options.get("group") == "glambda":\n    pass\n') == [1]
    assert _group_tests('"""with ``group == \'glambda\'``"""\nx = group in ("glambda",)\n') == []
    found = [
        f"{p.relative_to(SRC)}:{k}"
        for p in sorted(SRC.rglob("*.py"))
        if not str(p.relative_to(SRC)).startswith(DEFINE_GROUPS)
        for k in _group_tests(p.read_text())
    ]
    assert found == []
