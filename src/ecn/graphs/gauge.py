"""Smooth gauge averaging: description invariance without a discrete choice (issue 26 item 3).

Why: the S_Lambda colour of an edge is whether its source image lies in the same cell of the
2x2x2 cover as its target, i.e. whether the image offset ``n`` (after moving atom ``i`` by a
lattice vector ``l_i``: ``n + l_dst - l_src``) is in ``2L``. Everything else the model sees
(distances, species) is the same for every description, so an S_Lambda (or plain MPNN) model
depends on a description only through the *gauge*: which of the 8 classes of ``L / 2L`` each
atom's representative falls in. The canonical step (``ecn.graphs.canonical``) fixes one gauge
per crystal; any such choice must jump somewhere (Dym, Lawrence and Siegel, ICML 2024): an
atom wrapped across a cell face, or a tie in the unique-description key, switches it.

The construction here averages over gauges with weights that are continuous in the positions
and defined without a basis or an origin:

* reference atom ``k`` (every atom in turn, weight ``1 / n``) keeps class 0 (the global shift
  of all classes is a symmetry of the colours);
* atom ``i`` takes class ``c`` with weight ``eta(gap_c / width)``, normalised over ``c``, where
  ``gap_c`` is the length of the shortest vector from ``k`` to an image of ``i`` in class ``c``
  minus the shortest over all classes (Å), and ``eta(t) = 1 - 3t^2 + 2t^3`` on ``[0, 1]``, 0
  beyond: 1 with zero slope at the minimum-image class, 0 with zero slope where a class
  enters or leaves. Away from ties one class has weight 1 (one configuration); near a tie
  (an atom near the Voronoi face of the lattice around ``k``) two or more share it.

The weighted average over the product of these per-atom distributions is exactly invariant to
the basis, the origin, the atom order and rotations (classes of ``L / 2L``, minimum-image
lengths and ``2L`` do not depend on them; the cell must still be primitive, which the
canonical step's spglib reduction provides) and continuous wherever the neighbour graph is.
Its cost: one model pass per configuration, ``sum_k prod_i (#classes of i with weight > 0)``;
ideal high-symmetry crystals sit exactly on ties (a cubic perovskite: 512 per reference atom).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from ecn.graphs.record import UnitGraph

__all__ = [
    "DEFAULT_GAUGE_WIDTH",
    "GaugeConfig",
    "apply_gauge",
    "class_weights",
    "gauge_configurations",
    "gauge_count",
    "smooth_step",
]

#: Default width (Å) of the blend between minimum-image classes.
DEFAULT_GAUGE_WIDTH = 0.5

_CLASSES = np.array(list(itertools.product((0, 1), repeat=3)), dtype=np.int64)  # (8, 3)
#: Lattice vectors with coefficients in -3..3 (343, 3): enough to find every class's shortest
#: image in a reduced (spglib-standardised) primitive basis; and each one's class in _CLASSES.
_VECTORS = np.array(list(itertools.product(range(-3, 4), repeat=3)), dtype=np.int64)
_VECTOR_CLASS = (_VECTORS % 2) @ np.array([4, 2, 1])


@dataclass(frozen=True)
class GaugeConfig:
    """One gauge: per-atom class representatives ``lifts`` (n, 3) in {0, 1}, and its weight."""

    weight: float
    lifts: np.ndarray


def smooth_step(t: np.ndarray) -> np.ndarray:
    """``1 - 3t^2 + 2t^3`` on [0, 1], 1 below, 0 above: C1, flat at both ends."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
    return 1.0 - 3.0 * t**2 + 2.0 * t**3


def class_weights(
    lattice: np.ndarray, frac: np.ndarray, k: int, width: float = DEFAULT_GAUGE_WIDTH
) -> np.ndarray:
    """(n, 8) normalised weight of each class of ``L / 2L`` (order of ``_CLASSES``) for every
    atom, seen from reference atom `k` (row `k` is class 0 with weight 1).

    Args:
        lattice: (3, 3) rows are lattice vectors (Å). frac: (n, 3) fractional coordinates.
        width: Å over which a class fades out as its shortest image grows longer than the
            shortest of all (must be > 0).
    """
    if not width > 0:
        raise ValueError(f"gauge width must be > 0 Å, got {width}")
    lat = np.asarray(lattice, dtype=np.float64)
    frac = np.asarray(frac, dtype=np.float64)
    rel = frac - frac[k]  # (n, 3)
    cart = (rel[:, None, :] + _VECTORS[None, :, :]) @ lat  # (n, 343, 3)
    d = np.linalg.norm(cart, axis=-1)  # (n, 343)
    dmin = np.full((len(frac), 8), np.inf)
    for c in range(8):
        dmin[:, c] = d[:, _VECTOR_CLASS == c].min(axis=1)
    gap = dmin - dmin.min(axis=1, keepdims=True)
    w = smooth_step(gap / width)
    w[k] = 0.0
    w[k, 0] = 1.0
    return w / w.sum(axis=1, keepdims=True)


def _per_reference(weights: np.ndarray) -> tuple[list[np.ndarray], int]:
    """The non-zero classes of each atom and the number of configurations they make."""
    support = [np.flatnonzero(row > 0) for row in weights]
    return support, int(np.prod([len(s) for s in support], dtype=np.float64))


def gauge_count(lattice: np.ndarray, frac: np.ndarray, width: float = DEFAULT_GAUGE_WIDTH) -> int:
    """Model passes the gauge average of this cell costs (before building any)."""
    return sum(_per_reference(class_weights(lattice, frac, k, width))[1] for k in range(len(frac)))


def gauge_configurations(
    lattice: np.ndarray, frac: np.ndarray, width: float = DEFAULT_GAUGE_WIDTH
) -> list[GaugeConfig]:
    """Every gauge with non-zero weight (weights sum to 1): reference atoms outer, then the
    product of the atoms' classes. The count is :func:`gauge_count`; check it first."""
    n = len(frac)
    out: list[GaugeConfig] = []
    for k in range(n):
        w = class_weights(lattice, frac, k, width)
        support, _ = _per_reference(w)
        for combo in itertools.product(*support):
            idx = np.asarray(combo, dtype=np.int64)
            weight = float(np.prod(w[np.arange(n), idx])) / n
            out.append(GaugeConfig(weight, _CLASSES[idx]))
    return out


def apply_gauge(unit: UnitGraph, lifts: np.ndarray) -> UnitGraph:
    """`unit` with atom ``i`` moved by the lattice vector ``lifts[i]``: positions
    ``frac + lifts``, offsets ``offset - lifts[src] + lifts[dst]`` (every edge vector, hence
    every distance, is unchanged; only the offsets' parities, i.e. the colours, change)."""
    lifts = np.asarray(lifts, dtype=np.int64)
    off = unit.offset.astype(np.int64) - lifts[unit.src] + lifts[unit.dst]
    return replace(
        unit,
        frac=(unit.frac.astype(np.float64) + lifts).astype(np.float32),
        offset=off.astype(np.int8),
    )
