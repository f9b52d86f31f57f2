"""The run record: one typed, versioned load/save of results.json + config.yaml + metrics.csv.

The committed run directories under ``results/`` (written before the record had a version
field) must keep loading; a record this ecn cannot read must fail with a line that says why.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ecn.train.config import TrainConfig
from ecn.train.record import (
    RECORD_VERSION,
    RESULTS_FILE,
    RunRecord,
    RunRecordError,
    RunResults,
    is_finished,
    keep_run,
    park_run,
    read_history,
    reference_result,
    unpark_run,
)
from train_helpers import write_record

RESULTS = Path(__file__).resolve().parents[2] / "results"
#: Every ecn run directory committed under results/ (reference implementations' runs, which
#: write their own results.json and no config.yaml, are not ecn records).
COMMITTED = sorted(
    p.parent for p in RESULTS.rglob(RESULTS_FILE) if (p.parent / "config.yaml").is_file()
)


@pytest.mark.skipif(not COMMITTED, reason="no run records committed under results/")
def test_every_committed_record_loads() -> None:
    """Old records have no version field: read as version 1, validated, typed."""
    for run in COMMITTED:
        rec = RunRecord.load(run)
        assert rec.results.record_version == 1, run
        assert isinstance(rec.config, TrainConfig)
        assert rec.results.metric("test") == rec.results.split_metrics("test")[rec.results.headline]
        assert rec.config.model.name == rec.results.model.name, run
    assert "record_version" not in json.loads((COMMITTED[0] / RESULTS_FILE).read_text())


@pytest.mark.skipif(not COMMITTED, reason="no run records committed under results/")
def test_pre_02_config_layout_is_migrated(tmp_path: Path) -> None:
    """Records written before ecn 0.2 kept group/width/layers beside the model name."""
    run = write_record(tmp_path / "old", {"mae": 0.1})
    (run / "config.yaml").write_text(
        "ecn_version: 0.1.0\nmodel:\n  name: ecn\n  group: p1\n  width: 64\n  layers: 4\n"
        "  node_level: false\n  kwargs: {}\n"
    )
    rec = RunRecord.load(run)
    assert rec.config.model.options == {"group": "p1", "width": 64, "layers": 4}
    assert rec.label == "ecn-p1"


def test_save_load_round_trip_writes_the_version(tmp_path: Path) -> None:
    run = write_record(
        tmp_path / "r",
        {"mae": 0.12, "rmse": float("nan")},
        options={"group": "slambda", "width": 8, "layers": 1},
        history="epoch,val_mae,elapsed_s\n0,0.3,1.5\n1,,3.0\n",
        epochs_run=2,
    )
    raw = json.loads((run / RESULTS_FILE).read_text())
    assert raw["record_version"] == RECORD_VERSION and raw["metrics"]["test"]["rmse"] is None
    rec = RunRecord.load(run)
    assert rec.results.metric("test", "mae") == 0.12 and rec.results.epochs_run == 2
    assert rec.config.model.options["width"] == 8 and rec.label == "ecn-slambda"
    hist = rec.history()
    assert list(hist["elapsed_s"]) == [1.5, 3.0] and hist["val_mae"].isna().tolist() == [
        False,
        True,
    ]
    kept = rec.archive(tmp_path / "kept")
    assert RunRecord.load(kept).results == rec.results
    assert not (kept / "model.pt").exists()


def test_keep_run_keeps_record_and_weights_once(tmp_path: Path) -> None:
    """The queues' keep step: record and model.pt copied when absent; a kept record is not
    overwritten by a rerun, and weights are added beside a record kept without them."""
    run = write_record(tmp_path / "run", {"mae": 0.1})
    kept = tmp_path / "kept" / "run"
    assert keep_run(tmp_path / "missing", kept) == [] and not kept.exists()
    assert keep_run(run, kept) == [kept]
    assert not (kept / "model.pt").exists()
    (run / "model.pt").write_bytes(b"weights")
    assert keep_run(run, kept) == [kept / "model.pt"]
    assert (kept / "model.pt").read_bytes() == b"weights"
    rerun = write_record(tmp_path / "rerun", {"mae": 0.2})
    (rerun / "model.pt").write_bytes(b"other")
    assert keep_run(rerun, kept) == []
    assert RunRecord.load(kept).results.metric("test", "mae") == 0.1
    assert (kept / "model.pt").read_bytes() == b"weights"


def test_park_keeps_only_unfinished_runs_and_unpark_never_overwrites(tmp_path: Path) -> None:
    """A finished run is kept by keep_run, not parked; a paused one (last.ckpt, no results.json)
    is parked with what resuming needs; unparking restores it, but never over this session's
    own last.ckpt."""
    finished = write_record(tmp_path / "finished", {"mae": 0.1})
    (finished / "last.ckpt").write_bytes(b"done")
    assert park_run(finished, tmp_path / "p1") == [] and not (tmp_path / "p1").exists()
    paused = tmp_path / "paused"
    paused.mkdir()
    for name, data in (("last.ckpt", b"epoch 7"), ("x.png", b"")):
        (paused / name).write_bytes(data)
    assert {p.name for p in park_run(paused, tmp_path / "park")} == {"last.ckpt"}
    new = tmp_path / "new"
    assert unpark_run(tmp_path / "park", new) and (new / "last.ckpt").read_bytes() == b"epoch 7"
    (new / "last.ckpt").write_bytes(b"epoch 9")  # this session got further: kept
    assert not unpark_run(tmp_path / "park", new)
    assert (new / "last.ckpt").read_bytes() == b"epoch 9"
    assert not unpark_run(tmp_path / "nothing", tmp_path / "other")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"record_version": RECORD_VERSION + 1}, "upgrade ecn"),
        ({"record_version": 0}, "bad record_version"),
        ({"task": None, "targets": None}, "missing"),
        ({"surprise": 1}, "unknown keys"),
    ],
)
def test_unreadable_record_is_refused_with_a_reason(
    tmp_path: Path, change: dict, message: str
) -> None:
    run = write_record(tmp_path / "r", {"mae": 0.1})
    raw = json.loads((run / RESULTS_FILE).read_text())
    raw.update(change)
    raw = {k: v for k, v in raw.items() if v is not None or k not in ("task", "targets")}
    (run / RESULTS_FILE).write_text(json.dumps(raw))
    with pytest.raises(RunRecordError, match=message):
        RunRecord.load(run)


def test_unfinished_or_foreign_directories_are_refused(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    assert not is_finished(run) and read_history(run).empty
    with pytest.raises(RunRecordError, match="not a finished run"):
        RunRecord.load(run)
    # a reference implementation's own results.json (scripts/megnet_reference.py)
    (run / RESULTS_FILE).write_text(json.dumps({"implementation": "matgl", "test_mae": 0.1}))
    (run / "config.yaml").write_text("{}\n")
    with pytest.raises(RunRecordError, match="not an ecn run record"):
        RunRecord.load(run)
    with pytest.raises(RunRecordError, match="no config.yaml"):
        shutil.copytree(run, tmp_path / "c")
        (tmp_path / "c" / "config.yaml").unlink()
        RunRecord.load(tmp_path / "c")


def test_reference_result_reads_a_reference_run_and_nothing_else(tmp_path: Path) -> None:
    """A reference implementation's run folder (its own results.json with an implementation
    key, no config.yaml) gives its dict; an ecn run, an unfinished folder or another JSON None."""
    ref = tmp_path / "ref"
    ref.mkdir()
    assert reference_result(ref) is None  # unfinished
    (ref / RESULTS_FILE).write_text(json.dumps({"implementation": "matgl", "test_mae": 0.1}))
    assert reference_result(ref) == {"implementation": "matgl", "test_mae": 0.1}
    (ref / RESULTS_FILE).write_text(json.dumps({"test_mae": 0.1}))
    assert reference_result(ref) is None
    ecn_run = write_record(tmp_path / "ecn", {"mae": 0.2})
    assert reference_result(ecn_run) is None and RunRecord.load(ecn_run).results.metric("test")


def test_results_type_lists_what_training_writes() -> None:
    """The typed fields are what ``train`` writes (``run._finish``): a key added there without
    the record would be refused on load (and logged at write time)."""
    import inspect

    from ecn.train import run

    src = inspect.getsource(run._finish)
    written = {
        line.strip().split('"')[1]
        for line in src.splitlines()
        if line.strip().startswith('"') and '":' in line and line.startswith('        "')
    }
    assert written and written <= set(RunResults.__dataclass_fields__)
