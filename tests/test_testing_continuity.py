"""Nearby crystal, nearby prediction (issue 26): the perturbation generator, the continuity
assertion on every model of ``MODELS`` (with negative controls at a hard cutoff), the smooth
envelope, the jump rule and ``ecn check continuity``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from ecn.graphs.build import build_graph
from ecn.graphs.settings import NAMED_GRAPHS
from ecn.inference import PropertyModel, TargetInfo, save_model_file
from ecn.inference.check import _mark_jumps, check_continuity, predictor_variant
from ecn.inference.predictor import Predictor
from ecn.nn import MODELS, ModelConfig, build_model
from ecn.nn.envelope import edge_envelope, polynomial_envelope
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.testing import assert_continuous, continuity_errors, perturbations

#: Models whose every edge fades out smoothly at its cutoff (the rest have a hard cutoff).
SMOOTH = {("ecn", "poly"), ("ecn", "cosine"), ("schnet", None)}
CASES = [("ecn", "none"), ("ecn", "poly"), ("ecn", "cosine")] + [
    (m, None) for m in MODELS if m != "ecn"
]


def generic_crystal() -> Structure:
    """Four atoms at generic positions, away from the cell faces (no wrap under 1e-2 Å)."""
    frac = np.random.default_rng(0).uniform(0.15, 0.85, size=(4, 3))
    return Structure(
        Lattice.from_parameters(5.1, 5.6, 6.3, 81, 94, 103), ["Na", "Cl", "K", "Br"], frac
    )


def at_cutoff(r: float) -> Structure:
    """The generic crystal scaled so that one pair distance (the one farthest from every other
    distance) is exactly `r`: a small move takes that edge in or out of a radius-`r` graph."""
    s = generic_crystal()
    d = sorted({round(nb.nn_distance, 9) for site in s.get_all_neighbors(r + 2) for nb in site})
    d = np.array([x for x in d if x > 0])
    gaps = np.minimum(np.diff(d, prepend=-np.inf), np.diff(d, append=np.inf))
    near = np.abs(d - r) < 1.5
    pick = d[near][np.argmax(gaps[near])]
    s.scale_lattice(s.volume * (r / pick) ** 3)
    return s


def _model(name: str, envelope: str | None):
    """Untrained float64 model on its graph (canonical off: only the graph is under test)."""
    opts: dict = {"width": 16, "layers": 2, "envelope": envelope} if name == "ecn" else {}
    if name == "cgcnn":
        opts = {"max_neighbors": None}  # its radius cutoff alone (the cap is another threshold)
    over: dict = {"canonical": "off"}
    if resolve_graph_settings(name, None, over, opts).strategy == "voronoi_radii":
        over |= NAMED_GRAPHS["r5"]  # a radius graph: its cutoff is the threshold under test
    gs = resolve_graph_settings(name, None, over, opts)
    torch.manual_seed(0)
    m = build_model(ModelConfig(name, gs.node_feature_dim, gs.n_gaussians, options=opts))
    return m.double(), gs, float(m.config.options.get("cutoff", gs.cutoff))


def test_perturbations_move_every_atom_by_eps_along_fixed_directions(BaTiO3):
    perts = perturbations(BaTiO3, [1e-4, 1e-2], kinds=["displace"], seed=3)
    steps = []
    for p in perts:
        d = p.structure.cart_coords - BaTiO3.cart_coords
        frac = np.linalg.solve(BaTiO3.lattice.matrix.T, d.T).T
        d = (frac - np.round(frac)) @ BaTiO3.lattice.matrix  # minimum image (atoms on faces wrap)
        np.testing.assert_allclose(np.linalg.norm(d, axis=1), p.eps, rtol=1e-6)
        steps.append(d / p.eps)
    np.testing.assert_allclose(steps[0], steps[1], atol=1e-6)  # one line through the crystal
    other = perturbations(BaTiO3, [1e-2], kinds=["displace"], seed=4)[0].structure
    assert not np.allclose(other.cart_coords, perts[1].structure.cart_coords)
    strained = perturbations(BaTiO3, [1e-2], kinds=["strain"])[0].structure
    change = np.abs(strained.lattice.matrix - BaTiO3.lattice.matrix).max()
    assert 1e-4 < change < 2e-2
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturbations(BaTiO3, kinds=["shear"])
    with pytest.raises(ValueError, match="> 0"):
        perturbations(BaTiO3, [0.0])


def test_polynomial_envelope_reaches_zero_with_zero_slope():
    x = torch.tensor([0.0, 0.5, 1.0 - 1e-6, 1.0, 1.5], dtype=torch.float64, requires_grad=True)
    u = polynomial_envelope(x)
    (g,) = torch.autograd.grad(u.sum(), x)
    assert u[0] == 1 and u[3] == 0 and u[4] == 0 and 0 < u[1] < 1 and abs(u[2]) < 1e-12
    assert abs(g[2]) < 1e-9 and g[1] < 0


@pytest.mark.parametrize(("name", "envelope"), CASES)
def test_every_model_is_continuous_away_from_thresholds_and_jumps_only_at_a_hard_cutoff(
    name, envelope
):
    """Positive claim: away from every graph threshold an untrained float64 model moves by
    O(eps) (slope bound 100x its own slope at 1e-2 Å). At a radius cutoff, a model with a hard
    cutoff jumps (the negative control that bites) and a smoothly cut one does not."""
    model, gs, r = _model(name, envelope)
    errs = continuity_errors(model, generic_crystal(), settings=gs)
    slope = max(v / eps for (_, eps), v in errs.items() if eps == 1e-2)
    assert slope > 0
    lipschitz = 100 * slope
    assert_continuous(model, generic_crystal(), lipschitz, atol=1e-12, settings=gs)
    edge = at_cutoff(r)
    assert r in {round(nb.nn_distance, 9) for s in edge.get_all_neighbors(r + 0.1) for nb in s}
    if (name, envelope) in SMOOTH:
        assert_continuous(model, edge, lipschitz, atol=1e-12, settings=gs)
    else:
        with pytest.raises(AssertionError, match="jumps"):
            assert_continuous(model, edge, lipschitz, atol=1e-12, settings=gs)


def test_envelope_weights_follow_the_graph_settings_cutoff():
    gs = resolve_graph_settings("ecn", None, {"strategy": "cutoff", "cutoff": 4.0})
    g = build_graph(at_cutoff(3.9999), gs)
    w = edge_envelope(g, "poly")
    assert torch.all(g.edge_cutoff == 4.0)
    near = g.edge_dist > 3.999  # the edge 1e-4 Å inside the cutoff: weight ~ (2.5e-5)^3
    assert near.any() and float(w[near].abs().max()) < 1e-9
    assert torch.all(w[g.edge_dist == 0] == 1)
    voronoi = build_graph(generic_crystal(), resolve_graph_settings("ecn", None, None))
    assert voronoi.edge_cutoff.min() < 5.0  # Cordero limits, per pair
    with pytest.raises(ValueError, match="envelope must be one of"):
        edge_envelope(g, "hard")


def test_jump_rule_counts_a_step_not_a_smooth_rise():
    smooth = [{"eps": e, "change": 3 * e} for e in (1e-5, 1e-4, 1e-3, 1e-2)]
    step = [
        {"eps": e, "change": c}
        for e, c in zip((1e-5, 1e-4, 1e-3, 1e-2), (1e-6, 1e-5, 0.2, 0.2), strict=True)
    ]
    _mark_jumps(smooth, threshold=1e-3, ratio=10)
    _mark_jumps(step, threshold=1e-3, ratio=10)
    assert [r["jump"] for r in smooth] == [False] * 4
    assert [r["jump"] for r in step] == [False, False, True, False]


def _predictor(envelope: str) -> Predictor:
    gs = resolve_graph_settings(
        "ecn", None, {"strategy": "cutoff", "cutoff": 5.0, "canonical": "off"}
    )
    torch.manual_seed(0)
    opts = {"width": 16, "layers": 2, "envelope": envelope}
    net = build_model(ModelConfig("ecn", gs.node_feature_dim, gs.n_gaussians, options=opts))
    return Predictor(PropertyModel(net, TargetInfo(("y",), ("eV",))), gs)


def test_check_continuity_finds_the_cutoff_jump_and_the_envelope_removes_it(BaTiO3):
    crystals = [("edge", at_cutoff(5.0)), ("generic", generic_crystal())]
    hard = check_continuity(_predictor("none"), crystals, threshold=1e-6)
    smooth = check_continuity(
        predictor_variant(_predictor("none"), options={"envelope": "poly"}),
        crystals,
        threshold=1e-6,
    )
    assert hard.n_jumps >= 1 and smooth.n_jumps == 0
    assert {r["id"] for r in hard.rows if r["jump"]} == {"edge"}
    assert smooth.envelope == "poly" and hard.envelope == "none"
    assert [s["eps"] for s in hard.summary()[:4]] == [1e-5, 1e-4, 1e-3, 1e-2]
    face = [("BaTiO3", BaTiO3)]  # Ba on the cell corner: a move wraps it to the far face
    wrapped = check_continuity(_predictor("poly"), face, kinds=["displace"], threshold=1e-6)
    kept = check_continuity(
        _predictor("poly"), face, kinds=["displace"], threshold=1e-6, wrap=False
    )
    assert wrapped.n_jumps >= 1 and kept.n_jumps == 0  # the parity colours, not the graph
    with pytest.raises(ValueError, match="change the model's weights"):
        predictor_variant(_predictor("none"), options={"width": 8})


def test_ecn_check_continuity_command_writes_json_and_markdown(tmp_path):
    from ecn.cli import app

    pred = _predictor("none")
    model = save_model_file(tmp_path / "model.pt", pred.model, pred.settings)
    (tmp_path / "edge.cif").write_text(at_cutoff(5.0).to(fmt="cif"))
    out = tmp_path / "res" / "c.json"
    args = ["check", "continuity", str(model), str(tmp_path / "edge.cif"), "--kinds", "displace"]
    res = CliRunner().invoke(app, [*args, "--threshold", "1e-6", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_text())
    assert rep["n_jumps"] >= 1 and {s["kind"] for s in rep["summary"]} == {"displace"}
    assert "| displace | 1e-05 |" in out.with_suffix(".md").read_text()
    res = CliRunner().invoke(
        app, [*args, "--threshold", "1e-6", "--option", "envelope=poly", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["n_jumps"] == 0
    bad = CliRunner().invoke(app, [*args, "--option", "envelope"])
    assert bad.exit_code == 2


def test_ecn_check_continuity_threshold_from_a_runs_test_mae(tmp_path):
    # a model file inside a run directory: the default threshold is 1 % of the run's test MAE
    # (results.json); without one it falls back to the documented default (the control)
    from ecn.cli import app

    pred = _predictor("none")
    model = save_model_file(tmp_path / "model.pt", pred.model, pred.settings)
    (tmp_path / "edge.cif").write_text(at_cutoff(5.0).to(fmt="cif"))
    out = tmp_path / "c.json"
    args = ["check", "continuity", str(model), str(tmp_path / "edge.cif"), "--kinds", "displace"]
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["threshold"] == pytest.approx(1e-3)
    (tmp_path / "results.json").write_text(json.dumps({"metrics": {"test": {"mae": 0.25}}}))
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    rep = json.loads(out.read_text())
    assert rep["threshold"] == pytest.approx(0.0025) and "0.25" in rep["threshold_note"]


class _Along:
    """A stand-in model of the distance d (Å, root-sum-square over atoms) of a crystal from
    `base`: `kind` "cube" gives 1e3 d³ (smooth, zero slope as a flat-trained model's at a
    relaxed crystal, rising 1000x per decade), "step" gives 1 once d > 4e-3 Å (a threshold)."""

    def __init__(self, base, kind: str):
        from types import SimpleNamespace

        self.base, self.kind = base.cart_coords, kind
        self.settings = SimpleNamespace(canonical="off")
        self.model = SimpleNamespace(config=SimpleNamespace(options={}))
        self.units = ("eV",)

    def predict(self, structures):
        d = np.array([np.linalg.norm(s.cart_coords - self.base) for s in structures])
        y = 1e3 * d**3 if self.kind == "cube" else (d > 4e-3).astype(float)
        return y[:, None]


def test_refinement_clears_a_smooth_steep_rise_and_keeps_a_step(BaTiO3):
    """Smooth growth faster than ε trips the linear-trend rule; the refinement clears it, while
    a real step stays a jump, bracketed between two of the finer sizes."""
    crystal = [("BaTiO3", BaTiO3)]
    args = {"kinds": ["displace"], "threshold": 1e-6, "wrap": False}
    cube = check_continuity(_Along(BaTiO3, "cube"), crystal, **args)
    # 1e-3 and 1e-2 Å rise 1000x over the size before: flagged by the rule, then cleared
    assert cube.n_jumps == 0 and [r.get("refined", False) for r in cube.rows][2:] == [True] * 2
    step = check_continuity(_Along(BaTiO3, "step"), crystal, **args)
    (jump,) = [r for r in step.rows if r["jump"]]
    lo, hi = jump["jump_between"]
    d = np.sqrt(len(BaTiO3))  # every atom moves by eps: d = eps sqrt(n)
    assert jump["eps"] == 1e-2 and lo * d <= 4e-3 < hi * d and hi / lo < 1.4
