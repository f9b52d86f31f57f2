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

**Soft cell colours** (:func:`same_cell_weight`, ECN option ``cell_colors: soft``): the one-pass
alternative. Each edge takes the gauge of its own target atom as reference: the edge from the
image ``j + n`` of atom ``j`` to atom ``i`` is "same cell" with the weight of its class among
the classes of ``j``'s images seen from ``i`` (the same smooth step of the gaps), and "other
cell" with the rest; the model sums both colours' messages with those weights. That weight is a
function of the edge vector and the lattice only, so a model reading it is exactly
description-invariant and continuous with no canonical step and in one pass; it is a different
function from the gauge average (the weights enter inside the network), so it must be trained
with them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from ecn.graphs.record import UnitGraph

__all__ = [
    "DEFAULT_GAUGE_WIDTH",
    "GaugeConfig",
    "apply_gauge",
    "class_weights",
    "gauge_configurations",
    "gauge_count",
    "same_cell_weight",
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


#: Candidate image shifts of :func:`same_cell_weight`: coefficients -2..1 on each axis (64),
#: grouped by class of ``L / 2L`` (8 blocks of 8, block ``c`` holding the shifts of class ``c``).
_SHIFTS = np.array(
    sorted(itertools.product(range(-2, 2), repeat=3), key=lambda v: (np.array(v) % 2) @ [4, 2, 1]),
    dtype=np.int64,
)


@torch.no_grad()
def same_cell_weight(
    edge_vec: Tensor,
    lattice: Tensor,
    edge_batch: Tensor,
    width: float = DEFAULT_GAUGE_WIDTH,
) -> Tensor:
    """(E,) weight in [0, 1] that each edge joins images in the same cell of the 2x2x2 cover,
    seen from its target atom (the soft S_Lambda cell colour; module docstring).

    The images of the edge's source atom seen from its target are ``r + v L`` (``r`` the edge
    vector, ``v`` integer); they fall in the 8 classes of ``(v mod 2)``, the edge's own class
    being ``v = 0``. Each class gets ``smooth_step(gap / width)`` with ``gap`` its shortest
    image minus the shortest of all; the result is the edge's class's share. 1 when the edge
    is the shortest image of its class and no other class is within `width` Å of it, 0 when
    its class is `width` Å or more longer than the shortest; an image of the target atom itself
    gets exactly 1 (offset in ``2L``) or 0 (its class holds the atom itself at distance 0).
    Depends on the edge vector and the lattice only, not on the basis, the origin or the atom
    order. The lattice must be reduced (the canonical step's primitive cell is): each class's
    shortest image is searched among the shifts -2..1 on each axis from the minimum image
    (-1..2 where its coordinate is negative, so that reversing an edge mirrors the search).

    Args:
        edge_vec: (E, 3) Cartesian edge vectors (Å), ``CrystalGraph.edge_vec``.
        lattice: (G, 3, 3) lattices, rows are lattice vectors (Å).
        edge_batch: (E,) graph of each edge.
        width: Å over which a class fades as its shortest image grows longer than the shortest.
    """
    if not width > 0:
        raise ValueError(f"soft colour width must be > 0 Å, got {width}")
    dev = edge_vec.device
    lat = lattice.double()
    r = edge_vec.double()
    f = torch.einsum("ek,ekj->ej", r, torch.linalg.inv(lat)[edge_batch])  # r = f @ L
    base = torch.round(f)
    f0 = f - base  # the minimum image (fractional); the edge is f0 + base
    up = (f0 < 0).long()  # search shifts -2..1, or -1..2 on negative axes
    bits = torch.tensor([4, 2, 1], device=dev)
    shifts = torch.as_tensor(_SHIFTS, dtype=torch.float64, device=dev)  # (64, 3)
    # |(a + s) L|^2 = a M a + 2 (a M) s + s M s with the metric M = L L^T: one (E, 3) x (3, 64)
    # product and a gather of the per-lattice (G, 64) term, no (E, 64, 3) tensor
    metric = lat @ lat.transpose(1, 2)  # (G, 3, 3)
    a = f0 + up  # (E, 3)
    am = torch.einsum("ek,ekj->ej", a, metric[edge_batch])  # (E, 3)
    sms = torch.einsum("vk,gkj,vj->gv", shifts, metric, shifts)  # (G, 64)
    d2 = (am * a).sum(-1, keepdim=True) + 2.0 * am @ shifts.T + sms[edge_batch]  # (E, 64)
    # (E, 8): shortest image of each shift class
    dmin = d2.view(-1, 8, 8).amin(dim=-1).clamp(min=0).sqrt()
    gap = ((dmin - dmin.amin(dim=1, keepdim=True)) / width).clamp(0, 1)
    w = 1.0 - 3.0 * gap**2 + 2.0 * gap**3
    # image f0 + up + shift is the edge when up + shift = base (mod 2): shift class own
    own = (((base.long() - up).remainder(2)) * bits).sum(-1)
    return (w.gather(1, own[:, None])[:, 0] / w.sum(dim=1)).to(edge_vec.dtype)
