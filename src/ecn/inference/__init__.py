"""ecn.inference: trained models as plain ``torch.nn.Module`` objects, model files, prediction.

This layer sits between ``ecn.nn`` and ``ecn.train`` and imports neither Lightning nor the training
loop, so ``ecn.load_model(path).predict(structures)`` works in a process that never loads them.

* :class:`PropertyModel`: a model of ``ecn.nn.MODELS`` plus its target standardisation
  (predictions in the dataset's units).
* :func:`save_model_file` / :func:`load_model_file`: the user-facing model file
  (``model.pt``: model name + init kwargs + resolved graph settings + target spec + state dict +
  ecn version), read with ``torch.load(weights_only=True)``.
* :class:`EnsembleModel`: K members of one architecture on one graph; mean and recalibrated
  std (an ensemble file is format version 2, read by :func:`load_any_model_file`).
* :class:`Predictor` (``ecn.load_model``): structures / CIF files -> graphs -> predictions.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the submodule that defines it. Imported on first use (PEP 562), so that
#: ``ecn.inference.parallel`` or ``ecn.inference.output`` can be imported without torch: the
#: CLI starts its worker processes' fork server before this process imports torch.
_EXPORTS = {
    "EnsembleModel": "ensemble",
    "predict_graphs": "forward",
    "predict_member_graphs": "forward",
    "InputItem": "inputs",
    "as_structure": "inputs",
    "read_inputs": "inputs",
    "write_rows": "inputs",
    "PropertyModel": "model",
    "TargetInfo": "model",
    "MODEL_FILE": "model_file",
    "load_any_model_file": "model_file",
    "load_model_file": "model_file",
    "model_file_payload": "model_file",
    "resolve_model_path": "model_file",
    "save_model_file": "model_file",
    "Predictor": "predictor",
    "load_model": "predictor",
}

if TYPE_CHECKING:
    from ecn.inference.ensemble import EnsembleModel
    from ecn.inference.forward import predict_graphs, predict_member_graphs
    from ecn.inference.inputs import InputItem, as_structure, read_inputs, write_rows
    from ecn.inference.model import PropertyModel, TargetInfo
    from ecn.inference.model_file import (
        MODEL_FILE,
        load_any_model_file,
        load_model_file,
        model_file_payload,
        resolve_model_path,
        save_model_file,
    )
    from ecn.inference.predictor import Predictor, load_model


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ecn.inference' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"ecn.inference.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "MODEL_FILE",
    "EnsembleModel",
    "InputItem",
    "Predictor",
    "PropertyModel",
    "TargetInfo",
    "as_structure",
    "load_any_model_file",
    "load_model",
    "load_model_file",
    "model_file_payload",
    "predict_graphs",
    "predict_member_graphs",
    "read_inputs",
    "resolve_model_path",
    "save_model_file",
    "write_rows",
]
