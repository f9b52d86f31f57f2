"""Fine-tuning (``ecn train --init-from``): weights loaded, head kept (rescaled) or re-initialised,
incompatible sources refused with a clear message, frozen parts left out of the optimiser.

Models are built in code on small real crystals; one end-to-end run fine-tunes a tiny trained
model on the real Perov-5 slice (skipped without the shared data)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import yaml
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from ecn.cli import app
from ecn.data.checksums import sha256_file
from ecn.graphs import build_graph
from ecn.graphs.graph import collate
from ecn.inference import PropertyModel, TargetInfo, load_model_file, save_model_file
from ecn.nn import MODELS, ModelConfig, finetune_parts
from ecn.nn.graph_settings import resolve_graph_settings
from ecn.train.finetune import initialise, param_groups
from ecn.train.module import TrainingModule
from train_helpers import tiny_cli_args

HEAT = TargetInfo(("heat_all",), ("eV/cell",), "regression", (1.5,), (0.75,))


def _crystals() -> list[Structure]:
    return [
        Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        Structure(
            Lattice.cubic(4.0),
            ["Ba", "Ti", "O", "O", "O"],
            [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        ),
    ]


def _build(name: str, targets: TargetInfo, seed: int, **options) -> tuple[PropertyModel, object]:
    settings = resolve_graph_settings(name, "perov5")
    g = build_graph(_crystals()[0], settings)
    opts = {"group": "slambda", "width": 8, "layers": 2} if name == "ecn" else {}
    opts.update(options)
    cfg = ModelConfig(name, g.x.shape[1], g.edge_attr.shape[1], targets.out_dim, False, opts)
    torch.manual_seed(seed)
    return PropertyModel.build(cfg, targets), settings


def _source(tmp_path: Path, name: str = "ecn") -> tuple[PropertyModel, object, Path]:
    src, settings = _build(name, HEAT, seed=0)
    return src.eval(), settings, save_model_file(tmp_path / "src.pt", src, settings)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_kept_head_starts_where_the_source_is(name: str, tmp_path: Path) -> None:
    """Same target, new standardisation: every weight is the source's, and the rescaled head
    predicts exactly the source's values in eV, although the raw outputs differ."""
    src, settings, path = _source(tmp_path, name)
    new = dataclasses.replace(HEAT, mean=(0.3,), std=(2.0,))
    dst, _ = _build(name, new, seed=1)
    record = initialise(dst, settings, str(path), "auto")
    assert record["head_reset"] is False and record["sha256"] == sha256_file(path)
    head = set(finetune_parts(dst.model)["head"])
    sd, dd = src.model.state_dict(), dst.model.state_dict()
    assert all(torch.equal(sd[k], dd[k]) for k in sd if k not in head)
    g = collate([build_graph(s, settings) for s in _crystals()])
    with torch.no_grad():
        torch.testing.assert_close(dst.eval().predict_batch(g), src.predict_batch(g))
        assert not torch.allclose(dst(g), src(g))  # control: the raw head did change


@pytest.mark.parametrize("name", sorted(MODELS))
def test_head_reinitialised_when_the_target_differs(name: str, tmp_path: Path) -> None:
    src, settings, path = _source(tmp_path, name)
    gap = TargetInfo(("band_gap",), ("eV",), "regression", (1.0,), (1.3,))
    dst, _ = _build(name, gap, seed=1)
    fresh = {k: v.clone() for k, v in dst.model.state_dict().items()}
    assert initialise(dst, settings, str(path), "auto")["head_reset"] is True
    head = set(finetune_parts(dst.model)["head"])
    assert head
    sd, dd = src.model.state_dict(), dst.model.state_dict()
    for k in dd:
        assert torch.equal(dd[k], fresh[k] if k in head else sd[k]), k
    assert any(not torch.equal(dd[k], sd[k]) for k in head)  # control: fresh is not the source


def test_incompatible_sources_are_refused_with_the_difference(tmp_path: Path) -> None:
    _, settings, path = _source(tmp_path)
    wide, _ = _build("ecn", HEAT, seed=1, width=16)
    with pytest.raises(ValueError, match=r"option width: source 8, this run 16"):
        initialise(wide, settings, str(path), "auto")
    same, _ = _build("ecn", HEAT, seed=1)
    other = dataclasses.replace(settings, cutoff=settings.cutoff + 1.0)
    with pytest.raises(ValueError, match=r"graph cutoff"):
        initialise(same, other, str(path), "auto")
    two = TargetInfo(("a", "b"), ("eV", "eV"), "regression", (0.0, 0.0), (1.0, 1.0))
    dst, _ = _build("ecn", two, seed=1)
    with pytest.raises(ValueError, match=r"head=keep"):
        initialise(dst, settings, str(path), "keep")


def test_frozen_parts_and_learning_rates(tmp_path: Path) -> None:
    _, settings, _ = _source(tmp_path)
    src, _ = _build("ecn", HEAT, seed=0)
    ft = {
        "freeze_embedding": True,
        "freeze_layers": 1,
        "pretrained_lr": 1e-4,
        "source": {"head_reset": True},
    }
    module = TrainingModule(
        model=src.model.config.to_dict(),
        targets=HEAT.to_dict(),
        graph_settings=dataclasses.asdict(settings),
        optim={"lr": 2e-3},
        finetune=ft,
    )
    parts = finetune_parts(module.net.model)
    frozen = set(parts["embedding"]) | set(parts["layers"][0])
    opt = module.configure_optimizers()["optimizer"]
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in opt.param_groups}
    names = {id(p): n for n, p in module.net.model.named_parameters()}
    assert sorted(by_lr) == [1e-4, 2e-3]
    assert {names[i] for i in by_lr[2e-3]} == set(parts["head"])
    loaded = {names[i] for i in by_lr[1e-4]}
    assert loaded.isdisjoint(frozen) and loaded.isdisjoint(parts["head"])
    assert loaded | frozen | set(parts["head"]) == set(names.values())
    assert all(p.requires_grad == (n not in frozen) for n, p in module.net.model.named_parameters())
    with pytest.raises(ValueError, match="freeze_layers=5"):
        param_groups(module.net.model, {**ft, "freeze_layers": 5}, 1e-3)


def test_finetune_run_end_to_end(tiny_perov5: Path, tmp_path: Path) -> None:
    """Train a tiny source, fine-tune it with the first layer frozen: the config and results say
    where it started (checksum), frozen weights are the source's, the others moved."""
    runner = CliRunner()
    src_run = tmp_path / "src"
    assert runner.invoke(app, tiny_cli_args(tiny_perov5, src_run)).exit_code == 0
    src_file = src_run / "model.pt"
    out = tmp_path / "ft"
    args = [
        "train",
        "--dataset",
        "perov5",
        "--data-path",
        str(tiny_perov5),
        "--init-from",
        str(src_file),
        "--freeze-embedding",
        "--freeze-layers",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--out",
        str(out),
        "--no-progress",
        "--threads",
        "1",
        "--accelerator",
        "cpu",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["model"]["options"]["width"] == 16  # the source's architecture, not the default
    assert cfg["finetune"]["source"]["sha256"] == sha256_file(src_file)
    assert json.loads((out / "results.json").read_text())["init_from"]["head_reset"] is False
    a, _, _ = load_model_file(src_file)
    b, _, _ = load_model_file(out / "model.pt")
    parts = finetune_parts(b.model)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    for k in parts["embedding"] + parts["layers"][0]:
        assert torch.equal(sa[k], sb[k]), k
    assert any(not torch.equal(sa[k], sb[k]) for k in parts["layers"][1])
    at = args.index("--out")
    bad = [*args[:at], "--option", "width=32", "--out", str(tmp_path / "bad"), *args[at + 2 :]]
    res = runner.invoke(app, bad)
    assert res.exit_code == 2 and "option width" in res.output


def test_finetune_run_resumes_with_its_parameter_groups(tiny_perov5: Path, tmp_path: Path) -> None:
    """A fine-tuning run with a re-initialised head (two parameter groups) resumes from
    last.ckpt, also when the caller rebuilds the config without the source record (a queue)."""
    from ecn.train.config import load_config
    from ecn.train.run import train

    runner = CliRunner()
    src_run = tmp_path / "src"
    assert runner.invoke(app, tiny_cli_args(tiny_perov5, src_run)).exit_code == 0
    out = tmp_path / "ft"
    raw = {
        "data": {"dataset": "perov5", "path": str(tiny_perov5), "targets": ["heat_all"]},
        "optim": {"epochs": 1, "batch_size": 8},
        "run": {"out": str(out), "threads": 1, "accelerator": "cpu", "progress_bar": False},
        "finetune": {"init_from": str(src_run / "model.pt"), "head": "reset"},
    }
    train(load_config(None, raw))
    assert (out / "results.json").is_file()
    raw["optim"]["epochs"] = 2
    train(load_config(None, raw), resume=True)  # fresh config: no source record in it
    res = json.loads((out / "results.json").read_text())
    assert res["epochs_run"] == 2 and res["init_from"]["head_reset"] is True
    assert yaml.safe_load((out / "config.yaml").read_text())["finetune"]["source"]
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "last.ckpt").write_bytes((out / "last.ckpt").read_bytes())
    raw["run"]["out"] = str(tmp_path / "bare")
    with pytest.raises(ValueError, match="does not record where the fine-tuning started"):
        train(load_config(None, raw), resume=True)


def test_a_paper_model_fine_tunes_into_a_continuous_one(tmp_path: Path) -> None:
    """The smoothing options (envelope, face weight, soft cell colours) may differ from the
    source: every weight is copied, the change is recorded, and the function changes (control);
    any other option still refuses."""
    src, settings, path = _source(tmp_path)
    smooth = {"envelope": "band", "envelope_width": 0.5, "face_area": 0.5, "cell_colors": "soft"}
    dst, _ = _build("ecn", HEAT, seed=1, **smooth)
    record = initialise(dst, settings, str(path), "auto")
    assert record["changed_options"]["cell_colors"] == ["hard", "soft"]
    assert record["changed_options"]["envelope"] == ["none", "band"]
    sd, dd = src.model.state_dict(), dst.model.state_dict()
    assert sd.keys() == dd.keys() and all(torch.equal(sd[k], dd[k]) for k in sd)
    g = collate([build_graph(s, settings) for s in _crystals()])
    with torch.no_grad():
        assert not torch.allclose(dst.eval().predict_batch(g), src.predict_batch(g))
    wide, _ = _build("ecn", HEAT, seed=1, width=16, **smooth)
    with pytest.raises(ValueError, match=r"option width") as err:
        initialise(wide, settings, str(path), "auto")
    assert "envelope" not in str(err.value)


def test_init_from_an_ensemble_starts_from_its_first_member() -> None:
    """Shipped ensembles (mp-e_form) are valid --init-from sources: member 0's weights."""
    from ecn.inference.model_file import load_any_model_file
    from ecn.train.finetune import _source_model, source_defaults

    ens, _, _ = load_any_model_file("mp-e_form")
    src, _, _, member = _source_model("mp-e_form")
    assert member == 0 and ens.n_members == 3
    a, b = src.state_dict(), ens.members[0].state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], ens.members[1].state_dict()[k]) for k in a)  # control
    assert source_defaults("mp-e_form")["model"]["options"]["group"] == "slambda"


def test_init_from_another_member_of_an_ensemble() -> None:
    """``finetune.member`` picks the member (one fine-tuned model per member of a shipped
    ensemble); out of range, or a member of a single model, is refused."""
    from ecn.inference.model_file import load_any_model_file
    from ecn.train.finetune import _source_model

    ens, _, _ = load_any_model_file("mp-e_form")
    src, _, _, member = _source_model("mp-e_form", 2)
    a, b = src.state_dict(), ens.members[2].state_dict()
    assert member == 2 and all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], ens.members[0].state_dict()[k]) for k in a)  # control
    with pytest.raises(ValueError, match="members 0..2"):
        _source_model("mp-e_form", 3)
    with pytest.raises(ValueError, match="single model"):
        _source_model("mp-magmom", 1)
