"""ecn: equivariant crystal networks (Kaba & Ravanbakhsh, NeurIPS 2022).

Import is cheap on purpose: heavy modules (torch models, pymatgen readers) load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_model"]


def load_model(path: str):  # noqa: ANN201 - returns ecn.train.predict.Predictor
    """Load a trained model (run directory or checkpoint) for `predict(structures)`."""
    from ecn.train.predict import Predictor

    return Predictor.load(path)
