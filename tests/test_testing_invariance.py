"""Same crystal, same prediction (issue 14): every model of ``MODELS`` and every ECN group gives
one prediction for all equivalent descriptions of real crystals, with the canonical step on; the
check bites with it off (negative control)."""

from __future__ import annotations

import gzip
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from ecn.inference import PropertyModel, TargetInfo
from ecn.nn import GROUPS, MODELS, ModelConfig, build_model
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.testing import (
    DESCRIPTION_KINDS,
    assert_representation_invariant,
    equivalent_descriptions,
    representation_errors,
)

CASES = [("ecn", {"group": g, "width": 16, "layers": 2}) for g in GROUPS] + [
    (name, {}) for name in sorted(MODELS) if name != "ecn"
]


def _crystal_systems() -> dict[str, Structure]:
    """One small real crystal per crystal system (Structure.from_spacegroup, cheap groups)."""
    sg = Structure.from_spacegroup
    return {
        "cubic CsCl": sg("Pm-3m", Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5] * 3]),
        "tetragonal CuAu": sg(
            "P4/mmm", Lattice.tetragonal(2.80, 3.67), ["Cu", "Au"], [[0, 0, 0], [0.5] * 3]
        ),
        "orthorhombic": sg(
            "Pmm2", Lattice.orthorhombic(3.1, 4.2, 5.3), ["Al", "N"], [[0, 0, 0.1], [0.5, 0.5, 0.6]]
        ),
        "hexagonal ZnO": sg(
            "P6_3mc",
            Lattice.hexagonal(3.25, 5.21),
            ["Zn", "O"],
            [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.382]],
        ),
        "trigonal": sg("R3m", Lattice.hexagonal(3.0, 7.4), ["Li", "Co"], [[0, 0, 0], [0, 0, 0.5]]),
        "monoclinic": sg(
            "P2_1",
            Lattice.monoclinic(4.1, 5.2, 6.3, 100),
            ["Si", "O"],
            [[0.1, 0.2, 0.3], [0.4, 0.1, 0.8]],
        ),
        "triclinic": Structure(
            Lattice.from_parameters(4.1, 5.3, 6.2, 77, 85, 98),
            ["Si", "O", "O"],
            [[0.11, 0.23, 0.37], [0.71, 0.52, 0.93], [0.42, 0.38, 0.14]],
        ),
    }


@pytest.fixture(scope="module")
def real_crystals(shared_data_dir: Path) -> dict[str, Structure]:
    """2 official Perov-5 test crystals + 2 small MP paper-test-split crystals (real data)."""
    import pandas as pd

    out: dict[str, Structure] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pv = pd.read_csv(shared_data_dir / "perov_5" / "test.csv", nrows=2)
        for r in pv.itertuples():
            out[f"perov5 {r.material_id}"] = Structure.from_str(r.cif, fmt="cif")
        split = (
            shared_data_dir
            / "kaba_mp_v2021_05_split_ids"
            / "matproj_ids_nonduplicate_small_3d_valid_graphs_v2021_05_test.json.gz"
        )
        test_ids = set(json.load(gzip.open(split, "rt"))) if split.is_file() else None
        mp = pd.read_csv(shared_data_dir / "mp_cgcnn_36k" / "mp_cgcnn_36k.csv.gz", nrows=300)
        n = 0
        for r in mp.itertuples():
            if test_ids is not None and r.material_id not in test_ids:
                continue
            s = Structure.from_str(r.cif, fmt="cif")
            if len(s) <= 6:
                out[f"mp {r.material_id}"] = s
                n += 1
            if n == 2:
                break
    return out


def _model(name: str, options: dict, canonical: str = "unique", seed: int = 0):
    gs = resolve_graph_settings(name, "perov5", {"canonical": canonical})
    torch.manual_seed(seed)
    net = build_model(ModelConfig(name, gs.node_feature_dim, gs.n_gaussians, 1, False, options))
    return PropertyModel(net, TargetInfo(("y",), ("eV",))).double(), gs


@pytest.mark.parametrize(
    ("name", "options"), CASES, ids=[f"{n}-{o.get('group', '')}" for n, o in CASES]
)
def test_every_model_is_representation_invariant(name, options, real_crystals):
    model, gs = _model(name, options)
    crystals = dict(real_crystals)
    if name == "ecn" and options["group"] in ("p1", "slambda"):
        crystals.update(_crystal_systems())
    for label, s in crystals.items():
        errs = assert_representation_invariant(model, s, atol=1e-9, settings=gs)
        assert len(errs) >= 15, label


@pytest.mark.parametrize("group", ["p1", "slambda"])
def test_negative_control_canonical_off_bites(group, real_crystals):
    """With the paper's behaviour (no canonical step) the same check fails for ECN."""
    model, gs = _model("ecn", {"group": group, "width": 16, "layers": 2}, canonical="off")
    s = next(v for k, v in real_crystals.items() if k.startswith("perov5"))
    with pytest.raises(AssertionError, match="depends on the description"):
        assert_representation_invariant(model, s, atol=1e-9, settings=gs)


def test_baselines_are_invariant_even_without_the_canonical_step(real_crystals):
    model, gs = _model("cgcnn", {}, canonical="off")
    for s in real_crystals.values():
        assert_representation_invariant(model, s, atol=1e-9, settings=gs)


def test_equivalent_descriptions_are_the_same_crystal(BaTiO3):
    descs = equivalent_descriptions(BaTiO3)
    kinds = {d.kind for d in descs}
    assert kinds == {"identity", *DESCRIPTION_KINDS}
    vol = BaTiO3.volume / len(BaTiO3)
    for d in descs:
        s = d.structure
        assert s.composition.reduced_formula == "BaTiO3", d.name
        assert abs(s.volume / len(s) - vol) < 1e-6, d.name
        # same nearest-neighbour distance spectrum
        dists = np.sort(s.distance_matrix[s.distance_matrix > 0])[:6]
        assert np.allclose(dists, 2.0, atol=1e-6), d.name
    with pytest.raises(ValueError, match="unknown description kind"):
        equivalent_descriptions(BaTiO3, kinds=("nope",))


def test_representation_errors_accepts_callables(BaTiO3):
    errs = representation_errors(lambda ss: [len(s) for s in ss], BaTiO3)
    assert errs["supercell 2x2x2"] == 35.0 and errs["atoms reversed"] == 0.0
    with pytest.raises(ValueError, match="expected an ecn Predictor"):
        representation_errors(42, BaTiO3)
