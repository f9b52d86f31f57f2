"""The Perov-5 ablation ladder: rungs, resumable runs, and a table selected on validation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from ecn.experiments.ablation import (
    LADDER,
    SCHEDULES,
    Rung,
    ablation_markdown,
    collect,
    run_rung,
)
from ecn.train.run import resolve_config
from train_helpers import write_record


def test_rungs_are_unique_and_each_changes_named_ingredients() -> None:
    names = [r.name for r in LADDER]
    assert len(set(names)) == len(names)
    base = LADDER[0]
    assert (base.model, base.group, base.graph, base.schedule) == (
        "ecn",
        "slambda",
        "voronoi",
        "es",
    )
    fields = {f.name for f in dataclasses.fields(Rung)} - {"seeds"}
    for r in LADDER[1:]:
        changed = {f for f in fields if getattr(r, f) != getattr(base, f)}
        assert changed, r.name  # every rung differs from the baseline in something
        for f in changed:  # ... and the name says so
            value = getattr(r, f)
            assert r.model != "ecn" or f in ("cover", "same_atom") or str(value) in r.name


@pytest.mark.parametrize("rung", LADDER, ids=lambda r: r.name)
def test_every_rung_resolves_to_what_it_claims(rung: Rung, tmp_path: Path) -> None:
    cfg, settings = resolve_config(rung.config(0, tmp_path / rung.name))
    assert cfg.optim.lr == 2e-3 and cfg.optim.batch_size == 64 and cfg.run.precision == "32"
    sched = SCHEDULES[rung.schedule]
    assert cfg.optim.stop_at_min_lr == sched.get("stop_at_min_lr", False)
    assert cfg.optim.min_lr == sched["min_lr"] and cfg.optim.lr_patience == sched["lr_patience"]
    if rung.is_ecn:
        assert cfg.model.name == rung.model
        opts = cfg.model.options
        assert (opts["group"], opts["width"], opts["layers"]) == (
            rung.group,
            rung.width,
            rung.layers,
        )
        assert settings.cell_onehot == rung.cover and settings.supercell == rung.cover
        expected = {"voronoi": "voronoi_radii", "r5": "cutoff", "r8n12": "cutoff"}[rung.graph]
        assert settings.strategy == expected
        if rung.graph == "r5":
            assert settings.cutoff == 5.0 and settings.max_neighbors is None
        if rung.graph == "r8n12":
            assert settings.cutoff == 8.0 and settings.max_neighbors == 12


def _record(root: Path, name: str, val: float, test: float, device: str = "cpu") -> None:
    write_record(
        root / name,
        {"mae": test},
        {"mae": val},
        epochs_run=120,
        best_epoch=95,
        stopped_by="early_stopping",
        train_time_s=3600.0,
        device={"device": device},
        source_note="note",
        split_sizes={"train": 3890, "val": 3787, "test": 3785},
        history="epoch,val_mae,elapsed_s\n0,0.1,1.0\n1,0.08,2.0\n",
    )


def test_table_selects_on_validation_and_reports_test(tmp_path: Path) -> None:
    base, better_val, worse_val = LADDER[0], LADDER[1], LADDER[2]
    archive = tmp_path / "archive"
    _record(archive, f"{base.name}_seed0", 0.090, 0.090)
    # lower validation, higher test: selection must follow validation
    _record(archive, f"{better_val.name}_seed0", 0.070, 0.080, device="cuda:0")
    _record(archive, f"{worse_val.name}_seed0", 0.075, 0.060)
    rows = collect([base, better_val, worse_val], tmp_path / "runs", archive)
    md = ablation_markdown(rows, "cmd")
    assert f"Selected on validation among ECN rungs: `{better_val.name}`" in md
    assert "-22.2 %" in md  # 0.070 / 0.090 - 1
    assert "1.00 GPU h" in md and "1.00 CPU h" in md
    # negative control: swap the validation numbers and the selection follows
    archive2 = tmp_path / "archive2"
    _record(archive2, f"{base.name}_seed0", 0.090, 0.090)
    _record(archive2, f"{better_val.name}_seed0", 0.075, 0.080)
    _record(archive2, f"{worse_val.name}_seed0", 0.070, 0.060)
    md2 = ablation_markdown(collect([base, better_val, worse_val], tmp_path / "r2", archive2), "c")
    assert f"Selected on validation among ECN rungs: `{worse_val.name}`" in md2


def test_capped_rung_is_pending_then_resumes(tiny_perov5: Path, tmp_path: Path) -> None:
    rung = dataclasses.replace(LADDER[0], width=8, layers=1)
    runs, archive = tmp_path / "runs", tmp_path / "archive"
    kw = {"data_path": str(tiny_perov5), "session_cap_min": 1e-6}
    assert run_rung(rung, 0, runs, archive, **kw) is None  # capped: unfinished
    rows = collect([rung], runs, archive)
    assert rows[rung.name]["runs"] == [] and rows[rung.name]["pending"][0].startswith("seed 0")
    assert (runs / f"{rung.name}_seed0" / "last.ckpt").is_file()


def test_table2_from_the_settled_setup_carries_rows_not_rerun(tmp_path: Path) -> None:
    from ecn.experiments.table2_settled import PREVIOUS_TABLE2, TABLE2_SETUP, write_table2

    results = tmp_path / "results"
    archive = results / "table2_ablation_runs"
    sl, cg = TABLE2_SETUP["ECN-SΛ"], TABLE2_SETUP["CGCNN"]
    for seed, mae in enumerate((0.070, 0.074, 0.072)):
        _record(archive, f"{sl.name}_seed{seed}", mae, mae)
    _record(archive, f"{cg.name}_seed0", 0.075, 0.075)
    prev = {"MEGNet": {"metric": "mae", "test_values": [0.077], "mean": 0.077, "std": None}}
    prev["MEGNet"].update(
        extra={}, epochs=[258], best_epochs=[249], stopped_by=["time_budget"], cpu_hours=1.5
    )
    prev["MEGNet"].update(train_time_s=[5412.0], n_params=1, recipe="", split_sizes={})
    (results / PREVIOUS_TABLE2).parent.mkdir(parents=True)
    (results / PREVIOUS_TABLE2).write_text(json.dumps({"rows": prev}))
    out = write_table2(tmp_path / "runs", results)["table2"]
    assert out["rows"]["ECN-SΛ"]["mean"] == pytest.approx(0.072)
    assert out["rows"]["MEGNet"]["carried"] and "carried" not in out["rows"]["ECN-SΛ"]
    md = (results / "table2" / "table2.md").read_text()
    assert "| MEGNet * |" in md and "| ECN-SΛ |" in md
    assert "CGCNN: 1 of 3 seeds finished" in md  # pending, not silently complete
    assert "MPNN (S_N): 0 of 3 seeds finished" in md


def test_every_contrast_compares_two_ladder_rungs() -> None:
    from ecn.experiments.ablation import CONTRASTS

    for label, rung, ref in CONTRASTS:
        assert rung in LADDER and ref in LADDER, label  # same fields, seeds included
        assert rung != ref, label


def test_envelope_rung_changes_only_the_envelope() -> None:
    from ecn.experiments.rungs import Rung

    base = Rung(graph="r5", schedule="plateau", same_atom=True, seeds=3)
    env = Rung(graph="r5", schedule="plateau", same_atom=True, envelope="poly", seeds=3)
    assert base.name == "ecn_slambda_r5_64x4_sameatom_plateau"  # existing runs keep their name
    assert env.name == "ecn_slambda_r5_64x4_sameatom_envpoly_plateau"
    a, b = (r.config(0, Path("/tmp/x")) for r in (base, env))
    assert "envelope" not in a.model.options and b.model.options["envelope"] == "poly"
    assert {k: v for k, v in b.model.options.items() if k != "envelope"} == a.model.options
    assert a.graph == b.graph and a.optim == b.optim
