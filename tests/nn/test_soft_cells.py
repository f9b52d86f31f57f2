"""Soft S_Lambda cell colours (``cell_colors: soft``, issue 26 item 3): each edge's colour weight
depends on its vector and the lattice only, so ECN-SΛ is description-invariant with no canonical
step and continuous across cell faces; negative controls: the parity colours are neither."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Structure

from ecn.graphs import expand
from ecn.graphs.build import unit_graph
from ecn.graphs.descriptions import equivalent_descriptions
from ecn.graphs.gauge import same_cell_weight
from ecn.inference.check import check_continuity, predictor_variant
from ecn.inference.forward import predict_member_graphs
from ecn.inference.model import PropertyModel, TargetInfo
from ecn.inference.predictor import Predictor
from ecn.nn import ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.testing.crystals import distorted_perovskite

#: description families that keep the cell (supercells and spglib's cells change the lattice
#: L, so without the canonical step they are other crystals to an S_Lambda model)
SAME_CELL_KINDS = ("atom_order", "rotation_reflection", "origin", "basis")


def _settings(canonical: str = "off"):
    over = {"strategy": "cutoff", "cutoff": 5.0, "canonical": canonical}
    return resolve_graph_settings("ecn", "perov5", over)


def _model(cells: str, envelope: str = "poly", canonical: str = "off"):
    gs = _settings(canonical)
    torch.manual_seed(0)
    opts = {"group": "slambda", "width": 16, "layers": 2, "same_atom": True, "envelope": envelope}
    if cells == "soft":
        opts["cell_colors"] = "soft"
    net = build_model(ModelConfig("ecn", gs.node_feature_dim, gs.n_gaussians, 1, False, opts))
    return PropertyModel(net, TargetInfo(("y",), ("eV",))).double(), gs


def _predict(model, gs, structures) -> np.ndarray:
    units = [unit_graph(s, gs) for s in structures]
    return predict_member_graphs(model, units, 64, False, gs)[0, :, 0]


_perovskite = distorted_perovskite


def _perov5(perov5_dir, n: int) -> list[Structure]:
    df = pd.read_csv(perov5_dir / "test.csv", nrows=n)
    return [Structure.from_str(c, fmt="cif") for c in df.cif]


def _brute_force(vec: torch.Tensor, lat: torch.Tensor, width: float = 0.5) -> torch.Tensor:
    """Reference: every image with coefficients -4..4 around the edge, the edge's class 0."""
    v = torch.tensor(list(itertools.product(range(-4, 5), repeat=3)), dtype=torch.float64)
    cls = ((v.long() % 2) * torch.tensor([4, 2, 1])).sum(-1)
    d = torch.linalg.vector_norm(vec.double()[:, None, :] + v @ lat.double(), dim=-1)
    dmin = torch.full((vec.shape[0], 8), float("inf"), dtype=torch.float64)
    dmin = dmin.scatter_reduce(1, cls.expand(vec.shape[0], -1), d, "amin")
    gap = ((dmin - dmin.min(1, keepdim=True).values) / width).clamp(0, 1)
    w = 1 - 3 * gap**2 + 2 * gap**3
    return w[:, 0] / w.sum(1)


def test_same_cell_weight_on_a_cubic_cell() -> None:
    lat = torch.eye(3, dtype=torch.float64)[None] * 4.0
    r = torch.tensor(
        [[2.0, 2, 2], [-2, 2, 2], [4, 0, 0], [8, 0, 0], [1, 0, 0], [3, 0, 0], [1.9, 0, 0]],
        dtype=torch.float64,
    )
    p = same_cell_weight(r, lat, torch.zeros(len(r), dtype=torch.long))
    # body centre: 8 equally short images, one per class; self images: 0 (odd) or 1 (in 2L);
    # 1.9 Å vs 2.1 Å: the nearer image's class keeps the larger share, continuously
    expected = [1 / 8, 1 / 8, 0.0, 1.0, 1.0, 0.0]
    np.testing.assert_allclose(p[:6].numpy(), expected, atol=1e-12)
    assert 0.5 < p[6] < 1.0
    # the 8 images r + c L (one per class) of an edge share the weight 1
    imgs = (
        torch.tensor([1.3, 0.2, 2.1], dtype=torch.float64)
        + torch.tensor(list(itertools.product((0, 1), repeat=3)), dtype=torch.float64) @ lat[0]
    )
    total = same_cell_weight(imgs, lat, torch.zeros(8, dtype=torch.long)).sum()
    assert float(total) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="width"):
        same_cell_weight(r, lat, torch.zeros(len(r), dtype=torch.long), width=0.0)


def test_same_cell_weight_matches_a_brute_force_search_on_real_crystals(perov5_dir) -> None:
    """The -2..1 search window finds every class's shortest image on real (reduced) cells."""
    gs = _settings("unique")
    structures = _perov5(perov5_dir, 40)
    g = expand([unit_graph(s, gs) for s in structures], gs)
    vec, lat = g.edge_vec.double(), g.lattice.double()
    p = same_cell_weight(vec, lat, g.edge_batch)
    ref = torch.cat([_brute_force(vec[g.edge_batch == k], lat[k]) for k in range(g.num_graphs)])
    order = torch.cat([torch.nonzero(g.edge_batch == k).flatten() for k in range(g.num_graphs)])
    np.testing.assert_allclose(p[order].numpy(), ref.numpy(), atol=1e-12)
    assert ((p > 0) & (p < 1)).any()  # ideal perovskites sit on ties: the weights are shared


def test_soft_cells_are_description_invariant_without_the_canonical_step(perov5_dir) -> None:
    soft, gs = _model("soft")
    hard, _ = _model("hard")
    worst_soft = worst_hard = 0.0
    for s in _perov5(perov5_dir, 6):
        descs = [d.structure for d in equivalent_descriptions(s, seed=1, kinds=SAME_CELL_KINDS)]
        a, b = _predict(soft, gs, descs), _predict(hard, gs, descs)
        worst_soft = max(worst_soft, float(np.abs(a - a[0]).max()))
        worst_hard = max(worst_hard, float(np.abs(b - b[0]).max()))
    assert worst_soft < 1e-9
    assert worst_hard > 1e-5  # negative control: the parity colours see the description


def test_soft_cells_invariant_to_cell_changes_through_the_primitive_step(perov5_dir) -> None:
    """Supercells and conventional cells too, with the canonical step's primitive cell only
    (no unique-description choice)."""
    soft, gs = _model("soft", canonical="primitive")
    s = _perov5(perov5_dir, 1)[0]
    out = _predict(soft, gs, [d.structure for d in equivalent_descriptions(s, seed=2)])
    assert np.abs(out - out[0]).max() < 1e-9


def test_soft_cells_are_continuous_across_a_cell_face() -> None:
    """An O atom 2e-7 apart on either side of a cell face (wrapped to x ~ 1 on one side):
    soft colours barely move, the parity colours jump (negative control)."""
    structures = [_perovskite(-0.0299999), _perovskite(-0.0300001)]
    soft, gs = _model("soft")
    hard, _ = _model("hard")
    a, b = _predict(soft, gs, structures), _predict(hard, gs, structures)
    assert abs(a[0] - a[1]) < 1e-6
    assert abs(b[0] - b[1]) > 1e-5 > 10 * abs(a[0] - a[1])


def test_check_continuity_finds_no_jump_with_soft_cells_and_envelope(BaTiO3) -> None:
    """Ba on the cell corner: a displacement wraps it to the far face. With the parity colours
    the envelope model jumps there; with soft colours (a weight-free option, so the same
    weights) it does not."""
    gs = _settings()
    torch.manual_seed(0)
    opts = {"group": "slambda", "width": 16, "layers": 2, "envelope": "poly"}
    net = build_model(ModelConfig("ecn", gs.node_feature_dim, gs.n_gaussians, options=opts))
    hard = Predictor(PropertyModel(net, TargetInfo(("y",), ("eV",))), gs)
    soft = predictor_variant(hard, options={"cell_colors": "soft"})
    face = [("BaTiO3", BaTiO3)]
    assert check_continuity(hard, face, kinds=["displace"], threshold=1e-6).n_jumps >= 1
    rep = check_continuity(soft, face, kinds=["displace"], threshold=1e-6)
    assert rep.n_jumps == 0
    changes = [r["max"] for r in rep.summary()]
    assert changes == sorted(changes) and changes[-1] > 0  # grows with eps, no jump


def test_soft_cells_need_slambda_on_the_unit_cell(BaTiO3) -> None:
    gs = _settings()
    with pytest.raises(ValueError, match="slambda"):
        build_model(
            ModelConfig(
                "ecn",
                gs.node_feature_dim,
                gs.n_gaussians,
                options={"group": "p1", "cell_colors": "soft"},
            )
        )
    with pytest.raises(ValueError, match="cell_colors must be one of"):
        build_model(
            ModelConfig(
                "ecn", gs.node_feature_dim, gs.n_gaussians, options={"cell_colors": "fuzzy"}
            )
        )
    cover = replace(gs, supercell=True)
    g = expand([unit_graph(BaTiO3, cover)], cover)
    net = build_model(
        ModelConfig("ecn", g.x.shape[1], gs.n_gaussians, options={"cell_colors": "soft"})
    )
    with pytest.raises(ValueError, match="unit-cell graph"):
        net(g)
    hard = build_model(ModelConfig("ecn", gs.node_feature_dim, gs.n_gaussians))
    assert hard.config.options["cell_colors"] == "hard"  # the default: the paper's colours


def test_soft_plan_with_the_parity_weights_is_the_hard_model(BaTiO3) -> None:
    """Fed 0/1 weights equal to the offsets' parity colours (and 0.5 elsewhere as a control),
    the soft plan's duplicated, weighted edges reproduce the hard model exactly."""
    from ecn.nn.envelope import edge_envelope
    from ecn.nn.plan import build_color_plan

    model, gs = _model("hard")
    g = expand([unit_graph(_perovskite(), gs)], gs)
    g = replace(g, x=g.x.double(), edge_attr=g.edge_attr.double())
    net = model.model
    hard = net(g)
    parity = (g.edge_offset.remainder(2) == 0).all(1).double()

    def run(same_cell):
        plan = build_color_plan(
            g,
            "slambda",
            same_atom=True,
            edge_weight=edge_envelope(g, "poly"),
            same_cell=same_cell,
        )
        return net(g, plan)

    torch.testing.assert_close(run(parity), hard, atol=1e-12, rtol=0)
    assert (run(torch.full_like(parity, 0.5)) - hard).abs().max() > 1e-4


def test_ecn_check_invariance_canonical_primitive_with_soft_cells(tmp_path) -> None:
    """``ecn check invariance --canonical primitive`` (spglib's primitive cell only, no unique
    description): a soft-colour model stays invariant, the same weights with parity colours
    do not (negative control)."""
    from typer.testing import CliRunner

    from ecn.cli import app
    from ecn.inference import save_model_file
    from ecn.inference.check import check_invariance

    gs = _settings("unique")
    torch.manual_seed(0)
    opts = {"group": "slambda", "width": 16, "layers": 2, "envelope": "poly"}
    net = build_model(ModelConfig("ecn", gs.node_feature_dim, gs.n_gaussians, options=opts))
    hard = Predictor(PropertyModel(net, TargetInfo(("y",), ("eV",))), gs)
    soft = predictor_variant(hard, options={"cell_colors": "soft"})
    crystals = [("p", _perovskite())]
    spread = {
        name: max(
            v["max"]
            for v in check_invariance(predictor_variant(p, "primitive"), crystals)
            .by_kind()
            .values()
        )
        for name, p in (("soft", soft), ("hard", hard))
    }
    assert spread["soft"] < 1e-5 < spread["hard"]
    model = save_model_file(tmp_path / "m.pt", soft.model, soft.settings)
    (tmp_path / "p.cif").write_text(_perovskite().to(fmt="cif"))
    args = ["check", "invariance", str(model), str(tmp_path / "p.cif"), "--canonical"]
    res = CliRunner().invoke(app, [*args, "primitive"])
    assert res.exit_code == 0, res.output
    assert "canonical=primitive" in res.output
    assert CliRunner().invoke(app, [*args, "sometimes"]).exit_code == 2
