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
