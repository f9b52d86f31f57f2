"""Unit-cell neighbour search: Voronoi + covalent radii (IsayevNN), radius graphs.

Why not call pymatgen's ``IsayevNN``: it builds Python objects per site and per face (~30-50 ms
per 5-atom cell). We reproduce its edge set with one Delaunay triangulation per structure over a
small point set around the unit cell:

1. ``find_points_in_spheres`` (pymatgen's compiled neighbour list) gives every periodic image
   within ``voronoi_candidates`` (6 Å) of each atom: the candidate set of IsayevNN.
2. Only images within ``1.6 x`` the distance to each atom's 7th neighbour go into qhull (about
   half the candidates); the star of every unit-cell atom in that triangulation is then *verified*
   against all candidates: it must be closed (no hull facet) and no candidate may lie strictly
   inside a circumsphere of a star simplex (which then has radius <= candidates / 2). A verified
   star is the star of the full periodic Delaunay triangulation, so its Voronoi faces are exact.
3. A Voronoi face i|j exists (qhull's ``ridge_points``, which IsayevNN reads) when it has positive
   area: the circumcentres of the simplices around edge (i, j) span a plane. Coincident
   circumcentres (cospherical points, common in cubic perovskites) give zero-area faces that qhull
   merges away; we test the spread of the centres instead of trusting the triangulation's choice.
4. Keep faces with d <= r_cov(i) + r_cov(j) + tol (IsayevNN uses ``<=``).

When verification fails (sparse or very anisotropic cells) we fall back to the exact pymatgen
construction: ``scipy.spatial.Voronoi`` over the same candidate points in the same order.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from pymatgen.core import Structure
from scipy.spatial import Delaunay, QhullError, Voronoi

from ecn.elements import COVALENT_RADIUS, MAX_Z
from ecn.graphs.settings import GraphSettings

logger = logging.getLogger(__name__)

_PBC = np.ones(3, dtype=np.int64)
_NUMERICAL_TOL = 1e-8  # pymatgen's get_neighbor_list default
_STAR_RADIUS_FACTOR = 1.6  # qhull subset radius = factor x distance to the 7th neighbour
_STAR_RADIUS_RANK = 6  # 0-based rank of that neighbour
_FLAT_TOL = 1e-6  # |det| / (|u||v||w|) below which a tetrahedron counts as flat
_CENTRE_SPREAD_TOL = 1e-9  # Å; circumcentre spread below which a Voronoi face has zero area
_EMPTY_TOL = 1e-7  # Å; a point this far inside a circumsphere violates the Delaunay property
_FALLBACK_DIST_TOL = 1e-3  # Å; nearest-neighbour fallback keeps all within this of the minimum
_PAIRS = np.nonzero(~np.eye(4, dtype=bool))  # the 12 ordered vertex pairs of a tetrahedron


@dataclass
class UnitEdges:
    """Directed unit-cell edges i <- j: source position = frac[j] + offset.

    Attributes:
        src: (E,) int source atom j.
        dst: (E,) int target atom i.
        offset: (E, 3) int image offset of the source in the lattice basis.
        dist: (E,) float distance in Å.
        n_atoms: atoms in the unit cell.
        n_isolated: atoms that had no neighbour and got their nearest one(s) instead.
        fallback: (E,) bool, True for those nearest-neighbour fallback edges.
        method: ``fast`` (verified Delaunay), ``reference`` (exact pymatgen Voronoi) or ``radius``.
        face: (E,) float, the area in Å^2 of the Voronoi face the edge crosses (``voronoi_radii``
            edges); NaN where an edge has none (radius strategies, fallback edges, self-loops).
            A face appears with zero area, so a weight that vanishes with it makes the Voronoi
            graph continuous (``ecn.nn.envelope``, issue 26). None: not computed.
    """

    src: np.ndarray
    dst: np.ndarray
    offset: np.ndarray
    dist: np.ndarray
    n_atoms: int
    n_isolated: int = 0
    fallback: np.ndarray | None = None
    method: str = "radius"
    face: np.ndarray | None = None

    @property
    def num_edges(self) -> int:
        return int(self.src.shape[0])

    def edge_set(self, fallback: bool = True) -> set[tuple[int, int, tuple[int, int, int]]]:
        """{(i, j, image)} as pymatgen's ``get_all_nn_info`` lists them (target, source, image).

        Args:
            fallback: include the nearest-neighbour fallback edges of isolated atoms.
        """
        keep = (
            np.ones(self.num_edges, dtype=bool)
            if fallback or self.fallback is None
            else ~self.fallback
        )
        return {
            (int(i), int(j), (int(a), int(b), int(c)))
            for i, j, (a, b, c) in zip(
                self.dst[keep], self.src[keep], self.offset[keep].tolist(), strict=False
            )
        }


def _arrays(structure: Structure) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(frac, cart, lattice, z) as contiguous arrays; validates what the search relies on."""
    if len(structure) == 0:
        raise ValueError("structure has no atoms")
    if not structure.is_ordered:
        raise ValueError("structure has partial occupancies (disordered sites)")
    if not all(structure.lattice.pbc):
        raise ValueError("structure is not periodic in all three directions")
    z = np.asarray(structure.atomic_numbers, dtype=np.int64)
    if z.min() < 1 or z.max() > MAX_Z:
        raise ValueError(f"element outside the supported table (Z must be 1..{MAX_Z})")
    lattice = np.ascontiguousarray(structure.lattice.matrix, dtype=float)
    if not np.all(np.isfinite(lattice)):
        raise ValueError("non-physical cell: lattice is not finite (NaN or infinite)")
    if not abs(np.linalg.det(lattice)) >= 1e-6:
        raise ValueError("degenerate lattice (zero volume)")
    if not np.all(np.isfinite(structure.frac_coords)):
        raise ValueError("non-finite atomic coordinates")
    return (
        np.ascontiguousarray(structure.frac_coords, dtype=float),
        np.ascontiguousarray(structure.cart_coords, dtype=float),
        lattice,
        z,
    )


def _radius_search(
    cart: np.ndarray, lattice: np.ndarray, r: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All (center, point, image, dist) with dist <= r + 1e-8, self pairs removed.

    Same call and same self-exclusion as pymatgen's ``Structure.get_neighbor_list``.
    """
    from pymatgen.optimization.neighbors import find_points_in_spheres

    c, p, img, d = find_points_in_spheres(
        cart, cart, r=float(r), pbc=_PBC, lattice=lattice, tol=_NUMERICAL_TOL
    )
    keep = ~((c == p) & (d <= _NUMERICAL_TOL))
    return (
        c[keep].astype(np.int64),
        p[keep].astype(np.int64),
        np.rint(img[keep]).astype(np.int64),
        d[keep],
    )


class _Codes:
    """Encodes (atom, image) as one int64 sorted like pymatgen's ``np.unique(axis=0)`` rows."""

    def __init__(self, max_abs_image: int) -> None:
        self.o = int(max_abs_image)
        self.m = 2 * self.o + 1

    def encode(self, atom: np.ndarray, img: np.ndarray) -> np.ndarray:
        o, m = self.o, self.m
        return ((atom * m + (img[:, 0] + o)) * m + (img[:, 1] + o)) * m + (img[:, 2] + o)

    def decode(self, code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        o, m = self.o, self.m
        rest, i2 = np.divmod(code, m)
        rest, i1 = np.divmod(rest, m)
        atom, i0 = np.divmod(rest, m)
        return atom, np.stack([i0 - o, i1 - o, i2 - o], axis=1)


def _circumcentres(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Circumcentres (S, 3), radii (S,) and flatness mask (S,) of tetrahedra p: (S, 4, 3)."""
    a = p[:, 0]
    d = p[:, 1:] - a[:, None, :]  # (S, 3, 3) edge vectors u, v, w
    ux, uy, uz = d[:, 0, 0], d[:, 0, 1], d[:, 0, 2]
    vx, vy, vz = d[:, 1, 0], d[:, 1, 1], d[:, 1, 2]
    wx, wy, wz = d[:, 2, 0], d[:, 2, 1], d[:, 2, 2]
    # cross products v x w, w x u, u x v (columns), written out: np.cross is slow for small S
    vw = np.stack([vy * wz - vz * wy, vz * wx - vx * wz, vx * wy - vy * wx], axis=1)
    wu = np.stack([wy * uz - wz * uy, wz * ux - wx * uz, wx * uy - wy * ux], axis=1)
    uv = np.stack([uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx], axis=1)
    sq = (d * d).sum(2)  # (S, 3) |u|^2, |v|^2, |w|^2
    det = (d[:, 0] * vw).sum(1)
    flat = np.abs(det) <= _FLAT_TOL * np.sqrt(sq.prod(1))
    den = np.where(flat, 1.0, 2.0 * det)[:, None]
    rel = (sq[:, 0:1] * vw + sq[:, 1:2] * wu + sq[:, 2:3] * uv) / den
    return a + rel, np.sqrt((rel * rel).sum(1)), flat


def _polygon_areas(
    points: np.ndarray, group: np.ndarray, normal: np.ndarray, n_groups: int
) -> np.ndarray:
    """(G,) areas of planar convex polygons from their unordered vertices.

    Args:
        points: (K, 3) vertices (Voronoi vertices: the circumcentres around a Delaunay edge).
        group: (K,) polygon id of each vertex, 0..G-1.
        normal: (G, 3) a normal of each polygon's plane (the Delaunay edge vector).
        n_groups: G.

    The vertices are ordered by angle around their mean in the plane (a convex polygon), then
    the shoelace formula; coincident vertices add nothing, so a face shrinking to a segment or
    a point has area -> 0 continuously.
    """
    nrm = normal / np.linalg.norm(normal, axis=1, keepdims=True)
    # a unit vector in each plane: the normal crossed with the axis it is least aligned with
    helper = np.eye(3)[np.argmin(np.abs(nrm), axis=1)]
    u1 = np.cross(nrm, helper)
    u1 /= np.linalg.norm(u1, axis=1, keepdims=True)
    u2 = np.cross(nrm, u1)
    cnt = np.bincount(group, minlength=n_groups).astype(float)
    mean = np.stack([np.bincount(group, points[:, k], n_groups) for k in range(3)], axis=1)
    mean /= np.maximum(cnt, 1.0)[:, None]
    rel = points - mean[group]
    x = (rel * u1[group]).sum(1)
    y = (rel * u2[group]).sum(1)
    order = np.lexsort((np.arctan2(y, x), group))
    g, x, y = group[order], x[order], y[order]
    start = np.searchsorted(g, np.arange(n_groups))  # first vertex of each group (sorted)
    nxt = np.arange(len(g)) + 1
    last = np.r_[g[1:] != g[:-1], True]  # the last vertex of its group wraps to the first
    nxt[last] = start[g[last]]
    cross = x * y[nxt] - x[nxt] * y
    return np.abs(0.5 * np.bincount(g, cross, n_groups))


def _voronoi_fast(
    frac: np.ndarray,
    cart: np.ndarray,
    lattice: np.ndarray,
    z: np.ndarray,
    tol: float,
    r_cand: float,
    full_star: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """IsayevNN edges (target, source, offset, distance, Voronoi face area in Å^2) from one
    verified Delaunay triangulation; None when unverifiable.

    First with a per-atom triangulation radius guessed from its 6th neighbour; where that
    leaves a circumsphere that is not empty (a candidate inside it was not triangulated), once
    more with every candidate (`full_star`), which is still much cheaper than the reference
    (about one input in ten of MP needed it).
    """
    n = len(frac)
    c, p, img, d = _radius_search(cart, lattice, r_cand)
    if len(c) == 0:
        return None
    # Per-atom qhull radius from the distance to the 6th neighbour (verified below, so only speed
    # depends on this heuristic).
    order = np.lexsort((d, c))
    counts = np.bincount(c, minlength=n)
    starts = np.cumsum(counts) - counts
    radius = np.full(n, float(r_cand))
    has = (counts > _STAR_RADIUS_RANK) & (not full_star)
    radius[has] = np.minimum(
        r_cand, _STAR_RADIUS_FACTOR * d[order[starts[has] + _STAR_RADIUS_RANK]]
    )
    codes = _Codes(max(int(np.abs(img).max()), 1))
    cand = codes.encode(p, img)
    roots = codes.encode(np.arange(n), np.zeros((n, 3), dtype=np.int64))
    sub = np.unique(np.concatenate([roots, cand[d <= radius[c]]]))
    atom, image = codes.decode(sub)
    pts = (frac[atom] + image) @ lattice
    is_root = ~image.any(axis=1)
    try:
        tri = Delaunay(pts, qhull_options="QJ")
    except (QhullError, ValueError):
        return None
    simp = tri.simplices
    root_v = is_root[simp]
    inc = root_v.any(axis=1)
    simp, nbr, root_v = simp[inc], tri.neighbors[inc], root_v[inc]
    # Closed star: every facet that contains a unit-cell atom must have a simplex on its far side.
    facet_has_root = (root_v.sum(axis=1, keepdims=True) - root_v) > 0
    if np.any((nbr == -1) & facet_has_root):
        return None
    centre, rho, flat = _circumcentres(pts[simp])
    ok = ~flat
    if np.any(2.0 * rho[ok] > r_cand):
        return None
    # Empty circumspheres: a star sphere lies within 2 rho <= r_cand of its unit-cell vertex, so
    # that vertex's candidates suffice (vertices sit on their spheres, within the joggle). Spheres
    # with 2 rho <= the qhull radius of that vertex are empty by construction (all its candidates
    # within that radius were triangulated); only the others need the explicit check.
    simp, centre, rho = simp[ok], centre[ok], rho[ok]
    vertex_radius = np.where(is_root[simp], radius[atom[simp]], -1.0)
    best = np.argmax(vertex_radius, axis=1)
    rows = np.arange(len(simp))
    check = 2.0 * rho > vertex_radius[rows, best]
    if check.any():
        root_of = atom[simp[rows[check], best[check]]]
        q = ((frac[p] + img) @ lattice)[order]
        n_q = counts[root_of]
        rep = np.repeat(np.nonzero(check)[0], n_q)
        idx = (
            np.arange(len(rep))
            - np.repeat(np.cumsum(n_q) - n_q, n_q)
            + np.repeat(starts[root_of], n_q)
        )
        d2 = ((centre[rep] - q[idx]) ** 2).sum(1)
        if np.any(d2 < (rho[rep] - _EMPTY_TOL) ** 2):
            if full_star:
                return None
            return _voronoi_fast(frac, cart, lattice, z, tol, r_cand, full_star=True)
    a = simp[:, _PAIRS[0]].ravel()
    b = simp[:, _PAIRS[1]].ravel()
    cen = np.repeat(centre, len(_PAIRS[0]), axis=0)
    keep = is_root[a]
    a, b, cen = a[keep], b[keep], cen[keep]
    npts = len(pts)
    pair, inv, cnt = np.unique(a * npts + b, return_inverse=True, return_counts=True)
    ua, ub = np.divmod(pair, npts)
    i, j, off = atom[ua], atom[ub], image[ub]
    edge_vec = pts[ub] - pts[ua]  # (P, 3): the Delaunay edge, normal to its Voronoi face
    dist = np.linalg.norm(edge_vec, axis=1)
    cand_edge = (cnt >= 3) & (dist <= COVALENT_RADIUS[z[i]] + COVALENT_RADIUS[z[j]] + tol)
    if not cand_edge.any():
        return i[:0], j[:0], off[:0], dist[:0], dist[:0]
    # Positive face area <=> the circumcentres around the edge are not collinear.
    new_id = np.cumsum(cand_edge) - 1
    rows = cand_edge[inv]
    g, cen = new_id[inv[rows]], cen[rows]
    n_g = int(cand_edge.sum())
    cnt_g = cnt[cand_edge].astype(float)
    mean = np.stack([np.bincount(g, cen[:, k], n_g) for k in range(3)], axis=1) / cnt_g[:, None]
    dev = cen - mean[g]
    cov = np.empty((n_g, 3, 3))
    for r_ in range(3):
        for s_ in range(r_, 3):
            cov[:, r_, s_] = cov[:, s_, r_] = np.bincount(g, dev[:, r_] * dev[:, s_], n_g)
    # Residual off the principal axis, computed directly: eigvalsh's second eigenvalue carries
    # ~1e-16 x |cov| noise, which would turn collinear (zero-area) centres into faces.
    axis = np.linalg.eigh(cov)[1][:, :, 2][g]
    resid = dev - (dev * axis).sum(1, keepdims=True) * axis
    face = np.bincount(g, (resid * resid).sum(1), n_g) > _CENTRE_SPREAD_TOL**2
    sel = np.nonzero(cand_edge)[0][face]
    area = _polygon_areas(cen, g, edge_vec[cand_edge], n_g)[face]
    return i[sel], j[sel], off[sel], dist[sel], area


def _voronoi_reference(
    frac: np.ndarray,
    cart: np.ndarray,
    lattice: np.ndarray,
    z: np.ndarray,
    tol: float,
    r_cand: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """pymatgen ``IsayevNN(cutoff=r_cand, tol=tol).get_all_nn_info`` with the same qhull input,
    plus each edge's Voronoi face area (Å^2).

    Where pymatgen gives up (a unit-cell atom's Voronoi cell is unbounded within the candidates,
    "pathological"), we double the candidate radius instead, as pymatgen does for 1-atom cells.
    """
    n = len(frac)
    r = float(r_cand)
    max_r = max(r, 2.0 * float(np.linalg.norm(lattice.sum(axis=0))) + 2.0 * r_cand)
    while True:
        _, p, img, _ = _radius_search(cart, lattice, r)
        codes = _Codes(max(int(np.abs(img).max()) if len(img) else 1, 1))
        roots = codes.encode(np.arange(n), np.zeros((n, 3), dtype=np.int64))
        if n == 1:  # pymatgen: the site's sphere sorted by distance, centre first
            d = np.linalg.norm((frac[p] + img) @ lattice - cart[0], axis=1)
            order = np.argsort(d, kind="stable")
            sub = np.concatenate([roots, codes.encode(p, img)[order]])
        else:
            sub = np.unique(np.concatenate([roots, codes.encode(p, img)]))
        atom, image = codes.decode(sub)
        pts = (frac[atom] + image) @ lattice
        is_root = ~image.any(axis=1)
        try:
            vor = Voronoi(pts)
        except (QhullError, ValueError):
            vor = None
        if vor is not None:
            rp = vor.ridge_points
            bounded = np.array([-1 not in rv for rv in vor.ridge_vertices], dtype=bool)
            touches = is_root[rp[:, 0]] | is_root[rp[:, 1]]
            if bounded[touches].all() and len(rp):
                break
        if r >= max_r:
            raise ValueError("Voronoi construction failed: unbounded cell at the largest radius")
        r = min(2.0 * r, max_r)
    both = np.concatenate([rp, rp[:, ::-1]])
    ridge = np.concatenate([np.arange(len(rp))] * 2)
    root_side = is_root[both[:, 0]]
    both, ridge = both[root_side], ridge[root_side]
    ua, ub = both[:, 0], both[:, 1]
    i, j, off = atom[ua], atom[ub], image[ub]
    dist = np.linalg.norm(pts[ub] - cart[i], axis=1)
    keep = dist <= COVALENT_RADIUS[z[i]] + COVALENT_RADIUS[z[j]] + tol
    # face areas of the ridges kept (bounded: every ridge touching a unit-cell atom is)
    used = np.unique(ridge[keep])
    verts = [vor.ridge_vertices[r] for r in used]
    group = np.repeat(np.arange(len(used)), [len(v) for v in verts])
    flat = np.concatenate(verts) if verts else np.zeros(0, dtype=np.int64)
    normal = pts[rp[used, 1]] - pts[rp[used, 0]]
    areas = _polygon_areas(vor.vertices[flat], group, normal, len(used))
    area = areas[np.searchsorted(used, ridge[keep])]
    return i[keep], j[keep], off[keep], dist[keep], area


def _shortest_lattice_vector(lattice: np.ndarray) -> float:
    """Length in Å of a short lattice vector (LLL-reduced basis, within 2x of the shortest)."""
    from pymatgen.core import Lattice

    red = Lattice(lattice).get_lll_reduced_lattice()
    return float(np.linalg.norm(red.matrix, axis=1).min())


def _nearest_fallback(
    frac: np.ndarray, cart: np.ndarray, lattice: np.ndarray, atoms: np.ndarray, r_start: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges i <- j to the nearest neighbour(s) of each atom in `atoms` (ties within 1e-3 Å).

    The search radius doubles from `r_start` but never beyond the shortest lattice vector (+ the
    tie tolerance): every atom's own periodic image lies that close, so the search always ends
    there, and its cost stays bounded whatever the cell (before, a hostile cell doubled the
    radius until the neighbour list needed tens of GB).
    """
    r_max = _shortest_lattice_vector(lattice) + 2 * _FALLBACK_DIST_TOL
    r = min(float(r_start), r_max)
    out_i, out_j, out_o, out_d = [], [], [], []
    todo = {int(a) for a in atoms}
    while todo:
        c, p, img, d = _radius_search(cart, lattice, r)
        for a in sorted(todo):
            m = c == a
            if not m.any():
                continue
            dmin = d[m].min()
            mm = m & (d <= dmin + _FALLBACK_DIST_TOL)
            out_i.append(c[mm]), out_j.append(p[mm]), out_o.append(img[mm]), out_d.append(d[mm])
            todo.discard(a)
        if todo and r >= r_max:
            raise ValueError(
                "nearest-neighbour fallback found no neighbour within one lattice vector"
            )
        r = min(2.0 * r, r_max)
    return (
        np.concatenate(out_i),
        np.concatenate(out_j),
        np.concatenate(out_o),
        np.concatenate(out_d),
    )


#: Å beyond the k-th neighbour distance that a stored cap keeps (``GraphSettings.max_neighbors``):
#: more than a model's tie tolerance (1e-4 Å) plus float32 rounding of 8 Å distances, so the
#: stored graph always holds every edge the model's own rule would keep.
CAP_SLACK = 1e-3


def neighbor_ranks(dst: torch.Tensor, dist: torch.Tensor, n: int) -> torch.Tensor:
    """(E,) long: 0-based rank of each edge among the edges of its target, by (distance, edge
    order). One sort serves both neighbour-cap rules: the stored superset here and the models'
    own cap (``ecn.graphs.restrict.restrict_neighbors``, "keep" ties or "cut" at exactly k).

    Args:
        dst: (E,) long target node of each edge.
        dist: (E,) float edge length.
        n: number of target nodes.
    """
    order = torch.argsort(dist, stable=True)
    order = order[torch.argsort(dst[order], stable=True)]  # sorted by (target, distance)
    counts = torch.bincount(dst, minlength=n)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.shape[0], device=order.device)
    return rank - starts[dst]


def kth_neighbor_distance(dst: torch.Tensor, dist: torch.Tensor, n: int, k: int) -> torch.Tensor:
    """(n,) k-th smallest edge length per target node; inf where a target has fewer than k."""
    at = neighbor_ranks(dst, dist, n) == k - 1
    kth = dist.new_full((n,), math.inf)
    kth[dst[at]] = dist[at]
    return kth


def nearest_superset(
    dst: np.ndarray, dist: np.ndarray, n: int, k: int, margin: float = 0.0
) -> np.ndarray:
    """(E,) bool: edges within ``max(margin, CAP_SLACK)`` Å of their target's k-th smallest
    distance (all edges of a target with fewer than k)."""
    kth = kth_neighbor_distance(torch.from_numpy(dst), torch.from_numpy(dist), n, k).numpy()
    return dist <= kth[dst] + max(float(margin), CAP_SLACK)


def rank_limits(
    dst: torch.Tensor, dist: torch.Tensor, self_loop: torch.Tensor, n: int, k: int, margin: float
) -> torch.Tensor:
    """(E,) the length at which each edge leaves a nearest-k graph with a margin
    (``GraphSettings.neighbor_margin``): its target's k-th smallest distance plus `margin`
    (inf for a target with fewer than k neighbours). Self-loops (`self_loop`, (E,) bool) are
    no neighbours: they do not count towards k.

    Args:
        dst: (E,) long target node of each edge (indices < n).
        dist: (E,) float edge length.
        self_loop: (E,) bool, the edges i <- i with offset 0.
        n, k, margin: nodes, neighbour count, margin in Å.
    """
    keep = ~self_loop
    kth = kth_neighbor_distance(dst[keep], dist[keep], n, k)
    return kth[dst] + float(margin)


def edge_cutoffs(
    z_src: torch.Tensor,
    z_dst: torch.Tensor,
    settings: GraphSettings,
    dtype: torch.dtype,
    rank_limit: torch.Tensor | None = None,
) -> torch.Tensor:
    """(E,) the edge length in Å at which each edge would leave the graph (issue 26).

    What a smooth envelope takes to zero so that an edge fades out exactly where the neighbour
    search drops it: ``cutoff`` for the radius strategies; for ``voronoi_radii`` the Cordero
    limit ``r_cov(i) + r_cov(j) + tol`` (capped by ``voronoi_candidates``). Not captured, so
    still discontinuous under an envelope: a Voronoi face appearing or vanishing (the edge
    appears at a distance well inside its limit, with zero face area), and the nearest-k cap
    (``max_neighbors``: the k-th distance moves with the structure). The nearest-neighbour
    fallback of an isolated atom lies beyond its limit (no neighbour was within it), so an
    envelope gives its edges weight 0: they fade in as the neighbour enters the limit.

    With a margin (``neighbor_margin``) the cap has a place where an edge leaves too, the k-th
    distance of its target plus the margin (``rank_limit``, from :func:`rank_limits`), and the
    edge's limit is the nearer of the two: then the nearest-k graph is continuous as well.

    Args:
        z_src, z_dst: (E,) long atomic numbers of the two ends.
        settings: the graph settings the edges were built with.
        dtype: floating dtype of the result.
        rank_limit: (E,) the nearest-k limit of each edge, or None (no margin).
    """
    if settings.strategy != "voronoi_radii":
        limit = torch.full(z_src.shape, float(settings.cutoff), dtype=dtype, device=z_src.device)
    else:
        r = torch.as_tensor(COVALENT_RADIUS, dtype=dtype, device=z_src.device)
        limit = r[z_src] + r[z_dst] + float(settings.tol)
        limit = limit.clamp(max=float(settings.voronoi_candidates))
    if rank_limit is not None:
        limit = torch.minimum(limit, rank_limit.to(dtype))
    return limit


def neighbor_list(
    structure: Structure, settings: GraphSettings | None = None, method: str = "auto"
) -> UnitEdges:
    """Directed unit-cell edges of `structure` under `settings.strategy`.

    Args:
        structure: an ordered, 3D-periodic pymatgen Structure.
        settings: graph settings (strategy, radii, self-loops).
        method: for ``voronoi_radii`` only: ``auto`` (fast path, exact fallback) or
            ``reference`` (always the pymatgen-identical Voronoi; for tests).

    Returns:
        UnitEdges sorted by (dst, src, offset); self-loops i <- i (offset 0, d = 0) appended when
        ``settings.self_loops``. Atoms without any neighbour get their nearest one(s), counted in
        ``n_isolated`` and logged.

    Raises:
        ValueError: no atoms, disordered sites, unsupported element, degenerate lattice.
    """
    frac, cart, lattice, z = _arrays(structure)
    return neighbor_list_arrays(frac, cart, lattice, z, settings, method)


def neighbor_list_arrays(
    frac: np.ndarray,
    cart: np.ndarray,
    lattice: np.ndarray,
    z: np.ndarray,
    settings: GraphSettings | None = None,
    method: str = "auto",
) -> UnitEdges:
    """`neighbor_list` on the arrays ``_arrays`` returns: frac (N, 3), cart (N, 3), lattice
    (3, 3) rows, z (N,) int64 (the graph builder's path, which has no Structure to hand)."""
    settings = settings or GraphSettings()
    n = len(frac)
    used = "radius"
    if settings.strategy == "voronoi_radii":
        res = None
        if method == "auto":
            res = _voronoi_fast(frac, cart, lattice, z, settings.tol, settings.voronoi_candidates)
            used = "fast"
        elif method != "reference":
            raise ValueError(f"method must be 'auto' or 'reference', got {method!r}")
        if res is None:
            res = _voronoi_reference(
                frac, cart, lattice, z, settings.tol, settings.voronoi_candidates
            )
            used = "reference"
        dst, src, off, dist, face = res
    else:
        dst, src, off, dist = _radius_search(cart, lattice, settings.cutoff)
        if settings.strategy == "cutoff":
            keep = dist <= settings.cutoff
            dst, src, off, dist = dst[keep], src[keep], off[keep], dist[keep]
        face = np.full(len(dst), np.nan)
    if settings.max_neighbors is not None:
        keep = nearest_superset(
            dst, dist, n, int(settings.max_neighbors), float(settings.neighbor_margin)
        )
        dst, src, off, dist, face = dst[keep], src[keep], off[keep], dist[keep], face[keep]
    isolated = np.setdiff1d(np.arange(n), dst)
    is_fb = np.zeros(len(dst), dtype=bool)
    if len(isolated):
        r0 = (
            settings.voronoi_candidates if settings.strategy == "voronoi_radii" else settings.cutoff
        )
        fi, fj, fo, fd = _nearest_fallback(frac, cart, lattice, isolated, r0)
        dst, src = np.concatenate([dst, fi]), np.concatenate([src, fj])
        off, dist = np.concatenate([off, fo]), np.concatenate([dist, fd])
        face = np.concatenate([face, np.full(len(fi), np.nan)])
        is_fb = np.concatenate([is_fb, np.ones(len(fi), dtype=bool)])
        logger.debug(
            "%d of %d atom(s) without neighbours got their nearest one(s)", len(isolated), n
        )
    if settings.self_loops:
        ar = np.arange(n)
        dst, src = np.concatenate([dst, ar]), np.concatenate([src, ar])
        off = np.concatenate([off, np.zeros((n, 3), dtype=np.int64)])
        dist = np.concatenate([dist, np.zeros(n)])
        face = np.concatenate([face, np.full(n, np.nan)])
        is_fb = np.concatenate([is_fb, np.zeros(n, dtype=bool)])
    off = off.astype(np.int64)
    order = np.lexsort((off[:, 2], off[:, 1], off[:, 0], src, dst))
    return UnitEdges(
        src=src[order].astype(np.int64),
        dst=dst[order].astype(np.int64),
        offset=off[order],
        dist=dist[order].astype(float),
        n_atoms=n,
        n_isolated=len(isolated),
        fallback=is_fb[order],
        method=used,
        face=face[order].astype(float),
    )
