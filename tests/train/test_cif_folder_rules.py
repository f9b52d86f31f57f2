"""Training on a CGCNN-convention folder explains itself (issue 25 item 6): the target column
is chosen by name or position, duplicate ids and non-numeric targets are rejected with the id
and the value, and the run folder keeps ``rejected.csv``. Every folder is crafted here."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from ecn.cli import app
from ecn.data import load_split
from ecn.data.cif_folder import resolve_targets
from train_helpers import tiny_cli_args


def _crystal(k: int) -> Structure:
    """CsCl-type cell with lattice parameter 4.0 + 0.05 k (distinct crystals, same shape)."""
    return Structure(Lattice.cubic(4.0 + 0.05 * k), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _folder(path: Path, lines: list[str], n: int = 12) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        (path / f"m{k}.cif").write_text(_crystal(k).to(fmt="cif"))
    (path / "id_prop.csv").write_text("\n".join(lines) + "\n")
    return path


def _rows(n: int = 12) -> list[str]:
    """id, target (5.0 + 0.05 k), an extra column (-k)."""
    return [f"m{k},{5.0 + 0.05 * k:.2f},{-k}" for k in range(n)]


def test_target_column_by_name_or_position(tmp_path):
    plain = _folder(tmp_path / "plain", _rows())
    assert resolve_targets(plain, []) == ["target"]  # column 1, whatever the width
    assert resolve_targets(plain, ["target"]) == ["target"]
    assert resolve_targets(plain, ["2"]) == ["target_2"]
    assert resolve_targets(plain, ["target_2", "1"]) == ["target_2", "target"]
    with pytest.raises(ValueError, match=r"no target column '3'.*1 target, 2 target_2"):
        resolve_targets(plain, ["3"])
    with pytest.raises(ValueError, match="no target column 'gap'"):
        resolve_targets(plain, ["gap"])
    named = _folder(tmp_path / "named", ["id,a0,minus", *_rows()])
    assert resolve_targets(named, []) == ["a0"]
    assert resolve_targets(named, ["target"]) == ["a0"]  # 'target' = column 1 when unnamed
    assert resolve_targets(named, ["2"]) == ["minus"]
    rows = load_split("cif", "all", path=str(plain), use_cache=False)
    assert rows.target_names == ("target", "target_2")
    assert rows.records[3].targets == {"target": 5.15, "target_2": -3.0}


def test_duplicates_and_non_numbers_are_rejected_with_id_and_value(tmp_path):
    lines = _rows()
    lines[2] = "m2,5.10,abc"  # text in the unselected column: the row is kept
    lines[4] = "m4,n/a?,-4"  # text in the selected column: rejected, the value quoted
    lines += ["m5,5.25,-5", "m6,9.99,-6"]  # m5 repeated as is; m6 with another target
    folder = _folder(tmp_path / "f", lines)
    loaded = load_split("cif", "all", path=str(folder), required=["target"], use_cache=False)
    why = {r.id: r.reason for r in loaded.rejected}
    assert why["m4"] == "target 'target' is not a number: 'n/a?'"
    assert "m2" not in why and "m2" in loaded.ids
    assert "same targets" in why["m5"] and loaded.ids.count("m5") == 1  # first kept
    six = [r.reason for r in loaded.rejected if r.id == "m6"]
    assert len(six) == 2 and "m6" not in loaded.ids  # neither value is trusted
    assert "target=5.3" in six[0] and "target=9.99" in six[0] and "none is used" in six[0]
    # negative control: selecting column 2 rejects m2 (its text) and keeps m4
    other = load_split("cif", "all", path=str(folder), required=["target_2"], use_cache=False)
    why2 = {r.id: r.reason for r in other.rejected}
    assert why2["m2"] == "target 'target_2' is not a number: 'abc'" and "m4" in other.ids


def test_training_run_keeps_rejected_csv(tmp_path):
    lines = _rows(12)
    lines[1] = "m1,oops,-1"
    lines += ["m3,7.0,-3"]  # a duplicate id with another value
    folder = _folder(tmp_path / "f", ["id,a0,minus", *lines])
    run = tmp_path / "run"
    args = tiny_cli_args(folder, run)
    args[args.index("--dataset") + 1] = "cif"
    args[args.index("--target") + 1] = "1"  # by position: column 1 = a0
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    with (run / "rejected.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    reasons = {(r["id"], r["reason"]) for r in rows}
    assert ("m1", "target 'a0' is not a number: 'oops'") in reasons
    assert sum(r["id"] == "m3" and "different targets" in r["reason"] for r in rows) == 2
    assert {r["split"] for r in rows} <= {"train", "val", "test"}
    assert (
        "targets:\n  - a0" in (run / "config.yaml").read_text()
        or "a0" in (run / "results.json").read_text()
    )


def test_unusable_split_says_why(tmp_path):
    folder = _folder(tmp_path / "f", ["id,a0", *(f"m{k},x{k}" for k in range(12))])
    run = tmp_path / "run"
    args = tiny_cli_args(folder, run)
    args[args.index("--dataset") + 1] = "cif"
    k = args.index("--target")
    del args[k : k + 2]
    res = CliRunner().invoke(app, args)
    assert res.exit_code != 0
    assert "no usable structures" in res.output and "is not a number: 'x" in res.output
