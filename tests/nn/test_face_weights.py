"""Continuous Voronoi graphs (issue 26 item 2): the ``band`` envelope and the Voronoi face
weight (ECN options ``envelope: band``, ``face_area``). A face that opens under a tiny move opens
with zero area, so with the face weight the model does not jump; the same weights without it
jump (negative control)."""

from __future__ import annotations

import pytest
import torch

from ecn.inference.check import check_continuity, predictor_variant
from ecn.inference.model import PropertyModel, TargetInfo
from ecn.inference.predictor import Predictor
from ecn.nn import ModelConfig, build_model
from ecn.nn.envelope import face_weight, polynomial_envelope
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.testing.crystals import crystals


def test_face_weight_and_band_shapes():
    a = torch.tensor([0.0, 1e-4, 0.25, 0.5, 2.0, float("nan")], dtype=torch.float64)
    w = face_weight(a, 0.5)
    assert w[0] == 0 and w[1] < 1e-12 and 0 < w[2] < 1 and w[3] == 1 and w[4] == 1 and w[5] == 1
    # C^1 at both ends: finite differences of the weight vanish at 0 and at A0
    h = 1e-6
    x = torch.tensor([0.0, 0.5 - h, 0.5], dtype=torch.float64)
    v = face_weight(x, 0.5)
    assert (
        abs(v[2] - v[1]) / h < 1e-6
        and face_weight(torch.tensor([h], dtype=torch.float64), 0.5) < 1e-20
    )
    # band: 1 up to r_c - width, 0 from r_c on
    d = torch.tensor([1.0, 2.49, 2.7, 3.0, 3.1], dtype=torch.float64)
    band = polynomial_envelope(((d - 3.0 + 0.5) / 0.5).clamp(min=0.0))
    assert band[0] == 1 and band[1] == 1 and 0 < band[2] < 1 and band[3] == 0 and band[4] == 0


def _predictor(options: dict) -> Predictor:
    gs = resolve_graph_settings("ecn", "mp", {"canonical": "off"})  # the MP Voronoi graph
    torch.manual_seed(0)
    opts = {"group": "slambda", "width": 16, "layers": 2, **options}
    net = build_model(ModelConfig("ecn", gs.node_feature_dim, gs.n_gaussians, options=opts))
    return Predictor(PropertyModel(net, TargetInfo(("y",), ("eV",))).double(), gs)


def test_face_weight_removes_the_jump_of_an_opening_face():
    # cubic BaTiO3 on the Voronoi + Cordero graph: a 1e-5 A move opens faces (zero area)
    model = _predictor({"envelope": "band", "cell_colors": "soft", "face_area": 0.5})
    control = predictor_variant(model, options={"face_area": 0.0})  # same weights, no face weight
    face = [("BaTiO3", crystals()["BaTiO3"])]
    bad = check_continuity(control, face, kinds=["displace"], threshold=1e-6)
    assert bad.n_jumps >= 1
    rep = check_continuity(model, face, kinds=["displace", "strain"], threshold=1e-6)
    assert rep.n_jumps == 0
    for kind in ("displace", "strain"):
        changes = [r["max"] for r in rep.summary() if r["kind"] == kind]
        assert changes == sorted(changes) and changes[0] < 1e-8  # grows with eps, no jump


def test_face_area_needs_face_areas_and_valid_options():
    with pytest.raises(ValueError, match="face_area"):
        _predictor({"face_area": -1.0})
    with pytest.raises(ValueError, match="envelope_width"):
        _predictor({"envelope": "band", "envelope_width": 0.0})
