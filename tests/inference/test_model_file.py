"""The user-facing model file (``model.pt``): round trip, weights_only, clear errors.

Models are built in code (no training) on small real crystals; training writes the same file
(``tests/train/test_train_run.py`` covers that path and the no-Lightning load)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from ecn.graphs import build_graph
from ecn.graphs.graph import collate
from ecn.inference import (
    Predictor,
    PropertyModel,
    TargetInfo,
    load_model_file,
    predict_graphs,
    save_model_file,
)
from ecn.inference.model_file import FORMAT_VERSION
from ecn.nn import MODELS, ModelConfig
from ecn.nn.graph_settings import resolve_graph_settings


def _crystals() -> list[Structure]:
    return [
        Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure(
            Lattice.cubic(4.0),
            ["Ba", "Ti", "O", "O", "O"],
            [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        ),
    ]


def _model(name: str, targets: TargetInfo) -> tuple[PropertyModel, object]:
    settings = resolve_graph_settings(name, "perov5")
    g = build_graph(_crystals()[0], settings)
    options = {"group": "p1", "width": 8, "layers": 1} if name == "ecn" else {}
    cfg = ModelConfig(name, g.x.shape[1], g.edge_attr.shape[1], targets.out_dim, False, options)
    torch.manual_seed(0)
    return PropertyModel.build(cfg, targets), settings


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_gives_identical_predictions(name, tmp_path):
    targets = TargetInfo(("heat_all",), ("eV/cell",), "regression", (1.5,), (0.75,))
    model, settings = _model(name, targets)
    path = save_model_file(tmp_path / "model.pt", model, settings, dataset="perov5")
    raw = torch.load(path, weights_only=True)  # plain containers and tensors only
    assert raw["format"] == "ecn-model" and raw["format_version"] == FORMAT_VERSION
    loaded, settings2, meta = load_model_file(path)
    assert settings2 == settings and meta["dataset"] == "perov5"
    assert loaded.targets == targets and not loaded.training
    graphs = [build_graph(s, settings) for s in _crystals()]
    a = predict_graphs(model.eval(), graphs)
    b = predict_graphs(loaded, graphs)
    np.testing.assert_array_equal(a, b)
    # original units: the standardisation is applied (raw output * std + mean)
    raw_out = model(collate(graphs)).detach().double().numpy()
    np.testing.assert_allclose(a, raw_out * 0.75 + 1.5, rtol=1e-6)
    # and the Predictor builds the same graphs from structures
    np.testing.assert_allclose(Predictor(loaded, settings2).predict(_crystals()), a[:, 0])


def test_classification_outputs_probabilities(tmp_path):
    model, settings = _model("cgcnn", TargetInfo(("is_metal",), ("",), "classification"))
    path = save_model_file(tmp_path / "m.pt", model, settings)
    p = Predictor.load(path).predict(_crystals())
    assert p.shape == (2,) and np.all((p > 0) & (p < 1))


def test_errors_are_one_clear_line(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a readable ecn model file"):
        load_model_file(tmp_path / "junk.pt")
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an ecn model file"):
        load_model_file(tmp_path / "other.pt")
    model, settings = _model("schnet", TargetInfo(("y",), ("",)))
    path = save_model_file(tmp_path / "m.pt", model, settings)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(ValueError, match="upgrade ecn"):
        load_model_file(tmp_path / "future.pt")
    with pytest.raises(ValueError, match="model file not found"):
        load_model_file(tmp_path / "nowhere.pt")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(ValueError, match="no model.pt, best.ckpt or last.ckpt"):
        load_model_file(tmp_path / "empty_run")


def test_target_info_checks_its_fields():
    with pytest.raises(ValueError, match="exactly one"):
        TargetInfo(("a", "b"), ("", ""), "classification")
    with pytest.raises(ValueError, match="one entry per target"):
        TargetInfo(("a", "b"), ("",))
    with pytest.raises(ValueError, match="unknown target field"):
        TargetInfo.from_dict({"names": ["a"], "unit": ["eV"]})
    with pytest.raises(ValueError, match="outputs"):
        model, _ = _model("cgcnn", TargetInfo(("y",), ("",)))
        PropertyModel(model.model, TargetInfo(("a", "b"), ("", "")))


def test_inference_imports_no_training_code():
    code = (
        "import sys, ecn.inference; print('lightning' in sys.modules, 'ecn.train' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
