"""Smooth gauge averaging (issue 26 item 3): exact description invariance with no canonical
step, from weights continuous in the positions; negative control: one pass is not invariant."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from ecn.graphs.build import unit_graph
from ecn.graphs.gauge import (
    apply_gauge,
    class_weights,
    gauge_configurations,
    gauge_count,
    smooth_step,
)
from ecn.inference.forward import predict_member_graphs
from ecn.inference.model import PropertyModel, TargetInfo
from ecn.inference.prepare import with_group_inputs
from ecn.nn import ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.testing.crystals import distorted_perovskite

_perovskite = distorted_perovskite


def _model():
    gs = replace(resolve_graph_settings("ecn", "perov5", {}), canonical="off")
    torch.manual_seed(0)
    opts = {"group": "slambda", "width": 16, "layers": 2}
    net = build_model(ModelConfig("ecn", gs.node_feature_dim, gs.n_gaussians, 1, False, opts))
    return PropertyModel(net, TargetInfo(("y",), ("eV",))).double(), gs


def _gauge_average(model, gs, s: Structure, width: float = 0.5) -> tuple[float, float]:
    """(gauge average, single pass) of `s` exactly as given (no canonical step)."""
    u = unit_graph(s, gs)
    cfgs = gauge_configurations(s.lattice.matrix, s.frac_coords, width)
    units = with_group_inputs([apply_gauge(u, c.lifts) for c in cfgs], "slambda")
    out = predict_member_graphs(model, units, 512, False, gs)[0, :, 0]
    w = np.array([c.weight for c in cfgs])
    single = predict_member_graphs(model, with_group_inputs([u], "slambda"), 1, False, gs)
    return float((out * w).sum()), float(single[0, 0, 0])


def test_smooth_step_flat_at_both_ends() -> None:
    t = np.array([0.0, 1e-4, 0.5, 1 - 1e-4, 1.0, 2.0])
    v = smooth_step(t)
    assert v[0] == 1 and v[-2] == 0 and v[-1] == 0 and v[2] == pytest.approx(0.5)
    assert 1 - v[1] < 1e-7 and v[3] < 1e-7  # zero slope where a class enters or leaves


def test_class_weights_normalised_and_reference_fixed() -> None:
    s = _perovskite()
    for k in range(len(s)):
        w = class_weights(s.lattice.matrix, s.frac_coords, k)
        assert w.shape == (5, 8) and np.allclose(w.sum(axis=1), 1.0)
        assert w[k, 0] == 1.0
    with pytest.raises(ValueError, match="width"):
        class_weights(s.lattice.matrix, s.frac_coords, 0, width=0.0)
    cfgs = gauge_configurations(s.lattice.matrix, s.frac_coords)
    assert len(cfgs) == gauge_count(s.lattice.matrix, s.frac_coords)
    assert sum(c.weight for c in cfgs) == pytest.approx(1.0)


def test_apply_gauge_keeps_every_edge_vector() -> None:
    s = _perovskite()
    _, gs = _model()
    u = unit_graph(s, gs)
    lifts = np.array([[0, 0, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 1]])
    v = apply_gauge(u, lifts)

    def vecs(g):
        return (g.frac[g.src].astype(float) + g.offset - g.frac[g.dst]) @ g.lattice

    assert np.allclose(vecs(u), vecs(v), atol=1e-5)
    assert ((v.offset - u.offset) % 2 != 0).any()  # the parities (colours) did change


def test_gauge_average_is_description_invariant_without_canonical_step() -> None:
    model, gs = _model()
    s = _perovskite()
    ref, single = _gauge_average(model, gs, s)
    shifted = s.copy()
    shifted.translate_sites(range(len(s)), [0.37, 0.11, 0.23], to_unit_cell=True)
    rebased = Structure(
        Lattice(np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1]]) @ s.lattice.matrix),
        s.species,
        s.cart_coords,
        coords_are_cartesian=True,
        to_unit_cell=True,
    )
    reordered = Structure.from_sites(list(reversed(s.sites)))
    singles = []
    for d in (shifted, rebased, reordered):
        avg, one = _gauge_average(model, gs, d)
        assert avg == pytest.approx(ref, abs=1e-10)
        singles.append(one)
    # negative control: one pass on the description as given sees the gauge
    assert max(abs(x - single) for x in singles) > 1e-4


def test_gauge_average_is_continuous_across_a_cell_face() -> None:
    """Two O atoms a 2e-7 shift apart on either side of a cell face (one wrapped to x ~ 1):
    the average barely moves; one pass on the wrapped description jumps (negative control)."""
    model, gs = _model()
    a_avg, a_one = _gauge_average(model, gs, _perovskite(-0.0299999))
    b_avg, b_one = _gauge_average(model, gs, _perovskite(-0.0300001))
    assert abs(a_avg - b_avg) < 1e-6
    assert abs(a_one - b_one) > 1e-5 > 10 * abs(a_avg - b_avg)
