"""Group equivariance and relabelling checks on crystal graphs (paper Claim 6.1).

The claim checked is ``f(g . H) = g . f(H)``: the permutation ``g`` moves the ROWS of the node
features (and re-indexes the edges), while the colouring ``alpha`` stays a fixed function of
the node POSITIONS in the index set. So :func:`permute_graph` moves ``x`` and ``z`` with the
nodes but leaves ``cell``, ``atom`` and ``batch`` attached to the index positions: the permuted
graph's edge ``(g i, g j)`` is coloured ``alpha(g i, g j)``, which equals ``alpha(i, j)``
exactly when ``g`` is in the model's group. (The cell one-hot inside ``x`` is a
symmetry-breaking *input*, paper §5; it travels with the rows like any other feature.) For a
permutation outside the group the colours of corresponding edges differ and the check fails,
which is what negative controls show.

Convention: ``node_perm[k]`` is the NEW index of node ``k`` (as ``ecn.symmetry.node_permutation``
returns it: ``(a, i) -> (g(a), h(i))``).

:func:`relabel_nodes` / :func:`relabelling_error`: storing the nodes in another order (ALL node
tensors, labels included, and ``edge_index`` re-indexed) is the same graph, so the pooled output
is unchanged and node-level outputs move with the rows. :func:`random_cycle` gives a
permutation that is guaranteed not to be the identity (it moves every node).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor, nn

from ecn.graphs.graph import CrystalGraph

__all__ = [
    "Model",
    "assert_equivariant",
    "assert_not_equivariant",
    "equivariance_errors",
    "max_equivariance_error",
    "permute_graph",
    "random_cycle",
    "relabel_nodes",
    "relabelling_error",
]

Model = nn.Module | Callable[[CrystalGraph], Tensor]


def _as_perm(
    node_perm: Sequence[int] | np.ndarray | Tensor, n: int, device: torch.device
) -> Tensor:
    p = torch.as_tensor(np.asarray(node_perm), dtype=torch.long, device=device).reshape(-1)
    if p.shape[0] != n or not torch.equal(torch.sort(p).values, torch.arange(n, device=device)):
        raise ValueError(f"node_perm must be a permutation of range({n})")
    return p


def permute_graph(
    graph: CrystalGraph, node_perm: Sequence[int] | np.ndarray | Tensor
) -> CrystalGraph:
    """Apply a node permutation to the features and edges of `graph` (see module docstring).

    Args:
        graph: a graph or batch with N nodes.
        node_perm: (N,) ``node_perm[k]`` = new index of node k.

    Returns:
        A graph whose row ``node_perm[k]`` holds node k's features; edges re-indexed, edge order
        and edge features unchanged; ``cell``, ``atom``, ``batch`` unchanged (position labels).
    """
    p = _as_perm(node_perm, graph.num_nodes, graph.x.device)
    inv = torch.empty_like(p)
    inv[p] = torch.arange(p.shape[0], device=p.device)
    return replace(graph, x=graph.x[inv], z=graph.z[inv], edge_index=p[graph.edge_index])


def _node_level(model: Model) -> bool:
    return bool(getattr(getattr(model, "config", None), "node_level", False))


def _outputs(model: Model, graph: CrystalGraph) -> tuple[list[Tensor], Tensor | None]:
    """(node-level tensors, graph-level output or None)."""
    if hasattr(model, "node_embeddings"):
        nodes = list(model.node_embeddings(graph))
        if _node_level(model):  # forward returns (N, out_dim): equivariant, not invariant
            return [*nodes, model(graph)], None
        return nodes, model(graph)
    out = model(graph)
    return (list(out) if isinstance(out, list | tuple) else [out]), None


@torch.no_grad()
def equivariance_errors(
    model: Model, graph: CrystalGraph, node_perm: Sequence[int] | np.ndarray | Tensor
) -> list[float]:
    """Max abs errors of ``f(g . G)[g] - f(G)`` for each node-level output, then the pooled one.

    `model` is either a module with ``node_embeddings(graph) -> list[(N, d)]`` and
    ``forward(graph) -> (G, T)`` (both checked: node embeddings equivariant, pooled output
    invariant), or a callable ``graph -> (N, d)`` / list of such (equivariance only).
    """
    p = _as_perm(node_perm, graph.num_nodes, graph.x.device)
    nodes, pooled = _outputs(model, graph)
    nodes_p, pooled_p = _outputs(model, permute_graph(graph, p))
    errs = [
        float((b[p] - a).abs().max()) if a.numel() else 0.0
        for a, b in zip(nodes, nodes_p, strict=False)
    ]
    if pooled is not None and pooled_p is not None:
        errs.append(float((pooled_p - pooled).abs().max()))
    return errs


@torch.no_grad()
def max_equivariance_error(
    model: Model, graph: CrystalGraph, node_perms: Sequence[Sequence[int]] | np.ndarray
) -> float:
    """Largest error of :func:`equivariance_errors` over many permutations (reference run once).

    Args:
        node_perms: (P, N) permutations, one per row.
    """
    nodes, pooled = _outputs(model, graph)
    worst = 0.0
    for row in np.asarray(node_perms):
        p = _as_perm(row, graph.num_nodes, graph.x.device)
        nodes_p, pooled_p = _outputs(model, permute_graph(graph, p))
        for a, b in zip(nodes, nodes_p, strict=False):
            worst = max(worst, float((b[p] - a).abs().max()) if a.numel() else 0.0)
        if pooled is not None and pooled_p is not None:
            worst = max(worst, float((pooled_p - pooled).abs().max()))
    return worst


def assert_equivariant(
    model: Model,
    graph: CrystalGraph,
    node_perm: Sequence[int] | np.ndarray | Tensor,
    atol: float = 1e-5,
) -> list[float]:
    """Assert that `model` commutes with `node_perm` on `graph` (every layer, pooled output).

    Use float64 (``model.double()``, ``graph.x.double()``) for a tight `atol`.

    Returns:
        The errors of :func:`equivariance_errors`.

    Raises:
        AssertionError: if any error exceeds `atol`.
    """
    errs = equivariance_errors(model, graph, node_perm)
    if max(errs) > atol:
        raise AssertionError(f"not equivariant: max errors per output {errs} > atol={atol}")
    return errs


def assert_not_equivariant(
    model: Model,
    graph: CrystalGraph,
    node_perm: Sequence[int] | np.ndarray | Tensor,
    min_error: float = 1e-3,
) -> list[float]:
    """Negative control: assert that `node_perm` does NOT commute (some error > `min_error`)."""
    errs = equivariance_errors(model, graph, node_perm)
    if max(errs) <= min_error:
        raise AssertionError(f"unexpectedly equivariant: errors {errs} <= {min_error}")
    return errs


# --- relabelling: the same graph stored in another node order ---------------------------------


def random_cycle(n: int, seed: int = 0) -> Tensor:
    """A seeded random n-cycle of ``range(n)``: moves EVERY node, so never the identity (n >= 2).

    ``perm[sigma[k]] = sigma[k + 1 mod n]`` for a random ordering ``sigma``.
    """
    if n < 2:
        raise ValueError(f"a permutation that moves nodes needs n >= 2, got {n}")
    sigma = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    perm = torch.empty(n, dtype=torch.long)
    perm[sigma] = torch.roll(sigma, -1)
    return perm


def relabel_nodes(
    graph: CrystalGraph, node_perm: Sequence[int] | np.ndarray | Tensor
) -> CrystalGraph:
    """The same graph with its nodes stored in another order.

    Unlike :func:`permute_graph` EVERY node tensor moves (``x``, ``z``, ``cell``, ``atom``,
    ``batch``) and ``edge_index`` is re-indexed; edges keep their order. Every model must give
    the same pooled output (and node outputs in the new order).

    Args:
        graph: a graph or batch with N nodes.
        node_perm: (N,) ``node_perm[k]`` = new index of node k.
    """
    p = _as_perm(node_perm, graph.num_nodes, graph.x.device)
    inv = torch.empty_like(p)
    inv[p] = torch.arange(p.shape[0], device=p.device)
    return replace(
        graph,
        x=graph.x[inv],
        z=graph.z[inv],
        cell=graph.cell[inv],
        atom=graph.atom[inv],
        batch=graph.batch[inv],
        edge_index=p[graph.edge_index],
    )


@torch.no_grad()
def relabelling_error(
    model: Model, graph: CrystalGraph, node_perm: Sequence[int] | np.ndarray | Tensor
) -> float:
    """Max abs change of ``model``'s output when the nodes are stored in another order.

    Graph-level outputs are compared as they are; node-level outputs (a model built with
    ``node_level=True``, i.e. ``config.node_level``) row by row after moving the rows.
    """
    p = _as_perm(node_perm, graph.num_nodes, graph.x.device)
    out, out_p = model(graph), model(relabel_nodes(graph, p))
    if _node_level(model):
        out_p = out_p[p]
    return float((out_p - out).abs().max())
