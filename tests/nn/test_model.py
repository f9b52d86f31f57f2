"""ECN model mechanics: efficient == naive (tied weights), batching, serialisation, builder.

The contract every model shares (shapes, batching, relabelling, save/load, gradients,
symmetry, builder errors) is in ``test_model_contract.py``; this file checks ECN internals.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ecn.graphs.graph import collate
from ecn.nn import (
    ECN,
    GROUPS,
    MODELS,
    ColoredLinear,
    EquivariantMessagePassing,
    ModelConfig,
    build_color_plan,
    build_model,
    grouped_matmul,
    model_from_dict,
    model_options,
    model_to_dict,
    n_base_colors,
)
from ecn.testing import permute_graph


@pytest.fixture(scope="module")
def mixed(graphs):
    """One batch of crystals on cubic, tetragonal, hexagonal and fcc lattices (different orbits)."""
    return collate([graphs[k] for k in ("CsCl", "CuAu", "Mg", "CaF2", "BaTiO3")])


@pytest.mark.parametrize("group", GROUPS)
def test_efficient_layer_equals_one_hot_layer(group, mixed):
    """Same parameters, two implementations: node projections + gather + grouped matmuls vs
    one-hot-expanded weights (and, for glambda, orbit-mixing rows instead of one-hot rows)."""
    torch.manual_seed(0)
    plan = build_color_plan(mixed, group)
    layer = EquivariantMessagePassing(16, mixed.edge_attr.shape[1], n_base_colors(group)).double()
    h = torch.randn(mixed.num_nodes, 16, dtype=torch.float64)
    plan.edge_attr = plan.edge_attr.double()
    assert torch.allclose(layer(h, plan), layer.naive_forward(h, plan), atol=1e-12, rtol=0)


def test_glambda_uses_several_orbit_maps_in_one_batch(mixed):
    plan = build_color_plan(mixed, "glambda")
    assert plan.mix is not None and plan.proj_mix is not None
    assert len(plan.node_groups) == 4  # cP (CsCl, BaTiO3), tP, hP, cF
    assert torch.allclose(plan.mix.sum(1), torch.ones(plan.mix.shape[0]))
    # cubic {1,2,4} orbit and tetragonal {2,4} orbit are distinct effective colours
    assert len(plan.counts) > len(build_color_plan(mixed, "p1").counts) // 2


def test_glambda_on_triclinic_lattice_is_p1(graphs, make_model):
    """Orbit map = identity (P-1 lattice): the averaged weights are the P-1 weights."""
    g = graphs["BaTiO3"]
    g = replace(g, cell_orbit_map=torch.arange(8)[None])
    p1 = make_model("p1", g)
    gl = make_model("glambda", g, seed=1)
    gl.load_state_dict(p1.state_dict())
    assert torch.equal(gl(g), p1(g))


@pytest.mark.parametrize("group", ["p1", "glambda"])
def test_backends_and_layouts_agree(group, mixed):
    """Chunked bmm (several chunk sizes) == unchunked loop == unchunked grouped_mm (float32)."""
    g = replace(mixed, x=mixed.x.float(), edge_attr=mixed.edge_attr.float())
    torch.manual_seed(0)
    h = torch.randn(g.num_nodes, 16)
    runs = [("bmm", "auto"), ("bmm", 7), ("bmm", 64), ("loop", None), ("grouped_mm", None)]
    outs = []
    for backend, chunk in runs:
        torch.manual_seed(1)
        layer = EquivariantMessagePassing(16, g.edge_attr.shape[1], 16, backend=backend)
        outs.append(layer(h, build_color_plan(g, group, chunk_size=chunk)))
    for out in outs[1:]:
        assert torch.allclose(out, outs[0], atol=1e-5)
    with pytest.raises(ValueError):
        EquivariantMessagePassing(16, 4, 16, backend="loop")(h, build_color_plan(g, group))


def test_chunked_plan_layout(mixed):
    plan = build_color_plan(mixed, "p1", chunk_size=8)
    real = plan.perm >= 0
    assert int(real.sum()) == plan.n_edges == mixed.num_edges
    assert torch.equal(torch.sort(plan.perm[real]).values, torch.arange(mixed.num_edges))
    assert (plan.dst[~real] == mixed.num_nodes).all()
    assert plan.src.shape[0] == 8 * plan.chunk_color.shape[0]
    assert torch.equal(plan.eff_color.view(-1, 8)[:, 0], plan.chunk_color)
    assert (plan.eff_color.view(-1, 8) == plan.chunk_color[:, None]).all()
    assert torch.equal(plan.dst[real], mixed.edge_index[1][plan.perm[real]])


def test_grouped_matmul_and_colored_linear():
    torch.manual_seed(0)
    x = torch.randn(10, 8, dtype=torch.float64)
    lin = ColoredLinear(8, 4, 3).double()
    counts = [3, 0, 7]
    color = torch.tensor([0] * 3 + [2] * 7)
    coef = torch.nn.functional.one_hot(color, 3).double()
    assert torch.allclose(lin.grouped(x, counts), lin.naive(x, coef))
    proj, bias = lin.project(x, [slice(0, 8)])  # (10, 3, 1, 4), (3, 4)
    assert torch.allclose(proj[torch.arange(10), color, 0] + bias[color], lin.naive(x, coef))
    with pytest.raises(ValueError):
        grouped_matmul(x, lin.weight, [10])
    with pytest.raises(ValueError):
        ColoredLinear(0, 4, 1)


@pytest.mark.parametrize("group", GROUPS)
def test_batched_equals_one_by_one(group, graphs, make_model):
    names = ("CsCl", "CuAu", "Mg", "BaTiO3")
    batch = collate([graphs[k] for k in names])
    model = make_model(group, batch)
    together = model(batch)
    alone = torch.cat([model(graphs[k]) for k in names])
    assert torch.allclose(together, alone, atol=1e-10)
    node_model = make_model(group, batch, node_level=True)
    nodes = node_model(batch)
    assert nodes.shape == (batch.num_nodes, 2)
    assert torch.allclose(nodes, torch.cat([node_model(graphs[k]) for k in names]), atol=1e-10)


def test_node_level_is_equivariant(graphs, make_model):
    g = graphs["CsCl"]
    model = make_model("p1", g, node_level=True)
    perm = torch.tensor([(a ^ 3) * 2 + (1 - i) for a in range(8) for i in range(2)])
    out, out_p = model(g), model(permute_graph(g, perm))
    assert out.shape == (g.num_nodes, 2)
    assert torch.allclose(out_p[perm], out, atol=1e-10)


def test_serialisation_round_trip(tmp_path, graphs, make_model):
    g = graphs["BaTiO3"]
    model = make_model("glambda", g, backend="loop")
    torch.save(model_to_dict(model), tmp_path / "m.pt")
    loaded = model_from_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    assert loaded.config == model.config and loaded.config.options["backend"] == "loop"
    assert next(loaded.parameters()).dtype == torch.float64
    assert torch.equal(loaded.eval()(g), model(g))
    assert torch.equal(model_from_dict(model_to_dict(model)).eval()(g), model(g))


def test_builder_and_defaults():
    model = build_model(ModelConfig("ecn", in_dim=10, edge_dim=4))
    assert isinstance(model, ECN) and MODELS["ecn"] is ECN
    assert set(MODELS) == {"ecn", "ecn_egnn", "cgcnn", "megnet", "schnet"}
    assert model_options("ecn") == {
        "group": "slambda",
        "width": 128,
        "layers": 6,
        "backend": "bmm",
        "same_atom": False,
        "envelope": "none",
        "cell_colors": "hard",
        "envelope_width": 0.5,
        "face_area": 0.0,
    }
    assert model.config.options == model_options("ecn") and len(model.layers) == 6
    assert isinstance(build_model(model.config), ECN)
    with pytest.raises(ValueError, match="unknown group"):
        build_model(ModelConfig("ecn", 10, 4, options={"group": "p2"}))
    with pytest.raises(ValueError, match="n_layers"):  # the old name is not silently accepted
        build_model(ModelConfig("ecn", 10, 4, options={"n_layers": 2}))
    with pytest.raises(ValueError, match="unknown backend"):
        build_model(ModelConfig("ecn", 10, 4, options={"backend": "cuda"}))


def test_glambda_without_orbit_map_uses_the_lattice(graphs, make_model):
    g = graphs["CuAu"]
    model = make_model("glambda", g)
    assert torch.allclose(model(replace(g, cell_orbit_map=None)), model(g))


def test_wrong_input_width_is_a_value_error(graphs, make_model):
    g = graphs["CsCl"]
    model = make_model("sn", g)
    with pytest.raises(ValueError):
        model(replace(g, x=g.x[:, :-1]))


def test_training_step_moves_every_used_weight(graphs):
    """Gradients reach the colour-specific weights through the gather/grouped path."""
    g = graphs["BaTiO3"]
    torch.manual_seed(0)
    model = ECN(g.x.shape[1], g.edge_attr.shape[1], group="p1", width=8, layers=1).double()
    model(g).sum().backward()
    layer = model.layers[0]
    used = build_color_plan(g, "p1").select
    grads = layer.edge2.weight.grad.abs().sum((1, 2))
    assert (grads[used] > 0).all()
    assert (grads[[c for c in range(16) if c not in used.tolist()]] == 0).all()
