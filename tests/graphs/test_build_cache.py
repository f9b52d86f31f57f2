"""Features, build_graph, collate (batched == one by one), batch building, cache round trip."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from ecn.elements import MAX_Z
from ecn.graphs import (
    GraphSettings,
    build_graph,
    build_graphs,
    collate,
    expand,
    load_or_build,
    unit_graph,
)
from ecn.graphs import cache as cache_mod
from ecn.graphs.cache import cache_path
from ecn.graphs.graph import CrystalGraph


def test_settings_key_and_dims():
    a, b = GraphSettings(), GraphSettings(cutoff=4.0)
    assert a.key() == GraphSettings().key() and a.key() != b.key()
    assert a.node_feature_dim == MAX_Z + 8
    assert (
        GraphSettings(
            node_features="group_period", hubbard_u=True, cell_onehot=False
        ).node_feature_dim
        == 26
    )
    with pytest.raises(ValueError):
        GraphSettings(strategy="knn")


def test_cache_key_ignores_expansion_only_settings():
    """The cache holds unit-cell records: cover and features are built per batch."""
    from dataclasses import replace

    from ecn.graphs.cache import cache_key
    from ecn.graphs.settings import RECORD_FIELDS

    base = GraphSettings()
    same = replace(base, supercell=False, cell_onehot=False, node_features="cgcnn92", n_gaussians=8)
    assert cache_key("x", base) == cache_key("x", same) and base.key() != same.key()
    changed = {
        "strategy": "cutoff",
        "cutoff": 4.0,
        "voronoi_candidates": 7.0,
        "tol": 0.3,
        "self_loops": False,
        "canonical": "off",
        "symprec": 1e-2,
        "max_neighbors": 12,
        "neighbor_margin": 0.5,
    }
    assert set(changed) == set(RECORD_FIELDS)
    for name, value in changed.items():
        ref = replace(base, max_neighbors=12) if name == "neighbor_margin" else base
        assert cache_key("x", replace(ref, **{name: value})) != cache_key("x", ref), name
    # a field added later is left out of the keys while unset: old caches keep their keys
    capped = replace(base, max_neighbors=12)
    assert "neighbor_margin" not in capped._payload(RECORD_FIELDS)
    assert "neighbor_margin" in replace(capped, neighbor_margin=0.5)._payload(RECORD_FIELDS)


def test_build_graph_supercell_and_unit(diverse_structures):
    s = diverse_structures["BaTiO3_cubic"]
    g = build_graph(s, GraphSettings(), np.array([1.5, np.nan]), "bto")
    assert g.num_nodes == 40 and g.supercell
    assert g.y.shape == (1, 2) and torch.isnan(g.y[0, 1])
    assert g.lattice.shape == (1, 3, 3) and g.n_atoms.tolist() == [5]
    assert g.x.shape == (40, MAX_Z + 8) and g.edge_attr.shape == (g.num_edges, 20)
    assert (g.x[:, MAX_Z:].argmax(1) == g.cell).all()
    assert (g.x[:, :MAX_Z].argmax(1) + 1 == g.z).all()
    assert (g.cell * 5 + g.atom == torch.arange(40)).all()
    u = build_graph(s, GraphSettings(supercell=False))
    assert u.num_nodes == 5 and (u.cell == 0).all() and g.num_edges == 8 * u.num_edges
    # Gaussian features peak at the centre nearest the distance
    mu = np.linspace(0, 6, 20)
    k = np.abs(mu[None, :] - g.edge_dist.numpy()[:, None]).argmin(1)
    assert (g.edge_attr.argmax(1).numpy() == k).all()


def test_group_period_and_hubbard_features():
    s = Structure(Lattice.cubic(4.2), ["Fe", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    st = GraphSettings(
        node_features="group_period", hubbard_u=True, cell_onehot=False, supercell=False
    )
    g = build_graph(s, st)
    x = g.x.numpy()
    assert x[0, 8 - 1] == 1 and x[0, 18 + 4 - 1] == 1  # Fe: group 8, period 4
    assert x[1, 16 - 1] == 1 and x[1, 18 + 2 - 1] == 1  # O: group 16, period 2
    assert (x[:, 25] == 1).all()  # Fe + O -> +U


def test_collate_equals_individual(diverse_structures):
    names = ["NaCl", "Mg_hcp", "TiO2_rutile"]
    gs = [
        build_graph(diverse_structures[k], GraphSettings(), np.array([float(i)]), k)
        for i, k in enumerate(names)
    ]
    b = collate(gs)
    start = 0
    estart = 0
    for k, g in enumerate(gs):
        nodes = slice(start, start + g.num_nodes)
        edges = slice(estart, estart + g.num_edges)
        assert torch.equal(b.x[nodes], g.x) and torch.equal(b.z[nodes], g.z)
        assert torch.equal(b.cell[nodes], g.cell) and torch.equal(b.atom[nodes], g.atom)
        assert torch.equal(b.edge_index[:, edges] - start, g.edge_index)
        assert torch.equal(b.edge_attr[edges], g.edge_attr)
        assert torch.equal(b.edge_offset[edges], g.edge_offset)
        assert (b.batch[nodes] == k).all() and (b.edge_batch[edges] == k).all()
        assert torch.equal(b.y[k], g.y[0]) and torch.equal(b.lattice[k], g.lattice[0])
        start += g.num_nodes
        estart += g.num_edges
    assert b.ids == names and b.num_graphs == 3


def _items(diverse_structures):
    good = [(k, diverse_structures[k], np.array([1.0])) for k in ["NaCl", "CsCl", "Mg_hcp"]]
    bad = (
        "disordered",
        Structure(Lattice.cubic(4), [{"Na": 0.5, "K": 0.5}], [[0, 0, 0]]),
        np.array([2.0]),
    )
    return good[:2] + [bad] + good[2:]


def test_build_graphs_rejects_without_aborting(diverse_structures):
    graphs, rejected = build_graphs(
        _items(diverse_structures), GraphSettings(), n_jobs=1, progress=False
    )
    assert [g.ids[0] for g in graphs] == ["NaCl", "CsCl", "Mg_hcp"]
    assert rejected[0][0] == "disordered" and "partial" in rejected[0][1]


def test_cache_round_trip(diverse_structures, tmp_path):
    st = GraphSettings()
    calls = []

    def items():
        calls.append(1)
        return _items(diverse_structures)

    g1, r1 = load_or_build("t", "abc", st, items, n_jobs=1, progress=False, cache_root=tmp_path)
    stats: dict = {}
    g2, r2 = load_or_build(
        "t", "abc", st, items, n_jobs=1, progress=False, cache_root=tmp_path, stats=stats
    )
    assert len(calls) == 1 and stats["cached"] and r1 == r2 and len(g1) == len(g2) == 3
    assert isinstance(g2.columns["dist"], np.memmap)  # the cache is mapped, not read into RAM
    for a, b in zip(g1, g2, strict=True):
        ea, eb = expand([a], st), expand([b], st)
        for f in [f.name for f in fields(CrystalGraph) if f.type == "Tensor"]:
            assert torch.equal(getattr(ea, f), getattr(eb, f)), f
        assert ea.ids == eb.ids and ea.supercell == eb.supercell
    # the stored record expands to exactly what build_graph gives
    direct = build_graph(diverse_structures["NaCl"], st, np.array([1.0]), "NaCl")
    cached = expand([g2[0]], st)
    assert torch.equal(direct.edge_index, cached.edge_index)
    assert torch.equal(direct.x, cached.x) and torch.equal(direct.edge_attr, cached.edge_attr)
    # other settings or data -> other folder
    assert cache_path("t", "abc", GraphSettings(cutoff=4.0), tmp_path) != cache_path(
        "t", "abc", st, tmp_path
    )
    assert cache_path("t", "abd", st, tmp_path) != cache_path("t", "abc", st, tmp_path)


def test_failing_build_leaves_no_cache(diverse_structures, tmp_path, monkeypatch):
    st = GraphSettings()

    def broken_items():
        yield "NaCl", diverse_structures["NaCl"], None
        raise RuntimeError("reader crashed")

    with pytest.raises(RuntimeError):
        load_or_build("t", "abc", st, broken_items, n_jobs=1, progress=False, cache_root=tmp_path)
    assert list(tmp_path.iterdir()) == []

    def crash_in_build(*args, **kwargs):
        kwargs["sink"](unit_graph(diverse_structures["NaCl"], st, id="NaCl"))  # half written
        raise OSError("disk full")

    monkeypatch.setattr(cache_mod, "build_units", crash_in_build)
    with pytest.raises(OSError):
        load_or_build(
            "t",
            "abc",
            st,
            lambda: _items(diverse_structures),
            n_jobs=1,
            progress=False,
            cache_root=tmp_path,
        )
    assert list(tmp_path.iterdir()) == []


def test_build_graphs_parallel_matches_serial(diverse_structures):
    items = [(k, s, None) for k, s in list(diverse_structures.items())[:8]] * 9  # 72 -> 1+ workers
    ser, _ = build_graphs(items, GraphSettings(), n_jobs=1, progress=False)
    par, _ = build_graphs(items, GraphSettings(), n_jobs=2, progress=False)
    assert len(ser) == len(par) == 72
    assert all(torch.equal(a.edge_index, b.edge_index) for a, b in zip(ser, par, strict=False))
