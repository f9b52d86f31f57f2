"""Acceptance tests for the baselines (issue 6): invariances on real crystals built in code.

Each baseline must give the same prediction (to 1e-5, float64) when the Cartesian frame is
rotated, the atoms of the unit cell are permuted, or another equivalent unit-cell origin is
chosen; batched == one-by-one; and a lattice change must change the prediction (negative
control, so the tests are known to bite).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from torch import nn

from ecn.elements import MAX_Z
from ecn.graphs import build_graph
from ecn.graphs.graph import CrystalGraph, collate
from ecn.graphs.restrict import restrict_neighbors
from ecn.nn import CGCNN, MODELS, MEGNet, ModelConfig, SchNet, build_model
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.nn.megnet import Set2Set
from ecn.nn.scatter import scatter_softmax
from ecn.testing import rotated_structure, shifted_origin

TOL = 1e-5
#: The baselines: every model of MODELS that claims Euclidean invariance.
BASELINES = {k: cls for k, cls in MODELS.items() if cls.SYMMETRY == "euclidean"}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny graphs: intra-op threads only add overhead (100x on a busy 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------------------------------------
# Crystals (real structures, built in code)
# ---------------------------------------------------------------------------------------------


def batio3() -> Structure:
    """Cubic perovskite BaTiO3 (Pm-3m, a = 4.01 Å)."""
    return Structure(
        Lattice.cubic(4.01),
        ["Ba", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


def nacl() -> Structure:
    """Rock-salt NaCl, primitive fcc cell (a_conv = 5.64 Å)."""
    return _nacl().copy()


@functools.cache
def _nacl() -> Structure:
    conv = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    return conv.get_primitive_structure()


def triclinic_kcuf() -> Structure:
    """A low-symmetry (P-1) ternary cell: 8 atoms, all cell angles different."""
    return _triclinic_kcuf().copy()


@functools.cache
def _triclinic_kcuf() -> Structure:
    lat = Lattice.from_parameters(5.1, 6.3, 7.2, 82.0, 97.0, 108.0)
    return Structure.from_spacegroup(
        "P-1",
        lat,
        ["K", "Cu", "F", "F"],
        [[0.12, 0.21, 0.33], [0.61, 0.43, 0.12], [0.31, 0.72, 0.58], [0.83, 0.08, 0.71]],
    )


CRYSTALS = {"BaTiO3": batio3, "NaCl": nacl, "triclinic_KCuF": triclinic_kcuf}


# ---------------------------------------------------------------------------------------------
# Graph building: an independent reference (pymatgen neighbour list) and ecn's builder
# ---------------------------------------------------------------------------------------------


def reference_graph(structure: Structure, cutoff: float) -> CrystalGraph:
    """Unit-cell radius graph from `Structure.get_neighbor_list`, plus self-loops (which the
    models must drop), one-hot Z node features (MAX_Z wide, like ``onehot_z``), float64."""
    center, point, images, dist = structure.get_neighbor_list(cutoff)
    n = len(structure)
    src = np.concatenate([point, np.arange(n)])
    dst = np.concatenate([center, np.arange(n)])
    offset = np.concatenate([images, np.zeros((n, 3))]).astype(np.int64)
    d = np.concatenate([dist, np.zeros(n)])
    z = torch.tensor([site.specie.Z for site in structure], dtype=torch.long)
    x = torch.nn.functional.one_hot(z - 1, MAX_Z).to(torch.float64)
    return CrystalGraph(
        x=x,
        z=z,
        cell=torch.zeros(n, dtype=torch.long),
        atom=torch.arange(n),
        edge_index=torch.tensor(np.stack([src, dst]), dtype=torch.long),
        edge_dist=torch.tensor(d, dtype=torch.float64),
        edge_offset=torch.tensor(offset),
        edge_attr=torch.zeros(len(d), 0, dtype=torch.float64),
        lattice=torch.tensor(structure.lattice.matrix, dtype=torch.float64).unsqueeze(0),
        n_atoms=torch.tensor([n]),
        y=torch.full((1, 1), float("nan"), dtype=torch.float64),
        batch=torch.zeros(n, dtype=torch.long),
        edge_batch=torch.zeros(len(d), dtype=torch.long),
        ids=["ref"],
        supercell=False,
    )


def _as_float64(g: CrystalGraph) -> CrystalGraph:
    return replace(
        g,
        x=g.x.double(),
        edge_dist=g.edge_dist.double(),
        edge_attr=g.edge_attr.double(),
        lattice=g.lattice.double(),
        y=g.y.double(),
    )


def build_reference(structure: Structure, name: str) -> CrystalGraph:
    """Independent reference graph at the model's cutoff (one-hot Z features)."""
    return reference_graph(structure, BASELINES[name].GRAPH_SETTINGS["cutoff"])


def build_ecn(structure: Structure, name: str) -> CrystalGraph:
    """The package's builder with the model's recommended settings, cast to float64."""
    return _as_float64(build_graph(structure, resolve_graph_settings(name)))


BUILDERS: dict[str, Callable[[Structure, str], CrystalGraph]] = {
    "reference": build_reference,
    "ecn": build_ecn,
}


# ---------------------------------------------------------------------------------------------
# Symmetry operations on structures
# ---------------------------------------------------------------------------------------------


def rotated(s: Structure, seed: int = 0) -> Structure:
    """Same crystal in a rotated Cartesian frame (lattice rows a_i -> R a_i)."""
    return rotated_structure(s, seed)


def permuted(s: Structure, seed: int = 0) -> Structure:
    """Same crystal with the unit-cell atoms listed in another (non-identity) order."""
    n = len(s)
    perm = np.roll(np.arange(n), 1)[np.random.default_rng(seed).permutation(n)]
    return Structure(s.lattice, [s.species[k] for k in perm], s.frac_coords[perm])


def _model(
    name: str, build: Callable[[Structure, str], CrystalGraph] = build_reference
) -> nn.Module:
    """A float64 baseline in eval mode for graphs from `build`, weights scaled up 1.5x so that
    its output is clearly sensitive to the structure (at the default init MEGNet's output moves
    by ~1e-4 for a 3 % lattice strain, which would make a 1e-5 invariance bound a weak test)."""
    torch.manual_seed(0)
    warmup = [build(c(), name) for c in CRYSTALS.values()]
    model = build_model(ModelConfig(name, warmup[0].x.shape[1], warmup[0].edge_attr.shape[1]))
    model = model.double()
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.Linear):
                mod.weight.mul_(1.5)
        if isinstance(model, CGCNN):  # give the batch norms non-trivial running statistics
            model.train()
            model(collate(warmup))
    return model.eval()


def _predict(model: nn.Module, g: CrystalGraph) -> torch.Tensor:
    with torch.no_grad():
        return model(g)


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

OPS: list[tuple[str, Callable[[Structure], Structure]]] = [
    ("rotation", lambda s: rotated(s, 0)),
    ("rotation2", lambda s: rotated(s, 1)),
    ("permutation", lambda s: permuted(s, 0)),
    ("permutation2", lambda s: permuted(s, 1)),
    ("origin", lambda s: shifted_origin(s)),
    ("origin2", lambda s: shifted_origin(s, (0.5, 0.25, -0.125))),
]


@pytest.mark.parametrize("builder", sorted(BUILDERS))
@pytest.mark.parametrize("name", sorted(BASELINES))
def test_invariances(name: str, builder: str) -> None:
    """Rotation, atom permutation and origin choice leave predictions unchanged (1e-5)."""
    build = BUILDERS[builder]
    model = _model(name, build)
    for crystal, make in CRYSTALS.items():
        s = make()
        base = _predict(model, build(s, name))
        assert base.shape == (1, 1) and torch.isfinite(base).all()
        for op_name, op in OPS:
            dev = float((_predict(model, build(op(s), name)) - base).abs().max())
            assert dev < TOL, (
                f"{name}/{builder} on {crystal}: {op_name} changed output by {dev:.2e}"
            )


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_negative_control_lattice_change(name: str) -> None:
    """Stretching one lattice parameter by 3 % must change the prediction (the test bites)."""
    s = batio3()
    model = _model(name)
    stretched = Structure(Lattice.tetragonal(4.01, 4.13), s.species, s.frac_coords)
    a = _predict(model, build_reference(s, name))
    b = _predict(model, build_reference(stretched, name))
    assert float((a - b).abs().max()) > 1e-3


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_batched_equals_one_by_one(name: str) -> None:
    """A batch of three crystals gives the three single predictions."""
    model = _model(name, build_ecn)
    graphs = [build_ecn(c(), name) for c in CRYSTALS.values()]
    single = torch.cat([_predict(model, g) for g in graphs])
    batched = _predict(model, collate(graphs))
    assert batched.shape == (3, 1)
    torch.testing.assert_close(batched, single, atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_node_level_permutation_equivariant(name: str) -> None:
    """Per-atom outputs follow a permutation of the atoms."""
    torch.manual_seed(0)
    model = BASELINES[name](MAX_Z, 0, out_dim=2, node_level=True).double().eval()
    s = triclinic_kcuf()
    perm = np.roll(np.arange(len(s)), 3)
    sp = Structure(s.lattice, [s.species[k] for k in perm], s.frac_coords[perm])
    out = _predict(model, build_reference(s, name))
    out_p = _predict(model, build_reference(sp, name))
    assert out.shape == (len(s), 2)
    torch.testing.assert_close(out_p, out[torch.as_tensor(perm)], atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_config_roundtrip_and_gradients(name: str) -> None:
    """`config` rebuilds the same model; one backward pass reaches every parameter."""
    cls = BASELINES[name]
    torch.manual_seed(0)
    model = cls(MAX_Z, 0).double()
    assert model.config == ModelConfig(name, MAX_Z, 0, options=model.config.options)
    clone = build_model(model.config).double()
    clone.load_state_dict(model.state_dict())
    g = collate([build_reference(c(), name) for c in CRYSTALS.values()])
    model.eval()
    clone.eval()
    torch.testing.assert_close(_predict(model, g), _predict(clone, g), atol=0, rtol=0)
    model.train()
    model(g).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    settings = resolve_graph_settings(name)
    assert settings.supercell is False and settings.strategy == "cutoff"
    assert cls.GRAPH_SETTINGS["cutoff"] == model.cutoff


def test_original_hyperparameters() -> None:
    """Defaults are the original papers' (RBF sizes, widths, layers)."""
    cg, mg, sn = CGCNN(5, 0), MEGNet(5, 0), SchNet(5, 0)
    assert cg.rbf.centers.numel() == 41 and float(cg.rbf.centers[-1]) == pytest.approx(8.0)
    assert len(cg.convs) == 3 and cg.cutoff == 8.0 and cg.max_neighbors == 12
    assert mg.rbf.centers.numel() == 100 and mg.rbf.width == pytest.approx(0.5)
    assert len(mg.blocks) == 3 and mg.state_dim == 2
    assert sn.rbf.centers.numel() == 300 and sn.rbf.width == pytest.approx(10**-0.5)
    assert len(sn.interactions) == 3


def test_restrict_neighbors_cap_and_ties() -> None:
    """Cap keeps the k nearest per target, whole shells at the cap, no zero-offset self-loops."""
    s = batio3()  # O: 2 Ti at a/2, then 8 O + 4 Ba at a/sqrt(2): a shell of 12 cut by k = 12
    g = reference_graph(s, 8.0)
    capped = restrict_neighbors(g, cutoff=8.0, max_neighbors=12)
    src, dst = capped.edge_index
    assert not bool(((src == dst) & (capped.edge_offset == 0).all(1)).any())
    counts = torch.bincount(dst, minlength=5).tolist()
    # Ba: 12 O at a/sqrt(2); Ti: 6 O + 8 Ba (shell at a*sqrt(3)/2 kept whole); O: 2 + 12.
    assert counts == [12, 14, 14, 14, 14]
    for i in range(5):
        d = capped.edge_dist[dst == i]
        d_all = g.edge_dist[(g.edge_index[1] == i) & (g.edge_dist > 0)]
        assert float(d.max()) <= float(torch.sort(d_all).values[11]) + 1e-4
    small = restrict_neighbors(g, cutoff=2.1)
    assert torch.bincount(small.edge_index[1], minlength=5).tolist() == [0, 6, 2, 2, 2]
    with pytest.raises(ValueError):
        restrict_neighbors(g, max_neighbors=0)


def test_restrict_neighbors_cut_keeps_exactly_k_nearest() -> None:
    """``ties="cut"`` (the reference code's rule): exactly 12 per atom, the nearest ones."""
    g = reference_graph(batio3(), 8.0)
    cut = restrict_neighbors(g, cutoff=8.0, max_neighbors=12, ties="cut")
    dst = cut.edge_index[1]
    assert torch.bincount(dst, minlength=5).tolist() == [12] * 5
    kept = restrict_neighbors(g, cutoff=8.0, max_neighbors=12)
    for i in range(5):  # same distance multiset up to the cut shell, a subset of "keep"
        d_cut = torch.sort(cut.edge_dist[dst == i]).values
        d_keep = torch.sort(kept.edge_dist[kept.edge_index[1] == i]).values
        torch.testing.assert_close(d_cut, d_keep[:12])
    with pytest.raises(ValueError, match="ties"):
        restrict_neighbors(g, max_neighbors=12, ties="random")
    model = CGCNN(g.x.shape[1], 1, neighbor_ties="cut")
    assert model.config.options["neighbor_ties"] == "cut"
    with pytest.raises(ValueError, match="neighbor_ties"):
        CGCNN(g.x.shape[1], 1, neighbor_ties="x")


def test_empty_neighbourhood_is_finite() -> None:
    """A graph whose atoms have no neighbour within the cutoff still gives finite outputs."""
    g = reference_graph(nacl(), 2.0)  # shortest Na-Cl is 2.82 Å: only self-loops
    for name in BASELINES:
        assert torch.isfinite(_predict(_model(name), g)).all()


def test_set2set_and_softmax() -> None:
    """Segment softmax sums to one per set; Set2Set is permutation invariant within sets."""
    torch.manual_seed(0)
    logits, index = torch.randn(7, dtype=torch.float64), torch.tensor([0, 0, 1, 1, 1, 2, 2])
    w = scatter_softmax(logits, index, 4)
    torch.testing.assert_close(
        torch.zeros(4, dtype=w.dtype).index_add_(0, index, w)[:3], torch.ones(3, dtype=w.dtype)
    )
    s2s = Set2Set(3, 4, steps=3).double()
    x = torch.randn(7, 3, dtype=torch.float64)
    perm = torch.tensor([6, 2, 0, 5, 1, 4, 3])
    out = s2s(x, index, 3)
    assert out.shape == (3, 8)
    torch.testing.assert_close(s2s(x[perm], index[perm], 3), out)


def test_bad_input_raises() -> None:
    """Wrong node-feature width and bad hyperparameters raise ValueError."""
    g = reference_graph(nacl(), 5.0)
    with pytest.raises(ValueError):
        SchNet(7, 0)(g)
    with pytest.raises(ValueError):
        SchNet(7, 0, pool="max")
    with pytest.raises(ValueError):
        MEGNet(MAX_Z, 0).double()(g, state=torch.zeros(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError):
        CGCNN(MAX_Z, 0).double()(replace(g, supercell=True))
    with pytest.raises(ValueError):
        resolve_graph_settings("alignn")


def test_split_linear_is_the_linear_of_the_concatenation() -> None:
    """CGCNN's and MEGNet's edge layers multiply node / state features before gathering them
    per edge (``split_linear``): the same values and gradients as the Linear of the gathered
    concatenation, on a real crystal's graph; a block in the wrong order differs (control)."""
    from ecn.nn.dense import split_linear

    g = build_reference(triclinic_kcuf(), "megnet")
    src, dst = g.edge_index
    torch.manual_seed(0)
    v = torch.randn(g.num_nodes, 8, dtype=torch.float64, requires_grad=True)
    e = torch.randn(g.num_edges, 5, dtype=torch.float64, requires_grad=True)
    u = torch.randn(1, 3, dtype=torch.float64, requires_grad=True)
    lin = torch.nn.Linear(24, 7).double()
    cat = lin(torch.cat([v[src], v[dst], e, u[g.edge_batch]], dim=-1))
    split = split_linear(lin, [(v, src), (v, dst), (e, None), (u, g.edge_batch)])
    torch.testing.assert_close(split, cat, atol=1e-12, rtol=0)
    grads = torch.autograd.grad(cat.square().sum(), [v, e, u, lin.weight, lin.bias])
    grads2 = torch.autograd.grad(split.square().sum(), [v, e, u, lin.weight, lin.bias])
    for a, b in zip(grads, grads2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    swapped = split_linear(lin, [(v, dst), (v, src), (e, None), (u, g.edge_batch)])
    assert float((swapped - cat).abs().max()) > 1e-3
    with pytest.raises(ValueError, match="wide"):
        split_linear(lin, [(v, src), (e, None)])
