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
