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
    ``band``: 1 up to ``r_c - width``, then ``u`` over the last `width` Å
        (``u((d - r_c + width) / width)``, C^2 at both ends). Why: on the Voronoi + Cordero
        graph most bonds lie at 0.7-0.9 of their limit, where ``poly`` weighs them 0.1-0.5 and
        varies fast; ``band`` leaves them at weight 1 and fades only the edges about to leave.
    ``none``: weight 1 (the paper's model).

Voronoi faces (``face_area`` A0 > 0, in Å^2): each edge's weight is also multiplied by
``1 - u(A / A0)``, with A the area of the Voronoi face it crosses (``graph.edge_face``): 0 for a
face of zero area, 1 from A0 on, C^2 in between. A face appears with zero area, so the Voronoi
graph becomes continuous too. Edges without a face (NaN: radius graphs, self-loops, the
nearest-neighbour fallback) keep weight 1.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ecn.graphs.graph import CrystalGraph
from ecn.nn.radial import cosine_cutoff

__all__ = ["BAND_WIDTH", "ENVELOPES", "edge_envelope", "face_weight", "polynomial_envelope"]

ENVELOPES = ("none", "poly", "cosine", "band")
#: Default fade width of ``band`` (Å).
BAND_WIDTH = 0.5
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


def face_weight(area: Tensor, face_area: float) -> Tensor:
    """(E,) ``1 - u(A / A0)`` of Voronoi face areas `area` (Å^2), 1 where `area` is NaN."""
    w = 1.0 - polynomial_envelope(area / face_area)
    return torch.where(torch.isnan(area), torch.ones_like(w), w)


def edge_envelope(
    graph: CrystalGraph,
    kind: str,
    dtype=None,
    width: float = BAND_WIDTH,
    face_area: float = 0.0,
) -> Tensor | None:
    """(E,) weight of every edge of `graph`: the envelope `kind` of its length times, with
    ``face_area`` > 0, the weight of its Voronoi face (module docstring); None when both are
    off (``kind="none"``, ``face_area=0``).

    Raises:
        ValueError: unknown kind, a bad width or face area, or a graph without
            ``edge_cutoff`` / ``edge_face`` (built by hand rather than by ``ecn.graphs.expand``).
    """
    if kind not in ENVELOPES:
        raise ValueError(f"envelope must be one of {ENVELOPES}, got {kind!r}")
    if not width > 0 or not face_area >= 0:
        raise ValueError(f"envelope width must be > 0 and face_area >= 0, got {width}, {face_area}")
    dt = dtype or graph.edge_attr.dtype
    w = None
    if kind != "none":
        if graph.edge_cutoff is None:
            raise ValueError(
                "envelope needs graph.edge_cutoff (set by ecn.graphs.expand / build_graph from "
                "the graph settings)"
            )
        d = graph.edge_dist.to(dt)
        rc = graph.edge_cutoff.to(dt)
        if kind == "poly":
            w = polynomial_envelope(d / rc)
        elif kind == "band":
            w = polynomial_envelope(((d - rc + width) / width).clamp(min=0.0))
        else:
            w = cosine_cutoff(d, rc)
    if face_area > 0:
        if graph.edge_face is None:
            raise ValueError(
                "face_area needs graph.edge_face (Voronoi face areas, set by ecn.graphs.expand "
                "from records built with them)"
            )
        f = face_weight(graph.edge_face.to(dt), face_area)
        w = f if w is None else w * f
    return w
