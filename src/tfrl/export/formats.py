"""The export formats, the names of the exported signature, and the checks of an export's arguments.

Nothing here imports TensorFlow, so ``tfrl export`` rejects a bad format or run directory at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from tfrl.errors import ConfigError, RunDirError, TfrlError, check_output_path, unknown_name

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
]

FORMATS = ("saved_model", "tflite")
"""Export formats: a SavedModel directory or a TFLite flatbuffer file."""
SIGNATURE_KEY = "serving_default"
"""Name of the exported signature."""
INPUT_NAME = "observation"
"""Name of the signature's input: a batch of raw observations."""
OUTPUT_NAME = "action"
"""Name of the signature's output: the batch of greedy actions."""
CONTINUOUS_ATOL = 1e-5
"""Largest difference allowed between exported and Python continuous actions by the check."""


class ExportMismatchError(TfrlError, RuntimeError):
    """The exported model's actions differ from those of the Python policy."""


def check_format(format: str) -> str:
    """``format`` if it is one of ``FORMATS``, else ``ConfigError`` naming the closest ones."""
    if format not in FORMATS:
        raise ConfigError(unknown_name("export format", format, FORMATS, label="Formats"))
    return format


def check_out(out: str | Path, format: str) -> Path:
    """The path an export of ``format`` to ``out`` writes: ``out``, or ``out/policy.tflite`` for 'tflite' when
    ``out`` is a directory. ``ConfigError`` if it cannot be written (``tfrl.errors.check_output_path``)."""
    check_format(format)
    if format == "tflite" and str(out).strip() and os.path.isdir(out):
        out = Path(out) / "policy.tflite"
    return check_output_path(out, directory=format == "saved_model",
                             example="policy.tflite" if format == "tflite" else "saved_model")


def check_export_args(run_dir: str | Path, format: str, out: str | Path | None = None) -> None:
    """Raise ``ConfigError`` for an unknown format or an ``out`` that cannot be written, or ``RunDirError`` for
    a missing run, without TensorFlow."""
    check_format(format)
    if out is not None:
        check_out(out, format)
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {str(run_dir)!r} does not exist; pass a directory that 'tfrl train' created")
    if not (run_dir / "config.yaml").is_file():
        raise RunDirError(f"{str(run_dir)!r} is not a tfrl run: it has no config.yaml")
    if not (run_dir / "policy.keras").is_file():
        raise RunDirError(f"{str(run_dir)!r} has no policy.keras yet (training has not finished); "
                          f"resume it with 'tfrl train --resume {run_dir}'")


def default_out(run_dir: str | Path, format: str) -> Path:
    """Where ``export_policy`` writes by default: ``RUN/export/saved_model/`` or ``RUN/export/policy.tflite``."""
    check_format(format)
    base = Path(run_dir) / "export"
    return base / "saved_model" if format == "saved_model" else base / "policy.tflite"
