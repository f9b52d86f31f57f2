"""`ecn bench storage` parts: strained copies (streamed store) and the streaming epoch."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from ecn.bench.storage import strained_copies, stream_epoch
from ecn.graphs import GraphStore, neighbor_list, unit_graph
from ecn.nn.graph_settings import resolve_graph_settings


@pytest.fixture
def small_store() -> tuple[GraphStore, object]:
    st = resolve_graph_settings("ecn", "perov5", {"strategy": "cutoff", "cutoff": 4.5})
    crystals = [
        Structure.from_spacegroup(
            "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3]
        ),
        Structure.from_spacegroup(
            "Pm-3m", Lattice.cubic(4.0), ["Ba", "Ti", "O"], [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0]]
        ),
        Structure.from_spacegroup(
            "P6_3/mmc", Lattice.hexagonal(3.21, 5.21), ["Mg"], [[1 / 3, 2 / 3, 0.25]]
        ),
    ]
    units = [unit_graph(s, st, np.array([float(k)]), f"c{k}") for k, s in enumerate(crystals)]
    return GraphStore.from_units(units), st


def test_unstrained_copies_reproduce_the_stored_distances(small_store, tmp_path):
    store, _ = small_store
    same = strained_copies(store, 2, tmp_path / "s0", max_strain=0.0)
    assert len(same) == 2 * len(store)
    assert same.view_ids[: len(store)] == [f"{i}~0" for i in store.view_ids]
    for k in range(len(store)):
        assert np.allclose(same[k].dist, store[k].dist, atol=1e-5)
        assert np.allclose(same[k + len(store)].dist, store[k].dist, atol=1e-5)


def test_strained_copy_distances_match_a_new_neighbour_search(small_store, tmp_path):
    store, st = small_store
    big = strained_copies(store, 1, tmp_path / "s1", seed=3, max_strain=0.01)
    u = big[1]  # the strained perovskite
    assert not np.allclose(u.lattice, store[1].lattice)
    s = Structure(Lattice(u.lattice), [int(z) for z in u.z], u.frac)
    ref = neighbor_list(s, st)
    rows = zip(ref.src, ref.dst, ref.offset.tolist(), ref.dist, strict=True)
    key = {(int(a), int(b), *o): d for a, b, o, d in rows}
    found = 0
    for a, b, o, d in zip(u.src, u.dst, u.offset.tolist(), u.dist, strict=True):
        if (int(a), int(b), *o) in key:
            found += 1
            assert d == pytest.approx(key[(int(a), int(b), *o)], abs=1e-4)
    assert found >= 0.9 * len(u.src)  # a 1 % strain keeps (almost) every edge


def test_streaming_epoch_reports_memory(small_store, tmp_path):
    store, st = small_store
    big = strained_copies(store, 4, tmp_path / "s2")
    r = stream_epoch(big, st, batch_size=4, num_workers=1)
    assert r["n_structures_seen"] == 12 and r["full_epoch"] and r["n_batches"] == 3
    assert r["peak_rss_anon_mb"] > 10 and r["processes"] >= 1
    assert np.isfinite(r["mean_loss"])
