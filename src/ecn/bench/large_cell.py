"""``ecn bench large-cell``: time and peak memory of one large cell through ``ecn predict``'s
CPU half (issue 25 item 4), and memory under ``--average`` and many inputs.

Why: the canonical step once scored every (basis, origin) candidate of a cell in one dense
P x K x N array; a 1,000-atom P1 cell in a cubic metric (48 bases x 500 origins) cost 40 s and
3 GB. The target is canonical step + graph build <= 2 s and <= 500 MB for 1,000 atoms.

Each measure runs in a fresh ``python`` process (peak RSS is a high-water mark, so stages
must not share one), 1 torch thread, the model's own graph settings:

* ``cells``: per crystal, the best of `repeats` wall times of the canonical step
  (``canonical_structure``), of the graph records (validation + canonical step + neighbour
  search: ``structure_units``) and of the model forward, with the process's peak RSS above its
  level once the model is loaded and the crystal built; the same-run reference is pymatgen
  parsing the cell's CIF (``Structure.from_str``), the floor of any pipeline reading CIFs.
  With `before` (a git revision), the canonical step of that revision is measured the same way
  in its own process (``before``) and the ratio reported.
* ``average``: ``--average origins`` on a 200-atom cell (200 passes, batches of 16) against one
  batch of 16 copies of the cell without averaging: peak RSS above start. Streamed, it stays
  near the peak of a run over several batches of inputs (``inputs``), whatever the passes.
* ``inputs``: 32 and 128 copies of a 200-atom cell through ``iter_rows`` (batches of 16): peak
  RSS above start (flat in the number of inputs).

Crystals: mp-1019378 (Al3GaN4, 8 atoms, cubic) from the MP file in the data directory, as a
5x5x5 supercell with every atom moved by N(0, 0.05 Å) (P1: its own primitive cell, 1,000
atoms, 48 bases x 125 origins); and the same for rock salt's 8-atom conventional cell built in
code (500 origins: the largest candidate set a 1,000-atom cell can have). Without the data
file the MP crystal is skipped with the reason recorded.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["format_large_cell_bench", "run_large_cell_bench"]

#: The MP crystal of the benchmark and where it is read from (data directory).
MP_ID = "mp-1019378"
MP_FILE = Path("mp_cgcnn_36k") / "mp_cgcnn_36k.csv.gz"


def _mp_cell() -> Any:
    """The primitive cell of `MP_ID` from the MP CSV; ValueError if the file is absent."""
    import csv
    import gzip

    from pymatgen.core import Structure

    from ecn.settings import data_dir

    src = data_dir() / MP_FILE
    if not src.is_file():
        raise ValueError(f"MP data file not found: {src} (set ECN_DATA_DIR)")
    csv.field_size_limit(1 << 30)
    with gzip.open(src, "rt", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["material_id"] == MP_ID:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return Structure.from_str(row["cif"], fmt="cif")
    raise ValueError(f"{MP_ID} not in {src}")


def _rock_salt() -> Any:
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def crystal(name: str, scale: tuple[int, int, int] = (5, 5, 5), seed: int = 0) -> Any:
    """Crystal `name` (``mp`` or ``rocksalt``) as a `scale` supercell, every atom moved by
    N(0, 0.05 Å) (seeded): a P1 cell that is its own primitive cell."""
    from pymatgen.core import Structure

    base = _mp_cell() if name == "mp" else _rock_salt()
    s = base * scale
    rng = np.random.default_rng(seed)
    moved = s.cart_coords + rng.normal(scale=0.05, size=(len(s), 3))
    return Structure(s.lattice, s.species, moved, coords_are_cartesian=True)


def _best(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _rss_mb() -> float:
    """Peak RSS of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measure in this (fresh) process; see the module docstring."""
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    from ecn.inference.predictor import Predictor, predict_graphs, structure_units

    predictor = Predictor.load(spec["model"])
    st = predictor.settings
    kind = spec["kind"]
    if kind == "cell":
        s = crystal(spec["crystal"])
        if spec.get("canonical_file"):
            import importlib.util

            mod_spec = importlib.util.spec_from_file_location(
                "canonical_before", spec["canonical_file"]
            )
            mod = importlib.util.module_from_spec(mod_spec)  # type: ignore[arg-type]
            mod_spec.loader.exec_module(mod)  # type: ignore[union-attr]
            canonical = mod.canonical_structure
        else:
            from ecn.graphs.canonical import canonical_structure as canonical
        start = _rss_mb()
        t_canon, _ = _best(lambda: canonical(s, st.canonical, st.symprec), spec["repeats"])
        out: dict[str, Any] = {
            "atoms": len(s),
            "canonical_s": round(t_canon, 3),
            "canonical_peak_above_start_mb": round(_rss_mb() - start, 1),
        }
        if spec.get("canonical_file"):
            return out
        t_units, units = _best(lambda: structure_units(s, st, "x"), spec["repeats"])
        out["canonical_and_graph_s"] = round(t_units, 3)
        out["canonical_and_graph_peak_above_start_mb"] = round(_rss_mb() - start, 1)
        t_fwd, _ = _best(lambda: predict_graphs(predictor.model, units, 1, False, st), 1)
        out["forward_s"] = round(t_fwd, 3)
        out["peak_above_start_mb"] = round(_rss_mb() - start, 1)
        out["start_rss_mb"] = round(start, 1)
        from pymatgen.core import Structure

        text = s.to(fmt="cif")
        t_parse, _ = _best(lambda: Structure.from_str(text, fmt="cif"), spec["repeats"])
        out["reference_pymatgen_parse_s"] = round(t_parse, 3)
        out["canonical_and_graph_over_parse"] = round(t_units / t_parse, 2)
        return out
    from ecn.inference.inputs import InputItem
    from ecn.inference.parallel import iter_rows

    s = crystal("rocksalt", tuple(spec["scale"]))  # type: ignore[arg-type]
    items = (InputItem(f"c{k}", "", structure=s) for k in range(spec["n"]))  # made as read
    start = _rss_mb()
    t0 = time.perf_counter()
    errors = [r["error"] for b in iter_rows(predictor, items, 16, 1, spec["average"]) for r in b]
    errors = [e for e in errors if e]
    return {
        "atoms": len(s),
        "inputs": spec["n"],
        "average": spec["average"],
        "passes": predictor.passes(s, spec["average"]),
        "wall_s": round(time.perf_counter() - t0, 2),
        "peak_above_start_mb": round(_rss_mb() - start, 1),
        "errors": errors[:1],
    }


def _run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """`_child(spec)` in a fresh interpreter; its JSON result."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "ecn.bench.large_cell", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if res.returncode != 0:
        raise ValueError(f"benchmark process failed: {res.stderr.strip()[-500:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _before_file(rev: str, folder: Path) -> Path:
    """``src/ecn/graphs/canonical.py`` at git revision `rev`, written into `folder`."""
    root = Path(__file__).resolve().parents[3]
    res = subprocess.run(
        ["git", "-C", str(root), "show", f"{rev}:src/ecn/graphs/canonical.py"],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise ValueError(f"--before {rev}: {res.stderr.strip() or 'git show failed'}")
    path = folder / "canonical_before.py"
    path.write_text(res.stdout)
    return path


def run_large_cell_bench(
    model: str = "perov5-heat_all", repeats: int = 3, before: str | None = None
) -> dict[str, Any]:
    """The measures of the module docstring, as one JSON-ready dict."""
    from ecn.bench.predict import _cpu_kind, _load

    result: dict[str, Any] = {
        "benchmark": "large-cell",
        "model": model,
        "repeats": repeats,
        "threads": 1,
        "machine": {
            "cpu": _cpu_kind(),
            "cores_available": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count(),
            "python": platform.python_version(),
        },
        "load_before": _load(),
        "target": {"canonical_and_graph_s": 2.0, "canonical_and_graph_peak_mb": 500},
        "cells": {},
        "skipped": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        old = _before_file(before, Path(tmp)) if before else None
        for name in ("mp", "rocksalt"):
            spec = {"kind": "cell", "crystal": name, "model": model, "repeats": repeats}
            try:
                cell = _run_child(spec)
            except ValueError as exc:
                if name == "mp" and "not found" in str(exc):
                    result["skipped"][name] = str(exc)[-200:]
                    continue
                raise
            if old is not None:
                prev = _run_child({**spec, "canonical_file": str(old), "repeats": 1})
                cell["before"] = {"revision": before, **prev}
                cell["canonical_speedup"] = round(prev["canonical_s"] / cell["canonical_s"], 1)
            result["cells"][name] = cell
    base = {"kind": "rows", "model": model}
    result["average"] = [
        _run_child({**base, "scale": [5, 5, 1], "n": n, "average": a})
        for n, a in ((16, "none"), (1, "origins"))
    ]
    result["inputs"] = [
        _run_child({**base, "scale": [5, 5, 1], "n": n, "average": "none"}) for n in (32, 128)
    ]
    result["load_after"] = _load()
    return result


def format_large_cell_bench(r: dict[str, Any]) -> str:
    """A few lines for the console."""
    lines = [
        f"CPU {r['machine']['cpu']}, load {r['load_before']} -> {r['load_after']}, "
        f"1 thread, best of {r['repeats']}"
    ]
    for name, c in r["cells"].items():
        line = (
            f"{name} ({c['atoms']} atoms): canonical {c['canonical_s']} s, canonical + graph "
            f"{c['canonical_and_graph_s']} s (+{c['canonical_and_graph_peak_above_start_mb']} MB),"
            f" forward {c['forward_s']} s; = {c['canonical_and_graph_over_parse']} x pymatgen's "
            "parse of the same CIF"
        )
        if "before" in c:
            b = c["before"]
            line += (
                f"; before ({b['revision']}): canonical {b['canonical_s']} s "
                f"(+{b['canonical_peak_above_start_mb']} MB), {c['canonical_speedup']}x"
            )
        lines.append(line)
    for name, why in r["skipped"].items():
        lines.append(f"{name}: skipped ({why})")
    for a in r["average"]:
        lines.append(
            f"--average {a['average']}, {a['inputs']} x {a['atoms']} atoms, {a['passes']} passes "
            f"each: {a['wall_s']} s, +{a['peak_above_start_mb']} MB"
        )
    for a in r["inputs"]:
        lines.append(
            f"{a['inputs']} inputs of {a['atoms']} atoms: {a['wall_s']} s, "
            f"+{a['peak_above_start_mb']} MB"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.argv[1]))))
