"""Result tables are generated from run directories; finished runs are reused, not retrained."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from ecn.experiments.budget import Budget
from ecn.experiments.reproduce import reproduce_table1, run_or_resume
from ecn.experiments.tables import report
from ecn.experiments.variants import TABLE1, TABLE2
from ecn.train.config import config_from_dict
from ecn.train.record import RECORD_FILES, RunRecord
from train_helpers import tiny_overrides, write_record


def test_report_and_resume_from_finished_runs(tiny_perov5: Path, tmp_path: Path) -> None:
    dirs = []
    for seed in (0, 1):
        raw = tiny_overrides(
            tiny_perov5, tmp_path / f"ecn_seed{seed}", run={"seed": seed}, optim={"epochs": 1}
        )
        dirs.append(run_or_resume(config_from_dict(raw)))
    stamp = (dirs[0] / "results.json").stat().st_mtime_ns
    # a finished seed is not retrained
    again = run_or_resume(
        config_from_dict(tiny_overrides(tiny_perov5, dirs[0], run={"seed": 0}, optim={"epochs": 1}))
    )
    assert again == dirs[0] and (dirs[0] / "results.json").stat().st_mtime_ns == stamp

    payload = report(dirs, tmp_path / "results", "t", "tiny")
    maes = [RunRecord.load(d).results.metric("test", "mae") for d in dirs]
    row = payload["rows"]["ecn-slambda"]
    assert row["test_values"] == maes and row["metric"] == "mae"
    assert abs(row["mean"] - statistics.fmean(maes)) < 1e-12
    assert abs(row["std"] - statistics.stdev(maes)) < 1e-12
    md = (tmp_path / "results" / "t.md").read_text()
    assert f"{row['mean']:.4f} ± {row['std']:.4f}" in md
    assert "DEVIATION" in md or "sample" in md.lower() or "Perov-5" in md
    assert (tmp_path / "results" / "t_learning_curves.png").stat().st_size > 1000


def test_table2_rows_cover_the_paper_models() -> None:
    models = {(v.model, v.group if v.model == "ecn" else None) for v in TABLE2}
    assert models == {
        ("ecn", "slambda"),
        ("ecn", "p1"),
        ("ecn", "glambda"),
        ("ecn", "sn"),
        ("cgcnn", None),
        ("megnet", None),
        ("schnet", None),
    }
    paper = {v.label: v.paper_mae for v in TABLE2}
    assert paper["ECN-SΛ"] == 0.038 and paper["CGCNN"] == 0.047 and paper["MEGNet"] == 0.059


def test_table1_harness_writes_per_target_and_summary_tables(tiny_perov5: Path, tmp_path: Path):
    out = reproduce_table1(
        Budget(seeds=1, epochs=1, threads=1),
        runs_root=tmp_path / "runs",
        results_dir=tmp_path / "results",
        models=["cgcnn"],
        targets=["heat_all"],
        dataset="perov5",
        data_path=str(tiny_perov5),
    )
    run = tmp_path / "runs" / "heat_all" / "cgcnn_seed0"
    res = RunRecord.load(run).results
    mae = res.metric("test", "mae")
    assert out["heat_all"]["rows"]["CGCNN"]["test_values"] == [mae]
    summary = (tmp_path / "results" / "table1" / "table1.md").read_text()
    assert f"| CGCNN | mae {mae:.3f} (1 seed) |" in summary  # one seed: no fake "± 0.000"
    assert "heat_all: {'train': 24" in summary and "Data note:" in summary
    import numpy as np
    import pandas as pd

    y = pd.read_csv(run / "predictions_test.csv")["target"].to_numpy()
    mean = res.target_mean[0]
    ref = out["heat_all"]["constant_reference"]
    assert abs(ref["train_mean"] - np.abs(y - mean).mean()) < 1e-9
    assert f"| no model: train mean | mae {ref['train_mean']:.3f} |" in summary
    per_target = tmp_path / "results" / "table1" / "table1_heat_all.md"
    assert "Reference without a model" in per_target.read_text()
    assert {v.model for v in TABLE1} == {"ecn", "cgcnn", "megnet"}
    runs_row = f"| heat_all | CGCNN | 1 | {res.epochs_run}/{res.best_epoch} |"
    assert runs_row in summary


def test_table1_summary_keeps_targets_trained_by_other_workers(
    tiny_perov5: Path, tmp_path: Path, monkeypatch
) -> None:
    """A worker that trains one target must not drop the other targets from `table1.md`."""
    from ecn.experiments import reproduce

    kw = {"dataset": "perov5", "data_path": str(tiny_perov5), "results_dir": tmp_path / "res"}
    budget = Budget(seeds=1, epochs=1, threads=1)
    reproduce_table1(budget, tmp_path / "runs", models=["cgcnn"], targets=["heat_all"], **kw)
    monkeypatch.setattr(reproduce, "TABLE1_TARGETS", ("heat_all", "e_form"))
    # another worker: ECN-SΛ on e_form (no finished run yet), table only
    out = reproduce_table1(
        budget, tmp_path / "runs", models=["ecn_slambda"], targets=["e_form"], train=False, **kw
    )
    assert list(out) == ["heat_all"] and out["heat_all"]["pending"] == {}
    summary = (tmp_path / "res" / "table1" / "table1.md").read_text()
    assert "| CGCNN | mae " in summary and "| heat_all | CGCNN | 1 |" in summary
    # the requested target with no finished run at all is named as pending, not dropped
    assert "Not finished yet (the same command resumes them): e_form ECN-SΛ: 0 of 1" in summary
    assert "heat_all CGCNN:" not in summary


def test_table1_is_rewritten_from_archived_records_after_runs_are_gone(
    tiny_perov5: Path, tmp_path: Path, monkeypatch
) -> None:
    """Finished runs leave their records under `results/table1_runs/`; a fresh clone (no
    `runs/`) rewrites the same table from them and retrains nothing. Negative control: without
    the archive the row is gone."""
    import shutil

    from ecn.experiments import reproduce

    kw = {"dataset": "perov5", "data_path": str(tiny_perov5), "results_dir": tmp_path / "res"}
    budget = Budget(seeds=1, epochs=1, threads=1)
    first = reproduce_table1(
        budget, tmp_path / "runs", models=["cgcnn"], targets=["heat_all"], **kw
    )
    kept = tmp_path / "res" / "table1_runs" / "heat_all" / "cgcnn_seed0"
    # the record and the weights (a baseline that wins can be shipped), no checkpoints
    assert sorted(p.name for p in kept.iterdir()) == sorted([*RECORD_FILES, "model.pt"])
    assert not list(kept.glob("*.ckpt"))
    before = (tmp_path / "res" / "table1" / "table1_heat_all.md").read_text()
    shutil.rmtree(tmp_path / "runs")

    def no_training(cfg):  # the archived run counts as finished
        raise AssertionError(f"retrained {cfg.run.out}")

    monkeypatch.setattr(reproduce, "run_or_resume", no_training)
    again = reproduce_table1(
        budget, tmp_path / "runs", models=["cgcnn"], targets=["heat_all"], **kw
    )
    row, row0 = again["heat_all"]["rows"]["CGCNN"], first["heat_all"]["rows"]["CGCNN"]
    assert row["test_values"] == row0["test_values"] and row["epochs"] == row0["epochs"]
    assert again["heat_all"]["constant_reference"] == first["heat_all"]["constant_reference"]
    after = (tmp_path / "res" / "table1" / "table1_heat_all.md").read_text()
    assert after == before
    shutil.rmtree(tmp_path / "res" / "table1_runs")
    with pytest.raises(ValueError, match="no finished runs"):
        reproduce_table1(budget, tmp_path / "runs", targets=["heat_all"], train=False, **kw)


def test_table1_run_paused_at_its_session_cap_resumes_in_a_later_session(
    tiny_perov5: Path, tmp_path: Path
) -> None:
    """A run longer than a session: paused by the cap, parked under `results/table1_parked/`,
    resumed from there after `runs/` is gone (not restarted at epoch 0), unparked once it
    finishes. Negative control: without the parked copy the same call starts from scratch."""
    import shutil

    from ecn.train.outputs import read_metrics

    kw = {"dataset": "perov5", "data_path": str(tiny_perov5), "results_dir": tmp_path / "res"}
    sel = {"models": ["cgcnn"], "targets": ["heat_all"], "table": False}
    capped = Budget(seeds=1, epochs=3, threads=1, session_cap_min=1e-6)
    reproduce_table1(capped, tmp_path / "runs", **sel, **kw)
    parked = tmp_path / "res" / "table1_parked" / "heat_all" / "cgcnn_seed0"
    assert (parked / "last.ckpt").is_file() and not (parked / "results.json").exists()
    # best.ckpt parked with its weights only (resuming reads last.ckpt's optimiser state)
    import torch

    best = torch.load(parked / "best.ckpt", map_location="cpu", weights_only=False)
    assert "optimizer_states" not in best and "state_dict" in best
    epochs_before = len(read_metrics(parked / "metrics.csv"))
    assert 1 <= epochs_before < 3
    shutil.rmtree(tmp_path / "runs")  # a new session: runs/ is gone

    budget = Budget(seeds=1, epochs=3, threads=1)
    reproduce_table1(budget, tmp_path / "runs", **sel, **kw)
    run = tmp_path / "runs" / "heat_all" / "cgcnn_seed0"
    history = read_metrics(run / "metrics.csv")
    assert len(history) == 3 and RunRecord.load(run).results.epochs_run == 3
    assert not parked.exists()
    kept = tmp_path / "res" / "table1_runs" / "heat_all" / "cgcnn_seed0"
    assert RunRecord.load(kept).results.epochs_run == 3 and (kept / "model.pt").is_file()

    # control: the same pause without its parked copy restarts at epoch 0
    shutil.rmtree(tmp_path / "runs")
    shutil.rmtree(tmp_path / "res")
    reproduce_table1(capped, tmp_path / "runs", **sel, **kw)
    shutil.rmtree(tmp_path / "runs")
    shutil.rmtree(tmp_path / "res" / "table1_parked")
    reproduce_table1(capped, tmp_path / "runs", **sel, **kw)
    assert len(read_metrics(run / "metrics.csv")) == epochs_before


def test_classification_rows_report_precision_and_recall_for_both_classes(tmp_path: Path) -> None:
    """is_metal: the table carries accuracy and precision AND recall of both classes (the paper's
    'precision' column is a recall), averaged over seeds."""
    from ecn.experiments.tables import write_table

    dirs = []
    for k, (auc, p1, r0) in enumerate([(0.90, 0.80, 0.70), (0.94, 0.84, 0.60)]):
        test = {
            "roc_auc": auc,
            "accuracy": 0.85,
            "precision_1": p1,
            "recall_1": 0.9,
            "precision_0": 0.75,
            "recall_0": r0,
            "n": 10,
        }
        # as written by a real classification run: the val_mae column exists but is empty
        history = (
            "epoch,train_loss,val_loss,val_mae,val_acc,lr,elapsed_s\n"
            "0,0.6,0.5,,0.8,0.001,60.0\n1,0.4,0.3,,0.9,0.001,120.0\n"
        )
        dirs.append(write_record(tmp_path / f"run{k}", test, history=history))
    payload = write_table({"ECN-SΛ": dirs}, {}, tmp_path / "res", "t", "metal", {})
    row = payload["rows"]["ECN-SΛ"]
    assert row["metric"] == "roc_auc" and abs(row["mean"] - 0.92) < 1e-12
    assert abs(row["extra"]["precision_1"] - 0.82) < 1e-12
    assert abs(row["extra"]["recall_0"] - 0.65) < 1e-12
    md = (tmp_path / "res" / "t.md").read_text()
    assert "| precision_1 | recall_1 | precision_0 | recall_0 |" in md.replace("accuracy | ", "")
    assert "| ECN-SΛ | 0.8500 | 0.8200 | 0.9000 | 0.7500 | 0.6500 |" in md
    from ecn.experiments.plots import plot_learning_curves

    png = tmp_path / "curve.png"
    plot_learning_curves({"ECN-SΛ": dirs}, png, "metal")
    import matplotlib.image

    img = matplotlib.image.imread(png)[..., :3]
    # the two runs' loss curves are drawn in C0 (tab:blue, 0.12/0.47/0.71), not an empty frame
    blue = (
        (abs(img[..., 0] - 0.122) < 0.03)
        & (abs(img[..., 1] - 0.467) < 0.03)
        & (abs(img[..., 2] - 0.706) < 0.03)
    )
    assert blue.sum() > 200


def test_budget_recipe_patience_and_seed_counts_reach_the_run_configs(tmp_path: Path) -> None:
    """The tuned recipe sets each row's optimiser and options (ECN rows without their own entry
    take ECN-SΛ's, but keep their own group); patience and per-row seed counts apply."""
    from ecn.experiments.budget import load_recipe, table_config

    path = tmp_path / "recipe.yaml"
    path.write_text(
        "ecn_slambda: {trial: t, optim: {lr: 0.002, batch_size: 128},"
        " options: {group: slambda, width: 32, layers: 2}}\n"
        "cgcnn: {optim: {weight_decay: 0.0}, options: {atom_dim: 96}}\n"
    )
    budget = Budget(seeds=3, patience=25, seeds_for={"ecn_p1": 1}, recipe=load_recipe(path))
    by = {v.label: v for v in TABLE2}
    p1 = table_config(by["ECN-P-1"], 0, tmp_path / "a", budget)
    assert p1.model.options == {"group": "p1", "width": 32, "layers": 2}
    assert (p1.optim.lr, p1.optim.batch_size, p1.optim.patience) == (0.002, 128, 25)
    cg = table_config(by["CGCNN"], 0, tmp_path / "b", budget)
    assert cg.model.options == {"atom_dim": 96} and cg.optim.weight_decay == 0.0
    assert cg.optim.lr == 1e-3  # not in its recipe: the default
    meg = table_config(by["MEGNet"], 0, tmp_path / "c", budget)
    assert meg.model.options == {} and meg.optim.weight_decay == 1e-2
    assert budget.n_seeds(by["ECN-P-1"]) == 1 and budget.n_seeds(by["CGCNN"]) == 3
    # without patience the run is not stopped early (the wave-1 fixed-budget behaviour)
    assert table_config(by["CGCNN"], 0, tmp_path / "d", Budget(epochs=40)).optim.patience == 40
    # a pinned precision reaches every run; unpinned, the run resolves `auto` on its machine
    assert (
        table_config(by["CGCNN"], 0, tmp_path / "e", Budget(precision="32")).run.precision == "32"
    )
    assert table_config(by["CGCNN"], 0, tmp_path / "f", Budget()).run.precision == "auto"
    assert Budget(precision="32").to_dict()["precision"] == "32"
    bad = tmp_path / "bad.yaml"
    bad.write_text("cgcnn: {optimiser: {lr: 1}}\n")

    with pytest.raises(ValueError, match="unknown keys"):
        load_recipe(bad)


def test_table2_collects_runs_finished_elsewhere_and_trains_nothing(
    tiny_perov5: Path, tmp_path: Path
) -> None:
    """--no-train tabulates what finished under the runs root (written by other processes),
    with best epoch, stopping reason and CPU hours; a row with no finished run is left out."""
    from ecn.experiments.reproduce import reproduce_table2

    root = tmp_path / "runs"
    raw = tiny_overrides(tiny_perov5, root / "cgcnn_seed0", optim={"epochs": 2})
    raw["model"] = {"name": "cgcnn", "options": {}}
    run_or_resume(config_from_dict(raw))
    (root / "ecn_slambda_seed0").mkdir()  # an unfinished run: no results.json
    out = reproduce_table2(Budget(seeds=1), root, tmp_path / "res", train=False)
    assert list(out["rows"]) == ["CGCNN"]
    row = out["rows"]["CGCNN"]
    res = RunRecord.load(root / "cgcnn_seed0").results
    assert row["best_epochs"] == [res.best_epoch] and row["stopped_by"] == ["max_epochs"]
    assert abs(row["cpu_hours"] - res.train_time_s / 3600) < 1e-9
    md = (tmp_path / "res" / "table2" / "table2.md").read_text()
    assert "| CGCNN |" in md and "ECN-SΛ |" not in md and "max_epochs" in md
    assert "ECN-SΛ: 0 of 1 seeds finished" in md and "CGCNN: " not in md.split("Not finished")[1]
    assert not (root / "ecn_slambda_seed0" / "config.yaml").exists()


def test_train_fraction_subsets_are_seeded_and_nested(tiny_perov5: Path, tmp_path: Path) -> None:
    from ecn.train.data import prepare_data

    sizes, ids = [], []
    for frac in (0.25, 0.5, 1.0):
        raw = tiny_overrides(tiny_perov5, tmp_path / "r", data={"train_fraction": frac})
        data = prepare_data(config_from_dict(raw), splits=("train",))
        sizes.append(len(data.graphs["train"]))
        store = data.graphs["train"]
        ids.append([store.ids[i] for i in store.index])
    full = sizes[-1]
    assert sizes == [round(0.25 * full), round(0.5 * full), full]
    assert set(ids[0]) < set(ids[1]) < set(ids[2])
    # a random subset in store order, not the first rows of the split
    assert ids[0] == [i for i in ids[2] if i in set(ids[0])] and ids[0] != ids[2][: sizes[0]]
    import pytest

    with pytest.raises(ValueError, match="train_fraction"):
        config_from_dict(tiny_overrides(tiny_perov5, tmp_path / "x", data={"train_fraction": 0}))


def test_size_curve_recovers_a_power_law_and_extrapolates(tmp_path: Path) -> None:
    """Tables at 3 training sizes lying on MAE = 2 N^-0.5 give b = -0.5 and the law's value at
    the official size; a model at one size only gets no extrapolation; other files are ignored."""
    from ecn.experiments.size_curve import size_curve

    def table(name: str, n: int, rows: dict[str, float]) -> None:
        payload = {
            "rows": {
                label: {
                    "metric": "mae",
                    "mean": m,
                    "std": None,
                    "test_values": [m],
                    "split_sizes": {"train": n},
                }
                for label, m in rows.items()
            }
        }
        (tmp_path / "table2" / name).write_text(json.dumps(payload))

    (tmp_path / "table2").mkdir()  # a table's folder: results/<base>/
    for name, n in [("table2_train25pct.json", 400), ("table2_train50pct.json", 1600)]:
        table(name, n, {"ECN-SΛ": 2 * n**-0.5})
    table("table2.json", 6400, {"ECN-SΛ": 2 * 6400**-0.5, "SchNet": 0.1})
    table("table2_sizes.json", 1, {"ECN-SΛ": 99.0})  # not a table of this base: ignored
    out = size_curve(tmp_path, "table2", extrapolate_to=10000)
    fit = out["fits"]["ECN-SΛ"]
    assert [p[0] for p in fit["points"]] == [400, 1600, 6400]
    assert abs(fit["exponent"] + 0.5) < 1e-9 and abs(fit["prediction"] - 0.02) < 1e-9
    assert "prediction" not in out["fits"]["SchNet"]
    md = (tmp_path / "table2" / "table2_sizes.md").read_text()
    cells = "400: 0.1000 (1); 1600: 0.0500 (1); 6400: 0.0250 (1)"
    assert f"| ECN-SΛ | {cells} | -0.500 | 0.0200 |" in md
    assert (tmp_path / "table2" / "table2_sizes.png").stat().st_size > 1000


def test_report_separates_element_encodings(tmp_path: Path) -> None:
    """An ECN run with CGCNN's 92-number encoding is its own row, not pooled with one-hot runs;
    a baseline at its own default encoding keeps its plain label."""
    dirs = []
    for k, (model, feats) in enumerate(
        [("ecn", "onehot_z"), ("ecn", "cgcnn92"), ("ecn", "cgcnn92"), ("cgcnn", "cgcnn92")]
    ):
        opts = {"group": "slambda"} if model == "ecn" else {}
        test = {"mae": [0.10, 0.11, 0.12, 0.13][k], "n": 3}
        history = "epoch,val_mae,elapsed_s\n0,0.2,1.0\n"
        dirs.append(
            write_record(
                tmp_path / f"run{k}", test, None, model, opts, {"node_features": feats}, history
            )
        )
    rows = report(dirs, tmp_path / "res", "enc", "encodings")["rows"]
    assert set(rows) == {"ecn-slambda", "ecn-slambda (cgcnn92)", "cgcnn"}
    assert rows["ecn-slambda (cgcnn92)"]["test_values"] == [0.11, 0.12]


def test_report_by_setup_rows_per_run_and_mean_per_setup(tmp_path: Path) -> None:
    """``ecn report --group-by setup`` (what scripts/canonical_accuracy.py wrote): a row per run
    with its median seconds per epoch, then one summary row per model size + graph + canonical
    step (the cover and the unit cell apart, one seed written '(1 seed)'), the note after the
    'Generated by' line; a note for the per-model table and an unknown grouping refused."""
    from typer.testing import CliRunner

    from ecn.cli import app

    runs = [  # (canonical, supercell, test MAE, elapsed_s per epoch)
        ("unique", True, 0.12, "1,10.0\n2,20.0\n3,32.0\n"),
        ("unique", True, 0.14, "1,9.0\n2,19.0\n"),
        ("unique", False, 0.10, "1,5.0\n"),
    ]
    dirs = []
    for k, (canonical, cover, mae, elapsed) in enumerate(runs):
        graph = {"strategy": "cutoff", "canonical": canonical, "supercell": cover}
        opts = {"group": "slambda", "width": 64, "layers": 4}
        history = "epoch,elapsed_s\n" + elapsed
        val = {"mae": mae + 0.01}
        dirs.append(
            write_record(tmp_path / f"run{k}", {"mae": mae}, val, "ecn", opts, graph, history)
        )
    title = "cover vs quotient: test MAE (eV/cell)"
    args = ["report", *map(str, dirs), "--group-by", "setup", "--out", str(tmp_path / "res")]
    res = CliRunner().invoke(app, [*args, "--name", "acc", "--title", title, "--note", "N."])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "res" / "acc.md").read_text()
    assert md.startswith(f"# {title}\n\nGenerated by `ecn report --group-by setup`. N.\n")
    assert f"| {dirs[0]} | ecn slambda 64x4 | cutoff, cover + cell one-hot | unique |" in md
    assert "| 10.0 | 0.1300 | 0.1200 |" in md  # median of 10, 10, 12 s
    cover = "| ecn slambda 64x4 | cutoff, cover + cell one-hot | unique | 2 | 0.1300 ± 0.0141 |"
    assert cover in md and "| cutoff, unit cell | unique | 1 | 0.1000 (1 seed) | 5.0 |" in md
    summary = json.loads((tmp_path / "res" / "acc.json").read_text())["summary"]
    assert [s["n"] for s in summary.values()] == [2, 1]
    with pytest.raises(ValueError, match="--group-by setup"):
        report(dirs, tmp_path / "res", "m", "t", note="N.")
    with pytest.raises(ValueError, match="group-by must be one of"):
        report(dirs, tmp_path / "res", "m", "t", group_by="seed")


def test_seed_table_per_implementation(tmp_path: Path) -> None:
    """The reference side-by-side table (scripts/cgcnn_reference.py, megnet_reference.py):
    implementations sorted, seeds in order, mean ± std ('(1 seed)' alone), '-' for no time."""
    from ecn.experiments.seeds import write_seed_table

    rows = [
        {"impl": "ref", "seed": 1, "test": 0.30, "s": 12.0},
        {"impl": "ecn", "seed": 0, "test": 0.10, "s": None},
        {"impl": "ref", "seed": 0, "test": 0.20, "s": 10.4},
    ]
    text = write_seed_table(rows, tmp_path / "t", ["# T"], ["foot"])
    assert text == (tmp_path / "t.md").read_text().rstrip("\n")
    assert "| ecn | 1 | 0.1000 | 0.1000 (1 seed) | - |" in text
    assert "| ref | 2 | 0.2000 / 0.3000 | 0.2500 ± 0.0707 | 10 / 12 |" in text
    assert text.endswith("\n\nfoot") and text.index("| ecn") < text.index("| ref")
    summary = json.loads((tmp_path / "t.json").read_text())["summary"]
    assert summary["ref"]["seeds"] == [0, 1] and summary["ecn"]["std"] is None


def test_accelerator_reaches_run_configs_but_not_table_headers(tmp_path: Path, monkeypatch):
    """`ecn reproduce table1 --accelerator gpu` (the GPU queue, scripts/table1_gpu.sh) reaches
    every run's config; the table header's budget stays the CPU queue's, so a run paused on one
    machine and finished on the other lands in the same table. An unknown name is refused."""
    from typer.testing import CliRunner

    from ecn.cli import app
    from ecn.experiments import reproduce
    from ecn.experiments.budget import table_config

    seen: dict = {}

    def fake_table1(budget, *args, **kw):  # the CLI's budget, without training anything
        seen["budget"], seen["kw"] = budget, kw
        return {}

    monkeypatch.setattr(reproduce, "reproduce_table1", fake_table1)
    args = ["reproduce", "table1", "--model", "cgcnn", "--target", "e_form", "--seeds", "3"]
    res = CliRunner().invoke(
        app, [*args, "--accelerator", "gpu", "--seed", "1", "--seed", "2", "--no-table"]
    )
    assert res.exit_code == 0, res.output
    budget = seen["budget"]
    assert budget.accelerator == "gpu" and seen["kw"]["only_seeds"] == [1, 2]
    assert seen["kw"]["table"] is False
    by = {v.label: v for v in TABLE1}
    cfg = table_config(by["CGCNN"], 1, tmp_path / "a", budget, dataset="mp", target="e_form")
    assert cfg.run.accelerator == "gpu"
    assert "accelerator" not in budget.to_dict() and budget.to_dict() == Budget(seeds=3).to_dict()
    # the default stays the CPU queue's
    assert table_config(by["CGCNN"], 0, tmp_path / "b", Budget()).run.accelerator == "cpu"
    res = CliRunner().invoke(app, [*args, "--accelerator", "cuda"])
    assert res.exit_code != 0 and "expected cpu or gpu" in res.output


def test_table1_trains_only_the_asked_seeds_without_tables(tiny_perov5: Path, tmp_path: Path):
    """`--seed 1 --no-table`: one process per seed (the GPU queue starts them together); only
    that seed trains, and no table is written (workers would all rewrite them at once)."""
    kw = {"dataset": "perov5", "data_path": str(tiny_perov5), "results_dir": tmp_path / "res"}
    out = reproduce_table1(
        Budget(seeds=2, epochs=1, threads=1),
        tmp_path / "runs",
        models=["cgcnn"],
        targets=["heat_all"],
        only_seeds=[1],
        table=False,
        **kw,
    )
    assert out == {}
    root = tmp_path / "runs" / "heat_all"
    assert sorted(p.name for p in root.iterdir()) == ["cgcnn_seed1"]
    kept = tmp_path / "res" / "table1_runs" / "heat_all" / "cgcnn_seed1"
    assert (kept / "results.json").is_file()
    assert not (tmp_path / "res" / "table1" / "table1.md").exists()


def test_prepare_table1_builds_each_graph_once(tiny_perov5: Path, monkeypatch) -> None:
    """`--prepare` builds one cache per distinct graph, not per model x target: ECN-SΛ and
    ECN-P-1 share theirs, CGCNN has its own; the caches hold every target of the dataset."""
    from ecn.experiments import reproduce

    calls = []
    real = reproduce.prepare_data

    def counting(cfg):
        calls.append((cfg.model.name, cfg.graph["strategy"], cfg.data.targets[0]))
        return real(cfg)

    monkeypatch.setattr(reproduce, "prepare_data", counting)
    n = reproduce.prepare_table1(
        Budget(seeds=1, threads=1),
        models=["ecn_slambda", "ecn_p1", "cgcnn"],
        targets=["heat_all"],
        dataset="perov5",
        data_path=str(tiny_perov5),
    )
    assert [c[0] for c in calls] == ["ecn", "cgcnn"]
    assert n > 0


def test_table1_side_by_side_picks_the_best_baseline_and_the_papers_metric() -> None:
    """Baseline and ECN-SΛ variant are chosen on validation (control: MEGNet has the lower
    test MAE on e_fermi but the higher validation MAE, and is not chosen), test is shown, and
    the wins line counts the targets where the chosen ECN-SΛ beats the chosen baseline."""
    from ecn.experiments.tables import table1_side_by_side

    def row(mean: float, val: float, stop: str = "early_stopping", **extra: float) -> dict:
        metric = "roc_auc" if extra else "mae"
        return {
            "metric": metric,
            "mean": mean,
            "val_mean": val,
            "std": None,
            "stopped_by": [stop],
            "extra": extra,
        }

    out = {
        "e_form": {
            "rows": {
                "ECN-SΛ": row(0.044, 0.043),
                "CGCNN": row(0.053, 0.055, "time_budget"),
                "MEGNet": row(0.050, 0.049),
            }
        },
        "e_fermi": {
            "rows": {
                "ECN-SΛ": row(0.33, 0.31),
                "ECN-SΛ, CGCNN's graph": row(0.285, 0.26),
                "CGCNN": row(0.292, 0.27),
                "MEGNet": row(0.280, 0.29),
            }
        },
        "magmom_per_atom": {"rows": {"ECN-SΛ": row(0.06, 0.057)}},
        # ahead on the mean by less than the seeds' spread: counted, and called level
        "band_gap": {
            "rows": {
                "ECN-SΛ": {**row(0.4236, 0.38), "std": 0.006},
                "CGCNN": {**row(0.4241, 0.39), "std": 0.015},
            }
        },
        "is_metal": {
            "rows": {
                "ECN-SΛ": row(0.95, 0.95, recall_1=0.881, recall_0=0.873, precision_1=0.5),
                "CGCNN": row(0.96, 0.96, recall_1=0.935, recall_0=0.867, precision_1=0.4),
            }
        },
    }
    lines = table1_side_by_side(out)
    by = {line.split(" |")[0].strip("| "): line for line in lines if line.startswith("| ")}
    assert "MEGNet 0.0500" in by["e_form (eV/atom)"]  # the lower validation MAE, not the first
    assert "| 0.046 | 0.048 |" in by["e_form (eV/atom)"]
    fermi = by["e_fermi (eV)"]
    assert "CGCNN 0.292" in fermi and "MEGNet" not in fermi  # validation, not test, chooses
    assert "0.285 (1 seed) (CGCNN's graph)" in fermi
    assert "not run yet" in by["magmom_per_atom (μB/atom)"]
    # the paper's "precision" is a per-class recall (its code): recall stands beside it
    metal = by["is_metal (recall metal / non-metal)"]
    assert "88.1% / 87.3%" in metal and "CGCNN 93.5% / 86.7%" in metal and "79.8% / 83.2%" in metal
    assert "50.0%" not in metal and "40.0%" not in metal  # negative control: not precision
    assert "(the Table 1 row)" in metal
    wins = next(line for line in lines if "ahead of" in line)
    assert (
        "on 3 of 5 targets (e_form; e_fermi; band_gap: by less than one seed std, level)." in wins
    )
    assert "about a third" in lines[-1]


def test_table1_collects_config_rows_and_never_trains_them(
    tiny_perov5: Path, tmp_path: Path, monkeypatch
) -> None:
    """A row trained from a config file (``TABLE1_CONFIG_ROWS``: scripts/config_queue.sh
    archives it as ``results/table1_runs/<target>/<run>_seed<k>``) appears in Table 1 under its
    own label with the command that trains it; ``ecn reproduce table1`` never trains it.
    Negative control: a run under another name is not collected."""
    from ecn.experiments import reproduce
    from ecn.experiments.variants import TABLE1_CONFIG_ROWS
    from ecn.train.config import config_from_dict
    from ecn.train.run import train

    row = TABLE1_CONFIG_ROWS[0]
    res = tmp_path / "res"
    archive = res / "table1_runs" / "heat_all"
    cfg = tiny_overrides(tiny_perov5, archive / f"{row.run}_seed0")
    cfg["model"]["continuous"] = "on"
    cfg["optim"]["epochs"] = 1
    train(config_from_dict(cfg))
    stray = tiny_overrides(tiny_perov5, archive / f"{row.run}_other_seed0")
    stray["optim"]["epochs"] = 1
    train(config_from_dict(stray))
    trained: list[str] = []

    def record(cfg):
        trained.append(Path(cfg.run.out).name)
        return Path(cfg.run.out)

    monkeypatch.setattr(reproduce, "run_or_resume", record)
    monkeypatch.setattr(reproduce, "TABLE1_TARGETS", ("heat_all",))
    kw = {"dataset": "perov5", "data_path": str(tiny_perov5), "results_dir": res}
    out = reproduce_table1(Budget(seeds=1, epochs=1, threads=1), tmp_path / "runs", **kw)
    assert trained and not any(n.startswith(row.run) for n in trained), trained
    assert list(out["heat_all"]["rows"]) == [row.label]  # the stray run is not a row
    summary = (res / "table1" / "table1.md").read_text()
    assert f"| {row.label} | mae " in summary
    assert f"bash scripts/config_queue.sh {row.config} {row.run} TARGET:SEED" in summary


def test_table1_pending_follows_the_seed_plan_and_the_papers_rows(
    tiny_perov5: Path, tmp_path: Path
) -> None:
    """Table 1 wants 3 seeds only where the paper reports mean ± std (ECN-SΛ and CGCNN on
    E_form and band gap), one elsewhere; MPNN (S_N) is no row of the paper's Table 1; a run a
    time cap ended is named (it is not converged)."""
    import shutil

    from ecn.experiments.reproduce import pending_rows
    from ecn.experiments.variants import TABLE1_PAPER_PRECISION

    assert [v.label for v in TABLE1] == ["ECN-SΛ", "ECN-P-1", "CGCNN", "MEGNet"]
    assert set(TABLE1_PAPER_PRECISION) == {v.label for v in TABLE1}
    run = tmp_path / "cgcnn_seed0"
    raw = tiny_overrides(tiny_perov5, run, optim={"epochs": 1})
    raw["model"] = {"name": "cgcnn", "options": {}}
    run_or_resume(config_from_dict(raw))
    capped = tmp_path / "capped"
    shutil.copytree(run, capped)
    res = json.loads((capped / "results.json").read_text())
    (capped / "results.json").write_text(json.dumps({**res, "stopped_by": "time_budget"}))
    budget = Budget(seeds=3)
    done = {"ECN-SΛ": [run], "CGCNN": [run], "ECN-P-1": [run]}
    e_form = pending_rows(TABLE1, done, budget, "e_form")
    assert e_form == {
        "ECN-SΛ": "1 of 3 seeds finished",
        "CGCNN": "1 of 3 seeds finished",
        "MEGNet": "0 of 1 seeds finished",
    }
    assert pending_rows(TABLE1, done, budget, "e_fermi") == {"MEGNet": "0 of 1 seeds finished"}
    # control: without a target (Table 2) every row wants the budget's count
    assert pending_rows(TABLE1, done, budget)["ECN-P-1"] == "1 of 3 seeds finished"
    capped_row = pending_rows(TABLE1, {**done, "ECN-P-1": [capped]}, budget, "e_fermi")
    note = f"seed {res['seed']} ended by a time cap (rerun)"
    assert capped_row["ECN-P-1"] == f"1 of 1 seeds finished, {note}"


def test_table1_reruns_an_archived_run_that_a_time_cap_ended(
    tiny_perov5: Path, tmp_path: Path, monkeypatch
) -> None:
    """An archived run stopped by a time cap is not converged: the queue trains it again and
    the new record replaces it; until then the capped record still counts. Control: the same
    archive with an early-stopped record is not retrained."""
    import shutil

    from ecn.experiments import reproduce

    kw = {"dataset": "perov5", "data_path": str(tiny_perov5), "results_dir": tmp_path / "res"}
    budget = Budget(seeds=1, epochs=1, threads=1)
    reproduce_table1(budget, tmp_path / "runs", models=["cgcnn"], targets=["heat_all"], **kw)
    kept = tmp_path / "res" / "table1_runs" / "heat_all" / "cgcnn_seed0"
    shutil.rmtree(tmp_path / "runs")
    res = json.loads((kept / "results.json").read_text())
    (kept / "results.json").write_text(json.dumps({**res, "stopped_by": "time_budget"}))
    trained: list[str] = []

    def record_training(cfg):
        trained.append(str(cfg.run.out))
        return run_or_resume(cfg)

    monkeypatch.setattr(reproduce, "run_or_resume", record_training)
    out = reproduce_table1(budget, tmp_path / "runs", models=["cgcnn"], targets=["heat_all"], **kw)
    assert trained == [str(tmp_path / "runs" / "heat_all" / "cgcnn_seed0")]
    assert RunRecord.load(kept).results.stopped_by == "max_epochs"  # replaced
    assert "time cap" not in json.dumps(out["heat_all"]["pending"])
    # control: the replaced (not capped) record is kept as it is
    shutil.rmtree(tmp_path / "runs")
    trained.clear()
    reproduce_table1(budget, tmp_path / "runs", models=["cgcnn"], targets=["heat_all"], **kw)
    assert trained == []


def test_table1_metal_cells_put_the_papers_precision_beside_our_recall() -> None:
    """The paper's "metal / nonmetal precision" is a per-class recall in its code, so Table 1's
    metal cell shows recall (± std over seeds) with the paper's numbers in brackets, then
    precision and ROC-AUC. Negative control: precision is never what stands beside the
    brackets."""
    from ecn.experiments.tables import PAPER_PRECISION_IS_RECALL, table1_summary
    from ecn.experiments.variants import TABLE1

    row = {
        "metric": "roc_auc",
        "mean": 0.95,
        "std": 0.003,
        "extra": {"recall_1": 0.867, "recall_0": 0.9, "precision_1": 0.5, "precision_0": 0.4},
        "extra_std": {"recall_1": 0.01, "recall_0": None, "precision_1": 0.02, "precision_0": 0.03},
        "epochs": [50, 52],
        "best_epochs": [24, 26],
        "stopped_by": ["early_stopping"] * 2,
        "cpu_hours": 1.0,
        "test_values": [0.948, 0.952],
        "split_sizes": {"train": 1},
        "source_note": "note",
    }
    out = {"is_metal": {"rows": {"ECN-SΛ": row}, "pending": {}}}
    md = table1_summary(out, [v for v in TABLE1 if v.label == "ECN-SΛ"], {})
    cell = next(line for line in md.splitlines() if line.startswith("| ECN-SΛ |"))
    assert "recall 86.7% ± 1.0% / 90.0% [79.8% / 83.2%]" in cell
    assert "precision 50.0% ± 2.0% / 40.0% ± 3.0%;" in cell and "roc_auc 0.950 ± 0.003" in cell
    assert "precision 50.0% ± 2.0% / 40.0% ± 3.0% [" not in cell
    assert PAPER_PRECISION_IS_RECALL in md and "training.py" in PAPER_PRECISION_IS_RECALL
