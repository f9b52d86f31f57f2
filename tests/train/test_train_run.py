"""End-to-end training on a tiny real Perov-5 subset (24/7/8 structures, width 16, 2 layers).

What is measured: every run-directory output exists and is consistent; the train-split
standardisation is stored in the checkpoint; ``ecn evaluate`` reproduces results.json;
an interrupted + resumed run equals an uninterrupted one; ``ecn predict`` never crashes on bad
files; translation averaging removes the dependence on the cell origin.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ecn.cli import app
from train_helpers import N_TEST, N_TRAIN, N_VAL, RUN_OUTPUTS, tiny_cli_args, tiny_overrides


def invoke(args: list[str]) -> str:
    res = CliRunner().invoke(app, args)
    if res.exit_code != 0:
        import traceback

        tb = "".join(traceback.format_exception(*res.exc_info)) if res.exc_info else ""
        raise AssertionError(f"ecn {' '.join(args)} failed ({res.exit_code}):\n{res.output}\n{tb}")
    return res.output


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def run_a(tiny_perov5: Path, runs: Path) -> Path:
    """Uninterrupted 2-epoch run through the CLI."""
    out = runs / "a"
    invoke(tiny_cli_args(tiny_perov5, out))
    return out


def test_train_writes_every_output(run_a: Path) -> None:
    for name in RUN_OUTPUTS:
        assert (run_a / name).is_file() and (run_a / name).stat().st_size > 0, name
    res = json.loads((run_a / "results.json").read_text())
    assert res["split_sizes"] == {"train": N_TRAIN, "val": N_VAL, "test": N_TEST}
    assert set(res["metrics"]["test"]) >= {"mae", "rmse", "r2"}
    assert res["epochs_run"] == 2 and res["model"]["n_params"] > 0
    assert res["source_note"] and res["units"] == ["eV/cell"] and res["device"]["world_size"] == 1
    # the CPU kind, without which training times from different hosts get compared
    assert res["device"]["cpu"] and isinstance(res["device"]["cpu_native_bf16"], bool)
    assert len(rows(run_a / "metrics.csv")) == 2
    pv = rows(run_a / "predictions_val.csv")
    assert len(pv) == N_VAL and list(pv[0]) == ["id", "target", "prediction"]
    assert len(rows(run_a / "predictions_test.csv")) == N_TEST
    text = (run_a / "config.yaml").read_text()
    assert "ecn_version" in text and "heat_all" in text


def test_standardisation_stored_in_checkpoint(run_a: Path, tiny_perov5: Path) -> None:
    import pandas as pd

    y = pd.read_csv(tiny_perov5 / "train.csv")["heat_all"].to_numpy()
    ckpt = torch.load(run_a / "best.ckpt", map_location="cpu", weights_only=True)
    sd = ckpt["state_dict"]
    assert float(sd["net.target_mean"][0]) == pytest.approx(y.mean(), abs=1e-5)
    assert float(sd["net.target_std"][0]) == pytest.approx(y.std(), abs=1e-5)  # population std
    hp = ckpt["hyper_parameters"]
    assert hp["ecn_version"] and hp["targets"]["names"] == ["heat_all"] and hp["graph_settings"]
    # the user-facing model file carries the same standardisation, read with weights_only=True
    mf = torch.load(run_a / "model.pt", map_location="cpu", weights_only=True)
    assert mf["format"] == "ecn-model" and mf["targets"]["mean"][0] == pytest.approx(y.mean())
    assert mf["graph_settings"] == hp["graph_settings"] and mf["ecn_version"]
    # the training loss is on standardised targets: epoch-0 val loss is O(1), not O(y^2)
    assert float(rows(run_a / "metrics.csv")[0]["val_loss"]) < 10


def test_evaluate_reproduces_results(run_a: Path, runs: Path) -> None:
    res = json.loads((run_a / "results.json").read_text())
    for split in ("val", "test"):
        invoke(["evaluate", str(run_a), "--split", split, "--json", str(runs / f"ev_{split}.json")])
        ev = json.loads((runs / f"ev_{split}.json").read_text())
        for k in ("mae", "rmse", "r2"):
            assert ev["metrics"][k] == pytest.approx(res["metrics"][split][k], abs=1e-9)
    # the monitored val MAE logged during training (best epoch) is the same number
    assert res["best_val_logged"] == pytest.approx(res["metrics"]["val"]["mae"], abs=1e-6)


def test_evaluate_rewrites_the_predictions_csv(run_a: Path, runs: Path) -> None:
    """``ecn evaluate --predictions`` rebuilds training's ``predictions_<split>.csv`` (same ids,
    targets and predictions): how a run whose CSVs were not kept is restored from its weights."""
    for split in ("val", "test"):
        out = runs / f"re_{split}.csv"
        invoke(["evaluate", str(run_a), "--split", split, "--predictions", str(out)])
        orig, again = rows(run_a / f"predictions_{split}.csv"), rows(out)
        assert [r["id"] for r in again] == [r["id"] for r in orig]
        assert list(again[0]) == list(orig[0])
        for a, b in zip(orig, again, strict=True):
            assert float(b["target"]) == pytest.approx(float(a["target"]), abs=1e-6)
            assert float(b["prediction"]) == pytest.approx(float(a["prediction"]), abs=1e-5)


def test_resume_equals_uninterrupted(run_a: Path, tiny_perov5: Path, runs: Path) -> None:
    out = runs / "b"
    first = tiny_cli_args(tiny_perov5, out)
    first[first.index("--epochs") + 1] = "1"
    invoke(first)  # "killed" after one epoch: only last.ckpt/best.ckpt of epoch 0 remain
    assert len(rows(out / "metrics.csv")) == 1
    invoke(["train", "--out", str(out), "--resume", "--epochs", "2", "--no-progress"])
    ra, rb = rows(run_a / "metrics.csv"), rows(out / "metrics.csv")
    assert len(rb) == 2
    for a, b in zip(ra, rb, strict=False):
        for k in ("train_loss", "val_loss", "val_mae"):
            assert float(b[k]) == pytest.approx(float(a[k]), abs=1e-6), (k, a, b)
    ma = json.loads((run_a / "results.json").read_text())["metrics"]
    mb = json.loads((out / "results.json").read_text())["metrics"]
    for split in ("val", "test"):
        for k in ("mae", "rmse", "r2"):
            assert mb[split][k] == pytest.approx(ma[split][k], abs=1e-6)
    # a fresh (non-resume) run into a directory with checkpoints is refused
    res = CliRunner().invoke(app, tiny_cli_args(tiny_perov5, out))
    assert res.exit_code == 2 and "--resume" in res.output


@pytest.fixture(scope="module")
def cif_folder(tiny_perov5: Path, runs: Path) -> Path:
    """3 valid real CIFs + 2 broken ones (garbage text; partial occupancy)."""
    import pandas as pd
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.cif import CifWriter

    d = runs / "cifs"
    d.mkdir()
    for _, r in pd.read_csv(tiny_perov5 / "test.csv").head(3).iterrows():
        (d / f"{r['material_id']}.cif").write_text(r["cif"])
    (d / "broken.cif").write_text("data_broken\n_cell_length_a 4.0\nthis is not a CIF loop\n")
    dis = Structure(
        Lattice.cubic(4.0),
        [{"Ba": 0.5, "Sr": 0.5}, "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )
    (d / "disordered.cif").write_text(str(CifWriter(dis)))
    return d


def test_predict_folder_with_broken_files(run_a: Path, cif_folder: Path, runs: Path) -> None:
    out = runs / "preds.csv"
    invoke(["predict", str(run_a), str(cif_folder), "--out", str(out)])
    got = rows(out)
    assert len(got) == 5
    bad = {r["id"]: r["error"] for r in got if r["error"]}
    assert set(bad) == {"broken", "disordered"}, got
    assert "disorder" in bad["disordered"]
    good = [r for r in got if not r["error"]]
    assert all(np.isfinite(float(r["prediction"])) for r in good)
    # Python API mirror gives the same numbers
    from pymatgen.core import Structure

    import ecn

    model = ecn.load_model(str(run_a))
    api = model.predict([Structure.from_file(cif_folder / f"{r['id']}.cif") for r in good])
    assert api.shape == (3,)
    np.testing.assert_allclose(api, [float(r["prediction"]) for r in good], atol=1e-6)
    # a CSV with a cif column (and an id column) works the same way
    import pandas as pd

    pd.DataFrame(
        {
            "id": [r["id"] for r in good] + ["bad"],
            "cif": [(cif_folder / f"{r['id']}.cif").read_text() for r in good] + ["x"],
        }
    ).to_csv(runs / "in.csv", index=False)
    invoke(
        ["predict", str(run_a / "best.ckpt"), str(runs / "in.csv"), "--out", str(runs / "p2.csv")]
    )
    got2 = rows(runs / "p2.csv")
    assert [r["id"] for r in got2] == [r["id"] for r in good] + ["bad"] and got2[-1]["error"]
    # averaged over every atom as origin: with the canonical step on (default) every origin maps
    # to the same description, so the average matches the one-pass prediction (issue 14: 1e-3)
    invoke(["predict", str(run_a), str(cif_folder), "--out", str(runs / "p3.csv"), "--average",
            "origins"])  # fmt: skip
    got3 = {r["id"]: r for r in rows(runs / "p3.csv")}
    assert set(got3) == {r["id"] for r in got} and got3["broken"]["error"]
    for r in good:
        assert abs(float(got3[r["id"]]["prediction"]) - float(r["prediction"])) < 1e-3
        assert 0 <= float(got3[r["id"]]["spread"]) < 1e-3  # spread over the averaged origins
    assert got3["broken"]["spread"] == "" and "spread" not in got[0]


@pytest.fixture(scope="module")
def run_cover(tiny_perov5: Path, runs: Path) -> Path:
    """The tiny run with the paper's cell one-hot (so on the 8-fold cover)."""
    out = runs / "cover"
    invoke([*tiny_cli_args(tiny_perov5, out), "--cell-onehot"])
    return out


def test_average_translations_is_origin_independent(
    run_a: Path, run_cover: Path, cif_folder: Path
) -> None:
    """Relabeling cells a -> a XOR t in the one-hot leaves the averaged prediction unchanged.

    It leaves the raw prediction unchanged too: on the 8-fold cover, a global translation is a
    graph automorphism preserving every colouring, so for ECN models the average is a no-op
    (see the ecn.inference.forward docstring). The test pins both facts and the one-hot detection.
    """
    from pymatgen.core import Structure

    import ecn
    from ecn.inference.predictor import cell_onehot_columns, predict_graphs, translate_cells

    model = ecn.load_model(str(run_a))
    cif = next(p for p in sorted(cif_folder.glob("*.cif")) if p.stem.isdigit())
    assert cell_onehot_columns(model.graph(Structure.from_file(cif))) is None  # the quotient
    model = ecn.load_model(str(run_cover))  # the paper's model: the cell one-hot on the cover
    g = model.graph(Structure.from_file(cif))
    cols = cell_onehot_columns(g)
    assert cols == slice(g.x.shape[1] - 8, g.x.shape[1]), "cell one-hot = last 8 columns"
    shifted = translate_cells(g, 5, cols)  # origin moved to cell (1, 0, 1)
    assert not torch.equal(shifted.x, g.x)
    raw = [predict_graphs(model.model, [h])[0, 0] for h in (g, shifted)]
    avg = [predict_graphs(model.model, [h], average_translations=True)[0, 0] for h in (g, shifted)]
    assert avg[0] == pytest.approx(avg[1], abs=1e-6)
    assert raw[0] == pytest.approx(raw[1], abs=1e-6)
    assert avg[0] == pytest.approx(raw[0], abs=1e-6)


def test_config_yaml_is_resolved(run_a: Path) -> None:
    """config.yaml lists every resolved graph setting and every model option (defaults too),
    and they are exactly what the checkpoint and the model file hold."""
    import dataclasses

    import yaml

    from ecn.graphs import GraphSettings
    from ecn.nn import model_options
    from ecn.nn.graph_settings import resolve_graph_settings

    cfg = yaml.safe_load((run_a / "config.yaml").read_text())
    fields = {f.name for f in dataclasses.fields(GraphSettings)}
    assert set(cfg["graph"]) == fields
    assert cfg["graph"] == dataclasses.asdict(resolve_graph_settings("ecn", "perov5"))
    assert cfg["graph"]["strategy"] == "cutoff"  # Perov-5's default: every neighbour within 5 Å
    assert cfg["graph"]["cutoff"] == 5.0
    assert set(cfg["model"]["options"]) == set(model_options("ecn"))
    assert cfg["model"]["options"]["width"] == 16  # the flag, not the default
    mf = torch.load(run_a / "model.pt", map_location="cpu", weights_only=True)
    assert mf["graph_settings"] == cfg["graph"]
    assert mf["model"]["config"]["options"] == cfg["model"]["options"]


def test_load_model_and_predict_without_lightning(run_a: Path, cif_folder: Path) -> None:
    """The acceptance line: ecn.load_model + predict in a fresh process never imports Lightning."""
    import subprocess
    import sys

    cif = next(p for p in sorted(cif_folder.glob("*.cif")) if p.stem.isdigit())
    code = (
        "import sys, ecn\n"
        "from pymatgen.core import Structure\n"
        f"p = ecn.load_model({str(run_a)!r})\n"
        f"print(float(p.predict([Structure.from_file({str(cif)!r})])[0]))\n"
        "print('lightning' in sys.modules, 'ecn.train' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    assert np.isfinite(float(out[0]))
    assert out[1:] == ["False", "False"]


def test_an_option_a_model_does_not_take_is_an_error(tiny_perov5: Path, runs: Path) -> None:
    """`--group` / `--width` mean nothing to CGCNN: refused with the model's options listed,
    never silently dropped; a baseline's own option is accepted through --option."""
    from ecn.train.config import config_from_dict
    from ecn.train.run import resolve_config

    args = tiny_cli_args(tiny_perov5, runs / "cgcnn_bad")
    args[args.index("--model") + 1] = "cgcnn"
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    assert "does not take option" in res.output and "n_conv" in res.output
    assert not (runs / "cgcnn_bad" / "config.yaml").exists()
    raw = tiny_overrides(tiny_perov5, runs / "cgcnn_ok", model={"name": "cgcnn"})
    raw["model"]["options"] = {"n_conv": 2}
    cfg, settings = resolve_config(config_from_dict(raw))
    assert cfg.model.options["n_conv"] == 2 and "group" not in cfg.model.options
    assert settings.supercell is False and settings.cutoff == 8.0  # CGCNN's own graph
