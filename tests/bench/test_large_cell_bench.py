"""``ecn bench large-cell`` pieces, small: the crystals it builds and one measure in-process."""

from __future__ import annotations

from ecn.bench.large_cell import _child, _rock_salt, crystal, format_large_cell_bench
from ecn.graphs.canonical import canonical_structure


def test_rattled_supercell_is_its_own_primitive_cell():
    s = crystal("rocksalt", (2, 1, 1))
    assert len(s) == 16
    assert len(canonical_structure(s, "primitive")) == 16  # P1: no smaller cell
    ideal = _rock_salt() * (2, 1, 1)  # negative control: unmoved, it reduces to 2 atoms
    assert len(canonical_structure(ideal, "primitive")) == 2


def test_rows_measure_reports_passes_and_memory():
    out = _child(
        {
            "kind": "rows",
            "model": "perov5-heat_all",
            "scale": [1, 1, 1],
            "n": 2,
            "average": "origins",
        }
    )
    assert out["passes"] == 8 and out["inputs"] == 2 and out["errors"] == []
    assert out["peak_above_start_mb"] >= 0
    text = format_large_cell_bench(
        {
            "machine": {"cpu": "x"},
            "load_before": None,
            "load_after": None,
            "repeats": 1,
            "cells": {},
            "skipped": {"mp": "absent"},
            "average": [out],
            "inputs": [],
        }
    )
    assert "8 passes" in text and "mp: skipped (absent)" in text
