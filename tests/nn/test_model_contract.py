"""The model contract: every entry of ``MODELS`` runs the mixin shipped as
``ecn.testing.ModelContract``.

Each ``Test*`` class below only names a case (a model and its options): ECN once per group (sn,
p1, glambda, slambda), ECN with the authors' same-atom branch (p1, glambda, slambda), the
E(n)-equivariant ECN (slambda, glambda) and each baseline; the mixin runs every check in float32
and float64 (``ecn.testing.model_contract`` lists them). ``test_every_model_runs_the_contract``
fails when a model is added to ``MODELS`` without a case.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from ecn.graphs import GraphSettings
from ecn.nn import (
    GROUPS,
    MODELS,
    SYMMETRIES,
    ModelConfig,
    build_model,
    model_from_dict,
    model_options,
    model_to_dict,
)
from ecn.testing import ModelContract

# --- the cases: every entry of MODELS (ECN once per group) ----------------------------------


class TestECNsn(ModelContract):
    MODEL, OPTIONS = "ecn", {"group": "sn", "width": 16, "layers": 2}


class TestECNp1(ModelContract):
    MODEL, OPTIONS = "ecn", {"group": "p1", "width": 16, "layers": 2}


class TestECNglambda(ModelContract):
    MODEL, OPTIONS = "ecn", {"group": "glambda", "width": 16, "layers": 2}


class TestECNslambda(ModelContract):
    MODEL, OPTIONS = "ecn", {"group": "slambda", "width": 16, "layers": 2}


class TestECNp1SameAtom(ModelContract):  # the authors' same-atom branch (not for sn)
    MODEL, OPTIONS = "ecn", {"group": "p1", "width": 16, "layers": 2, "same_atom": True}


class TestECNglambdaSameAtom(ModelContract):
    MODEL, OPTIONS = "ecn", {"group": "glambda", "width": 16, "layers": 2, "same_atom": True}


class TestECNslambdaSameAtom(ModelContract):
    MODEL, OPTIONS = "ecn", {"group": "slambda", "width": 16, "layers": 2, "same_atom": True}


class TestECNEGNNslambda(ModelContract):  # the E(n)-equivariant ECN (ecn.nn.egnn)
    MODEL, OPTIONS = "ecn_egnn", {"group": "slambda", "width": 16, "layers": 2}


class TestECNEGNNglambda(ModelContract):  # orbit-averaged colours in phi_x too
    MODEL, OPTIONS = "ecn_egnn", {"group": "glambda", "width": 16, "layers": 2}


class TestCGCNN(ModelContract):
    MODEL = "cgcnn"


class TestMEGNet(ModelContract):
    MODEL = "megnet"


class TestSchNet(ModelContract):
    MODEL = "schnet"


CASES = [c for c in list(globals().values()) if isinstance(c, type) and c.__name__[:4] == "Test"]


def test_every_model_runs_the_contract() -> None:
    covered = {c.MODEL for c in CASES if issubclass(c, ModelContract)}
    assert covered == set(MODELS)
    ecn_groups = {c.OPTIONS["group"] for c in CASES if c.MODEL == "ecn"}
    assert ecn_groups == set(GROUPS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_takes_the_core_arguments(name: str) -> None:
    """``(in_dim, edge_dim, out_dim=1, node_level=False, *, <options with defaults>)``, a
    ``GRAPH_SETTINGS`` dict of GraphSettings fields and a known ``SYMMETRY``."""
    cls = MODELS[name]
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    core = [(p.name, p.default, p.kind) for p in params[:4]]
    empty, pos = inspect.Parameter.empty, inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert core == [
        ("in_dim", empty, pos),
        ("edge_dim", empty, pos),
        ("out_dim", 1, pos),
        ("node_level", False, pos),
    ]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[4:])
    assert all(p.default is not empty for p in params[4:])
    assert model_options(name) == {p.name: p.default for p in params[4:]}
    fields = {f.name for f in dataclasses.fields(GraphSettings)}
    assert set(cls.GRAPH_SETTINGS) <= fields and cls.SYMMETRY in SYMMETRIES


# --- builder and serialisation errors ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "bad"),
    [("cgcnn", "group"), ("megnet", "width"), ("schnet", "layers"), ("ecn", "n_conv")],
)
def test_unknown_option_is_an_error_naming_the_allowed_ones(name: str, bad: str) -> None:
    with pytest.raises(ValueError) as err:
        build_model(ModelConfig(name, 10, 4, options={bad: 3}))
    msg = str(err.value)
    assert repr(name) in msg and repr(bad) in msg
    assert all(opt in msg for opt in model_options(name))


def test_unknown_model_and_bad_configs() -> None:
    with pytest.raises(ValueError, match="unknown model 'alignn'"):
        build_model(ModelConfig("alignn", 10, 4))
    with pytest.raises(ValueError, match="unknown model"):
        model_options("alignn")
    with pytest.raises(ValueError, match="unknown model config key"):
        ModelConfig.from_dict({"name": "ecn", "in_dim": 3, "edge_dim": 2, "width": 8})
    with pytest.raises(ValueError, match="missing"):
        ModelConfig.from_dict({"name": "ecn", "in_dim": 3})
    with pytest.raises(ValueError, match="in_dim"):
        ModelConfig("ecn", 0, 2)
    with pytest.raises(TypeError):
        build_model({"name": "ecn", "in_dim": 3, "edge_dim": 2})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="state_dict"):
        model_from_dict({"config": ModelConfig("ecn", 3, 2).to_dict()})


def test_config_to_dict_is_plain_and_copies_options() -> None:
    opts = {"group": "p1"}
    cfg = ModelConfig("ecn", 3, 2, options=opts)
    opts["group"] = "sn"  # the config keeps its own copy
    d = cfg.to_dict()
    assert d == {
        "name": "ecn",
        "in_dim": 3,
        "edge_dim": 2,
        "out_dim": 1,
        "node_level": False,
        "options": {"group": "p1"},
    }
    assert type(d["options"]) is dict
    model = build_model(cfg)
    d2 = model_to_dict(model)
    d2["config"]["options"]["width"] = 8  # another width: weights no longer fit
    with pytest.raises(ValueError, match="do not fit"):
        model_from_dict(d2)
