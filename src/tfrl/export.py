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
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfrl.errors import ConfigError, RunDirError, TfrlError, closest
from tfrl.fileio import atomic_path, atomic_write_text, fsync_dir
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = [
    "FORMATS",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "SIGNATURE_KEY",
    "ExportMismatchError",
    "check_export_args",
    "default_out",
    "export_policy",
    "export_model",
    "sample_observations",
    "tflite_runner",
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


def _check_format(format: str) -> str:
    if format not in FORMATS:
        hint = closest(str(format), FORMATS)
        did = f" Did you mean {hint[0]}?" if hint else ""
        raise ConfigError(f"unknown export format {format!r}.{did} Formats: {', '.join(FORMATS)}.")
    return format


def check_export_args(run_dir: str | Path, format: str) -> None:
    """Raise ``ConfigError`` for an unknown format or ``RunDirError`` for a missing run, without TensorFlow."""
    _check_format(format)
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {str(run_dir)!r} does not exist; pass a directory that 'tfrl train' created")
    if not (run_dir / "config.yaml").is_file():
        raise RunDirError(f"{str(run_dir)!r} is not a tfrl run: it has no config.yaml")
    if not (run_dir / "policy.keras").is_file():
        raise RunDirError(f"{str(run_dir)!r} has no policy.keras yet (training has not finished); "
                          f"resume it with 'tfrl train --resume {run_dir}'")


def _action_fn(algo: str, model, action_spec: BoundedArraySpec) -> Callable:
    """The greedy action graph of ``policy_from_model`` for ``algo``, written with public TensorFlow ops."""
    import tensorflow as tf

    from tfrl import distributions

    dtype = tf.as_dtype(action_spec.dtype)
    discrete = isinstance(action_spec, BoundedArraySpec) and action_spec.is_discrete
    if algo == "dqn":
        offset = int(action_spec.minimum)

        def act(observation):
            q = model(observation, training=False)
            return tf.cast(tf.argmax(q, axis=-1), dtype) + tf.cast(offset, dtype)

    elif algo in ("ppo", "a2c", "reinforce") and discrete:
        offset = int(action_spec.minimum)

        def act(observation):
            logits = tf.cast(model(observation, training=False)["logits"], tf.float32)
            return tf.cast(distributions.categorical_mode(logits), dtype) + tf.cast(offset, dtype)

    elif algo in ("ppo", "a2c", "reinforce"):
        low = tf.constant(action_spec.minimum, tf.float32)
        high = tf.constant(action_spec.maximum, tf.float32)

        def act(observation):
            mean = tf.cast(model(observation, training=False)["mean"], tf.float32)
            return tf.cast(tf.clip_by_value(mean, low, high), dtype)

    else:
        raise ConfigError(f"export knows the policies of dqn, ppo, a2c and reinforce, not {algo!r}")
    return act


def _policy_description(algo: str, action_spec: BoundedArraySpec) -> str:
    if algo == "dqn":
        return "greedy: argmax of the Q values (plus the action minimum)"
    if action_spec.is_discrete:
        return "mode: argmax of the policy logits (plus the action minimum)"
    return "mode: the Gaussian mean clipped to the action bounds"


def sample_observations(observation_spec: ArraySpec, n: int, seed: int = 0, env=None) -> np.ndarray:
    """``n`` observations of ``observation_spec``: from ``env`` (resets and random steps) and random draws.

    Half come from ``env`` when one is given (reset with ``seed``, then uniformly random actions), the
    rest are drawn from the spec: uniform within finite bounds (for integer dtypes, such as uint8
    images, any integer within them), standard normal where a bound is infinite.
    """
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    if env is not None:
        from tfrl.policies import RandomPolicy

        actor = RandomPolicy(env.action_spec(), seed=seed)
        step = env.reset(seed=seed)
        got = 0
        while got < n // 2:
            parts.append(np.asarray(step.observation))
            got += len(parts[-1])
            step = env.step(actor.action(step.observation))
    shape = (max(n - sum(len(p) for p in parts), 0), *observation_spec.shape)
    dtype = observation_spec.dtype
    if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
        info = np.iinfo(dtype) if dtype != np.bool_ else None
        lo = getattr(observation_spec, "minimum", info.min if info else 0)
        hi = getattr(observation_spec, "maximum", info.max if info else 1)
        draw = rng.integers(np.broadcast_to(lo, observation_spec.shape), np.broadcast_to(hi, observation_spec.shape),
                            size=shape, endpoint=True)
    else:
        lo = np.broadcast_to(np.asarray(getattr(observation_spec, "minimum", -np.inf), np.float64),
                             observation_spec.shape)
        hi = np.broadcast_to(np.asarray(getattr(observation_spec, "maximum", np.inf), np.float64),
                             observation_spec.shape)
        finite = np.isfinite(lo) & np.isfinite(hi) & (hi - lo < 1e6)
        uniform = rng.uniform(np.where(finite, lo, 0.0), np.where(finite, hi, 1.0), size=shape)
        draw = np.where(finite, uniform, rng.standard_normal(shape))
    parts.append(draw.astype(dtype))
    return np.concatenate(parts)[:n]


def tflite_runner(model: bytes | str | os.PathLike) -> Callable[..., dict[str, np.ndarray]]:
    """The ``serving_default`` signature runner of a TFLite model (file path or flatbuffer bytes).

    Uses LiteRT (``ai_edge_litert``) where it is installed, otherwise ``tf.lite.Interpreter``, which
    TensorFlow 2.21 still ships (it warns that it is deprecated in favour of LiteRT; the warning is muted).
    """
    content = model if isinstance(model, bytes) else Path(model).read_bytes()
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = Interpreter(model_content=content)
    return interpreter.get_signature_runner(SIGNATURE_KEY)


def _write_saved_model(path: Path, model, act: Callable, observation_spec: ArraySpec) -> None:
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


def _compare(name: str, expected: np.ndarray, got: np.ndarray, action_spec: BoundedArraySpec) -> float:
    """Raise ``ExportMismatchError`` unless ``got`` matches ``expected``; return the largest difference."""
    got = np.asarray(got)
    if got.shape != expected.shape or got.dtype != expected.dtype:
        raise ExportMismatchError(f"{name} gives actions of shape {got.shape} and dtype {got.dtype}; the Python "
                                  f"policy gives {expected.shape} {expected.dtype}")
    diff = float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64)), initial=0.0))
    if action_spec.is_discrete or np.issubdtype(action_spec.dtype, np.integer):
        bad = int(np.sum(got != expected))
        if bad:
            raise ExportMismatchError(f"{name} chooses other actions than the Python policy on {bad} of "
                                      f"{len(expected)} observations")
    elif not diff <= CONTINUOUS_ATOL:
        raise ExportMismatchError(f"{name}'s actions differ from the Python policy's by up to {diff:.3g} "
                                  f"(allowed {CONTINUOUS_ATOL:g})")
    return diff


def _spec_json(spec: ArraySpec) -> dict[str, Any]:
    out: dict[str, Any] = {"dtype": str(spec.dtype), "shape": list(spec.shape)}
    if isinstance(spec, BoundedArraySpec):
        lo, hi = np.asarray(spec.minimum), np.asarray(spec.maximum)
        same = lo.size and np.all(lo == lo.flat[0]) and np.all(hi == hi.flat[0])
        out["minimum"] = lo.flat[0].item() if same else lo.tolist()
        out["maximum"] = hi.flat[0].item() if same else hi.tolist()
    return out


def _signature_record(format: str, file: str, algo: str, observation_spec: ArraySpec, action_spec: BoundedArraySpec,
                      info: dict[str, Any], checked: dict[str, Any] | None) -> dict[str, Any]:
    if action_spec.is_discrete:
        space = {"type": "discrete", "n": action_spec.num_values, "start": int(action_spec.minimum)}
    else:
        space = {"type": "box", **_spec_json(action_spec)}
    if format == "saved_model":
        usage = (f"tf.saved_model.load(DIR).signatures[{SIGNATURE_KEY!r}]({INPUT_NAME}=obs)[{OUTPUT_NAME!r}]")
    else:
        usage = (f"ai_edge_litert.interpreter.Interpreter(model_path=FILE).get_signature_runner("
                 f"{SIGNATURE_KEY!r})({INPUT_NAME}=obs)[{OUTPUT_NAME!r}]  (or tf.lite.Interpreter)")
    return {
        "format": format,
        "file": file,
        "signature": SIGNATURE_KEY,
        "inputs": {INPUT_NAME: {"dtype": str(observation_spec.dtype), "shape": [None, *observation_spec.shape],
                                "description": "a batch of raw observations, as the environment returns them"}},
        "outputs": {OUTPUT_NAME: {"dtype": str(action_spec.dtype), "shape": [None, *action_spec.shape],
                                  "description": "the greedy action for each observation"}},
        "observation_space": _spec_json(observation_spec),
        "action_space": space,
        "algo": algo,
        "policy": _policy_description(algo, action_spec),
        **info,
        "check": checked,
        "usage": usage,
    }


def _to_json(record: dict[str, Any]) -> str:
    """Indented JSON with lists of numbers (shapes, bounds) kept on one line."""
    def one_line(match: re.Match) -> str:
        return "[" + ", ".join(item.strip() for item in match.group(1).split(",")) + "]"

    return re.sub(r"\[\s+([^\[\]{}\"]*?)\s+\]", one_line, json.dumps(record, indent=2)) + "\n"


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
    model,
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
    ``tfrl.agents.<algo>.policy_from_model``, or ``ExportMismatchError`` is raised and nothing is
    written. ``info`` adds keys to ``signature.json``.
    """
    import tempfile

    import tensorflow as tf

    from tfrl.agents import get_algorithm

    _check_format(format)
    out = Path(out)
    act = _action_fn(algo, model, action_spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    if format == "tflite" and out.is_dir():
        raise ConfigError(f"{out} is a directory; give the TFLite file to write, e.g. {out / 'policy.tflite'}")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as scratch:
        saved = Path(scratch) / "saved_model"
        _write_saved_model(saved, model, act, observation_spec)
        content = _convert_tflite(saved) if format == "tflite" else None
        checked = None
        if check:
            if observations is None:
                observations = sample_observations(observation_spec, 64)
            observations = np.asarray(observations, dtype=observation_spec.dtype)
            policy = get_algorithm(algo).load().policy_from_model(model, observation_spec, action_spec)
            expected = np.asarray(policy.action(observations))
            if content is None:
                serve = tf.saved_model.load(str(saved)).signatures[SIGNATURE_KEY]
                got = serve(**{INPUT_NAME: tf.constant(observations)})[OUTPUT_NAME].numpy()
            else:
                got = tflite_runner(content)(**{INPUT_NAME: observations})[OUTPUT_NAME]
            diff = _compare("the exported " + ("SavedModel" if content is None else "TFLite model"), expected, got,
                            action_spec)
            checked = {"observations": len(observations), "max_abs_action_diff": diff, "passed": True}
        record = _signature_record(format, out.name, algo, observation_spec, action_spec, dict(info or {}), checked)
        record["export_seconds"] = round(time.perf_counter() - start, 3)
        if content is None:
            (saved / "signature.json").write_text(_to_json(record), encoding="utf-8")
            _publish_dir(saved, out)
        else:
            with atomic_path(out) as tmp:
                tmp.write_bytes(content)
            atomic_write_text(out.with_name(f"{out.stem}.signature.json"), _to_json(record))
    return out


def default_out(run_dir: str | Path, format: str) -> Path:
    """Where ``export_policy`` writes by default: ``RUN/export/saved_model/`` or ``RUN/export/policy.tflite``."""
    _check_format(format)
    base = Path(run_dir) / "export"
    return base / "saved_model" if format == "saved_model" else base / "policy.tflite"


def export_policy(
    run_dir: str | Path,
    format: str = "saved_model",
    out: str | Path | None = None,
    check: bool = True,
    env: Any = None,
    safe_mode: bool = True,
) -> Path:
    """Export the saved policy of ``run_dir`` as a SavedModel or a TFLite file; return the path written.

    ``out`` defaults to ``default_out(run_dir, format)``; for 'tflite' an existing directory receives
    ``policy.tflite``. ``check`` compares the exported actions with the Python policy's on 64
    observations (resets and random steps of the run's environment, and draws from its observation
    spec). ``env`` rebuilds the environment of a run trained on a factory, as in ``evaluate_run``.
    ``safe_mode=False`` loads a ``policy.keras`` that holds Python code (trusted files only; see
    ``tfrl.train.run.load_policy``).
    """
    from tfrl.config import apply_overrides
    from tfrl.train.run import RunConfig, _make_env, _saved_env, load_policy

    check_export_args(run_dir, format)
    run_dir = Path(run_dir)
    if out is None:
        out = default_out(run_dir, format)
    out = Path(out)
    if format == "tflite" and out.is_dir():
        out = out / "policy.tflite"
    record, model, _ = load_policy(run_dir, safe_mode=safe_mode)
    run_cfg = apply_overrides(RunConfig(), record["run"])
    spec_env = _make_env(env if env is not None else _saved_env(record), run_cfg, 4, run_cfg.seed + 30_000)
    try:
        observation_spec, action_spec = spec_env.observation_spec(), spec_env.action_spec()
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
