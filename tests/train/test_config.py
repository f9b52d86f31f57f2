"""Config schema: YAML overlay, unknown keys and wrong types are errors, CLI flags win."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecn.nn import model_options
from ecn.train.config import TrainConfig, config_from_dict, load_config, save_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_defaults_are_paper_recipe() -> None:
    cfg = TrainConfig()
    ecn_defaults = model_options(cfg.model.name)
    assert cfg.optim.lr == 1e-3 and ecn_defaults["width"] == 128 and ecn_defaults["layers"] == 6
    assert ecn_defaults["group"] == "slambda"


@pytest.mark.parametrize("name", ["perov5_slambda", "perov5_p1", "perov5_sn", "quick"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.data.dataset == "perov5" and cfg.data.targets == ["heat_all"]


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("mp_*.yaml")), ids=lambda p: p.stem)
def test_mp_configs_load_and_build_their_model(path: Path) -> None:
    # a typo in a model option of a long run's config must fail here, not after graph building
    import yaml

    from ecn.nn import ModelConfig, build_model

    source = (yaml.safe_load(path.read_text()).get("finetune") or {}).get("init_from")
    local = CONFIGS.parent / str(source)
    weights = local.is_file() or any((local / f).is_file() for f in ("model.pt", "last.ckpt"))
    if source and "/" in str(source) and not weights:
        # a fine-tune of a local run takes its architecture from that run's model file
        pytest.skip(f"{path.name} fine-tunes {source}, whose weights are not in this checkout")
    cfg = load_config(path)
    assert cfg.data.dataset == "mp"
    build_model(ModelConfig(cfg.model.name, 8, 4, options=dict(cfg.model.options)))


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("optim:\n  lr_patence: 3\n")
    with pytest.raises(ValueError, match="lr_patence"):
        load_config(tmp_path / "c.yaml")
    with pytest.raises(ValueError, match="unknown config key"):
        config_from_dict({"modle": {}})


def test_wrong_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="optim.epochs"):
        config_from_dict({"optim": {"epochs": "many"}})
    with pytest.raises(ValueError, match="run.progress_bar"):
        config_from_dict({"run": {"progress_bar": 1}})


def test_overrides_beat_yaml_and_none_keeps_yaml(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("optim: {lr: 0.01, epochs: 5}\nrun: {seed: 3}\n")
    cfg = load_config(tmp_path / "c.yaml", {"optim": {"epochs": 9, "lr": None}})
    assert cfg.optim.epochs == 9 and cfg.optim.lr == 0.01 and cfg.run.seed == 3


def test_limit_per_split_and_round_trip(tmp_path: Path) -> None:
    cfg = config_from_dict({"data": {"limit": {"train": 24, "val": 8}}})
    assert (cfg.data.limit_for("train"), cfg.data.limit_for("val"), cfg.data.limit_for("test")) == (
        24,
        8,
        None,
    )
    save_config(cfg, tmp_path / "config.yaml")
    assert "ecn_version" in (tmp_path / "config.yaml").read_text()
    assert load_config(tmp_path / "config.yaml") == cfg
    with pytest.raises(ValueError, match="data.limit keys"):
        config_from_dict({"data": {"limit": {"trian": 3}}})


def test_node_level_needs_node_target() -> None:
    with pytest.raises(ValueError, match="node_level"):
        config_from_dict({"model": {"node_level": True}})
