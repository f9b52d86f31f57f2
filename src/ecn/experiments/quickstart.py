"""`ecn quickstart`: the README's main job — a small real training, then predictions on CIF files.

Why a command and not a script: it must work right after `pip install` on a machine with no
network and no data directory, where it trains on the Perov-5 sample shipped in the package.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from pymatgen.io.cif import CifWriter

from ecn.data import load_split
from ecn.inference import Predictor, read_inputs, write_rows
from ecn.train.config import TrainConfig, config_from_dict
from ecn.train.record import RunRecord, is_finished
from ecn.train.run import train

logger = logging.getLogger(__name__)

# A few minutes on a laptop CPU: a small ECN-S_Lambda on a slice of each split.
QUICKSTART = {
    "data": {
        "dataset": "perov5",
        "targets": ["heat_all"],
        "limit": {"train": 400, "val": 60, "test": 60},
    },
    "model": {
        "name": "ecn",
        "options": {"group": "slambda", "width": 32, "layers": 3},
        "continuous": "on",
    },
    "optim": {"batch_size": 32, "epochs": 8, "patience": 8},
    "run": {"seed": 0, "accelerator": "cpu"},
}


def quickstart_config(out: str, epochs: int | None = None, progress: bool = True) -> TrainConfig:
    """The quickstart training config, writing to `out`."""
    raw = copy.deepcopy(QUICKSTART)
    raw["run"].update(out=out, progress_bar=progress)
    if epochs is not None:
        raw["optim"]["epochs"] = epochs
    return config_from_dict(raw)


def write_example_cifs(folder: Path, n: int = 10) -> list[Path]:
    """Write `n` test-split structures as CIF files (the user-facing input format) plus one broken
    file, so the prediction step shows both a result and a clear error row."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for rec in load_split("perov5", "test", limit=n).records:
        p = folder / f"{rec.id}.cif"
        CifWriter(rec.structure).write_file(p)
        paths.append(p)
    broken = folder / "broken_example.cif"
    broken.write_text("data_broken\n_cell_length_a 4.0\nthis is not a CIF\n")
    return paths + [broken]


def run_quickstart(
    out: str = "runs/quickstart", epochs: int | None = None, progress: bool = True
) -> dict:
    """Train (resuming if a previous quickstart was interrupted), then predict on example CIFs.

    Returns a dict with the run directory, the predictions CSV and the test metrics.
    """
    out_dir = Path(out)
    cfg = quickstart_config(out, epochs, progress)
    if is_finished(out_dir):
        logger.info("%s already holds a finished run; reusing it", out_dir)
    else:
        train(cfg, resume=(out_dir / "last.ckpt").is_file())
    cifs = write_example_cifs(out_dir / "example_cifs")
    rows = Predictor.load(out_dir).predict_items(read_inputs(cifs))
    pred_csv = out_dir / "example_predictions.csv"
    write_rows(pred_csv, rows)
    results = RunRecord.load(out_dir).results
    return {
        "run_dir": str(out_dir),
        "predictions": str(pred_csv),
        "n_predictions": len(rows),
        "n_errors": sum(1 for r in rows if r["error"]),
        "test": results.split_metrics("test"),
    }
