"""Writing an export: the SavedModel, its TFLite conversion, the check, and atomic publication.

``export_model`` writes a Keras model's greedy policy; ``export_policy`` does it for the policy a run
saved. Everything is first written to a scratch directory beside the output and checked there; the
SavedModel directory is then renamed into place and the TFLite file written through ``tfrl.fileio``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfrl.errors import ConfigError, check_output_path
from tfrl.export import graph
from tfrl.export.formats import (INPUT_NAME, OUTPUT_NAME, SIGNATURE_KEY, check_export_args, check_format, check_out,
                                 default_out)
from tfrl.export.signature import signature_record, to_json
from tfrl.export.verify import check_export, sample_observations
from tfrl.fileio import atomic_path, atomic_write_text, fsync_dir
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["export_model", "export_policy"]


def _write_saved_model(path: Path, model: Any, act: Callable[[Any], Any], observation_spec: ArraySpec) -> None:
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    signature = tf.TensorSpec((None, *observation_spec.shape), tf.as_dtype(observation_spec.dtype), name=INPUT_NAME)
    archive.add_endpoint(SIGNATURE_KEY, lambda observation: {OUTPUT_NAME: act(observation)},
                         input_signature=[signature])
    archive.write_out(str(path), verbose=False)


def _convert_tflite(saved_model: Path) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[SIGNATURE_KEY])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        return converter.convert()
    except Exception as exc:  # the converter's errors are MLIR diagnostics, many lines long
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"the policy cannot be converted to TFLite with builtin operators: {first}") from exc


def _publish_dir(tmp: Path, out: Path) -> None:
    """Move the finished directory ``tmp`` to ``out``, replacing an earlier SavedModel there."""
    if out.exists():
        if not (out.is_dir() and (out / "saved_model.pb").is_file()):
            raise ConfigError(f"{out} exists and is not a SavedModel directory; choose another --out")
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
    fsync_dir(out.parent)


def export_model(
    model: Any,
    algo: str,
    observation_spec: ArraySpec,
    action_spec: BoundedArraySpec,
    out: str | Path,
    format: str = "saved_model",
    observations: np.ndarray | None = None,
    check: bool = True,
    info: dict[str, Any] | None = None,
) -> Path:
    """Export the greedy policy of a Keras ``model`` of ``algo`` to ``out``; return the path written.

    ``format`` 'saved_model' writes the directory ``out`` (with ``signature.json`` inside); 'tflite'
    writes the file ``out`` (``<stem>.signature.json`` beside it). With ``check`` the artefact's actions
    on ``observations`` (default: 64 drawn from the observation spec) must match those of
    the algorithm's ``policy_from_model`` (``tfrl.agents.get_algorithm``), or ``ExportMismatchError`` is raised and nothing is
    written. ``info`` adds keys to ``signature.json``.
    """
    check_format(format)
    out = check_output_path(out, directory=format == "saved_model", example="policy.tflite")
    act = graph.action_fn(algo, model, action_spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as scratch:
        saved = Path(scratch) / "saved_model"
        _write_saved_model(saved, model, act, observation_spec)
        content = _convert_tflite(saved) if format == "tflite" else None
        checked = (check_export(saved, content, model, algo, observation_spec, action_spec, observations)
                   if check else None)
        record = signature_record(format, out.name, algo, observation_spec, action_spec, dict(info or {}), checked)
        record["export_seconds"] = round(time.perf_counter() - start, 3)
        if content is None:
            (saved / "signature.json").write_text(to_json(record), encoding="utf-8")
            _publish_dir(saved, out)
        else:
            with atomic_path(out) as tmp:
                tmp.write_bytes(content)
            atomic_write_text(out.with_name(f"{out.stem}.signature.json"), to_json(record))
    return out


def export_policy(
    run_dir: str | Path,
    format: str = "saved_model",
    out: str | Path | None = None,
    check: bool = True,
    env: Any = None,
    safe_mode: bool = True,
    trust: bool = False,
) -> Path:
    """Export the saved policy of ``run_dir`` as a SavedModel or a TFLite file; return the path written.

    ``out`` defaults to ``default_out(run_dir, format)``; for 'tflite' an existing directory receives
    ``policy.tflite``. ``check`` compares the exported actions with the Python policy's on 64
    observations (resets and random steps of the run's environment, and draws from its observation
    spec). ``env`` rebuilds the environment of a run trained on a factory, as in ``evaluate_run``.
    ``safe_mode=False`` loads a ``policy.keras`` that holds Python code (trusted files only; see
    ``tfrl.train.load_saved_policy``). ``trust=True`` imports the environment class the run names even if
    no installed package provides it (see ``tfrl.runs.saved_env``): only for run directories you trust.
    """
    from tfrl.config import apply_overrides
    from tfrl.runs.record import saved_env
    from tfrl.runs.settings import RunConfig
    from tfrl.train.playback import check_policy_fits, load_saved_policy
    from tfrl.train.session import make_run_env

    check_export_args(run_dir, format)
    run_dir = Path(run_dir)
    out = check_out(default_out(run_dir, format) if out is None else out, format)
    record, model, _ = load_saved_policy(run_dir, safe_mode=safe_mode)
    run_cfg = apply_overrides(RunConfig(), record["run"])
    spec_env = make_run_env(env if env is not None else saved_env(record, trust=trust, run_dir=run_dir), run_cfg, 4,
                            run_cfg.seed + 30_000)
    try:
        observation_spec, action_spec = spec_env.observation_spec(), spec_env.action_spec()
        check_policy_fits(model, observation_spec, record["env"], use="export")
        observations = (sample_observations(observation_spec, 64, seed=run_cfg.seed + 30_000, env=spec_env)
                        if check else None)
    finally:
        spec_env.close()
    info = {
        "env": record["env"],
        "run_dir": str(run_dir.resolve()),
        "source": "policy.keras",
        "observation_normalization": "inside the model" if record["agent"].get("normalize_observations") else None,
        "versions": (record.get("versions") or {}) | _export_versions(),
    }
    epsilon = float(record["agent"].get("eval_epsilon", 0.0) or 0.0)
    if epsilon > 0:
        info["note"] = (f"the run evaluates epsilon-greedily (eval_epsilon={epsilon}); the export is greedy: "
                        f"add the random actions yourself if you want them")
    return export_model(model, record["algo"], observation_spec, action_spec, out, format=format,
                        observations=observations, check=check, info=info)


def _export_versions() -> dict[str, str]:
    import tensorflow as tf

    return {"export_tensorflow": tf.__version__}
