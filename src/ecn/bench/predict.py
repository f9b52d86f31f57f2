"""``ecn bench predict``: screening throughput of ``ecn predict`` against pymatgen's parse-only
rate on the same CIF files, measured in the same run, and the start time of one prediction.

Why these measures (issue 25 item 5): a screening run is bounded by how fast structures go
through parse -> canonical step -> graph -> model. Parsing the CIF with pymatgen is the floor
any pipeline built on pymatgen pays, so the ratio ``pipeline rate / parse-only rate`` (goal:
>= 0.5 per core) says how much the rest costs, whatever the machine or its load. Absolute rates
depend on both, so the CPU kind and the load average before and after are recorded.

Measured, on `n` MP CIFs (every k-th row of the ``mp_cgcnn_36k`` CSV, written to a temporary
folder), with 1 torch thread:

* ``pymatgen_parse_per_s``: ``Structure.from_file`` on each file, in this process;
* ``stages_s``: this process, the model already loaded: ecn's CIF parse, the graph records
  (validation, canonical step, neighbour search), the model (expansion + forward); their sum is
  the pipeline's in-process rate ``pipeline_per_core_per_s`` (one core, no start-up);
* ``cli``: wall time of ``python -m ecn.cli predict`` on the folder for each worker count, start
  included, as a user runs it;
* ``start``: wall (and child CPU) time of ``python -m ecn.cli predict`` on one CIF, best of
  `start_repeats` (the interpreter's own start included; no shell wrappers such as a pyenv
  shim, which adds about 0.2 s), and as its same-run reference ``python -c "import torch"``,
  the floor of any process that runs a torch model.
"""

from __future__ import annotations

import csv
import gzip
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

__all__ = ["format_predict_bench", "predict_markdown", "run_predict_bench", "write_mp_cifs"]

#: The MP rows the benchmark reads (file in the data directory).
MP_FILE = Path("mp_cgcnn_36k") / "mp_cgcnn_36k.csv.gz"
MP_ROWS = 36_737


def write_mp_cifs(folder: Path, n: int, data_file: Path | None = None) -> list[Path]:
    """Write `n` MP CIFs (every ``MP_ROWS // n``-th row) as ``<material_id>.cif`` in `folder`."""
    from ecn.settings import data_dir

    src = data_file or data_dir() / MP_FILE
    if not src.is_file():
        raise ValueError(f"MP data file not found: {src} (set ECN_DATA_DIR)")
    step = max(1, MP_ROWS // n)
    csv.field_size_limit(1 << 30)
    out: list[Path] = []
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(src, "rt", newline="") as fh:
        for k, row in enumerate(csv.DictReader(fh)):
            if k % step == 0:
                p = folder / f"{row['material_id']}.cif"
                p.write_text(row["cif"])
                out.append(p)
                if len(out) == n:
                    break
    return out


def _cpu_kind() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _cli(args: list[str]) -> tuple[float, float]:
    """(wall s, child CPU s) of ``python -m ecn.cli ARGS``; ValueError if it fails."""
    return _python(["-m", "ecn.cli", *args])


def _python(args: list[str]) -> tuple[float, float]:
    """(wall s, child CPU s) of ``python ARGS``; ValueError if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise ValueError(f"python {' '.join(args[:4])} failed: {res.stderr.strip()[-300:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _in_process(model: str, files: list[Path], batch_size: int) -> dict[str, Any]:
    """Stage times of the pipeline in this process (model loaded, 1 thread) and pymatgen's."""
    from pymatgen.core import Structure

    from ecn.data.validate import parse_cif
    from ecn.inference import Predictor
    from ecn.inference.inputs import InputItem
    from ecn.inference.predictor import Prepared, structure_units
    from ecn.nn.inputs import needs_orbit_maps

    predictor = Predictor.load(model)
    texts = [p.read_text() for p in files]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in files[:5]:  # warm-up: lazy imports, caches
            Structure.from_file(p)
        t_pmg, _ = _timed(lambda: [Structure.from_file(p) for p in files])
    t_parse, structures = _timed(lambda: [parse_cif(t) for t in texts])

    def units() -> list[Prepared]:
        out = []
        for p, s in zip(files, structures, strict=True):
            try:
                out.append(Prepared(structure_units(s, predictor.settings, p.stem, "none", "")))
            except ValueError as exc:
                out.append(Prepared(None, str(exc)))
        return out

    if needs_orbit_maps(predictor.model.config):
        raise ValueError("the benchmark model must not be a glambda model (orbit maps not timed)")
    t_units, prepared = _timed(units)
    items = [InputItem(p.stem, str(p)) for p in files]

    def forward() -> list[dict[str, Any]]:
        rows = []
        for i in range(0, len(items), batch_size):
            sl = slice(i, i + batch_size)
            rows += predictor.predict_prepared(items[sl], prepared[sl], batch_size=batch_size)
        return rows

    t_model, rows = _timed(forward)
    n = len(files)
    total = t_parse + t_units + t_model
    return {
        "pymatgen_parse_per_s": round(n / t_pmg, 2),
        "stages_s": {
            "parse": round(t_parse, 3),
            "graph_records": round(t_units, 3),
            "model": round(t_model, 3),
        },
        "pipeline_per_core_per_s": round(n / total, 2),
        "ratio_pipeline_per_core_to_pymatgen_parse": round(t_pmg / total, 3),
        "errors": sum(1 for r in rows if r["error"]),
    }


def run_predict_bench(
    n: int = 1000,
    workers: tuple[int, ...] = (1, 2),
    model: str = "mp-e_form",
    batch_size: int = 64,
    start_repeats: int = 5,
    work_dir: Path | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Run the benchmark (module docstring); returns the JSON-ready result."""
    import torch

    torch.set_num_threads(1)
    load_before = _load()
    tmp = Path(work_dir or tempfile.mkdtemp(prefix="ecn-bench-predict-"))
    try:
        folder = tmp / "cifs"
        files = write_mp_cifs(folder, n)
        result: dict[str, Any] = {
            "command": command,
            "model": model,
            "n_structures": len(files),
            "batch_size": batch_size,
            "threads": 1,
            "machine": {
                "cpu": _cpu_kind(),
                "cores_available": len(os.sched_getaffinity(0))
                if hasattr(os, "sched_getaffinity")
                else os.cpu_count(),
                "python": platform.python_version(),
                "torch": torch.__version__,
            },
        }
        result.update(_in_process(model, files, batch_size))
        one = tmp / "one"
        one.mkdir()
        shutil.copy(files[0], one / files[0].name)
        starts = [
            _cli(["predict", "-m", model, str(one / files[0].name), "-o", str(tmp / "one.csv")])
            for _ in range(start_repeats)
        ]
        best = min(starts)
        torch_only = [_python(["-c", "import torch"]) for _ in range(start_repeats)]
        result["start"] = {
            "wall_s": round(best[0], 3),
            "cpu_s": round(min(c for _, c in starts), 3),
            "import_torch_wall_s": round(min(torch_only)[0], 3),
            "import_torch_cpu_s": round(min(c for _, c in torch_only), 3),
            "ratio_wall_to_import_torch": round(best[0] / min(torch_only)[0], 2),
            "repeats": start_repeats,
            "goal_wall_s_idle": 1.5,
        }
        cli: dict[str, Any] = {}
        for w in workers:
            out = tmp / f"w{w}.csv"
            wall, cpu = _cli(
                ["predict", "-m", model, str(folder), "-o", str(out), "--workers", str(w)]
                + ["--threads", "1", "--batch-size", str(batch_size)]
            )
            cli[str(w)] = {
                "wall_s": round(wall, 2),
                "per_s": round(len(files) / wall, 2),
                "per_s_without_start": round(len(files) / max(wall - best[0], 1e-9), 2),
                "cpu_s": round(cpu, 2),
            }
        outputs = {w: (tmp / f"w{w}.csv").read_bytes() for w in workers}
        result["cli"] = cli
        result["cli_outputs_identical"] = len(set(outputs.values())) == 1
        result["load_before"] = load_before
        result["load_after"] = _load()
        return result
    finally:
        if work_dir is None:
            shutil.rmtree(tmp, ignore_errors=True)


def format_predict_bench(r: dict[str, Any]) -> str:
    """Human-readable summary."""
    st = r["stages_s"]
    lines = [
        f"{r['n_structures']} MP CIFs, model {r['model']}, 1 torch thread; "
        f"CPU {r['machine']['cpu']} ({r['machine']['cores_available']} cores), "
        f"load {r['load_before']} -> {r['load_after']}",
        f"pymatgen parse only: {r['pymatgen_parse_per_s']} /s",
        f"pipeline in process (one core): {r['pipeline_per_core_per_s']} /s = "
        f"{r['ratio_pipeline_per_core_to_pymatgen_parse']} x pymatgen parse (goal >= 0.5); "
        f"stages s: parse {st['parse']}, graph records {st['graph_records']}, model {st['model']}",
    ]
    for w, c in r["cli"].items():
        lines.append(
            f"ecn predict --workers {w}: {c['wall_s']} s wall, {c['per_s']} /s "
            f"({c['per_s_without_start']} /s without the start)"
        )
    s = r["start"]
    lines.append(
        f"start, one CIF: {s['wall_s']} s wall, {s['cpu_s']} s CPU (best of {s['repeats']}; "
        f"goal <= {s['goal_wall_s_idle']} s wall on an idle machine); `import torch` alone "
        f"{s['import_torch_wall_s']} s wall, {s['import_torch_cpu_s']} s CPU: the start is "
        f"{s['ratio_wall_to_import_torch']} x torch's import"
    )
    lines.append(f"outputs identical across worker counts: {r['cli_outputs_identical']}")
    load, cores = r.get("load_before"), r["machine"]["cores_available"]
    if load and cores and load[0] >= cores:
        lines.append(
            f"note: load average {load[0]} >= {cores} cores: other processes hold the cores, so "
            "absolute rates are low and extra workers cannot scale here; the same-run ratios "
            "are what to compare"
        )
    return "\n".join(lines)


def predict_markdown(r: dict[str, Any]) -> str:
    """The result as a short markdown page (results/bench/predict.md)."""
    body = format_predict_bench(r).splitlines()
    return (
        "# ecn predict: throughput and start time\n\n"
        f"Command: `{r['command']}` (src/ecn/bench/predict.py says what each number is).\n\n"
        + "\n".join(f"- {line}" for line in body)
        + "\n"
    )
