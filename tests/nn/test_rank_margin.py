"""The continuous form of a nearest-k graph (issue 27: CGCNN's 8 Å / 12-NN graph for ECN).

With ``neighbor_margin`` the stored graph keeps every edge up to ``d_k + margin`` of its
target, and each edge leaves the graph at ``min(cutoff, d_k + margin)`` (``graph.edge_cutoff``);
the k-th distance ``d_k`` is continuous in the positions, so a ``band`` fade to that limit makes
the model continuous. Negative control: the same weights on the hard cap jump where a move
splits a shell the cap cuts (cubic BaTiO3: the 12th neighbour of O is one of 12 at a/sqrt(2)).
"""

from __future__ import annotations

import pytest
import torch

from ecn.graphs import build_graph
from ecn.graphs.settings import GraphSettings
from ecn.inference.check import check_continuity
from ecn.inference.model import PropertyModel, TargetInfo
from ecn.inference.predictor import Predictor
from ecn.nn import ModelConfig, build_model, continuous_options
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.testing.crystals import crystals

R8N12 = {"strategy": "cutoff", "cutoff": 8.0, "max_neighbors": 12, "gaussian_max": 8.0}


def _settings(margin: float) -> GraphSettings:
    over = {**R8N12, "neighbor_margin": margin, "canonical": "off"}
    return resolve_graph_settings("ecn", "mp", over)


def _neighbours(graph) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dst, dist, edge_cutoff) of the edges that are not self-loops."""
    src, dst = graph.edge_index
    loop = (src == dst) & (graph.edge_offset == 0).all(dim=1)
    return dst[~loop], graph.edge_dist[~loop], graph.edge_cutoff[~loop]


@pytest.mark.parametrize("name", ["BaTiO3", "CaF2", "CuAu"])
def test_margin_keeps_every_edge_to_the_kth_distance_plus_margin(name: str) -> None:
    s = crystals()[name].copy()
    s.perturb(0.05, min_distance=0.01)  # split the shells: a k-th distance inside a shell
    hard = build_graph(s, _settings(0.0))
    soft = build_graph(s, _settings(0.5))
    assert hard.num_nodes == soft.num_nodes == len(s) and not soft.supercell
    h_dst, h_d, h_cut = _neighbours(hard)
    dst, d, cut = _neighbours(soft)
    assert torch.all(h_cut == 8.0)  # no margin: the radius is every edge's limit (control)
    # BaTiO3's cut O shell gains edges; CaF2 / CuAu have no next shell within 0.5 Å
    assert d.numel() > h_d.numel() if name == "BaTiO3" else d.numel() >= h_d.numel()
    for i in range(len(s)):
        di = torch.sort(d[dst == i]).values
        kth = float(di[11])
        assert torch.allclose(torch.sort(h_d[h_dst == i]).values, di[di <= kth + 1e-3])
        assert float(di[-1]) <= kth + 0.5 + 1e-5
        # every stored edge of atom i leaves at min(8, d_12 + 0.5), at or beyond its length
        assert torch.allclose(cut[dst == i], torch.full_like(di, min(8.0, kth + 0.5)))
        assert torch.all(d[dst == i] <= cut[dst == i] + 1e-5)


def test_margin_needs_a_cap_and_is_not_negative() -> None:
    with pytest.raises(ValueError, match="needs max_neighbors"):
        GraphSettings(strategy="cutoff", cutoff=8.0, neighbor_margin=0.5)
    with pytest.raises(ValueError, match="neighbor_margin"):
        GraphSettings(strategy="cutoff", cutoff=8.0, max_neighbors=12, neighbor_margin=-1.0)


def test_continuous_options_of_a_capped_graph() -> None:
    found = continuous_options("slambda", "cutoff", max_neighbors=12, neighbor_margin=0.5)
    assert found == {"envelope": "band", "envelope_width": 0.5, "cell_colors": "soft"}
    assert continuous_options("slambda", "cutoff", max_neighbors=12) is None  # hard cap
    assert (
        continuous_options("slambda", "voronoi_radii", max_neighbors=12, neighbor_margin=0.5)
        is None
    )
    assert continuous_options("p1", "cutoff", max_neighbors=12, neighbor_margin=0.5) is None


def _predictor(gs: GraphSettings) -> Predictor:
    torch.manual_seed(0)
    opts = {"group": "slambda", "width": 16, "layers": 2}
    opts.update(continuous_options("slambda", "cutoff", max_neighbors=12, neighbor_margin=0.5))
    net = build_model(ModelConfig("ecn", gs.node_feature_dim, gs.n_gaussians, options=opts))
    return Predictor(PropertyModel(net, TargetInfo(("y",), ("eV",))).double(), gs)


def test_margin_removes_the_jump_of_a_shell_cut_by_the_cap() -> None:
    # the same weights: on the hard 12-NN cap a tiny move drops part of O's cut shell
    structures = [("BaTiO3", crystals()["BaTiO3"])]
    control = _predictor(_settings(0.0))
    assert check_continuity(control, structures, kinds=["displace"], threshold=1e-6).n_jumps >= 1
    rep = check_continuity(
        _predictor(_settings(0.5)), structures, kinds=["displace", "strain"], threshold=1e-6
    )
    assert rep.n_jumps == 0
    for kind in ("displace", "strain"):
        changes = [r["max"] for r in rep.summary() if r["kind"] == kind]
        assert changes == sorted(changes) and changes[-1] > 0  # grows with eps, no jump
