"""The authors' same-atom branch (``ECN(same_atom=True)``), beyond the shared checks.

The authors' ECN code (``learn_materials/equivariant/product_first.py``, ``ProductLayer``) runs a
second gated edge network, with its own weights and gate, over the edges whose two ends are
images of ONE primitive-cell site, and adds its sum to the messages. Quotient == cover,
equivariance and the model contract run with the option in ``test_quotient.py``,
``test_equivariance.py`` and ``test_model_contract.py``; this file checks which edges the branch
sees, that merging its identical edges (``ColorPlan.mult``) is exact, that it is additive
(zeroed, or on a crystal without such edges, it changes nothing) and that it does change the
output where such edges exist, on the unit cell and the cover alike.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from pymatgen.core import Structure

from ecn.graphs import GraphSettings, build_graph
from ecn.graphs.graph import CrystalGraph, collate
from ecn.nn import ECN, ModelConfig, build_color_plan, model_from_dict, model_to_dict
from ecn.nn.plan import n_same_atom_colors, same_atom_mask
from ecn.symmetry import attach_orbit_maps

CRYSTAL_GROUPS = ("p1", "glambda", "slambda")
#: 5 Å: BaTiO3's 4.0 Å images of every atom are neighbours; CsCl's (4.12 Å) are not at 4 Å.
SETTINGS = GraphSettings(strategy="cutoff", cutoff=5.0, cell_onehot=False)
#: Same function, other summation order (the plan's chunks move with the extra slots), float64.
TIGHT = 1e-10


def _graph(structure: Structure, settings: GraphSettings) -> CrystalGraph:
    g = build_graph(structure, settings)
    attach_orbit_maps([g])
    return replace(g, x=g.x.double(), edge_attr=g.edge_attr.double(), lattice=g.lattice.double())


def _pair(group: str, g: CrystalGraph, seed: int = 0, node_level: bool = False) -> tuple[ECN, ECN]:
    """(with branch, without): same seed, the shared weights copied, the branch's random."""
    torch.manual_seed(seed)
    kw = {"group": group, "width": 16, "layers": 3}
    dims = (g.x.shape[1], g.edge_attr.shape[1], 2, node_level)
    with_branch = ECN(*dims, same_atom=True, **kw).double().eval()
    without = ECN(*dims, **kw).double().eval()
    missing, unexpected = without.load_state_dict(with_branch.state_dict(), strict=False)
    assert not missing and unexpected and all(".same_atom." in k for k in unexpected)
    return with_branch, without


def test_the_mask_is_the_authors_identity_edges(crystals):
    """Same unit-cell atom at both ends and a non-zero offset; the zero-offset self-loop (the
    atom itself, distance 0: never in the authors' neighbour lists) is not one of them."""
    s = crystals["BaTiO3"]
    cover, unit = _graph(s, SETTINGS), _graph(s, replace(SETTINGS, supercell=False))
    src, dst = unit.edge_index
    nonzero = unit.edge_offset.ne(0).any(1)
    assert torch.equal(same_atom_mask(unit), (src == dst) & nonzero)
    assert bool(((src == dst) & ~nonzero).any())  # the zero-offset self-loops exist, excluded
    # the authors' test on the cover (identity[i] == identity[j], an image: distance > 0)
    src, dst = cover.edge_index
    authors = (cover.atom[src] == cover.atom[dst]) & (cover.edge_dist > 0)
    assert torch.equal(same_atom_mask(cover), authors)
    assert int(authors.sum()) == 8 * int(same_atom_mask(unit).sum()) == 8 * 5 * 6  # 6 images
    assert bool((cover.atom[src] != cover.atom[dst]).any())  # the mask is not every edge


@pytest.mark.parametrize("group", CRYSTAL_GROUPS)
def test_the_plan_carries_the_same_atom_edges_in_cell_colour_slots(group, graphs):
    g = collate([graphs[k] for k in ("CuAu", "Mg", "CaF2")])
    plain, plan = build_color_plan(g, group), build_color_plan(g, group, same_atom=True)
    n_mask = int(same_atom_mask(g).sum())
    assert plain.same_atom_colors == plain.n_same_atom == 0 and plain.mult is None
    assert plan.same_atom_colors == n_same_atom_colors(group) == plain.n_base // 2
    assert plan.n_base == plain.n_base + plan.same_atom_colors and plan.n_same_atom == n_mask > 0
    distinct = plan.same_atom_edges  # one edge per group of identical same-atom edges
    assert bool(same_atom_mask(g)[distinct].all()) and plan.n_edges == g.num_edges + len(distinct)
    real = plan.perm >= 0
    perm, slot, mult = plan.perm[real], plan.base_color[real], plan.mult[real]
    branch = perm >= g.num_edges
    assert torch.equal(torch.sort(perm[branch] - g.num_edges).values, torch.arange(len(distinct)))
    assert torch.equal(torch.sort(perm[~branch]).values, torch.arange(g.num_edges))
    assert bool((slot[branch] >= plain.n_base).all() and (slot[~branch] < plain.n_base).all())
    assert bool((mult[~branch] == 1).all()) and int(mult[branch].sum()) == n_mask
    assert bool((plan.mult[~real] == 0).all())  # padding counts for nothing
    if plan.mix is not None:  # glambda: an orbit row averages ordinary OR branch slots
        ordinary = plan.mix[:, : plain.n_base].sum(1)
        assert bool(((ordinary.abs() < 1e-6) | ((ordinary - 1).abs() < 1e-6)).all())
        assert plan.proj_mix.shape[1:] == (plan.n_base, plan.n_base)


def test_identical_same_atom_edges_are_merged(crystals):
    """BaTiO3 (cubic, 5 Å): the 6 nearest images of an atom are at one distance. On the unit
    cell they are 6 self-loops: under S_Lambda one colour (a != b), one message counted 6
    times; under P-1 the parities (1,0,0), (0,1,0), (0,0,1) are 3 colours, each counted twice
    (o and -o). On the cover the 3 parities are 3 different source copies: 3 x 2 for both."""
    s = crystals["BaTiO3"]
    unit, cover = _graph(s, replace(SETTINGS, supercell=False)), _graph(s, SETTINGS)
    for g, group, per_node in (
        (unit, "slambda", 1),
        (unit, "p1", 3),
        (cover, "slambda", 3),
        (cover, "p1", 3),
    ):
        plan = build_color_plan(g, group, same_atom=True)
        n = g.num_nodes * per_node
        assert plan.n_same_atom == 6 * g.num_nodes and len(plan.same_atom_edges) == n
        branch = (plan.base_color >= plan.n_base - plan.same_atom_colors) & (plan.perm >= 0)
        assert sorted(plan.mult[branch].tolist()) == [6 // per_node] * n


@pytest.mark.parametrize("group", CRYSTAL_GROUPS)
def test_merging_duplicates_is_the_same_function(group, crystals, graphs):
    """Distances made distinct (the model never reads them, only the equal edge features):
    nothing is merged, and the outputs agree to rounding. Edge features made distinct: the
    check refuses to merge."""
    g = collate([graphs["Mg"], _graph(crystals["BaTiO3"], replace(SETTINGS, cell_onehot=True))])
    model, _ = _pair(group, g)
    ramp = torch.arange(g.num_edges, dtype=g.edge_dist.dtype) * 1e-6
    unmerged = replace(g, edge_dist=g.edge_dist + ramp)
    plan, plain = model.plan(g), model.plan(unmerged)
    assert len(plan.same_atom_edges) < plan.n_same_atom == len(plain.same_atom_edges)
    with torch.no_grad():
        torch.testing.assert_close(model(g), model(unmerged), rtol=0, atol=TIGHT)
    attr = g.edge_attr.clone()
    attr[plan.same_atom_edges[0]] += 1e-3  # a representative now differs from its duplicates
    refused = build_color_plan(replace(g, edge_attr=attr), group, same_atom=True)
    assert len(refused.same_atom_edges) == refused.n_same_atom


@pytest.mark.parametrize("group", CRYSTAL_GROUPS)
def test_branch_changes_only_crystals_with_same_atom_edges(group, crystals, graphs):
    """Negative control: with random (non-zero) branch weights, a crystal without same-atom
    edges (CsCl at 4 Å) gets the branch-free output (to float64 rounding), one with them
    (CuAu) another, alone and in one batch."""
    cscl, cuau = graphs["CsCl"], graphs["CuAu"]
    assert not same_atom_mask(cscl).any() and same_atom_mask(cuau).any()
    with_branch, without = _pair(group, cuau)
    with torch.no_grad():
        torch.testing.assert_close(with_branch(cscl), without(cscl), rtol=0, atol=TIGHT)
        assert (with_branch(cuau) - without(cuau)).abs().max() > 1e-3
        batch = collate([cscl, cuau])
        out, ref = with_branch(batch), without(batch)
    torch.testing.assert_close(out[0], ref[0], rtol=0, atol=TIGHT)
    assert (out[1] - ref[1]).abs().max() > 1e-3


@pytest.mark.parametrize("group", CRYSTAL_GROUPS)
def test_branch_is_used_on_the_quotient_and_the_cover(group, crystals):
    s = crystals["BaTiO3"]
    cover, unit = _graph(s, SETTINGS), _graph(s, replace(SETTINGS, supercell=False))
    with_branch, without = _pair(group, cover, node_level=True)
    with torch.no_grad():
        for g in (unit, cover):
            assert (with_branch(g) - without(g)).abs().max() > 1e-3
        torch.testing.assert_close(  # the quotient still equals the cover (node 0: cell 0)
            with_branch(unit), with_branch(cover)[: unit.num_nodes], rtol=1e-10, atol=1e-10
        )


@pytest.mark.parametrize("group", CRYSTAL_GROUPS)
def test_zeroed_branch_is_the_model_without_it(group, graphs):
    """The branch is additive: with its second edge layer zero (m'_ij = 0) nothing changes."""
    g = collate([graphs[k] for k in ("CuAu", "Mg", "CaF2", "BaTiO3")])
    with_branch, without = _pair(group, g)
    with torch.no_grad():
        for layer in with_branch.layers:
            layer.same_atom["edge2"].weight.zero_()
            layer.same_atom["edge2"].bias.zero_()
        torch.testing.assert_close(with_branch(g), without(g), rtol=0, atol=TIGHT)


@pytest.mark.parametrize("group", CRYSTAL_GROUPS)
def test_efficient_equals_naive_and_backends_agree(group, graphs):
    g = collate([graphs[k] for k in ("CsCl", "CuAu", "Mg", "CaF2", "BaTiO3")])
    model, _ = _pair(group, g)
    plan = model.plan(g)
    h = torch.randn(
        g.num_nodes, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    for layer in model.layers:
        torch.testing.assert_close(layer(h, plan), layer.naive_forward(h, plan), rtol=0, atol=1e-12)
        fused = layer.aggregate_messages(h, plan)  # == the per-slot reference form
        torch.testing.assert_close(fused, layer.aggregate(layer.messages(h, plan), plan))
    torch.manual_seed(0)
    kw = {"group": group, "width": 16, "layers": 3, "backend": "loop", "same_atom": True}
    loop = ECN(g.x.shape[1], g.edge_attr.shape[1], 2, **kw).double().eval()
    loop.load_state_dict(model.state_dict())
    assert model.plan(g).chunk_color is not None and loop.plan(g).chunk_color is None
    with torch.no_grad():
        torch.testing.assert_close(loop(g), model(g), rtol=0, atol=1e-10)


def test_option_checks_and_defaults(graphs):
    g = graphs["CuAu"]
    dims = (g.x.shape[1], g.edge_attr.shape[1])
    with pytest.raises(ValueError, match="crystal group"):
        ECN(*dims, group="sn", same_atom=True)
    with pytest.raises(ValueError, match="true or false"):
        ECN(*dims, same_atom="yes")  # type: ignore[arg-type]
    model = ECN(*dims, group="slambda", width=8, layers=1, same_atom=True).double()
    with pytest.raises(ValueError, match="same_atom=True"):  # a plan without the branch
        model.layers[0](
            torch.zeros(g.num_nodes, 8, dtype=torch.float64), build_color_plan(g, "slambda")
        )
    # the default model has no branch: its weights (and pretrained files) are unchanged
    default = ECN(*dims)
    assert default.config.options["same_atom"] is False
    assert not any("same_atom" in k for k in default.state_dict())
    extra = set(ECN(*dims, same_atom=True).state_dict()) - set(default.state_dict())
    assert extra == {
        f"layers.{i}.same_atom.{p}"
        for i in range(6)
        for p in ("edge1.weight", "edge1.bias", "edge2.weight", "edge2.bias")
        + ("attention.weight", "attention.bias")
    }
    branch = ECN(*dims, same_atom=True).layers[0].same_atom
    assert branch["edge1"].weight.shape == (2, 2 * 128 + dims[1], 128)  # slambda: 2 cell colours
    plain = ECN(*dims, width=8, layers=1).double()
    with pytest.raises(ValueError, match="same_atom=False"):  # and the other way round
        plain.layers[0](
            torch.zeros(g.num_nodes, 8, dtype=torch.float64),
            build_color_plan(g, "slambda", same_atom=True),
        )


def test_round_trip_and_files_written_before_the_option(graphs, tmp_path):
    g = graphs["CuAu"]
    model, _ = _pair("glambda", g)
    path = tmp_path / "m.pt"
    torch.save(model_to_dict(model), path)
    loaded = model_from_dict(torch.load(path, weights_only=True)).eval()
    assert loaded.config.options["same_atom"] is True and loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(loaded(g), model(g))
    # a file from before the option (no "same_atom" in its options) loads as the plain model
    _, plain = _pair("glambda", g)
    d = model_to_dict(plain)
    d["config"]["options"].pop("same_atom")
    old = model_from_dict(d).eval()
    assert old.config.options["same_atom"] is False
    assert old.config == ModelConfig.from_dict(model_to_dict(plain)["config"])
    with torch.no_grad():
        assert torch.equal(old(g), plain(g))
