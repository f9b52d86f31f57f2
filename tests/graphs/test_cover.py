"""Supercell graph = exact 8-fold periodic cover == neighbour search on structure * (2, 2, 2)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ecn.graphs import GraphSettings, cover_edges, neighbor_list
from ecn.graphs.graph import CELL_BITS


def _node_map(unit, sc) -> np.ndarray:
    """Supercell site k -> cover node a * n + i, matched by position (not by pymatgen's order)."""
    n = len(unit)
    u = 2.0 * sc.frac_coords  # unit-cell fractional coordinates of supercell sites
    out = np.full(len(sc), -1)
    for k in range(len(sc)):
        diff = u[k][None, :] - unit.frac_coords  # (n, 3) = a + 2m for the right atom
        r = np.rint(diff)
        for i in np.nonzero(np.abs(diff - r).max(1) < 1e-6)[0]:
            if unit[i].specie == sc[k].specie:
                bits = np.mod(r[i], 2).astype(int)
                out[k] = (4 * bits[0] + 2 * bits[1] + bits[2]) * n + i
    assert (out >= 0).all() and len(set(out.tolist())) == len(sc)
    return out


def _cover_multiset(unit, settings):
    e = neighbor_list(unit, settings)
    src, dst, off, dist = cover_edges(e)
    return Counter(
        zip(
            dst.tolist(),
            src.tolist(),
            map(tuple, off.tolist()),
            np.round(dist, 6).tolist(),
            strict=False,
        )
    )


def _supercell_multiset(unit, settings):
    sc = unit * (2, 2, 2)
    e = neighbor_list(sc, settings)
    m = _node_map(unit, sc)
    n = len(unit)
    u = 2.0 * sc.frac_coords
    # unit-cell image offset n_unit of the source, seen from the target: solve
    # frac[j] + n_unit - frac[i] == u[src] + 2 N - u[dst]
    fj, fi = unit.frac_coords[m[e.src] % n], unit.frac_coords[m[e.dst] % n]
    n_unit = np.rint(u[e.src] + 2 * e.offset - u[e.dst] - fj + fi).astype(int)
    return Counter(
        zip(
            m[e.dst].tolist(),
            m[e.src].tolist(),
            map(tuple, n_unit.tolist()),
            np.round(e.dist, 6).tolist(),
            strict=False,
        )
    )


COVER_CASES = [
    "NaCl",
    "CsCl",
    "Si_diamond",
    "BaTiO3_cubic",
    "TiO2_rutile",
    "Mg_hcp",
    "ZnO_wurtzite",
    "graphite_layered",
    "CdI2_layered",
    "triclinic_P-1",
    "triclinic_sheared",
    "W_bcc_1atom",
    "NaCl_sheared_cell",
]


@pytest.mark.parametrize("strategy", ["voronoi_radii", "cutoff"])
def test_cover_equals_supercell_search(diverse_structures, strategy):
    st = GraphSettings(strategy=strategy, cutoff=4.0)
    for name in COVER_CASES:
        s = diverse_structures[name]
        assert _cover_multiset(s, st) == _supercell_multiset(s, st), name
    assert len(COVER_CASES) >= 10


def test_cover_equals_supercell_search_perov5(perov5_test_300):
    for strategy in ("voronoi_radii", "cutoff"):
        st = GraphSettings(strategy=strategy, cutoff=5.0)
        for name, s in perov5_test_300[:5]:
            assert _cover_multiset(s, st) == _supercell_multiset(s, st), (strategy, name)


def test_cover_cells_follow_offsets():
    """Edge (a, i) <- ((a + n) mod 2, j) for every a, with the index convention of graph.py."""
    from ecn.graphs.neighbors import UnitEdges

    e = UnitEdges(
        src=np.array([1]),
        dst=np.array([0]),
        offset=np.array([[1, 0, -1]]),
        dist=np.array([2.0]),
        n_atoms=2,
    )
    src, dst, off, _ = cover_edges(e)
    for a in range(8):
        b_bits = (CELL_BITS[a] + np.array([1, 0, -1])) % 2
        b = 4 * b_bits[0] + 2 * b_bits[1] + b_bits[2]
        assert (dst[a], src[a]) == (a * 2 + 0, b * 2 + 1)
    assert (off == [1, 0, -1]).all()
