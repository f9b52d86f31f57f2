"""Pretrained models by name (issue 13): packaging a run, checksums, name resolution, and every
shipped model reproducing the slice metric its card promises."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import ecn
from ecn.cli import app
from ecn.experiments.packaging import package_model, slice_metric
from ecn.inference import pretrained
from ecn.inference.pretrained import list_models, pretrained_path
from ecn.train.config import load_config
from ecn.train.record import RunRecord
from ecn.train.run import train
from train_helpers import tiny_overrides

SHIPPED = list_models()


@pytest.fixture(scope="module")
def tiny_run(tiny_perov5: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pt") / "run"
    return train(load_config(None, tiny_overrides(tiny_perov5, out)))


def test_package_writes_card_registry_and_checks_the_checksum(tiny_run, tmp_path, monkeypatch):
    root = tmp_path / "pretrained"
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", root)
    entry = package_model(tiny_run, "tiny-heat_all", root=root, slice_n=5)
    res = RunRecord.load(tiny_run).results
    assert entry["test"]["mae"] == pytest.approx(res.metric("test", "mae"))
    assert entry["slice"]["n"] == 5 and entry["slice"]["metric"] == "mae"
    card = (root / "tiny-heat_all.md").read_text()
    assert f"{res.metric('test', 'mae'):.4g}" in card and entry["sha256"] in card
    assert "MIT" in card and "stopped by max_epochs" in card and "Converged:** no" in card
    assert [m["name"] for m in list_models(root)] == ["tiny-heat_all"]
    # by name: ecn.load_model and the file path give the same predictions
    by_name = ecn.load_model("tiny-heat_all")
    by_path = ecn.load_model(str(tiny_run / "model.pt"))
    again = slice_metric(by_name, "perov5", "test", "heat_all", "regression", 5)
    assert again["n"] == 5 and again["value"] == pytest.approx(entry["slice"]["value"], abs=1e-6)
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice.cubic(4.0), ["Sr", "Ti", "O", "O", "O"], [[0, 0, 0], [0.5] * 3,
                  [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])  # fmt: skip
    assert np.allclose(by_name.predict([s]), by_path.predict([s]))
    # CLI: listed, and usable with --model
    md = tmp_path / "pretrained.md"
    out = CliRunner().invoke(app, ["models", "--markdown", str(md)])
    assert out.exit_code == 0 and "tiny-heat_all" in out.output
    row = next(line for line in md.read_text().splitlines() if "tiny-heat_all" in line)
    assert "| 0.038 | 0.047 |" in row and f"{entry['test']['mae']:.3g}" in row
    folder = tmp_path / "cifs"
    folder.mkdir()
    (folder / "srtio3.cif").write_text(s.to(fmt="cif"))
    p = tmp_path / "p.csv"
    res = CliRunner().invoke(
        app, ["predict", "--model", "tiny-heat_all", str(folder), "-o", str(p)]
    )
    assert res.exit_code == 0, res.output
    with p.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and float(rows[0]["prediction"]) == pytest.approx(
        float(by_path.predict([s])[0]), abs=1e-5
    )
    # a tampered file is refused, with one clear line
    (root / "tiny-heat_all.pt").write_bytes((root / "tiny-heat_all.pt").read_bytes() + b"x")
    with pytest.raises(ValueError, match="checksum"):
        pretrained_path("tiny-heat_all", root)
    res = CliRunner().invoke(app, ["predict", "--model", "nonexistent-model", str(folder)])
    assert res.exit_code == 2 and "ecn models" in res.output


@pytest.mark.skipif(not SHIPPED, reason="no pretrained models shipped in this tree")
@pytest.mark.parametrize("entry", SHIPPED, ids=[m["name"] for m in SHIPPED])
def test_shipped_model_reproduces_its_card(entry, shared_data_dir):
    path = pretrained_path(entry["name"])  # verifies the checksum
    assert path.stat().st_size < 10e6  # small enough for the wheel
    model = ecn.load_model(entry["name"])
    sl = entry["slice"]
    try:
        got = slice_metric(model, entry["dataset"], sl["split"], entry["target"], entry["task"],
                           sl["n"], sl.get("ids"))  # fmt: skip
    except (FileNotFoundError, ValueError) as exc:
        pytest.skip(f"{entry['dataset']} data not available: {exc}")
    assert got["n"] == sl["n"]
    assert got["value"] == pytest.approx(sl["value"], abs=1e-4)
    assert (pretrained.PRETRAINED_DIR / entry["card"]).is_file()


def test_markdown_reports_classifiers_as_the_paper_does() -> None:
    """is_metal: ROC-AUC, per-class recall and precision; the paper's Table 1 "precision" is a
    per-class recall in its code, so it is shown as one."""
    from ecn.experiments.pretrained_report import _metric, paper_numbers

    assert paper_numbers("mp", "is_metal")["ECN-SΛ"] == "recall metal 79.8% / non-metal 83.2%"
    assert paper_numbers("mp", "e_form") == {"ECN-SΛ": "0.046", "CGCNN": "0.048"}
    text = _metric({"roc_auc": 0.91234, "precision_1": 0.8, "precision_0": 0.855, "n": 3})
    assert text == "ROC-AUC 0.912; precision metal 80.0% / non-metal 85.5%"
    test = {
        "roc_auc": 0.9,
        "recall_1": 0.7,
        "recall_0": 0.95,
        "precision_1": 0.8,
        "precision_0": 0.9,
    }
    assert _metric(test) == (
        "ROC-AUC 0.9; recall metal 70.0% / non-metal 95.0%; precision metal 80.0% / non-metal 90.0%"
    )
    assert _metric({"mae": 0.09232, "rmse": 0.13}) == "MAE 0.0923"


def test_measured_cgcnn_reads_our_tables(tmp_path: Path) -> None:
    """The "CGCNN here" column is the recorded CGCNN row of our own table for that target: a
    seed spread for Perov-5, pending or blank where no run finished, nothing for other data."""
    from ecn.experiments.pretrained_report import measured_cgcnn

    assert measured_cgcnn(tmp_path, "perov5", "heat_all") == ""  # no table written yet
    row = {"metric": "mae", "test_values": [0.07, 0.08], "mean": 0.075, "std": 0.007,
           "stopped_by": ["early_stopping", "time_budget"]}  # fmt: skip
    (tmp_path / "table2").mkdir()  # results/table2/table2.json, results/table1/table1.json
    (tmp_path / "table2" / "table2.json").write_text(json.dumps({"rows": {"CGCNN": row}}))
    text = measured_cgcnn(tmp_path, "perov5", "heat_all")
    assert text == "MAE 0.0750 ± 0.0070 (2 seeds), early_stopping, time_budget"
    assert measured_cgcnn(tmp_path, "perov5", "band_gap") == ""
    auc = {**row, "metric": "roc_auc", "test_values": [0.93], "mean": 0.93, "std": None}
    t1 = {"is_metal": {"rows": {"CGCNN": auc}}, "e_form": {"rows": {}, "pending": {"CGCNN": "x"}}}
    (tmp_path / "table1").mkdir()
    (tmp_path / "table1" / "table1.json").write_text(json.dumps(t1))
    assert measured_cgcnn(tmp_path, "mp", "is_metal").startswith("ROC-AUC 0.9300 (1 seed),")
    assert measured_cgcnn(tmp_path, "mp", "e_form") == "pending"
    assert measured_cgcnn(tmp_path, "mp", "band_gap") == ""


def test_readme_table_is_the_generated_one() -> None:
    """README's pretrained table comes from the cards (scripts/update_readme_pretrained.py)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "update_readme_pretrained.py"
    spec = importlib.util.spec_from_file_location("update_readme_pretrained", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = mod.README.read_text()
    assert mod.render(text) == text, "run: python scripts/update_readme_pretrained.py"


def test_package_note_goes_on_the_card(tiny_run, tmp_path, monkeypatch):
    root = tmp_path / "pretrained"
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", root)
    note = "ECN-P-1: the best run whose weights exist (ECN-SΛ's were not kept)"
    entry = package_model(tiny_run, "tiny-note", root=root, slice_n=3, note=note)
    assert entry["note"] == note
    assert f"- **Why this model:** {note}" in (root / "tiny-note.md").read_text()
    # control: without a note the card has no such line and the entry no key
    entry = package_model(tiny_run, "tiny-plain", root=root, slice_n=3)
    assert "note" not in entry and "Why this model" not in (root / "tiny-plain.md").read_text()


def test_continuity_table_pairs_a_replaced_model_with_its_before(tmp_path) -> None:
    """A shipped model with ``<name>-before.json`` beside its own shows before -> now; one
    without shows its numbers alone; a model with no report is left out."""
    import json

    from ecn.experiments.pretrained_report import continuity_table
    from ecn.inference.pretrained import list_models

    def report(name: str, displace: float, strain: float, jumps: int) -> None:
        summary = [
            {"kind": k, "eps": e, "max": v * e / 1e-3}
            for k, v in (("displace", displace), ("strain", strain))
            for e in (1e-4, 1e-3)
        ]
        rep = {"unit": "eV", "summary": summary, "n_jumps": jumps}
        (tmp_path / f"{name}.json").write_text(json.dumps(rep))

    a, b = [m["name"] for m in list_models()][:2]
    report(a, 0.002, 0.003, 0)
    report(f"{a}-before", 0.5, 0.25, 40)
    report(b, 0.1, 0.2, 7)
    rows = {r.split("|")[1].strip(" `"): r for r in continuity_table(tmp_path)[2:]}
    assert set(rows) == {a, b}
    assert "0.5 / 0.25 eV → 0.002 / 0.003 eV" in rows[a] and "| 40 → 0 |" in rows[a]
    assert "0.1 / 0.2 eV (not replaced)" in rows[b] and rows[b].endswith("| 7 |")
