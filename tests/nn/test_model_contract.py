"""The model contract: one test mixin that every entry of ``MODELS`` runs (nequip style).

``ModelContract`` holds the tests; each ``Test*`` class below only names a case (a model and
its options): ECN once per group (sn, p1, glambda, slambda), ECN with the authors' same-atom
branch (p1, glambda, slambda), the E(n)-equivariant ECN (slambda, glambda) and each baseline.
What is checked, in float64 on three different real crystals built in code (CuAu tP, CaF2 cF
with 3 atoms, BaTiO3 cP with 5 atoms):

* the resolved ``config`` (every option filled in, round trip through ``to_dict``);
* forward shapes, graph-level and node-level;
* a batch of the three crystals == each crystal alone (graph- and node-level);
* storing the nodes in another order (a random n-cycle: every node moves, never the identity)
  leaves the pooled output unchanged and moves node-level outputs with the rows;
* ``torch.save(model_to_dict(m))`` -> ``torch.load(weights_only=True)`` -> ``model_from_dict``
  gives identical outputs (same class, config, float64 kept);
* one backward pass gives every parameter a non-None, finite gradient; the batch is rich enough
  that EVERY edge colour of the model's group occurs (asserted on its colour plan, not assumed:
  ECN graphs use a 6 Å cutoff, which gives all 16 P-1 colours, 15 at 5 Å), and every colour's
  weight slot then gets a non-zero gradient;
* the symmetry the class claims (``SYMMETRY``): ``supercell_group`` -> sampled elements of the
  model's group commute (node embeddings after every layer and pooled output), with a negative
  control outside the group; ``euclidean`` -> a rotated Cartesian frame and a shifted origin give
  the same prediction, with a strained lattice as negative control.

``test_every_model_runs_the_contract`` fails when a model is added to ``MODELS`` without a case.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from ecn.graphs import GraphSettings, build_graph
from ecn.graphs.graph import CrystalGraph, collate
from ecn.nn import (
    GROUPS,
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
from ecn.symmetry import attach_orbit_maps, lattice_point_group, sample_node_permutation
from ecn.testing import (
    assert_not_equivariant,
    max_equivariance_error,
    random_cycle,
    relabel_nodes,
    relabelling_error,
    rotated_structure,
    shifted_origin,
)

NAMES = ("CuAu", "CaF2", "BaTiO3")  # three lattices (tP, cF, cP), 2 / 3 / 5 atoms
TIGHT = 1e-10  # same computation, other batching / order (float64)
SYMM = 1e-8  # symmetry checks (float64 models; graphs built in float32 by the builder)
#: Graph-setting overrides per model (ECN: a 6 Å radius graph, so that every colour occurs).
OVERRIDES: dict[str, dict[str, Any]] = {
    "ecn": {"strategy": "cutoff", "cutoff": 6.0, "cell_onehot": True},  # the cover (paper)
    "ecn_egnn": {"strategy": "cutoff", "cutoff": 6.0, "cell_onehot": True},
}


def _float64(g: CrystalGraph) -> CrystalGraph:
    return replace(
        g,
        x=g.x.double(),
        edge_dist=g.edge_dist.double(),
        edge_attr=g.edge_attr.double(),
        lattice=g.lattice.double(),
        y=g.y.double(),
    )


def _settings(name: str) -> GraphSettings:
    return resolve_graph_settings(name, overrides=OVERRIDES.get(name))


def _graph(structure: Structure, settings: GraphSettings, id: str = "") -> CrystalGraph:
    g = build_graph(structure, settings, id=id)
    if settings.supercell:
        attach_orbit_maps([g])
    return _float64(g)


class ModelContract:
    """Mixin: the tests every model runs. A subclass sets ``MODEL`` and ``OPTIONS``."""

    MODEL: ClassVar[str]
    OPTIONS: ClassVar[dict[str, Any]] = {}
    OUT_DIM: ClassVar[int] = 2

    # --- fixtures (class scope: graphs and models are built once per case) -------------------

    @pytest.fixture(scope="class")
    def settings(self) -> GraphSettings:
        return _settings(self.MODEL)

    @pytest.fixture(scope="class")
    def singles(
        self, settings: GraphSettings, crystals: dict[str, Structure]
    ) -> list[CrystalGraph]:
        return [_graph(crystals[k], settings, k) for k in NAMES]

    @pytest.fixture(scope="class")
    def batch(self, singles: list[CrystalGraph]) -> CrystalGraph:
        return collate(singles)

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
        """The float64 model in eval mode (CGCNN's batch norms get running statistics first)."""
        torch.manual_seed(seed)
        model = build_model(self.config(batch, node_level)).double()
        if any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()):
            with torch.no_grad():
                model.train()(batch)
        return model.eval()

    @pytest.fixture(scope="class")
    def model(self, batch: CrystalGraph) -> Any:
        return self.make(batch)

    @pytest.fixture(scope="class")
    def node_model(self, batch: CrystalGraph) -> Any:
        return self.make(batch, node_level=True)

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

    def test_forward_shapes(self, model: Any, node_model: Any, batch: CrystalGraph) -> None:
        with torch.no_grad():
            out, nodes = model(batch), node_model(batch)
        assert out.shape == (3, self.OUT_DIM) and out.dtype == torch.float64
        assert nodes.shape == (batch.num_nodes, self.OUT_DIM)
        assert torch.isfinite(out).all() and torch.isfinite(nodes).all()

    def test_batched_equals_one_by_one(
        self, model: Any, node_model: Any, batch: CrystalGraph, singles: list[CrystalGraph]
    ) -> None:
        with torch.no_grad():
            for m in (model, node_model):
                alone = torch.cat([m(g) for g in singles])
                torch.testing.assert_close(m(batch), alone, atol=TIGHT, rtol=0)

    def test_node_order_does_not_matter(
        self, model: Any, node_model: Any, batch: CrystalGraph
    ) -> None:
        perm = random_cycle(batch.num_nodes, seed=3)
        assert not torch.any(perm == torch.arange(batch.num_nodes))  # moves every node
        relabelled = relabel_nodes(batch, perm)
        assert not torch.equal(relabelled.z, batch.z)  # the permutation really changed storage
        assert relabelling_error(model, batch, perm) < TIGHT
        assert relabelling_error(node_model, batch, perm) < TIGHT

    def test_save_load_gives_identical_outputs(
        self, model: Any, batch: CrystalGraph, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        path = tmp_path_factory.mktemp(self.MODEL) / "model.pt"
        torch.save(model_to_dict(model), path)
        loaded = model_from_dict(torch.load(path, weights_only=True)).eval()
        assert type(loaded) is type(model) and loaded.config == model.config
        assert all(p.dtype == torch.float64 for p in loaded.parameters())
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

    def test_claimed_symmetry(self, model: Any, crystals: dict[str, Structure]) -> None:
        symmetry = type(model).SYMMETRY
        assert symmetry in SYMMETRIES
        if symmetry == "supercell_group":
            self.check_group_equivariance(model, crystals)
        elif symmetry == "euclidean":
            self.check_euclidean_invariance(model, crystals)
        else:  # pragma: no cover - a new claim needs a check here
            pytest.fail(f"no check for claimed symmetry {symmetry!r}")

    def check_group_equivariance(self, model: Any, crystals: dict[str, Structure]) -> None:
        group = model.config.options["group"]
        rng = np.random.default_rng(0)
        settings = _settings(self.MODEL)
        for name in ("CaF2", "CuAu"):
            s = crystals[name]
            g = _graph(s, settings, name)
            rots = lattice_point_group(np.array(s.lattice.matrix))
            elems = [sample_node_permutation(group, len(s), rng, rots) for _ in range(12)]
            assert max_equivariance_error(model, g, np.array(elems)) < SYMM, name
        if group != "sn":  # negative control: swapping two atoms in ONE cell only is not a
            # product element (g, h), so it is outside every G x S_C (sn contains everything)
            g = _graph(crystals["CaF2"], settings)
            noise = torch.randn(g.x.shape, generator=torch.Generator().manual_seed(7))
            g = replace(g, x=g.x + noise.double())
            swap = np.arange(g.num_nodes)
            swap[[0, 1]] = [1, 0]
            assert_not_equivariant(model, g, swap)

    def check_euclidean_invariance(self, model: Any, crystals: dict[str, Structure]) -> None:
        settings = _settings(self.MODEL)
        with torch.no_grad():
            for name in NAMES:
                s = crystals[name]
                base = model(_graph(s, settings))
                for other in (rotated_structure(s, 0), rotated_structure(s, 1), shifted_origin(s)):
                    dev = float((model(_graph(other, settings)) - base).abs().max())
                    assert dev < SYMM, f"{name}: {dev:.2e}"
                # negative control: a 5 % strain of one axis must change the prediction
                strained = Structure(
                    Lattice(s.lattice.matrix * np.array([[1.05], [1.0], [1.0]])),
                    s.species,
                    s.frac_coords,
                )
                assert float((model(_graph(strained, settings)) - base).abs().max()) > 1e-4


# --- the cases: every entry of MODELS (ECN once per group) ----------------------------------


class TestECNsn(ModelContract):
    MODEL, OPTIONS = "ecn", {"group": "sn", "width": 16, "layers": 2}


class TestECNp1(ModelContract):
    MODEL, OPTIONS = "ecn", {"group": "p1", "width": 16, "layers": 2}


class TestECNglambda(ModelContract):
    MODEL, OPTIONS = "ecn", {"group": "glambda", "width": 16, "layers": 2}


class TestECNslambda(ModelContract):
    MODEL, OPTIONS = "ecn", {"group": "slambda", "width": 16, "layers": 2}


class TestECNp1SameAtom(ModelContract):  # the authors' same-atom branch (not for sn)
    MODEL, OPTIONS = "ecn", {"group": "p1", "width": 16, "layers": 2, "same_atom": True}


class TestECNglambdaSameAtom(ModelContract):
    MODEL, OPTIONS = "ecn", {"group": "glambda", "width": 16, "layers": 2, "same_atom": True}


class TestECNslambdaSameAtom(ModelContract):
    MODEL, OPTIONS = "ecn", {"group": "slambda", "width": 16, "layers": 2, "same_atom": True}


class TestECNEGNNslambda(ModelContract):  # the E(n)-equivariant ECN (ecn.nn.egnn)
    MODEL, OPTIONS = "ecn_egnn", {"group": "slambda", "width": 16, "layers": 2}


class TestECNEGNNglambda(ModelContract):  # orbit-averaged colours in phi_x too
    MODEL, OPTIONS = "ecn_egnn", {"group": "glambda", "width": 16, "layers": 2}


class TestCGCNN(ModelContract):
    MODEL = "cgcnn"


class TestMEGNet(ModelContract):
    MODEL = "megnet"


class TestSchNet(ModelContract):
    MODEL = "schnet"


CASES = [c for c in list(globals().values()) if isinstance(c, type) and c.__name__[:4] == "Test"]


def test_every_model_runs_the_contract() -> None:
    covered = {c.MODEL for c in CASES if issubclass(c, ModelContract)}
    assert covered == set(MODELS)
    ecn_groups = {c.OPTIONS["group"] for c in CASES if c.MODEL == "ecn"}
    assert ecn_groups == set(GROUPS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_takes_the_core_arguments(name: str) -> None:
    """``(in_dim, edge_dim, out_dim=1, node_level=False, *, <options with defaults>)``, a
    ``GRAPH_SETTINGS`` dict of GraphSettings fields and a known ``SYMMETRY``."""
    cls = MODELS[name]
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    core = [(p.name, p.default, p.kind) for p in params[:4]]
    empty, pos = inspect.Parameter.empty, inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert core == [
        ("in_dim", empty, pos),
        ("edge_dim", empty, pos),
        ("out_dim", 1, pos),
        ("node_level", False, pos),
    ]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[4:])
    assert all(p.default is not empty for p in params[4:])
    assert model_options(name) == {p.name: p.default for p in params[4:]}
    fields = {f.name for f in dataclasses.fields(GraphSettings)}
    assert set(cls.GRAPH_SETTINGS) <= fields and cls.SYMMETRY in SYMMETRIES


# --- builder and serialisation errors ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "bad"),
    [("cgcnn", "group"), ("megnet", "width"), ("schnet", "layers"), ("ecn", "n_conv")],
)
def test_unknown_option_is_an_error_naming_the_allowed_ones(name: str, bad: str) -> None:
    with pytest.raises(ValueError) as err:
        build_model(ModelConfig(name, 10, 4, options={bad: 3}))
    msg = str(err.value)
    assert repr(name) in msg and repr(bad) in msg
    assert all(opt in msg for opt in model_options(name))


def test_unknown_model_and_bad_configs() -> None:
    with pytest.raises(ValueError, match="unknown model 'alignn'"):
        build_model(ModelConfig("alignn", 10, 4))
    with pytest.raises(ValueError, match="unknown model"):
        model_options("alignn")
    with pytest.raises(ValueError, match="unknown model config key"):
        ModelConfig.from_dict({"name": "ecn", "in_dim": 3, "edge_dim": 2, "width": 8})
    with pytest.raises(ValueError, match="missing"):
        ModelConfig.from_dict({"name": "ecn", "in_dim": 3})
    with pytest.raises(ValueError, match="in_dim"):
        ModelConfig("ecn", 0, 2)
    with pytest.raises(TypeError):
        build_model({"name": "ecn", "in_dim": 3, "edge_dim": 2})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="state_dict"):
        model_from_dict({"config": ModelConfig("ecn", 3, 2).to_dict()})


def test_config_to_dict_is_plain_and_copies_options() -> None:
    opts = {"group": "p1"}
    cfg = ModelConfig("ecn", 3, 2, options=opts)
    opts["group"] = "sn"  # the config keeps its own copy
    d = cfg.to_dict()
    assert d == {
        "name": "ecn",
        "in_dim": 3,
        "edge_dim": 2,
        "out_dim": 1,
        "node_level": False,
        "options": {"group": "p1"},
    }
    assert type(d["options"]) is dict
    model = build_model(cfg)
    d2 = model_to_dict(model)
    d2["config"]["options"]["width"] = 8  # another width: weights no longer fit
    with pytest.raises(ValueError, match="do not fit"):
        model_from_dict(d2)
