"""The model contract as a pytest mixin every model's tests inherit (as nequip ships its own).

A test class names a case and inherits the tests::

    from ecn.testing import ModelContract

    class TestMyECN(ModelContract):
        MODEL, OPTIONS = "ecn", {"group": "p1", "width": 16, "layers": 2}

Every test runs in float32 (the dtype training uses) and in float64, each against its own
tolerances (:data:`TOLERANCES`, one table per dtype as e3nn keeps), on three real crystals built
in code (CuAu tP 2 atoms, CaF2 cF 3 atoms, BaTiO3 cP 5 atoms; :mod:`ecn.testing.crystals`):

* the resolved ``config`` (every option filled in, round trip through ``to_dict``);
* forward shapes and dtype, graph-level and node-level;
* a batch of the three crystals == each crystal alone (graph- and node-level);
* storing the nodes in another order (a random n-cycle: every node moves, never the identity)
  leaves the pooled output unchanged and moves node-level outputs with the rows;
* ``torch.save(model_to_dict(m))`` -> ``torch.load(weights_only=True)`` -> ``model_from_dict``
  gives identical outputs (same class, config and dtype);
* one backward pass gives every parameter a non-None, finite gradient; the batch is rich enough
  that EVERY edge colour of the model's group occurs (asserted on its colour plan, not assumed:
  ECN graphs use a 6 Å cutoff, which gives all 16 P-1 colours, 15 at 5 Å), and every colour's
  weight slot then gets a non-zero gradient;
* the symmetry the class claims (``SYMMETRY``): ``supercell_group`` -> sampled elements of the
  model's group commute (node embeddings after every layer and pooled output), with a negative
  control outside the group; ``euclidean`` -> a rotated Cartesian frame and a shifted origin give
  the same prediction, with a strained lattice as negative control.

Needs pytest (the ``dev`` extra); ``import ecn.testing`` alone does not import it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from ecn.graphs import GraphSettings, build_graph
from ecn.graphs.descriptions import rotated_structure, shifted_origin
from ecn.graphs.graph import CrystalGraph, collate
from ecn.nn import (
    MODELS,
    SYMMETRIES,
    ColoredLinear,
    ModelConfig,
    build_color_plan,
    build_model,
    model_from_dict,
    model_options,
    model_to_dict,
)
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.nn.inputs import with_model_inputs
from ecn.symmetry import lattice_point_group, sample_node_permutation
from ecn.testing.crystals import crystals as build_crystals
from ecn.testing.equivariance import (
    assert_not_equivariant,
    max_equivariance_error,
    random_cycle,
    relabel_nodes,
    relabelling_error,
)

__all__ = ["ECN_GRAPH", "NAMES", "TOLERANCES", "ModelContract", "Tolerance"]

#: The three crystals every case runs on (three lattices: tP, cF, cP; 2 / 3 / 5 atoms).
NAMES = ("CuAu", "CaF2", "BaTiO3")
#: ECN's graph in the contract: a 6 Å radius graph on the cover, so that every colour occurs.
ECN_GRAPH: dict[str, Any] = {"strategy": "cutoff", "cutoff": 6.0, "cell_onehot": True}


@dataclass(frozen=True)
class Tolerance:
    """How close two results must be, per dtype.

    Attributes:
        same: one computation batched or stored in another order (only the summation order
            differs).
        symmetry: a symmetry the model claims (graphs come from the float32 builder, so the
            distances of a rotated crystal differ in their last float32 bits).
        changed: the least change the strain negative control must show (above `symmetry`,
            so the check is known to bite in this dtype).
    """

    same: float
    symmetry: float
    changed: float


#: Per-dtype tolerances. Measured on the cases of ``tests/nn/test_model_contract.py`` (outputs
#: of order 1): float32 batching/order up to 2e-6 (CGCNN's batch norms), symmetry up to 7e-7
#: (ECN-SΛ with the same-atom branch); float64 below 1e-14 for both. The smallest strain change
#: is 3e-4 (MEGNet), so ``changed`` stays well above the float32 ``symmetry``.
TOLERANCES: dict[torch.dtype, Tolerance] = {
    torch.float32: Tolerance(same=1e-5, symmetry=2e-5, changed=1e-4),
    torch.float64: Tolerance(same=1e-10, symmetry=1e-8, changed=1e-4),
}


def _to_dtype(g: CrystalGraph, dtype: torch.dtype) -> CrystalGraph:
    return replace(
        g,
        x=g.x.to(dtype),
        edge_dist=g.edge_dist.to(dtype),
        edge_attr=g.edge_attr.to(dtype),
        lattice=g.lattice.to(dtype),
        y=g.y.to(dtype),
    )


class ModelContract:
    """Mixin: the tests every model runs. A subclass sets ``MODEL`` and ``OPTIONS`` (and
    ``GRAPH``, graph-setting overrides, where the model's own graph is not the one to test)."""

    MODEL: ClassVar[str]
    OPTIONS: ClassVar[dict[str, Any]] = {}
    #: Graph-setting overrides (None: :data:`ECN_GRAPH` for models with a ``group`` option,
    #: else the model's own graph).
    GRAPH: ClassVar[Mapping[str, Any] | None] = None
    OUT_DIM: ClassVar[int] = 2

    # --- fixtures (class scope: graphs and models are built once per case and dtype) ---------

    @pytest.fixture(scope="class", params=[torch.float32, torch.float64], ids=str)
    def dtype(self, request: pytest.FixtureRequest) -> torch.dtype:
        return request.param

    @pytest.fixture(scope="class")
    def tol(self, dtype: torch.dtype) -> Tolerance:
        return TOLERANCES[dtype]

    @pytest.fixture(scope="class")
    def crystals(self) -> dict[str, Structure]:
        return build_crystals()

    @pytest.fixture(scope="class")
    def settings(self) -> GraphSettings:
        return self.graph_settings()

    @pytest.fixture(scope="class")
    def singles(
        self, settings: GraphSettings, crystals: dict[str, Structure], dtype: torch.dtype
    ) -> list[CrystalGraph]:
        return [self.graph(crystals[k], settings, dtype, k) for k in NAMES]

    @pytest.fixture(scope="class")
    def batch(self, singles: list[CrystalGraph]) -> CrystalGraph:
        return collate(singles)

    @pytest.fixture(scope="class")
    def model(self, batch: CrystalGraph) -> Any:
        return self.make(batch)

    @pytest.fixture(scope="class")
    def node_model(self, batch: CrystalGraph) -> Any:
        return self.make(batch, node_level=True)

    # --- helpers -----------------------------------------------------------------------------

    def graph_settings(self) -> GraphSettings:
        """The case's graph settings (``resolve_graph_settings`` with :attr:`GRAPH`)."""
        overrides = self.GRAPH
        if overrides is None and "group" in model_options(self.MODEL):
            overrides = ECN_GRAPH
        return resolve_graph_settings(self.MODEL, overrides=overrides)

    def graph(
        self, structure: Structure, settings: GraphSettings, dtype: torch.dtype, id: str = ""
    ) -> CrystalGraph:
        """`structure`'s graph with what the model reads beyond it, in `dtype`."""
        (g,) = with_model_inputs([build_graph(structure, settings, id=id)], self.OPTIONS)
        return _to_dtype(g, dtype)

    def config(self, batch: CrystalGraph, node_level: bool = False) -> ModelConfig:
        return ModelConfig(
            self.MODEL,
            batch.x.shape[1],
            batch.edge_attr.shape[1],
            out_dim=self.OUT_DIM,
            node_level=node_level,
            options=self.OPTIONS,
        )

    def make(self, batch: CrystalGraph, node_level: bool = False, seed: int = 0) -> Any:
        """The model in `batch`'s dtype and eval mode (batch norms get running statistics
        first)."""
        torch.manual_seed(seed)
        model = build_model(self.config(batch, node_level)).to(batch.x.dtype)
        if any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()):
            with torch.no_grad():
                model.train()(batch)
        return model.eval()

    # --- the contract ------------------------------------------------------------------------

    def test_config_is_resolved_and_round_trips(self, model: Any, batch: CrystalGraph) -> None:
        cfg = model.config
        assert type(model) is MODELS[self.MODEL] and cfg.name == self.MODEL
        full = {**model_options(self.MODEL), **self.OPTIONS}
        assert cfg == dataclasses.replace(self.config(batch), options=full)
        assert (cfg.in_dim, cfg.edge_dim, cfg.out_dim, cfg.node_level) == (
            batch.x.shape[1],
            batch.edge_attr.shape[1],
            self.OUT_DIM,
            False,
        )
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
        rebuilt = build_model(cfg)
        assert rebuilt.config == cfg
        shapes = {k: v.shape for k, v in model.state_dict().items()}
        assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes

    def test_forward_shapes(
        self, model: Any, node_model: Any, batch: CrystalGraph, dtype: torch.dtype
    ) -> None:
        with torch.no_grad():
            out, nodes = model(batch), node_model(batch)
        assert out.shape == (3, self.OUT_DIM) and out.dtype == dtype
        assert nodes.shape == (batch.num_nodes, self.OUT_DIM) and nodes.dtype == dtype
        assert torch.isfinite(out).all() and torch.isfinite(nodes).all()

    def test_batched_equals_one_by_one(
        self,
        model: Any,
        node_model: Any,
        batch: CrystalGraph,
        singles: list[CrystalGraph],
        tol: Tolerance,
    ) -> None:
        with torch.no_grad():
            for m in (model, node_model):
                alone = torch.cat([m(g) for g in singles])
                torch.testing.assert_close(m(batch), alone, atol=tol.same, rtol=0)

    def test_node_order_does_not_matter(
        self, model: Any, node_model: Any, batch: CrystalGraph, tol: Tolerance
    ) -> None:
        perm = random_cycle(batch.num_nodes, seed=3)
        assert not torch.any(perm == torch.arange(batch.num_nodes))  # moves every node
        relabelled = relabel_nodes(batch, perm)
        assert not torch.equal(relabelled.z, batch.z)  # the permutation really changed storage
        assert relabelling_error(model, batch, perm) < tol.same
        assert relabelling_error(node_model, batch, perm) < tol.same

    def test_save_load_gives_identical_outputs(
        self,
        model: Any,
        batch: CrystalGraph,
        dtype: torch.dtype,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> None:
        path = tmp_path_factory.mktemp(self.MODEL) / "model.pt"
        torch.save(model_to_dict(model), path)
        loaded = model_from_dict(torch.load(path, weights_only=True)).eval()
        assert type(loaded) is type(model) and loaded.config == model.config
        assert all(p.dtype == dtype for p in loaded.parameters())
        with torch.no_grad():
            assert torch.equal(loaded(batch), model(batch))

    def test_every_parameter_gets_a_gradient(self, batch: CrystalGraph) -> None:
        model = self.make(batch).train()
        self.assert_every_colour_occurs(batch)
        (model(batch) ** 2).sum().backward()
        for name, p in model.named_parameters():
            assert p.grad is not None, f"{name}: no gradient"
            assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient"
        for name, mod in model.named_modules():
            if isinstance(mod, ColoredLinear):  # every colour's weights are reached
                per_colour = mod.weight.grad.flatten(1).abs().sum(1)
                assert (per_colour > 0).all(), f"{name}: colours without gradient"

    def assert_every_colour_occurs(self, batch: CrystalGraph) -> None:
        """Each weight slot of the model's colouring is used by some edge of `batch`."""
        group = self.OPTIONS.get("group")
        if group is None:
            return
        # with the same-atom branch, its cell-colour slots (after the ordinary ones) too
        plan = build_color_plan(batch, group, same_atom=bool(self.OPTIONS.get("same_atom")))
        if plan.mix is None:  # sn, p1, slambda: one weight slot per colour present
            assert sorted(plan.select.tolist()) == list(range(plan.n_base))
        else:  # glambda: orbit-averaged slots; every P-1 slot lies in some used orbit
            assert bool((plan.mix > 0).any(0).all())

    def test_claimed_symmetry(
        self,
        model: Any,
        crystals: dict[str, Structure],
        settings: GraphSettings,
        dtype: torch.dtype,
        tol: Tolerance,
    ) -> None:
        symmetry = type(model).SYMMETRY
        assert symmetry in SYMMETRIES
        if symmetry == "supercell_group":
            self.check_group_equivariance(model, crystals, settings, dtype, tol)
        elif symmetry == "euclidean":
            self.check_euclidean_invariance(model, crystals, settings, dtype, tol)
        else:  # pragma: no cover - a new claim needs a check here
            pytest.fail(f"no check for claimed symmetry {symmetry!r}")

    def check_group_equivariance(
        self,
        model: Any,
        crystals: dict[str, Structure],
        settings: GraphSettings,
        dtype: torch.dtype,
        tol: Tolerance,
    ) -> None:
        group = model.config.options["group"]
        rng = np.random.default_rng(0)
        for name in ("CaF2", "CuAu"):
            s = crystals[name]
            g = self.graph(s, settings, dtype, name)
            rots = lattice_point_group(np.array(s.lattice.matrix))
            elems = [sample_node_permutation(group, len(s), rng, rots) for _ in range(12)]
            assert max_equivariance_error(model, g, np.array(elems)) < tol.symmetry, name
        if group != "sn":  # negative control: swapping two atoms in ONE cell only is not a
            # product element (g, h), so it is outside every G x S_C (sn contains everything)
            g = self.graph(crystals["CaF2"], settings, dtype)
            noise = torch.randn(g.x.shape, generator=torch.Generator().manual_seed(7))
            g = replace(g, x=g.x + noise.to(dtype))
            swap = np.arange(g.num_nodes)
            swap[[0, 1]] = [1, 0]
            assert_not_equivariant(model, g, swap)  # by more than 1e-3 in either dtype

    def check_euclidean_invariance(
        self,
        model: Any,
        crystals: dict[str, Structure],
        settings: GraphSettings,
        dtype: torch.dtype,
        tol: Tolerance,
    ) -> None:
        with torch.no_grad():
            for name in NAMES:
                s = crystals[name]
                base = model(self.graph(s, settings, dtype))
                for other in (rotated_structure(s, 0), rotated_structure(s, 1), shifted_origin(s)):
                    dev = float((model(self.graph(other, settings, dtype)) - base).abs().max())
                    assert dev < tol.symmetry, f"{name}: {dev:.2e}"
                # negative control: a 5 % strain of one axis must change the prediction
                strained = Structure(
                    Lattice(s.lattice.matrix * np.array([[1.05], [1.0], [1.0]])),
                    s.species,
                    s.frac_coords,
                )
                change = float((model(self.graph(strained, settings, dtype)) - base).abs().max())
                assert change > tol.changed, f"{name}: strain changed it by {change:.2e} only"
