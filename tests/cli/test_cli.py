"""The CLI is a thin shell: exit codes, files written, one-line errors. Text assertions only on
words we print ourselves, on one line, never on rich's wrapping or on temp paths."""

from __future__ import annotations

from typer.testing import CliRunner

from ecn.cli import app
from ecn.cli.common import console
from ecn.cli.train import cli_overrides, parse_options

runner = CliRunner()


def test_bad_split_is_one_clear_error():
    res = runner.invoke(app, ["data", "build", "perov5", "--split", "nope"])
    assert res.exit_code == 2
    assert "error:" in res.output and "nope" in res.output


def test_unknown_graph_setting_and_bad_option_are_errors():
    assert parse_options(["width=64", "group=p1", "cutoff=4.5"]) == {
        "width": 64,
        "group": "p1",
        "cutoff": 4.5,
    }
    res = runner.invoke(app, ["train", "--option", "width"])
    assert res.exit_code == 2 and "KEY=VALUE" in res.output


def test_train_flags_map_onto_config_sections():
    flags = dict.fromkeys(
        "dataset target data_path model group width layers option graph_strategy cutoff "
        "node_features cell_onehot supercell hubbard_u node_level node_target epochs batch_size "
        "lr patience seed out limit time_budget devices strategy accelerator num_workers "
        "progress threads".split()
    )
    flags.update(group="p1", cutoff=4.0, cell_onehot=False, option=["n_conv=4"], strategy="ddp")
    over = cli_overrides(**flags)
    assert over["model"]["options"] == {"group": "p1", "width": None, "layers": None, "n_conv": 4}
    assert over["graph"]["cutoff"] == 4.0 and over["graph"]["cell_onehot"] is False
    assert over["run"]["strategy"] == "ddp"  # Lightning's strategy, not the graph's


def test_console_keeps_split_names_literal():
    """'mp/random:train: 5 graphs' once printed as 'mp/random🚋 5 graphs' (rich emoji codes)."""
    with console.capture() as cap:
        console.print("mp/random:train: 5 graphs")
    assert "random:train: 5" in cap.get()


def test_train_logs_every_line_once_without_banners(tiny_perov5, tmp_path):
    """A real `ecn train` process: each log line once (Lightning's own handler used to repeat
    every INFO line), no third-party tips or banners."""
    import json
    import subprocess
    import sys
    from collections import Counter

    from train_helpers import tiny_cli_args

    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "ecn.cli", *tiny_cli_args(tiny_perov5, out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    repeated = {ln: n for ln, n in Counter(lines).items() if n > 1}
    assert not repeated, repeated
    assert not any("litlogger" in ln or "Tip:" in ln or "LeafSpec" in ln for ln in lines), lines
    assert any(ln.startswith("INFO ecn.train.run: run written to") for ln in lines), lines
    assert json.loads((out / "results.json").read_text())["metrics"]["test"]["mae"] > 0
