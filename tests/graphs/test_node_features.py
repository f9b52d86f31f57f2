"""Node encodings: one-hot Z, group + period, and CGCNN's 92-number atom features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecn.elements import CGCNN_DIM, GROUP, PERIOD, cgcnn_feature_table
from ecn.graphs import GraphSettings, build_graph
from ecn.nn import ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings


def test_cgcnn92_rows_are_the_element_table(BaTiO3):
    settings = GraphSettings(node_features="cgcnn92")
    g = build_graph(BaTiO3, settings)
    assert g.x.shape[1] == settings.node_feature_dim == CGCNN_DIM + 8  # + cell one-hot
    want = cgcnn_feature_table()[g.z.numpy()]
    np.testing.assert_array_equal(g.x[:, :CGCNN_DIM].numpy(), want)
    # different elements get different rows (Ba, Ti, O), the same element the same row
    rows = {int(z): tuple(r) for z, r in zip(g.z.tolist(), want.tolist(), strict=True)}
    assert len(set(rows.values())) == 3


@pytest.mark.parametrize("encoding", ["onehot_z", "group_period"])
def test_one_hot_encodings_mark_one_column_per_block(BaTiO3, encoding):
    g = build_graph(BaTiO3, GraphSettings(node_features=encoding, cell_onehot=False))
    x, z = g.x.numpy(), g.z.numpy()
    if encoding == "onehot_z":
        assert (x.argmax(1) == z - 1).all() and (x.sum(1) == 1).all()
    else:
        assert (x[:, :18].argmax(1) == GROUP[z] - 1).all()
        assert (x[:, 18:25].argmax(1) == PERIOD[z] - 1).all()


def test_cgcnn_trains_on_its_reference_encoding(BaTiO3):
    """`--node-features cgcnn92` with CGCNN: the resolver keeps CGCNN's own graph otherwise."""
    settings = resolve_graph_settings("cgcnn", "perov5", {"node_features": "cgcnn92"})
    assert (settings.supercell, settings.cutoff, settings.node_feature_dim) == (False, 8.0, 92)
    g = build_graph(BaTiO3, settings)
    model = build_model(ModelConfig("cgcnn", settings.node_feature_dim, 0))
    out = model(g)
    out.sum().backward()
    assert out.shape == (1, 1) and torch.isfinite(out).all()
