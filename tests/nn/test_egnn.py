"""The E(n)-equivariant ECN (``ecn_egnn``, ``ecn.nn.egnn``).

* E(3): scalar outputs (pooled prediction, node features after every layer) unchanged and
  ``node_vectors`` rotated under random rotations, reflections and translations of the
  Cartesian frame, float64 and float32 with per-dtype tolerances, on crystals built in code and
  on real Perov-5 and MP test crystals (skipped when the data are absent); negative controls: the
  same model fed raw absolute coordinates fails under the moves and under translations alone.
* group equivariance of node features AND node vectors under the colouring's permutations, for
  every group, with an out-of-group negative control;
* the unit-cell quotient equals the cover without the one-hot (and the one-hot breaks it);
* representation invariance (``ecn.testing``) of a model whose coordinates really move.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from ecn.bench.euclidean import euclidean_errors, excite_coordinates, frame_moves
from ecn.data.registry import load_split
from ecn.graphs import GraphSettings, build_graph, unit_graph
from ecn.graphs.cover import UnitBatch
from ecn.graphs.graph import CrystalGraph, collate
from ecn.inference import PropertyModel, TargetInfo
from ecn.nn import GROUPS, ModelConfig, build_model
from ecn.nn.egnn import ECNEGNN, slot_vectors
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.nn.spec import ModelSpec
from ecn.symmetry import attach_orbit_maps, lattice_point_group, sample_node_permutation
from ecn.testing import (
    assert_not_equivariant,
    assert_representation_invariant,
    max_equivariance_error,
    permute_graph,
)
from ecn.train.config import load_config
from ecn.train.run import resolve_config

#: Largest allowed change per dtype (outputs are O(0.01-5)); float32 rounding of the moved
#: geometry and of every layer gives ~1e-6.
TOL = {torch.float64: 1e-10, torch.float32: 2e-5}
R5 = {"strategy": "cutoff", "cutoff": 5.0}


def _triclinic() -> Structure:
    """A low-symmetry 3-atom crystal (no symmetry can hide a wrong sign)."""
    lat = Lattice.from_parameters(3.1, 3.4, 3.7, 81.0, 86.0, 77.0)
    return Structure(lat, ["Sr", "Ti", "O"], [[0, 0, 0], [0.52, 0.47, 0.55], [0.5, 0.05, 0.45]])


def _model(settings: GraphSettings, group: str = "slambda", seed: int = 0, layers: int = 3):
    torch.manual_seed(seed)
    cfg = ModelConfig(
        "ecn_egnn",
        settings.node_feature_dim,
        settings.n_gaussians,
        2,
        options={"group": group, "width": 16, "layers": layers},
    )
    return excite_coordinates(build_model(cfg), seed=seed).eval()


def _check_e3(units, settings: GraphSettings, dtype: torch.dtype) -> None:
    batch = UnitBatch.collate(units)
    model = _model(settings).to(dtype)
    moves = frame_moves(4, seed=1)
    assert any(np.linalg.det(r) < 0 for r, _ in moves)  # reflections are among them
    errs = euclidean_errors(model, batch, settings, moves, dtype)
    assert errs["vector_scale"] > 1e-2  # the coordinates really move: the check bites there
    for key in ("scalar", "embeddings", "vector"):
        assert errs[key] < TOL[dtype], (key, errs)
    # negative controls: raw absolute coordinates in place of edge vectors
    bad = euclidean_errors(model, batch, settings, moves, dtype, absolute=True)
    assert bad["embeddings"] > 1e-2 and bad["vector"] > 1e-2, bad
    shifts = frame_moves(4, seed=2, rotate=False)  # translations alone
    bad = euclidean_errors(model, batch, settings, shifts, dtype, absolute=True)
    assert bad["embeddings"] > 1e-2, bad
    assert euclidean_errors(model, batch, settings, shifts, dtype)["embeddings"] < TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("cover", [False, True], ids=["unit", "cover"])
def test_e3_on_crystals_built_in_code(crystals, dtype, cover):
    settings = resolve_graph_settings(
        "ecn_egnn", overrides={**R5, "cell_onehot": cover, "supercell": cover}
    )
    structures = [*crystals.values(), _triclinic()]
    units = [unit_graph(s, settings, id=str(k)) for k, s in enumerate(structures)]
    _check_e3(units, settings, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_e3_on_real_perov5_crystals(shared_data_dir, dtype):
    settings = resolve_graph_settings("ecn_egnn", "perov5")
    records = load_split("perov5", "test", limit=12).records
    _check_e3([unit_graph(r.structure, settings, id=r.id) for r in records], settings, dtype)


def _mp_rows(shared_data_dir, n: int = 6) -> list[Structure]:
    """The first `n` MP crystals of the CSV with at most 20 atoms (read directly: the MP loader
    curates all 36k rows, minutes without its cache)."""
    import pandas as pd

    path = shared_data_dir / "mp_cgcnn_36k" / "mp_cgcnn_36k.csv.gz"
    if not path.is_file():
        pytest.skip(f"MP data absent ({path})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = pd.read_csv(path, nrows=60).itertuples()
        structures = [Structure.from_str(r.cif, fmt="cif") for r in rows]
    return [s for s in structures if len(s) <= 20][:n]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_e3_on_real_mp_crystals(shared_data_dir, dtype):
    settings = resolve_graph_settings("ecn_egnn", "mp")  # Voronoi + radii graph, +U flag
    structures = _mp_rows(shared_data_dir)
    assert len(structures) >= 4
    _check_e3(
        [unit_graph(s, settings, id=str(k)) for k, s in enumerate(structures)], settings, dtype
    )


# --- the colouring: group equivariance and the quotient -------------------------------------

_COVER = GraphSettings(strategy="cutoff", cutoff=4.0, cell_onehot=False)


def _cover_graph(s: Structure, settings: GraphSettings = _COVER) -> CrystalGraph:
    g = build_graph(s, settings)
    attach_orbit_maps([g])
    return replace(g, x=g.x.double(), edge_attr=g.edge_attr.double(), edge_vec=g.edge_vec.double())


def _double_model(g: CrystalGraph, group: str, node_level: bool = False) -> ECNEGNN:
    torch.manual_seed(3)
    m = ECNEGNN(g.x.shape[1], g.edge_attr.shape[1], 2, node_level, group=group, width=16, layers=3)
    return excite_coordinates(m.double()).eval()


@pytest.mark.parametrize("group", GROUPS)
def test_group_equivariance_of_features_and_vectors(group, crystals):
    rng = np.random.default_rng(0)
    # CaF2: a large point group; triclinic: no site symmetry, so its vectors are not forced to 0
    for name, s in (("CaF2", crystals["CaF2"]), ("triclinic", _triclinic())):
        g = _cover_graph(s)
        model = _double_model(g, group)
        rots = lattice_point_group(np.array(s.lattice.matrix))
        perms = np.array([sample_node_permutation(group, len(s), rng, rots) for _ in range(8)])
        assert max_equivariance_error(model, g, perms) < 1e-10, name
        with torch.no_grad():
            v = model.node_vectors(g)
            assert name == "CaF2" or v.abs().max() > 1e-2
            for p in perms:  # vectors move with their nodes
                vp = model.node_vectors(permute_graph(g, p))
                assert (vp[torch.as_tensor(p)] - v).abs().max() < 1e-10, name
    if group != "sn":  # swapping two atoms in one cell only is outside G x S_C
        g = _cover_graph(crystals["CaF2"])
        noise = torch.randn(g.x.shape, generator=torch.Generator().manual_seed(7))
        g = replace(g, x=g.x + noise.double())
        swap = np.arange(g.num_nodes)
        swap[[0, 1]] = [1, 0]
        assert_not_equivariant(_double_model(g, group), g, swap)


@pytest.fixture(scope="module")
def cover_and_unit(crystals):
    structures = [*crystals.values(), _triclinic()]

    def batch(settings: GraphSettings) -> CrystalGraph:
        return collate([_cover_graph(s, settings) for s in structures])

    return batch(_COVER), batch(replace(_COVER, supercell=False))


@pytest.mark.parametrize("group", GROUPS)
def test_unit_cell_quotient_equals_the_cover(group, cover_and_unit):
    cover, unit = cover_and_unit
    model = _double_model(cover, group)
    with torch.no_grad():
        torch.testing.assert_close(model(unit), model(cover), rtol=0, atol=1e-10)
        v_cover, v_unit = model.node_vectors(cover), model.node_vectors(unit)
    start_u = torch.cumsum(unit.n_atoms, 0) - unit.n_atoms  # cover node (g, a, i) <- unit (g, i)
    local = torch.arange(cover.num_nodes) - 8 * start_u[cover.batch]
    torch.testing.assert_close(
        v_cover,
        v_unit[start_u[cover.batch] + local % unit.n_atoms[cover.batch]],
        atol=1e-10,
        rtol=0,
    )
    assert v_unit.abs().max() > 1e-2


def test_negative_control_cell_onehot_breaks_the_quotient(crystals):
    with_hot = replace(_COVER, cell_onehot=True)
    cover = _cover_graph(crystals["CaF2"], with_hot)
    unit = _cover_graph(crystals["CaF2"], replace(with_hot, supercell=False))
    model = _double_model(cover, "slambda")
    with torch.no_grad():
        assert (model(unit) - model(cover)).abs().max() > 1e-4


# --- representation invariance, structure and errors ------------------------------------------


def test_representation_invariance(crystals):
    """One prediction for every equivalent description (cells, bases, origins, atom orders,
    rotations and reflections of the frame) through ``ecn.testing``; graphs are built in float32,
    so the tolerance is float32 rounding of the edge vectors."""
    gs = resolve_graph_settings("ecn_egnn", "perov5")
    net = _model(gs).double()
    model = PropertyModel(net, TargetInfo(("y", "z"), ("eV", "eV"))).double()
    for s in (crystals["BaTiO3"], crystals["CaF2"], _triclinic()):
        errs = assert_representation_invariant(model, s, atol=1e-5, settings=gs)
        assert len(errs) >= 15


class _RawDirection(ECNEGNN):
    """Negative control: adds a frame-dependent scalar per crystal, the sum of the squared
    x-components of its edge vectors, to the prediction."""

    def forward(self, graph: CrystalGraph, plan=None) -> torch.Tensor:
        out = super().forward(graph, plan)
        x2 = graph.edge_vec.to(out.dtype)[:, 0] ** 2  # (odd powers cancel over i<-j, j<-i)
        return out + out.new_zeros(graph.num_graphs).index_add(0, graph.edge_batch, x2)[:, None]


def test_negative_control_representation_check_catches_a_frame_dependent_model(crystals):
    gs = resolve_graph_settings("ecn_egnn", "perov5")
    torch.manual_seed(0)
    net = _RawDirection(gs.node_feature_dim, gs.n_gaussians, 1, width=16, layers=3).double()
    model = PropertyModel(net, TargetInfo(("y",), ("eV",))).double()
    with pytest.raises(AssertionError, match="depends on the description"):
        assert_representation_invariant(model, _triclinic(), atol=1e-5, settings=gs)


def test_last_layer_moves_no_coordinates_and_every_other_does():
    m = ECNEGNN(4, 3, layers=3, width=8)
    assert [layer.coord1 is not None for layer in m.layers] == [True, True, False]
    assert {"group", "width", "layers", "backend"} == set(m.config.options)


def test_graph_without_edge_vectors_is_an_error(crystals):
    g = replace(build_graph(crystals["CsCl"], GraphSettings(**R5)), edge_vec=None)
    m = ECNEGNN(g.x.shape[1], g.edge_attr.shape[1], width=8, layers=2)
    with pytest.raises(ValueError, match="edge_vec"):
        m(g)
    with pytest.raises(ValueError, match="edge_vec"):
        slot_vectors(g, m.plan(g), torch.float32)


def test_named_variant_and_shipped_config_resolve():
    """``ecn bench train`` names and the queued MP config reach the model and graph claimed."""
    spec = ModelSpec.parse("ecn_egnn-slambda@64x4:r5")
    assert (spec.model, spec.options, spec.slug) == (
        "ecn_egnn",
        {"group": "slambda", "width": 64, "layers": 4},
        "ecn_egnn_slambda",
    )
    assert str(spec) == "ecn_egnn-slambda@64x4:r5" and spec.graph["cutoff"] == 5.0
    path = Path(__file__).resolve().parents[2] / "configs" / "mp_e_form_egnn.yaml"
    cfg, settings = resolve_config(load_config(path))
    assert cfg.model.name == "ecn_egnn" and cfg.model.options["width"] == 64
    assert cfg.data.dataset == "mp" and cfg.data.targets == ["e_form"]
    assert settings.strategy == "voronoi_radii" and settings.hubbard_u and not settings.supercell
