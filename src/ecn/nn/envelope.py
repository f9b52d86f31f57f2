"""Smooth edge envelopes: every edge weighted by a function that reaches 0, with zero slope,
where the edge would enter or leave the graph (issue 26, "continuous neighbourhoods").

Why: a hard neighbour rule makes a prediction jump when a neighbour crosses the cutoff (an edge
appears with its full message). Multiplying each message by ``u(d / r_c)``, with ``r_c`` the
edge's own limit (``graph.edge_cutoff``, set from the graph settings by
``ecn.graphs.neighbors.edge_cutoffs``: never a second copy of the cutoff), makes the message
vanish smoothly at the place the edge disappears, so the model is continuous in the atomic
positions as far as radius cutoffs and the Cordero-radius limit go. What an envelope cannot
fix: Voronoi faces that appear with zero area well inside the limit, a nearest-k cap, the
parity colours of image offsets and the canonical step (see ``edge_cutoffs`` and
``ecn check continuity``).

Kinds:
    ``poly``: the polynomial cutoff of DimeNet / NequIP with p = 6,
        ``u(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)`` for x < 1, else 0
        (value, first and second derivative 0 at x = 1; ~1 up to x ~ 0.5).
    ``cosine``: SchNet's ``0.5 (cos(pi x) + 1)`` (``ecn.nn.radial.cosine_cutoff``).
    ``none``: weight 1 (the paper's model).
"""

from __future__ import annotations

from torch import Tensor

from ecn.graphs.graph import CrystalGraph
from ecn.nn.radial import cosine_cutoff

__all__ = ["ENVELOPES", "edge_envelope", "polynomial_envelope"]

ENVELOPES = ("none", "poly", "cosine")
POLY_P = 6


def polynomial_envelope(x: Tensor, p: int = POLY_P) -> Tensor:
    """DimeNet / NequIP polynomial cutoff of ``x = d / r_c``: (E,) -> (E,), 0 for x >= 1."""
    xc = x.clamp(min=0.0, max=1.0)
    u = (
        1.0
        - (p + 1) * (p + 2) / 2 * xc**p
        + p * (p + 2) * xc ** (p + 1)
        - p * (p + 1) / 2 * xc ** (p + 2)
    )
    return u * (x < 1.0).to(x.dtype)


def edge_envelope(graph: CrystalGraph, kind: str, dtype=None) -> Tensor | None:
    """(E,) envelope weight of every edge of `graph`, or None for ``kind="none"``.

    Raises:
        ValueError: unknown kind, or a graph without ``edge_cutoff`` (built by hand rather than
            by ``ecn.graphs.expand``).
    """
    if kind not in ENVELOPES:
        raise ValueError(f"envelope must be one of {ENVELOPES}, got {kind!r}")
    if kind == "none":
        return None
    if graph.edge_cutoff is None:
        raise ValueError(
            "envelope needs graph.edge_cutoff (set by ecn.graphs.expand / build_graph from the "
            "graph settings)"
        )
    d = graph.edge_dist.to(dtype or graph.edge_attr.dtype)
    rc = graph.edge_cutoff.to(d.dtype)
    if kind == "poly":
        return polynomial_envelope(d / rc)
    return cosine_cutoff(d, rc)
