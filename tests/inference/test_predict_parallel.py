"""``ecn predict`` on many cores and many machines (issue 25 item 5): ``--workers N`` gives the
rows of one process, ``--shard K/N`` splits the inputs with no overlap and no gap, ``ecn merge``
joins the shards, and neither ``ecn`` nor a prediction imports Lightning.

Inputs are crafted here (tmp_path); the model is the shipped ``perov5-heat_all``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from ecn.cli import app
from ecn.inference.inputs import iter_inputs
from ecn.inference.parallel import parse_shard
from ecn.inference.predictor import Predictor

MODEL = "perov5-heat_all"


def _perovskite(a: float, b: str = "Ti", x: str = "O") -> Structure:
    return Structure(
        Lattice.cubic(a),
        ["Sr", b, x, x, x],
        [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )


def _predict(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, ["predict", MODEL, *args])
    return res.exit_code, res.stdout + res.stderr


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture()
def inputs(tmp_path: Path) -> list[str]:
    """Real perovskites (cubic, strained, two B sites), a broken file, a two-block CIF and a
    CSV of three rows: every kind of input unit."""
    folder = tmp_path / "in"
    folder.mkdir()
    for k, (a, b) in enumerate([(3.9, "Ti"), (4.0, "Zr"), (3.95, "Hf"), (3.85, "Ti"), (4.1, "Sn")]):
        (folder / f"c{k}.cif").write_text(_perovskite(a, b).to(fmt="cif"))
    strained = _perovskite(3.9).copy()
    strained.apply_strain([0.02, -0.01, 0.03])
    (folder / "strained.cif").write_text(strained.to(fmt="cif"))
    (folder / "broken.cif").write_text("data_x\n_cell_length_a 3.9\n")
    two = _perovskite(3.9).to(fmt="cif") + _perovskite(4.0, "Zr").to(fmt="cif")
    (folder / "two.cif").write_text(two.replace("data_SrTiO3", "data_A", 1))
    table = tmp_path / "table.csv"
    with table.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "cif"])
        for k, a in enumerate((3.8, 3.9, 4.0)):
            w.writerow([f"row{k}", _perovskite(a).to(fmt="cif")])
    return [str(folder), str(table)]


def test_parse_shard():
    assert parse_shard("1/1") == (1, 1) and parse_shard("3/10") == (3, 10)
    assert parse_shard(None) is None
    for bad in ("0/3", "4/3", "3", "a/b", "1/0", "-1/2"):
        with pytest.raises(ValueError, match="K/N"):
            parse_shard(bad)


def test_shards_cover_every_input_once(inputs: list[str]):
    whole = [it.id for it in iter_inputs(inputs)]
    assert len(whole) == 12 and len(set(whole)) == 12  # 8 files, 2 blocks in one, 3 CSV rows
    for n in (1, 2, 3, 5, 11, 20):
        parts = [[it.id for it in iter_inputs(inputs, shard=(k, n))] for k in range(1, n + 1)]
        assert [i for p in parts for i in p] == whole, n  # no gap, no overlap, input order
        assert sum(len(p) for p in parts) == len(set().union(*map(set, parts)))
        assert max(map(len, parts)) - min(map(len, parts)) <= 2  # 11 units, one of 2 blocks
    # negative control: a shard alone is not the whole
    assert [it.id for it in iter_inputs(inputs, shard=(1, 2))] != whole


def test_workers_give_the_rows_of_one_process(inputs: list[str], tmp_path: Path):
    one, two = tmp_path / "w1.csv", tmp_path / "w2.csv"
    code, text = _predict(*inputs, "-o", str(one), "--batch-size", "4")
    assert code == 0, text
    code, text = _predict(*inputs, "-o", str(two), "--batch-size", "4", "--workers", "2")
    assert code == 0, text
    assert one.read_bytes() == two.read_bytes()
    rows = _rows(two)
    assert len(rows) == 12 and sum(bool(r["error"]) for r in rows) == 1
    assert next(r for r in rows if r["id"] == "broken")["error"]
    # the rows are real predictions that depend on the input (negative control)
    assert len({r["prediction"] for r in rows if not r["error"]}) > 5


def test_interrupt_with_workers_keeps_rows_for_resume(inputs: list[str], tmp_path, monkeypatch):
    out = tmp_path / "p.csv"
    real = Predictor.predict_prepared
    calls: list[int] = []

    def interrupted(self, items, *a, **k):
        calls.append(len(items))
        if sum(1 for c in calls if c) == 2:  # the second batch (an empty call checks options)
            raise KeyboardInterrupt
        return real(self, items, *a, **k)

    monkeypatch.setattr(Predictor, "predict_prepared", interrupted)
    code, text = _predict(*inputs, "-o", str(out), "--batch-size", "4", "-j", "2")
    assert code == 130 and "--resume" in text
    partial = tmp_path / "p.csv.partial"
    assert len(_rows(partial)) == 4 and not out.exists()
    monkeypatch.setattr(Predictor, "predict_prepared", real)
    code, text = _predict(*inputs, "-o", str(out), "--resume", "-j", "2")
    assert code == 0, text
    assert [r["id"] for r in _rows(out)] == [it.id for it in iter_inputs(inputs)]


def test_merge_joins_shards_and_refuses_mixed_outputs(inputs: list[str], tmp_path: Path):
    parts = [tmp_path / f"s{k}.csv" for k in (1, 2, 3)]
    for k, part in enumerate(parts, start=1):
        code, text = _predict(*inputs, "-o", str(part), "--shard", f"{k}/3")
        assert code == 0, text
    merged = tmp_path / "all.csv"
    res = CliRunner().invoke(app, ["merge", *map(str, parts), "--out", str(merged)])
    assert res.exit_code == 0, res.output
    assert [r["id"] for r in _rows(merged)] == [it.id for it in iter_inputs(inputs)]
    # a shard given twice: duplicate ids, refused, nothing written
    dup = tmp_path / "dup.csv"
    res = CliRunner().invoke(app, ["merge", str(parts[0]), str(parts[0]), "--out", str(dup)])
    assert res.exit_code == 2 and "twice" in res.output and not dup.exists()
    # another model's (or averaging mode's) columns: refused
    other = tmp_path / "other.csv"
    other.write_text("id,source,prediction,spread,error\nzz,zz.cif,1.0,0,\n")
    res = CliRunner().invoke(app, ["merge", str(parts[0]), str(other), "--out", str(dup)])
    assert res.exit_code == 2 and "columns" in res.output and not dup.exists()


def test_cli_and_prediction_do_not_import_lightning(inputs: list[str], tmp_path: Path):
    """Structural check of the fast start: ``import ecn.cli`` loads neither torch nor Lightning,
    and a whole prediction never loads Lightning (nor the training layer)."""
    code = f"""
import json, sys
import ecn.cli
after_import = sorted(m for m in ("torch", "lightning", "pymatgen") if m in sys.modules)
from ecn.cli import app
try:
    app(["predict", "{MODEL}", "{Path(inputs[0]) / "c0.cif"}", "-o", "{tmp_path / "x.csv"}"],
        standalone_mode=False)
finally:
    heavy = ("lightning", "lightning.pytorch", "ecn.train", "ecn.experiments", "matplotlib")
    print(json.dumps({{"import": after_import, "predict": [m for m in heavy if m in sys.modules],
                      "torch": "torch" in sys.modules}}))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seen = json.loads(res.stdout.strip().splitlines()[-1])
    assert seen["import"] == [] and seen["predict"] == []
    assert seen["torch"]  # negative control: the prediction did run the model
    assert _rows(tmp_path / "x.csv")[0]["prediction"]


class _KillsItsWorker:
    """Unpickled in a worker, it ends that process at once (as a segfault in a C parser would)."""

    def __reduce__(self):
        return (os._exit, (3,))


def test_a_dying_worker_costs_one_error_row(inputs: list[str]):
    from ecn.inference.inputs import InputItem
    from ecn.inference.parallel import iter_rows

    predictor = Predictor.load(MODEL)
    good = list(iter_inputs([str(Path(inputs[0]) / f"c{k}.cif") for k in range(3)]))
    killer = InputItem("killer", "crafted", structure=_KillsItsWorker())
    items = [good[0], killer, good[1], good[2]]
    batches = list(iter_rows(predictor, iter(items), batch_size=2, workers=2))
    rows = [r for b in batches for r in b]
    assert [r["id"] for r in rows] == ["c0", "killer", "c1", "c2"]
    assert "worker process died" in rows[1]["error"] and not rows[1]["prediction"]
    assert all(r["prediction"] and not r["error"] for r in (rows[0], rows[2], rows[3]))
    # the good inputs get the predictions of one process (other batches: float rounding only)
    alone = [float(r["prediction"]) for r in predictor.predict_items(good)]
    assert alone == pytest.approx([float(rows[k]["prediction"]) for k in (0, 2, 3)], rel=1e-5)
