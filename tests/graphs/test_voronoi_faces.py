"""Voronoi face areas of the neighbour search (issue 26: the face weight of a continuous
Voronoi graph): exact on a crystal with a known Voronoi cell, the fast path equal to the
reference (pymatgen's Voronoi) and to pymatgen's VoronoiNN areas on real crystals, and a face
that appears under a tiny displacement appears with zero area (the property the weight needs)."""

from __future__ import annotations

import csv
import gzip
from itertools import islice

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from ecn.data.validate import parse_cif
from ecn.graphs import GraphSettings
from ecn.graphs.neighbors import _polygon_areas, neighbor_list
from ecn.settings import data_dir
from ecn.testing.crystals import crystals

MP_CSV = data_dir() / "mp_cgcnn_36k" / "mp_cgcnn_36k.csv.gz"
VORONOI = GraphSettings(strategy="voronoi_radii", self_loops=False)


def _areas(edges) -> dict:
    return {
        (i, j, tuple(o)): a
        for i, j, o, a in zip(edges.dst, edges.src, edges.offset.tolist(), edges.face, strict=True)
    }


def test_fcc_cell_is_a_rhombic_dodecahedron():
    # Voronoi cell of fcc: 12 rhombic faces, volume a^3 / 4; a rhombic dodecahedron of edge e
    # has volume 16 sqrt(3) / 9 e^3 and surface 8 sqrt(2) e^2
    a = 3.61
    s = Structure(
        Lattice.cubic(a), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    )
    e = (a**3 / 4 * 9 / (16 * np.sqrt(3))) ** (1 / 3)
    face = 8 * np.sqrt(2) * e**2 / 12
    edges = neighbor_list(s, VORONOI)
    assert edges.num_edges == 4 * 12
    np.testing.assert_allclose(edges.face, face, rtol=1e-9)


def test_polygon_area_of_a_square_in_any_order():
    sq = np.array([[0, 0, 0], [1, 1, 0], [1, 0, 0], [0, 1, 0]], dtype=float)  # shuffled
    tri = np.array([[0, 0, 0], [2, 0, 0], [0, 2, 0]], dtype=float)
    pts = np.concatenate([sq, tri, [[5, 5, 5], [5, 5, 5]]])  # + a degenerate "face"
    group = np.array([0] * 4 + [1] * 3 + [2] * 2)
    normal = np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0]], dtype=float)
    np.testing.assert_allclose(_polygon_areas(pts, group, normal, 3), [1.0, 2.0, 0.0], atol=1e-12)


def test_radius_graph_edges_have_no_face():
    edges = neighbor_list(crystals()["BaTiO3"], GraphSettings(strategy="cutoff", cutoff=5.0))
    assert edges.face is not None and np.isnan(edges.face).all()


def _mp_structures(step: int = 200, limit: int = 120) -> list[Structure]:
    csv.field_size_limit(1 << 30)
    with gzip.open(MP_CSV, "rt", newline="") as fh:
        return [parse_cif(r["cif"]) for r in islice(csv.DictReader(fh), 0, step * limit, step)]


@pytest.mark.skipif(not MP_CSV.is_file(), reason=f"MP data file not available ({MP_CSV})")
def test_fast_path_areas_equal_the_reference_and_pymatgen():
    from pymatgen.analysis.local_env import VoronoiNN

    structures = list(crystals().values()) + _mp_structures()
    for s in structures:
        fast = neighbor_list(s, VORONOI)
        ref = neighbor_list(s, VORONOI, method="reference")
        a, b = _areas(fast), _areas(ref)
        assert a.keys() == b.keys()
        ka = [k for k in a if np.isfinite(a[k])]
        np.testing.assert_allclose([a[k] for k in ka], [b[k] for k in ka], rtol=1e-6, atol=1e-9)
        assert all(a[k] > 0 for k in ka)
    # pymatgen's own face areas, site 0 of a few crystals (its neighbours carry 'area')
    for s in structures[-5:]:
        poly = VoronoiNN(cutoff=6.0, allow_pathological=True).get_voronoi_polyhedra(s, 0)
        theirs = {
            (0, int(v["site"].index), tuple(int(x) for x in np.rint(v["site"].image))): v["area"]
            for v in poly.values()
        }
        ours = {k: v for k, v in _areas(neighbor_list(s, VORONOI)).items() if k[0] == 0}
        for k, v in ours.items():
            if np.isfinite(v):
                assert theirs[k] == pytest.approx(v, rel=1e-6), k


def test_a_face_that_appears_under_a_tiny_move_appears_with_zero_area():
    # cubic BaTiO3: degenerate Voronoi vertices; moving atoms by eps opens new faces whose
    # area shrinks to 0 with eps (~eps^2), so a weight vanishing with the area is continuous
    s = crystals()["BaTiO3"]
    base = neighbor_list(s, VORONOI).edge_set()
    rng = np.random.default_rng(0)
    d = rng.normal(size=(len(s), 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    largest = {}
    for eps in (1e-5, 1e-4, 1e-3):
        t = s.copy()
        for i in range(len(s)):
            t.translate_sites([i], eps * d[i], frac_coords=False, to_unit_cell=False)
        moved = neighbor_list(t, VORONOI)
        new = moved.edge_set() - base
        assert new, "control: the move must open faces"
        areas = _areas(moved)
        largest[eps] = max(areas[k] for k in new)
    assert largest[1e-3] < 1e-4
    assert largest[1e-5] < largest[1e-4] < largest[1e-3]
