"""Equivariance checks for models on crystal graphs, shipped so users can test their own models.

The claim checked (paper Claim 6.1) is ``f(g . H) = g . f(H)``: the permutation ``g`` moves the
ROWS of the node features (and re-indexes the edges), while the colouring ``alpha`` stays a fixed
function of the node POSITIONS in the index set. So :func:`permute_graph` moves ``x`` and ``z``
with the nodes but leaves ``cell``, ``atom`` and ``batch`` attached to the index positions: the
permuted graph's edge ``(g i, g j)`` is coloured ``alpha(g i, g j)``, which equals
``alpha(i, j)`` exactly when ``g`` is in the model's group. (The cell one-hot inside ``x`` is a
symmetry-breaking *input*, paper §5; it travels with the rows like any other feature.) For a
permutation outside the group the colours of corresponding edges differ and the check fails,
which is what negative controls show.

Convention: ``node_perm[k]`` is the NEW index of node ``k`` (as ``ecn.symmetry.node_permutation``
returns it: ``(a, i) -> (g(a), h(i))``).

Two more checks every model must pass (the model contract, ``tests/nn/test_model_contract.py``):

* :func:`relabel_nodes` / :func:`relabelling_error`: storing the nodes in another order (ALL
  node tensors, labels included, and ``edge_index`` re-indexed) is the same graph, so the
  pooled output is unchanged and node-level outputs move with the rows. :func:`random_cycle`
  gives a permutation that is guaranteed not to be the identity (it moves every node).
* :func:`rotated_structure` / :func:`shifted_origin`: the same crystal in a rotated Cartesian
  frame or with another unit-cell origin (for models that claim Euclidean invariance).

Same crystal, same prediction (issue 14, DESIGN.md "The description gauge"):

* :func:`equivalent_descriptions`: one crystal written down in many ways (conventional and
  primitive cells, supercells 2x1x1 / 1x2x3 / 2x2x2, unimodular basis changes, origin shifts,
  atom permutations, rotations and reflections of the Cartesian frame), each tagged with its
  :data:`DESCRIPTION_KINDS` family.
* :func:`representation_errors` / :func:`assert_representation_invariant`: the change of a
  prediction across those descriptions, for a ``Predictor`` (``ecn.load_model``), a
  ``PropertyModel`` or bare ``ecn.nn`` model (with its graph settings), or any callable
  ``list[Structure] -> array``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from pymatgen.core import Lattice, Structure
from torch import Tensor, nn

from ecn.graphs.graph import CrystalGraph
from ecn.graphs.settings import GraphSettings

__all__ = [
    "DESCRIPTION_KINDS",
    "Description",
    "assert_equivariant",
    "assert_representation_invariant",
    "equivalent_descriptions",
    "representation_errors",
    "assert_not_equivariant",
    "equivariance_errors",
    "max_equivariance_error",
    "permute_graph",
    "random_cycle",
    "relabel_nodes",
    "relabelling_error",
    "rotated_structure",
    "shifted_origin",
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


# --- Euclidean transformations of a crystal (for models that claim E(3) / origin invariance) ---


def rotated_structure(structure: Structure, seed: int = 0) -> Structure:
    """The same crystal in a randomly rotated Cartesian frame (lattice rows a_i -> R a_i)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    rot = q * np.sign(np.diag(r))
    if np.linalg.det(rot) < 0:
        rot[:, 0] *= -1
    return Structure(
        Lattice(structure.lattice.matrix @ rot.T), structure.species, structure.frac_coords
    )


def shifted_origin(structure: Structure, shift: Sequence[float] = (0.37, -0.21, 0.55)) -> Structure:
    """The same crystal with another unit-cell origin (fractional shift, wrapped into [0, 1))."""
    frac = np.mod(structure.frac_coords + np.asarray(shift, dtype=np.float64), 1.0)
    return Structure(structure.lattice, structure.species, frac)


# --- same crystal, another description (issue 14) ----------------------------------------------

#: Families of description changes, as the acceptance of issue 14 groups them.
DESCRIPTION_KINDS = (
    "supercell",
    "conventional_primitive",
    "atom_order",
    "rotation_reflection",
    "origin",
    "basis",
)

#: Unimodular basis changes (rows: new lattice vectors in the old basis), det = +-1.
_UNIMODULAR = {
    "basis (a1+a2, a2, a3)": ((1, 1, 0), (0, 1, 0), (0, 0, 1)),
    "basis (a2, a3, a1)": ((0, 1, 0), (0, 0, 1), (1, 0, 0)),
    "basis (a1, a2-a3, -a3+2a2)": ((1, 0, 0), (0, 1, -1), (0, 2, -1)),
}
_SUPERCELLS = {
    "supercell 2x1x1": (2, 1, 1),
    "supercell 1x2x3": (1, 2, 3),
    "supercell 2x2x2": (2, 2, 2),
}
_ORIGINS = {
    "origin (0.37, 0.11, 0.23)": (0.37, 0.11, 0.23),
    "origin (1/2, 1/2, 1/2)": (0.5, 0.5, 0.5),
    "origin (1e-9, -1e-9, 0)": (1e-9, -1e-9, 0.0),
}


@dataclass(frozen=True)
class Description:
    """One description of a crystal: a name, its :data:`DESCRIPTION_KINDS` family, the structure."""

    name: str
    kind: str
    structure: Structure


def _rebased(structure: Structure, rows: Sequence[Sequence[int]]) -> Structure:
    """Same crystal in the basis ``rows @ lattice`` (unimodular), coordinates wrapped to [0, 1)."""
    m = np.asarray(rows, dtype=float)
    if abs(abs(np.linalg.det(m)) - 1.0) > 1e-9:
        raise ValueError("basis change must be unimodular (det = +-1)")
    frac = np.mod(structure.frac_coords @ np.linalg.inv(m), 1.0)
    return Structure(Lattice(m @ structure.lattice.matrix), structure.species, frac)


def _frame(structure: Structure, matrix: np.ndarray) -> Structure:
    """Same fractional coordinates, lattice rows a_i -> Q a_i (Q orthogonal)."""
    return Structure(
        Lattice(structure.lattice.matrix @ matrix.T), structure.species, structure.frac_coords
    )


def _conventional_and_primitive(structure: Structure, symprec: float) -> list[Description]:
    """spglib's conventional and primitive cells of `structure` (when they differ from it)."""
    import spglib

    cell = (structure.lattice.matrix, structure.frac_coords, structure.atomic_numbers)
    out = []
    for name, to_primitive in (("conventional cell", False), ("primitive cell", True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            res = spglib.standardize_cell(
                cell, to_primitive=to_primitive, no_idealize=True, symprec=symprec
            )
        if res is None:
            continue
        lat, frac, z = res
        out.append(
            Description(
                name,
                "conventional_primitive",
                Structure(Lattice(lat), [int(k) for k in z], np.mod(frac, 1.0)),
            )
        )
    return out


def equivalent_descriptions(
    structure: Structure, seed: int = 0, symprec: float = 1e-3, kinds: Sequence[str] | None = None
) -> list[Description]:
    """The same crystal written down in many equivalent ways.

    Always includes ``as given`` first (kind ``"identity"``). Then, by family: supercells 2x1x1,
    1x2x3 and 2x2x2; spglib's conventional and primitive cells; the atoms in reverse and in a
    seeded random order; a random rotation, a reflection and a rotoreflection of the Cartesian
    frame; origin shifts by (0.37, 0.11, 0.23), (1/2, 1/2, 1/2), float noise and one seeded
    random shift; three unimodular basis changes. Coordinates are wrapped into [0, 1) the way a
    file writer would.

    Args:
        structure: an ordered, periodic structure.
        seed: seed of the random order, rotation and shift.
        symprec: spglib tolerance (Å) for the conventional / primitive cells.
        kinds: families of :data:`DESCRIPTION_KINDS` to include (default all).
    """
    kinds = tuple(DESCRIPTION_KINDS if kinds is None else kinds)
    unknown = sorted(set(kinds) - set(DESCRIPTION_KINDS))
    if unknown:
        raise ValueError(f"unknown description kind(s) {unknown}; allowed: {DESCRIPTION_KINDS}")
    rng = np.random.default_rng(seed)
    out = [Description("as given", "identity", structure)]
    if "supercell" in kinds:
        out += [
            Description(name, "supercell", structure * scale) for name, scale in _SUPERCELLS.items()
        ]
    if "conventional_primitive" in kinds:
        out += _conventional_and_primitive(structure, symprec)
    if "atom_order" in kinds:
        n = len(structure)
        for name, order in (
            ("atoms reversed", np.arange(n)[::-1]),
            ("atoms shuffled", rng.permutation(n)),
        ):
            out.append(
                Description(
                    name,
                    "atom_order",
                    Structure(
                        structure.lattice,
                        [structure.species[k] for k in order],
                        structure.frac_coords[order],
                    ),
                )
            )
    if "rotation_reflection" in kinds:
        rot = rotated_structure(structure, seed=seed)
        refl = np.diag([-1.0, 1.0, 1.0])
        out += [
            Description("rotated frame", "rotation_reflection", rot),
            Description(
                "reflected frame (x -> -x)", "rotation_reflection", _frame(structure, refl)
            ),
            Description("rotoreflected frame", "rotation_reflection", _frame(rot, -np.eye(3))),
        ]
    if "origin" in kinds:
        shifts = dict(_ORIGINS)
        shifts["origin (random)"] = tuple(rng.random(3))
        out += [
            Description(name, "origin", shifted_origin(structure, shift))
            for name, shift in shifts.items()
        ]
    if "basis" in kinds:
        out += [
            Description(name, "basis", _rebased(structure, m)) for name, m in _UNIMODULAR.items()
        ]
    return out


def _predict_fn(
    predictor_or_model: Any, settings: GraphSettings | None
) -> Callable[[list[Structure]], np.ndarray]:
    """A function ``structures -> (n,)`` first-target predictions for the supported inputs."""
    if hasattr(predictor_or_model, "predict") and hasattr(predictor_or_model, "settings"):
        return lambda ss: np.asarray(predictor_or_model.predict(ss), dtype=float).reshape(
            len(ss), -1
        )[:, 0]
    if isinstance(predictor_or_model, nn.Module):
        from ecn.graphs.build import build_graph
        from ecn.graphs.graph import collate
        from ecn.symmetry import attach_orbit_maps

        model = predictor_or_model
        inner = getattr(model, "model", model)
        config = getattr(inner, "config", None)
        if settings is None:
            if config is None:
                raise ValueError("pass settings= for a model without a ModelConfig")
            from ecn.nn.graph_settings import resolve_graph_settings

            settings = resolve_graph_settings(config.name)
        glambda = config is not None and config.options.get("group") == "glambda"
        dtype = next(model.parameters()).dtype

        @torch.no_grad()
        def run(ss: list[Structure]) -> np.ndarray:
            graphs = [build_graph(s, settings, id=str(k)) for k, s in enumerate(ss)]
            if glambda:
                attach_orbit_maps(graphs)
            b = collate(graphs)
            b = replace(b, x=b.x.to(dtype), edge_attr=b.edge_attr.to(dtype))
            out = model.predict_batch(b) if hasattr(model, "predict_batch") else model(b)
            return out.double().reshape(len(ss), -1)[:, 0].cpu().numpy()

        model.eval()
        return run
    if callable(predictor_or_model):
        return lambda ss: np.asarray(predictor_or_model(ss), dtype=float).reshape(len(ss), -1)[:, 0]
    raise ValueError(
        "expected an ecn Predictor, a PropertyModel / ecn.nn model or a callable, got "
        f"{type(predictor_or_model).__name__}"
    )


def representation_errors(
    predictor_or_model: Any,
    structure: Structure,
    settings: GraphSettings | None = None,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
) -> dict[str, float]:
    """Absolute change of the prediction per description (see :func:`equivalent_descriptions`).

    Args:
        predictor_or_model: an ``ecn.inference.Predictor``, a ``PropertyModel`` or ``ecn.nn``
            model (graphs built with `settings`, default the model's resolved settings), or a
            callable ``list[Structure] -> (n,) or (n, T)`` (first target used).
        structure: the crystal.
        settings: graph settings for a bare model.
        seed, kinds: passed to :func:`equivalent_descriptions`.

    Returns:
        ``{description name: |f(description) - f(as given)|}`` (first target), in model units.
    """
    fn = _predict_fn(predictor_or_model, settings)
    descs = equivalent_descriptions(structure, seed=seed, kinds=kinds)
    pred = fn([d.structure for d in descs])
    return {d.name: float(abs(p - pred[0])) for d, p in zip(descs[1:], pred[1:], strict=True)}


def assert_representation_invariant(
    predictor_or_model: Any,
    structure: Structure,
    atol: float = 1e-4,
    settings: GraphSettings | None = None,
    seed: int = 0,
    kinds: Sequence[str] | None = None,
) -> dict[str, float]:
    """Assert the same prediction for every equivalent description of `structure`.

    Returns:
        The errors of :func:`representation_errors`.

    Raises:
        AssertionError: naming every description whose change exceeds `atol`.
    """
    errs = representation_errors(predictor_or_model, structure, settings, seed, kinds)
    bad = {k: v for k, v in errs.items() if not v <= atol}
    if bad:
        worst = ", ".join(f"{k}: {v:.3g}" for k, v in sorted(bad.items(), key=lambda kv: -kv[1]))
        raise AssertionError(
            f"prediction depends on the description of {structure.composition.reduced_formula} "
            f"(atol={atol}): {worst}"
        )
    return errs
