"""The README's main job: its config is valid and its example inputs exercise both outcomes."""

from __future__ import annotations

import pytest

from ecn.data.validate import BadInput, parse_cif
from ecn.experiments.quickstart import quickstart_config, write_example_cifs
from ecn.inference import read_inputs


def test_quickstart_config_is_valid(tmp_path):
    cfg = quickstart_config(str(tmp_path / "run"), epochs=2, progress=False)
    assert cfg.optim.epochs == 2
    assert cfg.data.dataset == "perov5" and cfg.model.options["group"] == "slambda"
    assert cfg.run.out == str(tmp_path / "run")


def test_example_cifs_round_trip_with_one_broken(tmp_path):
    paths = write_example_cifs(tmp_path / "cifs", n=3)
    items = read_inputs(paths)
    assert len(items) == 4 and not any(it.error for it in items)
    good = [it for it in items if "broken_example" not in it.source]
    assert len(good) == 3 and all(len(parse_cif(it.cif)) == 5 for it in good)
    (broken,) = [it for it in items if "broken_example" in it.source]
    with pytest.raises(BadInput):
        parse_cif(broken.cif)
