"""Committed results files name data files relative to the data directory, never by a local
absolute path (they are read on other machines; issue 11); results/ holds folders by topic
(issue 24)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parents[1] / "results"
ABSOLUTE = re.compile(r"(?<![\w.])/(?:work|root|home|tmp|Users|mnt)/[\w.-]+")


def _text_files() -> list[Path]:
    return sorted(
        p for p in RESULTS.rglob("*") if p.is_file() and p.suffix in {".json", ".md", ".yaml"}
    )


def test_results_hold_no_absolute_local_paths():
    files = _text_files()
    if not files:
        pytest.skip("no results/ folder in this checkout")
    bad = {str(p.relative_to(RESULTS)): ABSOLUTE.findall(p.read_text())[:3] for p in files}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, bad


def test_the_pattern_bites():
    assert ABSOLUTE.findall('"note": "files (/work/shared/data/perov_5); x"')
    assert not ABSOLUTE.findall("perov_5/test.csv, runs/table2/cgcnn_seed0, eV/atom")


def test_results_top_level_holds_topic_folders_only():
    """A reader of ``ls results`` sees folders by topic and the generated index, no loose
    tables (``ecn.experiments.layout`` names the folders the commands write to)."""
    if not RESULTS.is_dir():
        pytest.skip("no results/ folder in this checkout")
    loose = sorted(p.name for p in RESULTS.iterdir() if p.is_file() and p.name != "README.md")
    assert loose == []
    assert not (RESULTS / "superseded").exists()  # git keeps history; nothing stale lies here
