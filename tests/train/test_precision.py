"""Training precision: the flag / YAML key, ``auto`` resolved per device, fp32 model files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from ecn.train.config import config_from_dict, load_config
from ecn.train.precision import cpu_has_native_bf16, resolve_precision
from ecn.train.run import resolve_config, train
from train_helpers import tiny_overrides


def test_precision_values_and_aliases() -> None:
    assert config_from_dict({}).run.precision == "auto"
    for raw, want in [(32, "32"), ("32", "32"), ("bf16", "bf16-mixed"), ("16-mixed", "16-mixed")]:
        assert config_from_dict({"run": {"precision": raw}}).run.precision == want
    with pytest.raises(ValueError, match="run.precision"):
        config_from_dict({"run": {"precision": "fp8"}})


def test_yaml_precision_32_is_read(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("run:\n  precision: 32\n")
    assert load_config(tmp_path / "c.yaml").run.precision == "32"


def test_cpu_bf16_detection_reads_cpu_flags(tmp_path: Path) -> None:
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_tile amx_bf16\n")
    avx2 = tmp_path / "avx2"
    avx2.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 fma\n")
    assert cpu_has_native_bf16(amx) and not cpu_has_native_bf16(avx2)


def test_auto_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    import ecn.train.precision as prec

    assert resolve_precision("bf16-mixed", "cpu") == ("bf16-mixed", "requested")
    with pytest.raises(ValueError, match="16-mixed needs a CUDA"):
        resolve_precision("16-mixed", "cpu")
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", "cpu")[0] == "bf16-mixed"
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", "cpu")[0] == "32"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "gpu")[0] == "bf16-mixed"
    assert resolve_precision("auto", "auto")[0] == "bf16-mixed"
    assert resolve_precision("16-mixed", "gpu") == ("16-mixed", "requested")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "cuda")[0] == "32"


def test_resolved_config_has_no_auto(tiny_perov5: Path, tmp_path: Path) -> None:
    cfg, _ = resolve_config(config_from_dict(tiny_overrides(tiny_perov5, tmp_path / "r")))
    assert cfg.run.precision in ("32", "bf16-mixed")
    assert cfg.run.precision == resolve_precision("auto", "cpu")[0]


PEROVSKITE = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]


def test_bf16_run_records_precision_and_writes_fp32_model(tiny_perov5: Path, tmp_path: Path):
    out = tmp_path / "bf16"
    over = tiny_overrides(tiny_perov5, out, run={"precision": "bf16-mixed"}, optim={"epochs": 1})
    train(config_from_dict(over))
    assert yaml.safe_load((out / "config.yaml").read_text())["run"]["precision"] == "bf16-mixed"
    res = json.loads((out / "results.json").read_text())
    assert res["precision"] == {"train": "bf16-mixed", "evaluation": "32"}
    assert res["metrics"]["test"]["mae"] > 0
    state = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    floats = [
        v.dtype
        for v in state["model"]["state_dict"].values()
        if torch.is_tensor(v) and v.is_floating_point()
    ]
    assert floats and set(floats) == {torch.float32}
    # validation during bf16 training runs in float32, like the final evaluation: early stopping
    # and the best checkpoint go by the number results.json reports
    assert res["best_val_logged"] == pytest.approx(res["metrics"]["val"]["mae"], abs=1e-6)
    # negative control: the same model under bf16 autocast gives other numbers
    from pymatgen.core import Lattice, Structure

    from ecn.inference.predictor import Predictor

    pred = Predictor.load(out / "model.pt")
    g = pred.graph(Structure(Lattice.cubic(3.9), ["Sr", "Ti", "O", "O", "O"], PEROVSKITE))
    with torch.no_grad():
        fp32 = pred.model(g)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = pred.model(g)
    assert not torch.allclose(fp32, bf16.float(), rtol=0, atol=1e-6)


def test_flush_subnormals_flushes_inside_and_restores_after() -> None:
    """Inside the block a subnormal product is 0; after it, the caller's mode is back (both
    modes), so training in a notebook does not change the user's arithmetic."""
    from ecn.train.precision import flush_subnormals

    def product() -> float:
        return (torch.tensor([1e-30]) * torch.tensor([1e-10])).item()

    for before in (False, True):
        torch.set_flush_denormal(before)
        with flush_subnormals():
            assert product() == 0.0
        assert (product() == 0.0) is before
    torch.set_flush_denormal(False)
    assert product() > 0.0  # negative control: a real subnormal when not flushing
