"""A model's slopes with respect to atom moves and cell strain, for a training penalty.

Why: the continuity check (``ecn check continuity``, issue 26) moves every atom by ε, or
strains the cell by ε, and asks that the prediction move by less than 1 % of the model's test
error at ε = 1e-3 Å. A model with no jumps still fails that when its slope there is steep,
and the crystals it is trained on are DFT-relaxed (zero forces, zero stress), so the energy they
label is flat to first order in both. ``optim.slope_penalty`` adds

    λ · mean over crystals and outputs of  Σ_a |∂y/∂u_a|²  +  |∂y/∂ε|²_F / V^(2/3)

to the loss: y the standardised output (regression) or the class probabilities after the first
(classification), u_a the displacement of unit-cell atom a in Å, ε the strain and V the cell
volume, so both terms are in (output units / Å)² -- the squared change per Å that the
check's displacement and strain tests see (:func:`squared_slopes`). The geometry handles come
from ``ecn.graphs.geometry.differentiable_geometry``; the double backward needs the layers'
autograd path (``ecn.nn.layers.twice_differentiable``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ecn.graphs.graph import CrystalGraph

__all__ = ["squared_slopes"]


def squared_slopes(
    y: Tensor, u: Tensor, eps: Tensor, graph: CrystalGraph, create_graph: bool = True
) -> Tensor:
    """(G, T) squared slope of each output (module docstring) of each crystal.

    Args:
        y: (G, T) outputs computed from `graph` = ``differentiable_geometry(...)[0]``.
        u: (A, 3) and eps: (G, 3, 3), the handles ``differentiable_geometry`` returned.
        graph: that graph (for the atoms per crystal and the cell volumes).
        create_graph: keep the derivative graph (True to train on the result).
    """
    if y.dim() != 2 or y.shape[0] != graph.num_graphs:
        raise ValueError(f"y must be ({graph.num_graphs}, T), got {tuple(y.shape)}")
    g = graph.num_graphs
    atom_graph = torch.repeat_interleave(torch.arange(g, device=u.device), graph.n_atoms)
    vol23 = torch.linalg.det(graph.lattice.detach().double()).abs() ** (2.0 / 3.0)
    cols = []
    for t in range(y.shape[1]):
        gu, ge = torch.autograd.grad(
            y[:, t].sum(), (u, eps), create_graph=create_graph, retain_graph=True, allow_unused=True
        )
        gu = torch.zeros_like(u) if gu is None else gu
        ge = torch.zeros_like(eps) if ge is None else ge
        disp = gu.new_zeros(g).index_add(0, atom_graph, gu.pow(2).sum(1))
        cols.append(disp + ge.pow(2).sum((1, 2)) / vol23)
    return torch.stack(cols, 1)
