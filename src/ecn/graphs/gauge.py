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
from typing import Any

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
#: Candidate image shifts of the shortest-image search (:func:`_relative_class_weights`):
#: coefficients -2..1 on each axis (64), grouped by class of ``L / 2L`` (8 blocks of 8, block
#: ``c`` holding the shifts of class ``_CLASSES[c]``).
_SHIFTS = np.array(
    sorted(itertools.product(range(-2, 2), repeat=3), key=lambda v: (np.array(v) % 2) @ [4, 2, 1]),
    dtype=np.int64,
)


@dataclass(frozen=True)
class GaugeConfig:
    """One gauge: per-atom class representatives ``lifts`` (n, 3) in {0, 1}, and its weight."""

    weight: float
    lifts: np.ndarray


def smooth_step(t: Any) -> Any:
    """``1 - 3t^2 + 2t^3`` on [0, 1], 1 below, 0 above: C1, flat at both ends (a torch tensor
    stays one; anything else becomes a float64 numpy array)."""
    t = t.clamp(0.0, 1.0) if isinstance(t, Tensor) else np.clip(np.asarray(t, np.float64), 0, 1)
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
    lat = np.asarray(lattice, dtype=np.float64)
    frac = np.asarray(frac, dtype=np.float64)
    rel = torch.from_numpy((frac - frac[k]) @ lat)  # (n, 3): each atom's image in the cell
    batch = torch.zeros(len(frac), dtype=torch.long)
    w = _relative_class_weights(rel, torch.tensor(lat)[None], batch, width).numpy()
    w[k] = 0.0
    w[k, 0] = 1.0
    return w


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


@torch.no_grad()
def _relative_class_weights(
    edge_vec: Tensor, lattice: Tensor, edge_batch: Tensor, width: float
) -> Tensor:
    """(E, 8) float64 normalised weight of each class of ``L / 2L`` for the images ``r + v L``
    of every edge vector ``r``, column ``c`` the class ``v mod 2 = _CLASSES[c]`` (column 0: the
    class of ``r`` itself): ``smooth_step(gap / width)``, ``gap`` the class's shortest image
    minus the shortest of all. Each class's shortest image is searched among the shifts -2..1
    on each axis from the minimum image (-1..2 where its coordinate is negative, so that
    reversing an edge mirrors the search): enough for a reduced lattice (the canonical step's
    primitive cell is one).

    Args:
        edge_vec: (E, 3) Cartesian vectors (Å). lattice: (G, 3, 3) lattices, rows are lattice
            vectors (Å). edge_batch: (E,) lattice of each vector.
    """
    if not width > 0:
        raise ValueError(f"gauge width must be > 0 Å, got {width}")
    dev = edge_vec.device
    lat = lattice.double()
    r = edge_vec.double()
    f = torch.einsum("ek,ekj->ej", r, torch.linalg.inv(lat)[edge_batch])  # r = f @ L
    base = torch.round(f)
    f0 = f - base  # the minimum image (fractional); r is f0 + base
    up = (f0 < 0).long()  # search shifts -2..1, or -1..2 on negative axes
    shifts = torch.as_tensor(_SHIFTS, dtype=torch.float64, device=dev)  # (64, 3)
    # |(a + s) L|^2 = a M a + 2 (a M) s + s M s with the metric M = L L^T: one (E, 3) x (3, 64)
    # product and a gather of the per-lattice (G, 64) term, no (E, 64, 3) tensor
    metric = lat @ lat.transpose(1, 2)  # (G, 3, 3)
    a = f0 + up  # (E, 3)
    am = torch.einsum("ek,ekj->ej", a, metric[edge_batch])  # (E, 3)
    sms = torch.einsum("vk,gkj,vj->gv", shifts, metric, shifts)  # (G, 64)
    d2 = (am * a).sum(-1, keepdim=True) + 2.0 * am @ shifts.T + sms[edge_batch]  # (E, 64)
    dmin = d2.view(-1, 8, 8).amin(dim=-1).clamp(min=0).sqrt()  # (E, 8) per shift class
    w = smooth_step((dmin - dmin.amin(dim=1, keepdim=True)) / width)
    # image f0 + up + shift is r + v L with v = up + shift - base: class of v = shift class
    # XOR class of (base - up); column c of the result is shift class c XOR that
    own = ((base.long() - up).remainder(2) * torch.tensor([4, 2, 1], device=dev)).sum(-1)
    w = w.gather(1, torch.arange(8, device=dev)[None, :] ^ own[:, None])
    return w / w.sum(dim=1, keepdim=True)


def same_cell_weight(
    edge_vec: Tensor,
    lattice: Tensor,
    edge_batch: Tensor,
    width: float = DEFAULT_GAUGE_WIDTH,
) -> Tensor:
    """(E,) weight in [0, 1] that each edge joins images in the same cell of the 2x2x2 cover,
    seen from its target atom (the soft S_Lambda cell colour; module docstring).

    The images of the edge's source atom seen from its target are ``r + v L`` (``r`` the edge
    vector); the edge's weight is its own class's share (:func:`_relative_class_weights`). 1
    when the edge is the shortest image of its class and no other class is within `width` Å
    of it, 0 when its class is `width` Å or more longer than the shortest; an image of the
    target atom itself gets exactly 1 (offset in ``2L``) or 0 (its class holds the atom itself
    at distance 0). Depends on the edge vector and the lattice only, not on the basis, the
    origin or the atom order; the lattice must be reduced (the canonical step's primitive cell
    is).

    Args:
        edge_vec: (E, 3) Cartesian edge vectors (Å), ``CrystalGraph.edge_vec``.
        lattice: (G, 3, 3) lattices, rows are lattice vectors (Å).
        edge_batch: (E,) graph of each edge.
        width: Å over which a class fades as its shortest image grows longer than the shortest.
    """
    w = _relative_class_weights(edge_vec, lattice, edge_batch, width)
    return w[:, 0].to(edge_vec.dtype)
