"""The crystal-level checks of ``ecn.testing`` predict through ``ecn.inference.Predictor``
(issue 24 item 3): a bare model's predictions there are the predictor's, in its own dtype."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ecn.inference.predictor as predictor_module
from ecn.inference import Predictor, PropertyModel, TargetInfo
from ecn.nn import ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.testing.crystals import crystals
from ecn.testing.predict import model_predictor, predict_fn

CASES = [
    ("ecn", {"group": "glambda", "width": 16, "layers": 2}),  # reads orbit maps beyond the graph
    ("cgcnn", {}),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "options"), CASES, ids=[n for n, _ in CASES])
def test_a_bare_model_predicts_through_the_predictor(name, options, dtype, monkeypatch):
    gs = resolve_graph_settings(name, "perov5")
    torch.manual_seed(0)
    net = build_model(ModelConfig(name, gs.node_feature_dim, gs.n_gaussians, 1, False, options))
    net = net.to(dtype)
    structures = list(crystals().values())

    reference = Predictor(PropertyModel(net, TargetInfo(("y",), ("",))).to(dtype), gs)
    expected = reference.predict(structures)

    passes = []
    forward = predictor_module.predict_member_graphs

    def spy(*args, **kwargs):
        passes.append(len(args[1]))
        return forward(*args, **kwargs)

    monkeypatch.setattr(predictor_module, "predict_member_graphs", spy)
    got = predict_fn(net, gs)(structures)

    assert passes == [len(structures)], "predict_fn did not take the predictor's forward pass"
    np.testing.assert_array_equal(got, expected)
    assert next(model_predictor(net, gs).model.parameters()).dtype == dtype


def test_a_property_model_keeps_its_standardisation():
    gs = resolve_graph_settings("cgcnn", "perov5")
    torch.manual_seed(0)
    net = build_model(ModelConfig("cgcnn", gs.node_feature_dim, gs.n_gaussians, 1, False, {}))
    model = PropertyModel(net, TargetInfo(("y",), ("eV",), mean=(1.5,), std=(2.0,)))
    structures = list(crystals().values())
    np.testing.assert_array_equal(
        predict_fn(model, gs)(structures), Predictor(model, gs).predict(structures)
    )
    assert model_predictor(model, gs).model is model


def test_a_module_without_model_config_is_refused_with_the_alternatives():
    with pytest.raises(ValueError, match="callable"):
        predict_fn(torch.nn.Linear(2, 1), None)
