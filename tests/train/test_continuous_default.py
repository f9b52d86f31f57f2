"""``model.continuous`` (issue 26): the smoothing options that make ECN-SΛ continuous on each
graph, filled in by ``ecn train`` without a config file, and nowhere else (a config file, a
resumed run and the paper's tables keep the options they state)."""

from __future__ import annotations

import pytest
import yaml

from ecn.nn import SMOOTHING_OPTIONS, continuous_options
from ecn.train.config import config_from_dict
from ecn.train.run import resolve_config, with_continuous_options


def _cfg(dataset: str = "perov5", continuous: str = "auto", **model):
    model.setdefault("name", "ecn")
    model.setdefault("options", {"group": "slambda"})
    return config_from_dict(
        {"data": {"dataset": dataset}, "model": {**model, "continuous": continuous}}
    )


def test_each_graph_gets_the_shipped_models_smoothing():
    perov5 = with_continuous_options(_cfg("perov5")).model  # 5 Å radius graph
    assert perov5.continuous == "on"
    assert perov5.options == {"group": "slambda", "envelope": "poly", "cell_colors": "soft"}
    mp = with_continuous_options(_cfg("mp")).model  # Voronoi + Cordero radii
    assert mp.options["envelope"] == "band" and mp.options["face_area"] == 0.5
    assert mp.options["cell_colors"] == "soft" and mp.continuous == "on"


@pytest.mark.parametrize(
    ("model", "graph"),
    [
        ({"options": {"group": "p1"}}, {}),  # parity colours have no soft version
        ({"name": "cgcnn", "options": {}}, {}),
        ({}, {"max_neighbors": 12, "cutoff": 8.0}),  # a k-cap switches edges
        ({}, {"supercell": True, "cell_onehot": True}),  # soft colours: unit cell only
    ],
)
def test_no_continuous_setting_is_off_under_auto_and_an_error_under_on(model, graph):
    raw = {"data": {"dataset": "perov5"}, "graph": graph, "model": {"continuous": "auto", **model}}
    cfg = with_continuous_options(config_from_dict(raw))
    assert cfg.model.continuous == "off"
    assert not set(cfg.model.options) & set(SMOOTHING_OPTIONS)
    raw["model"]["continuous"] = "on"
    with pytest.raises(ValueError, match="continuous: on"):
        with_continuous_options(config_from_dict(raw))


def test_options_set_win_and_the_record_says_off_when_they_undo_it():
    cfg = with_continuous_options(
        _cfg(options={"group": "slambda", "envelope": "none", "cell_colors": "hard"})
    )
    assert cfg.model.options["envelope"] == "none" and cfg.model.continuous == "off"
    cosine = with_continuous_options(_cfg(options={"group": "slambda", "envelope": "cosine"}))
    assert cosine.model.options["envelope"] == "cosine" and cosine.model.continuous == "off"


def test_a_config_without_the_key_is_the_paper_model():
    """Config files and the config.yaml of older runs have no ``continuous``: they mean what
    they meant when written (a resumed run must not change its function)."""
    resolved, _ = resolve_config(config_from_dict({"data": {"dataset": "mp"}}))
    assert resolved.model.continuous == "off"
    assert resolved.model.options["envelope"] == "none"
    assert resolved.model.options["cell_colors"] == "hard"
    with pytest.raises(ValueError, match="model.continuous"):
        config_from_dict({"model": {"continuous": "yes"}})


def test_helper_matches_the_shipped_models():
    """The defaults are the settings the shipped models were trained with (their cards)."""
    from ecn.train.finetune import source_defaults

    for name in ("perov5-heat_all", "mp-e_form", "mp-e_fermi", "mp-band_gap"):
        src = source_defaults(name)
        opts, graph = src["model"]["options"], src["graph"]
        want = continuous_options(
            "slambda",
            graph["strategy"],
            max_neighbors=graph.get("max_neighbors"),
            neighbor_margin=graph.get("neighbor_margin", 0.0),
        )
        assert want is not None and {k: opts[k] for k in want} == want, name


def test_ecn_train_without_a_config_trains_the_continuous_model(tiny_perov5, tmp_path):
    """A real `ecn train`: config.yaml says what ran, and --continuous off is the paper's."""
    from typer.testing import CliRunner

    from ecn.cli import app
    from train_helpers import tiny_cli_args

    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(app, [*tiny_cli_args(tiny_perov5, out), "--epochs", "1"])
    assert res.exit_code == 0, res.output
    model = yaml.safe_load((out / "config.yaml").read_text())["model"]
    assert model["continuous"] == "on"
    assert model["options"]["envelope"] == "poly" and model["options"]["cell_colors"] == "soft"
    paper = tmp_path / "paper"
    args = [*tiny_cli_args(tiny_perov5, paper), "--epochs", "1", "--continuous", "off"]
    assert runner.invoke(app, args).exit_code == 0
    model = yaml.safe_load((paper / "config.yaml").read_text())["model"]
    assert model["continuous"] == "off" and model["options"]["cell_colors"] == "hard"
