"""Export a run's policy for serving without tfrl: a TensorFlow SavedModel or a TFLite flatbuffer.

The exported function maps a batch of observations (the environment's dtype and shape, input
``observation``) to the batch of actions that ``tfrl eval`` plays greedily (output ``action``, the
environment's action dtype): ``argmax`` of the Q values for dqn; for ppo, a2c and reinforce the most
probable action, i.e. the argmax of the logits or the Gaussian mean clipped to the action bounds. Image
scaling and, for runs trained with ``normalize_observations``, the frozen observation statistics are
part of ``policy.keras`` and so of the export: feed raw observations. A DQN run that evaluates
epsilon-greedily (``eval_epsilon``) is exported greedy; ``signature.json`` says so.

The SavedModel is written with Keras 3's ``keras.export.ExportArchive``, whose ``serving_default``
signature any TensorFlow (``tf.saved_model.load``), TF Serving or the TFLite converter reads. The TFLite
file is converted from it with builtin operators only, so the LiteRT interpreter (``ai_edge_litert``) or
``tf.lite.Interpreter`` runs it without TensorFlow's select ops. (A ``tf.Module`` saved with
``tf.saved_model.save`` converts too, but with Keras 3 variables its TFLite model read uninitialized
weights: the archive tracks them properly.)

With ``check=True`` the exported artefact is loaded again before it is published and its actions are
compared with the Python policy's on observations from environment resets, a few random steps and
random draws from the observation spec: equal for discrete actions, within ``1e-5`` for continuous ones;
a mismatch raises ``ExportMismatchError`` and nothing is written. Files appear atomically: the SavedModel
directory is written under a temporary name and renamed; the TFLite file through ``tfrl.fileio``.

The modules: ``tfrl.export.formats`` (the formats, the signature's names, the argument checks; no
TensorFlow), ``tfrl.export.graph`` (the greedy action function), ``tfrl.export.signature``
(``signature.json``), ``tfrl.export.verify`` (the check) and ``tfrl.export.write`` (``export_model``,
``export_policy``). Everything public is importable from ``tfrl.export``.
"""

from __future__ import annotations

from tfrl.export.formats import (
    CONTINUOUS_ATOL,
    FORMATS,
    INPUT_NAME,
    OUTPUT_NAME,
    SIGNATURE_KEY,
    ExportMismatchError,
    check_export_args,
    check_format,
    check_out,
    default_out,
)
from tfrl.export.verify import sample_observations, tflite_runner
from tfrl.export.write import export_model, export_policy

__all__ = [
    "CONTINUOUS_ATOL",
    "FORMATS",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "SIGNATURE_KEY",
    "ExportMismatchError",
    "check_export_args",
    "check_format",
    "check_out",
    "default_out",
    "export_model",
    "export_policy",
    "sample_observations",
    "tflite_runner",
]
