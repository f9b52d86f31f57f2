"""``ecn bench report``: a benchmark's result JSON rendered as markdown (what
scripts/bench_report.py did): the committed ``results/bench/{train,storage}.md`` are its output
for their JSON, line for line but for the commit they were rendered at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecn.cli import app

BENCH = Path(__file__).resolve().parents[2] / "results" / "bench"


def _without_head(text: str) -> str:
    return re.sub(r"at HEAD [0-9a-f?]+;", "at HEAD X;", text)


@pytest.mark.parametrize("kind, name", [("train", "train"), ("storage", "storage")])
def test_committed_markdown_is_the_rendering_of_its_json(kind, name, tmp_path, monkeypatch):
    if not (BENCH / f"{name}.json").is_file():
        pytest.skip("no results/bench in this checkout")
    monkeypatch.chdir(BENCH.parents[1])  # the JSON path is named relative to the checkout
    out = tmp_path / f"{name}.md"
    src = f"results/bench/{name}.json"
    res = CliRunner().invoke(app, ["bench", "report", kind, src, "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert f"by `ecn bench report {kind} {src}` at HEAD" in text
    assert _without_head(text) == _without_head((BENCH / f"{name}.md").read_text())


def test_unknown_kind_and_bad_file_are_one_line_errors(tmp_path: Path) -> None:
    src = tmp_path / "r.json"
    src.write_text("[1, 2]")
    res = CliRunner().invoke(app, ["bench", "report", "layers", str(src)])
    assert res.exit_code == 2 and "must be one of" in res.output
    res = CliRunner().invoke(app, ["bench", "report", "train", str(src)])
    assert res.exit_code == 2 and "not a benchmark result" in res.output
    assert not src.with_suffix(".md").exists()
