"""The canonical crystal step: one description per crystal before its graph is built.

Why (DESIGN.md "The description gauge"): the 2x2x2 cover labels every atom copy with a cell
``a``; which periodic image of an atom counts as "in cell 0" depends on how the crystal was
written down (cell size, basis, origin), and the colourings and the cell one-hot see that
choice. Every path from a structure to a graph (training, evaluation, prediction, benchmarks,
``ecn data build``) therefore passes :func:`canonical_structure` inside
``ecn.graphs.build_graph``:

1. **Primitive cell, standard basis and origin**: spglib's standardised primitive cell
   (``spglib.standardize_cell(to_primitive=True, no_idealize=True, symprec=symprec)``, the
   reduction the authors' code did with pymatgen's ``find_primitive``; computed by moyopy,
   about 9x faster, with spglib where moyopy finds no cell: ``ecn._moyo``), which for a given space
   group fixes the basis by the International Tables conventions (Niggli-reduced for triclinic
   lattices) and the origin by the standard setting. Conventional cells and supercells become the
   same primitive cell; unimodular basis changes, atom orders and rotations or reflections of the
   Cartesian frame give the same fractional coordinates (up to the space group's normaliser, see
   below). ``no_idealize``: atoms stay where they are (no symmetrisation of positions, no rotation
   of the frame); the graph sees the given geometry.
2. **Tolerant wrap**: fractional coordinates go into ``[-t_i, 1 - t_i)`` with ``t_i`` the
   fraction of the cell height along axis ``i`` that equals ``symprec`` Å, so an atom on a cell
   face (0 or 1 up to float noise or a distortion smaller than ``symprec``) always lands at the
   lower face and never flips between cell 0 and cell 1.

3. **Unique basis and origin** (``canonical="unique"``, the default): spglib's choice among the
   equivalent bases (the lattice's point-group images) and origins still follows the input
   where the space group's normaliser is larger than the group (e.g. Pm-3m with the origin on
   A or on B, polar groups with a free origin along the axis, P1). Among the finite candidate
   set {holohedry image of the basis} x {origin on an atom of the rarest species}, which moves
   with the crystal, the description with the lexicographically smallest sorted
   ``(Z, round(1e4 * frac))`` rows is taken: one pass, the same description for every input.

If neither finds a cell (e.g. atoms closer than ``symprec``), the fallback is
pymatgen's Niggli-reduced cell with the same wrap (logged at debug level).

What remains (measured in ``results/invariance/``): near-ties of the key (pseudo-symmetric
crystals) and atoms within ``symprec`` of the wrap threshold. :func:`origin_descriptions` and
:func:`basis_descriptions` give the finite sets that ``ecn.inference.Predictor`` can also average
over (``average="origins"`` / ``"full"``), the alternative that needs no tie-breaking rule.

Settings (``ecn.graphs.GraphSettings``): ``canonical`` (``"unique"``, the default,
``"primitive"`` (steps 1-2 only) or ``"off"``: the structure exactly as given, the paper's
behaviour, for ablations) and
``symprec`` (Å, spglib's distance tolerance and the wrap tolerance; default 1e-3 Å, enough for
CIFs written with 4-5 decimals).
"""

from __future__ import annotations

import logging

import numpy as np
from pymatgen.core import Lattice, Structure

from ecn._moyo import moyo_primitive
from ecn._spglib import spglib_call
from ecn.graphs.holohedry import lattice_point_group
from ecn.graphs.neighbors import _arrays
from ecn.graphs.settings import CANONICAL

__all__ = [
    "CANONICAL_MODES",
    "basis_descriptions",
    "canonical_arrays",
    "canonical_structure",
    "lattice_point_group",
    "origin_description",
    "origin_descriptions",
    "tolerant_wrap",
]

logger = logging.getLogger(__name__)

#: ``GraphSettings.canonical`` values.
CANONICAL_MODES = CANONICAL


def _face_tolerance(lattice: np.ndarray, tol: float) -> np.ndarray:
    """(3,) fractional tolerance per axis equal to `tol` Å of distance from the cell face.

    The height of the cell along axis i is ``1 / |b_i|`` with ``b_i`` the reciprocal rows of
    ``inv(lattice).T`` (no 2 pi), so a fractional offset ``t`` is ``t / |b_i|`` Å from the face.
    """
    recip = np.linalg.inv(lattice).T
    return tol * np.linalg.norm(recip, axis=1)


def tolerant_wrap(frac: np.ndarray, lattice: np.ndarray, tol: float) -> np.ndarray:
    """Fractional coordinates wrapped into ``[-t_i, 1 - t_i)`` per axis (`tol` in Å).

    Args:
        frac: (N, 3) fractional coordinates.
        lattice: (3, 3) lattice rows (Å).
        tol: distance in Å within which an atom below the upper face counts as on the lower face.

    Returns:
        (N, 3) wrapped coordinates; values within 1e-10 of an integer become exactly 0.
    """
    t = np.minimum(_face_tolerance(np.asarray(lattice, dtype=float), tol), 0.25)
    frac = np.asarray(frac, dtype=float)
    out = frac - np.floor(frac + t)
    out[np.abs(out) <= 1e-10] = 0.0
    return out


def _from_arrays(lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray) -> Structure:
    return Structure(Lattice(lattice), [int(z) for z in numbers], frac, coords_are_cartesian=False)


def _spglib(fn: str, cell: tuple, symprec: float) -> object:
    """``spglib.<fn>(cell, symprec=...)``; ``standardize_cell`` as the primitive, unidealised
    cell this step needs."""
    kw = {"to_primitive": True, "no_idealize": True} if fn == "standardize_cell" else {}
    return spglib_call(fn, cell, symprec=symprec, **kw)


def _primitive(
    lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray, symprec: float
) -> tuple | None:
    """The standardised primitive cell (lattice, frac, numbers): moyopy's, else spglib's (the
    same cell, ``ecn._moyo.moyo_primitive``; spglib only where moyopy finds none), else None."""
    try:
        return moyo_primitive(lattice, frac, numbers, symprec)
    except Exception as exc:  # noqa: BLE001 - moyopy raises plain errors; spglib decides then
        logger.debug("moyopy found no primitive cell (%s); spglib", exc)
    try:
        return _spglib("standardize_cell", (lattice, frac, numbers), symprec)
    except Exception as exc:  # noqa: BLE001 - spglib raises its own error types; fall back
        logger.debug("spglib standardize_cell failed (%s); Niggli fallback", exc)
    return None


def canonical_structure(
    structure: Structure, mode: str = "unique", symprec: float = 1e-3
) -> Structure:
    """The canonical description of `structure` (see the module docstring).

    Args:
        structure: an ordered, 3D-periodic structure (site properties are dropped).
        mode: ``unique`` (``primitive``, then one basis among its lattice point-group images
            and the origin on one atom, chosen by a rule that does not depend on the input
            description: `_unique_description`), ``primitive`` (spglib standardised primitive
            cell + tolerant wrap) or ``off`` (returned unchanged).
        symprec: spglib distance tolerance in Å, also the wrap tolerance.

    Raises:
        ValueError: unknown `mode`; or the checks of ``ecn.graphs.neighbor_list`` (no atoms,
            disordered sites, unsupported element, degenerate lattice).
    """
    if mode == "off":
        return structure
    frac, _, lattice, numbers = _arrays(structure)
    return _from_arrays(*canonical_arrays(lattice, frac, numbers, mode, symprec))


def canonical_arrays(
    lattice: np.ndarray,
    frac: np.ndarray,
    numbers: np.ndarray,
    mode: str = "unique",
    symprec: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`canonical_structure` on arrays: (lattice (3, 3), frac (N, 3), numbers (N,)) in and out.

    The graph builder's path (``ecn.graphs.build.unit_graph``): no pymatgen Structure is made
    between the canonical step and the neighbour search (building one cost about as much as
    the point-group search). Inputs as validated by ``ecn.graphs.neighbors._arrays``.
    """
    if mode == "off":
        return lattice, frac, numbers
    if mode not in CANONICAL_MODES:
        raise ValueError(f"canonical must be one of {CANONICAL_MODES}, got {mode!r}")
    res = _primitive(lattice, frac, numbers, symprec)
    if res is None:
        structure = _from_arrays(lattice, frac, numbers)
        logger.debug("%s: no spglib cell; Niggli fallback", structure.composition.reduced_formula)
        red = structure.get_reduced_structure("niggli")
        lattice, frac, numbers = red.lattice.matrix, red.frac_coords, np.asarray(red.atomic_numbers)
    else:
        lattice, frac, numbers = res
    lattice = np.asarray(lattice, dtype=float)
    numbers = np.asarray(numbers, dtype=np.int64)
    frac = np.asarray(frac, dtype=float)
    if mode == "unique":
        lattice, frac = _unique_description(lattice, frac, numbers, symprec)
    return lattice, tolerant_wrap(frac, lattice, symprec), numbers


#: Fractional grid of the comparison key of `_unique_description` (1e-4 of a cell edge).
_KEY_GRID = 1e4
#: Bits per rounded coordinate in the packed key, and the offset that makes it non-negative:
#: wrapped coordinates lie in [-0.25, 1), so rounded ones in [-2500, 10000] fit in 15 bits.
_KEY_BITS = 15
_KEY_OFFSET = 1 << 14
#: Candidate x atom entries scored at once: a few MB (cache-sized), whatever the cell.
_KEY_CHUNK = 1 << 15


def _first_smallest_row(keys: np.ndarray) -> int:
    """Index of the lexicographically smallest row of (C, N) `keys` (the first one on ties).

    Column by column, keep the rows holding the column minimum: cost O(C) per column while
    several rows still tie (symmetry-equivalent candidates), instead of one C x N lexsort.
    """
    alive = np.arange(len(keys))
    for col in range(keys.shape[1]):
        if len(alive) == 1:
            break
        v = keys[alive, col]
        alive = alive[v == v.min()]
    return int(alive[0])


def _unique_description(
    lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray, symprec: float
) -> tuple[np.ndarray, np.ndarray]:
    """One (basis, origin) among the lattice point-group images x origins on an atom.

    Candidates: every holohedry image ``W`` of the basis (``lattice_point_group``) times every
    atom of the rarest species (ties: lowest Z) as origin; the description whose sorted
    ``(Z, round(1e4 * frac))`` rows are lexicographically smallest wins (first one on ties). The
    candidate set moves with the crystal, so any origin and any equivalent basis give the same
    winner: exact invariance in one pass, when no two candidates tie within the key grid
    without being the same description (ties between symmetry-equivalent candidates are
    harmless; a near-symmetric crystal may pick another near-equal candidate).

    Cost: the P x K candidates (P <= 48 bases, K origins) are scored in chunks of
    ``_KEY_CHUNK`` candidate-atom entries, each row packed into one int64 and
    sorted per candidate, keeping the best so far: O(P K N log N) time, memory bounded by the
    chunk, not by P K N (a 1,000-atom cell in a cubic lattice: 48 x 125 candidates).

    Returns:
        (lattice (3, 3), frac (N, 3)) of the winner, tolerant-wrapped.
    """
    species, counts = np.unique(numbers, return_counts=True)
    rare = species[np.lexsort((species, counts))[0]]
    origins = np.nonzero(numbers == rare)[0]
    m = np.transpose(lattice_point_group(lattice, symprec), (0, 2, 1)).astype(float)  # (P,3,3)
    new_lat = m @ lattice  # (P, 3, 3): the same lattice, rotated
    f = frac[None] @ np.linalg.inv(m)  # (P, N, 3)
    t = np.minimum(
        symprec * np.linalg.norm(np.linalg.inv(new_lat).transpose(0, 2, 1), axis=2), 0.25
    )
    p, n = f.shape[:2]
    k = len(origins)
    zcode = numbers.astype(np.int64) << (3 * _KEY_BITS)
    f_axes = np.ascontiguousarray(f.transpose(0, 2, 1))  # (P, 3, N): contiguous per axis

    def wrapped(d: np.ndarray, tol: np.ndarray) -> np.ndarray:
        """`d` wrapped into [-tol, 1 - tol) in place, float noise at 0 set to 0."""
        fl = d + tol
        d -= np.floor(fl, out=fl)
        d[np.abs(d) <= 1e-10] = 0.0
        return d

    def packed_keys(c: np.ndarray) -> np.ndarray:
        """(C, N) int64 keys of candidates c = basis * K + origin index: each atom's
        ``(Z, round(1e4 * frac))`` row packed into one integer whose order is the row's
        lexicographic order (Z in the top bits, then one `_KEY_BITS` field per axis)."""
        pi, oi = np.divmod(c, k)
        key = np.broadcast_to(zcode, (len(c), n)).copy()
        for axis in range(3):
            d = f_axes[pi, axis] - f_axes[pi, axis, origins[oi]][:, None]
            d = wrapped(d, t[pi, axis][:, None]) * _KEY_GRID
            q = np.rint(d, out=d).astype(np.int64)
            q += _KEY_OFFSET
            q <<= (2 - axis) * _KEY_BITS
            key += q
        return key

    step = max(1, _KEY_CHUNK // n)
    best, best_key = -1, None
    for start in range(0, p * k, step):
        c = np.arange(start, min(start + step, p * k))
        keys = np.sort(packed_keys(c), axis=1)
        j = _first_smallest_row(keys)
        if best_key is None:
            best, best_key = int(c[j]), keys[j]
            continue
        diff = np.flatnonzero(keys[j] != best_key)
        if len(diff) and keys[j][diff[0]] < best_key[diff[0]]:
            best, best_key = int(c[j]), keys[j]
    pb, ob = divmod(best, k)
    return new_lat[pb], wrapped(f[pb] - f[pb, origins[ob]], t[pb])


def origin_descriptions(structure: Structure, symprec: float = 1e-3) -> list[Structure]:
    """The crystal with the origin on each atom in turn (same lattice, tolerant wrap).

    A finite set of descriptions that moves with the crystal: any origin shift of `structure`
    gives the same set (in another order), so the mean of a prediction over it is exactly
    origin-invariant. Cost: one pass per atom (`origin_description` builds one at a time).
    """
    return [origin_description(structure, k, symprec) for k in range(len(structure))]


def origin_description(structure: Structure, k: int, symprec: float = 1e-3) -> Structure:
    """``origin_descriptions(structure)[k]`` alone: the origin on atom `k`."""
    lattice = np.asarray(structure.lattice.matrix, dtype=float)
    frac = np.asarray(structure.frac_coords, dtype=float)
    wrapped = tolerant_wrap(frac - frac[k], lattice, symprec)
    return _from_arrays(lattice, wrapped, structure.atomic_numbers)


def basis_descriptions(structure: Structure, symprec: float = 1e-3) -> list[Structure]:
    """The crystal in each basis of its lattice related by a lattice point-group operation.

    spglib's rotations ``W`` act on fractional coordinates (``x -> W x`` maps the lattice to
    itself); the basis ``lattice' = W^T``-transformed rows describe the same lattice with the
    same metric, so these are the equivalent reduced bases a standardisation may pick. Atoms keep
    their Cartesian positions. Cost: one pass per element of the holohedry (at most 48).
    """
    lattice = np.asarray(structure.lattice.matrix, dtype=float)
    frac = np.asarray(structure.frac_coords, dtype=float)
    out = []
    for w in lattice_point_group(lattice, symprec):
        # new basis rows: M @ lattice with M = W^T (unimodular); coordinates f' = f @ inv(M)
        m = w.T.astype(float)
        new_lat = m @ lattice
        new_frac = frac @ np.linalg.inv(m)
        wrapped = tolerant_wrap(new_frac, new_lat, symprec)
        out.append(_from_arrays(new_lat, wrapped, structure.atomic_numbers))
    return out
