"""Trained behaviour (issue 26): every shipped model built continuous (soft cell colours and a
smooth edge weight) changes smoothly when real test crystals are moved by 1e-5 .. 1e-2 Å, and
its own weights with parity colours, no edge weight and no canonical step jump on the same
crystals (the negative control: the check can fail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecn.inference import Predictor
from ecn.inference.check import check_continuity, default_threshold, predictor_variant
from ecn.inference.pretrained import list_models

#: the switches a continuous model removes: parity colours, hard edges, Voronoi faces at full
#: weight (``ecn.nn.SMOOTHING_OPTIONS`` at their paper-faithful values)
HARD = {"cell_colors": "hard", "envelope": "none", "face_area": 0.0}


def _options(predictor: Predictor) -> dict:
    model = predictor.model
    member = model.members[0] if predictor.n_members > 1 else model
    return dict(member.model.config.options)


def _first_member(predictor: Predictor) -> Predictor:
    if predictor.n_members == 1:
        return predictor
    return Predictor(predictor.model.members[0], predictor.settings, predictor.meta)


def _continuous_models() -> list[str]:
    names = []
    for entry in list_models():
        opts = _options(Predictor.load(entry["name"]))
        if opts.get("cell_colors") == "soft" and opts.get("envelope", "none") != "none":
            names.append(entry["name"])
    return names


def _crystals(dataset: str, shared_data_dir: Path, tmp_path: Path) -> list[tuple[str, object]]:
    from pymatgen.core import Structure

    if dataset == "perov5":
        import pandas as pd

        rows = pd.read_csv(shared_data_dir / "perov_5" / "test.csv", nrows=8)
        return [(str(i), Structure.from_str(c, fmt="cif")) for i, c in enumerate(rows["cif"])]
    from ecn.bench.predict import MP_FILE, write_mp_cifs

    if not (shared_data_dir / MP_FILE).is_file():
        pytest.skip(f"MP data file absent: {shared_data_dir / MP_FILE}")
    return [
        (p.stem, Structure.from_file(p))
        for p in write_mp_cifs(tmp_path, 6, shared_data_dir / MP_FILE)
    ]


@pytest.mark.parametrize("name", _continuous_models())
def test_a_shipped_continuous_model_has_no_jump_and_its_hard_twin_has(
    name: str, shared_data_dir: Path, tmp_path: Path
) -> None:
    predictor = Predictor.load(name)
    entry = next(e for e in list_models() if e["name"] == name)
    threshold, _ = default_threshold(name)  # as `ecn check continuity`: 1% of the test MAE
    crystals = _crystals(entry["dataset"], shared_data_dir, tmp_path)
    report = check_continuity(predictor, crystals, threshold=threshold)
    assert not report.errors and report.n_jumps == 0, report.summary()
    hard = predictor_variant(_first_member(predictor), canonical="off", options=HARD)
    control = check_continuity(hard, crystals, threshold=threshold)
    assert control.n_jumps >= 1
