"""The stored neighbour cap (``GraphSettings.max_neighbors``): CGCNN's 8 Å graph stored with only
about its 12 nearest neighbours per atom is the same model input as the full graph.

Why it matters: on MP the full 8 Å graph holds ~10x the edges CGCNN keeps, all stored, loaded,
expanded and then dropped by the model every batch.
"""

from __future__ import annotations

import pytest
import torch

from ecn.graphs import GraphSettings, build_graph
from ecn.graphs.restrict import restrict_neighbors
from ecn.nn import ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings


def _edges(g) -> set[tuple[int, int, tuple[int, ...]]]:
    src, dst = g.edge_index.tolist()
    return set(zip(dst, src, map(tuple, g.edge_offset.tolist()), strict=True))


@pytest.mark.parametrize("ties", ["keep", "cut"])
def test_capped_graph_gives_cgcnn_the_same_neighbours_and_outputs(diverse_structures, ties):
    capped = resolve_graph_settings("cgcnn", None, None, {"neighbor_ties": ties})
    assert capped.max_neighbors == 12
    full = GraphSettings(**{**capped.__dict__, "max_neighbors": None})
    torch.manual_seed(0)
    model = build_model(
        ModelConfig("cgcnn", capped.node_feature_dim, 0, 1, False, {"neighbor_ties": ties})
    )
    model.eval()
    n_full = n_capped = 0
    for name, st in diverse_structures.items():
        gf, gc = build_graph(st, full), build_graph(st, capped)
        n_full, n_capped = n_full + gf.num_edges, n_capped + gc.num_edges
        assert _edges(gc) <= _edges(gf), name
        kf = restrict_neighbors(gf, 8.0, 12, ties=ties)
        kc = restrict_neighbors(gc, 8.0, 12, ties=ties)
        assert _edges(kc) == _edges(kf), name
        with torch.no_grad():
            assert torch.allclose(model(gc), model(gf), rtol=0, atol=1e-6), name
    assert n_capped < n_full / 3  # the point of it
    # negative control: a cap below the model's 12 changes what the model sees
    st = diverse_structures["ZrO2_baddeleyite"]
    g4 = build_graph(st, GraphSettings(**{**capped.__dict__, "max_neighbors": 4}))
    with torch.no_grad():
        assert not torch.allclose(model(g4), model(build_graph(st, full)), atol=1e-4)


def test_cap_follows_the_model_option_and_refuses_to_lose_neighbours():
    assert resolve_graph_settings("cgcnn", "mp", None, {"max_neighbors": 16}).max_neighbors == 16
    assert (
        resolve_graph_settings("cgcnn", "mp", None, {"max_neighbors": None}).max_neighbors is None
    )
    assert resolve_graph_settings("cgcnn", "mp", {"max_neighbors": 20}).max_neighbors == 20
    with pytest.raises(ValueError, match="fewer neighbours than the model keeps"):
        resolve_graph_settings("cgcnn", "mp", {"max_neighbors": 8})
    # other models store every neighbour; settings without a cap keep their old cache keys
    assert resolve_graph_settings("megnet", "mp").max_neighbors is None
    assert GraphSettings().record_key() == "c92c764b68784534"
    assert GraphSettings().key() == "d0dfd140fe36fc26"
    with pytest.raises(ValueError, match="max_neighbors"):
        GraphSettings(max_neighbors=0)
