"""Compact records (`UnitGraph`, `GraphStore`) and the vectorised batch expansion (issue 12).

The expanded batch must be exactly the one-by-one graphs collated - the cover is checked against
a neighbour search on the 2x2x2 supercell in test_cover.py, so equality here carries that over
to every batch the DataLoader makes.
"""

from __future__ import annotations

import pickle
from dataclasses import fields

import numpy as np
import pytest
import torch

from ecn.elements import MAX_Z
from ecn.graphs import GraphSettings, GraphStore, collate, expand, unit_graph
from ecn.graphs.cover import Expander
from ecn.graphs.features import gaussian_features
from ecn.graphs.graph import CrystalGraph
from ecn.graphs.store import StoreWriter

#: every tensor field of a graph, `cell_orbit_map` (optional) aside
FIELDS = [f.name for f in fields(CrystalGraph) if f.type == "Tensor"]

SETTINGS = {
    "supercell onehot_z": GraphSettings(),
    "unit cell group_period +U": GraphSettings(
        supercell=False, node_features="group_period", hubbard_u=True, cell_onehot=False
    ),
    "supercell cgcnn92 voronoi": GraphSettings(strategy="voronoi_radii", node_features="cgcnn92"),
}


def _units(structures, settings, names=None):
    names = names or list(structures)
    return [
        unit_graph(structures[k], settings, np.array([float(i), np.nan]), k)
        for i, k in enumerate(names)
    ]


@pytest.mark.parametrize("label", list(SETTINGS))
def test_batch_expansion_equals_one_by_one_collated(diverse_structures, label):
    st = SETTINGS[label]
    units = _units(diverse_structures, st)
    batch = expand(units, st)
    ref = collate([expand([u], st) for u in units])
    for f in FIELDS:
        a, b = getattr(batch, f), getattr(ref, f)
        assert a.dtype == b.dtype and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True), f
    assert batch.ids == ref.ids == list(diverse_structures)
    # negative control: the equality above is not vacuous
    shuffled = expand(units[::-1], st)
    assert not torch.equal(shuffled.edge_index, batch.edge_index)


def test_features_follow_their_definitions(diverse_structures):
    st = GraphSettings()
    g = expand(_units(diverse_structures, st, ["NaCl", "TiO2_rutile"]), st)
    mu = np.linspace(0, st.gaussian_max, st.n_gaussians)
    ref = np.exp(-((g.edge_dist.numpy()[:, None] - mu) ** 2) / st.gaussian_width**2)
    assert np.allclose(g.edge_attr.numpy(), ref, atol=1e-6)
    assert (g.x[:, :MAX_Z].argmax(1) + 1 == g.z).all()
    assert (g.x[:, MAX_Z : MAX_Z + 8].argmax(1) == g.cell).all()
    # supercell node k = a * n + i inside each graph
    n = g.n_atoms.tolist()
    local = torch.cat([torch.arange(8 * k) for k in n])
    rep = torch.repeat_interleave(g.n_atoms, 8 * g.n_atoms)
    assert torch.equal(g.cell * rep + g.atom, local)


def test_store_round_trip_mmap_views_and_pickle(diverse_structures, tmp_path):
    st = GraphSettings()
    units = _units(diverse_structures, st)
    mem = GraphStore.from_units(units)
    disk = mem.write(tmp_path / "store", meta={"note": "x"})
    assert isinstance(disk.columns["src"], np.memmap)
    assert len(disk) == len(units) and disk.view_ids == [u.id for u in units]
    for a, b in zip(units, disk, strict=True):
        for f in ("z", "frac", "src", "dst", "offset", "dist", "lattice"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), f
        assert np.array_equal(a.y, b.y, equal_nan=True) and a.hubbard == b.hubbard
    # views: subset, new targets, orbit maps; the columns are shared, not copied
    sub = disk.subset([3, 1])
    assert sub.view_ids == [units[3].id, units[1].id] and sub.columns is disk.columns
    sub = sub.with_y(np.array([[7.0], [8.0]]))
    assert sub[0].y.tolist() == [7.0] and sub[1].y.tolist() == [8.0]
    sub = sub.with_orbit_maps(np.tile(np.arange(8), (2, 1)))
    assert expand(list(sub), st).cell_orbit_map.shape == (2, 8)
    # a mapped store pickles as its folder (DataLoader workers re-open it), not its data
    blob = pickle.dumps(disk)
    assert len(blob) < disk.nbytes() / 2
    again = pickle.loads(blob)
    assert np.array_equal(again[5].dist, disk[5].dist)
    # DataLoader-style collation
    b = Expander(st)([disk[0], disk[1]])
    assert b.num_graphs == 2


def test_store_writer_is_atomic_and_keeps_a_finished_copy(diverse_structures, tmp_path):
    st = GraphSettings()
    units = _units(diverse_structures, st, ["NaCl", "CsCl"])
    w = StoreWriter(tmp_path / "s", n_targets=2)
    w.add(units[0])
    assert not (tmp_path / "s").exists()  # nothing visible until close
    w.abort()
    assert list(tmp_path.iterdir()) == []
    first = GraphStore.from_units(units).write(tmp_path / "s")
    second = GraphStore.from_units(units[:1]).write(tmp_path / "s")  # lost the race
    assert len(first) == len(second) == 2


def test_record_dtypes_are_compact_and_checked(diverse_structures):
    u = unit_graph(diverse_structures["NaCl"], GraphSettings())
    assert u.z.dtype == np.uint8 and u.offset.dtype == np.int8 and u.dist.dtype == np.float32
    with pytest.raises(ValueError, match="offset"):
        type(u).make("x", [1], [[0, 0, 0]], [0], [0], [[200, 0, 0]], [1.0], np.eye(3))


def test_gaussians_never_produce_subnormal_floats(diverse_structures):
    """CGCNN's narrow Gaussians (41 on [0, 8] Å, width 0.2) on a real crystal's 8 Å graph: no
    subnormal float32 (they slow CPU matmuls many times over), exact zeros far from a centre,
    and exactly exp() elsewhere. Negative control: the plain exp() of the same distances does
    produce subnormals."""
    from ecn.graphs.features import GAUSSIAN_MIN_EXPONENT, gaussian_basis
    from ecn.nn import CGCNN

    st = GraphSettings(**CGCNN.GRAPH_SETTINGS)
    g = expand(_units(diverse_structures, st, ["NaCl", "TiO2_rutile"]), st)
    model = CGCNN(st.node_feature_dim, 0)
    d, mu = g.edge_dist, model.rbf.centers
    tiny = torch.finfo(torch.float32).tiny  # smallest normal float32

    def subnormal(t):
        return ((t != 0) & (t.abs() < tiny)).sum().item()

    torch.set_flush_denormal(False)  # the CPU default (ecn train flushes, then restores)
    plain = torch.exp(-((d[:, None] - mu[None, :]) ** 2) / 0.2**2)
    assert subnormal(plain) > 0  # the problem is real on this input
    feats = model.rbf(d)
    assert subnormal(feats) == 0 and subnormal(gaussian_features(d, st)) == 0
    arg = -((d[:, None] - mu[None, :]) ** 2) / 0.2**2
    far = arg <= GAUSSIAN_MIN_EXPONENT
    assert far.any() and (feats[far] == 0).all()
    assert torch.equal(feats[~far], plain[~far])
    assert torch.equal(gaussian_basis(d, mu, 0.2), feats)
