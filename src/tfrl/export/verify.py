"""The check of an export: its actions, loaded back from the files, against the Python policy's.

``check_export`` runs the exported SavedModel (``tf.saved_model.load``) or TFLite model
(``tflite_runner``) on observations from ``sample_observations`` and compares the actions with those
of the algorithm's ``policy_from_model``: equal for discrete actions, within ``CONTINUOUS_ATOL``
for continuous ones. A mismatch raises ``ExportMismatchError``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfrl.export.formats import CONTINUOUS_ATOL, INPUT_NAME, OUTPUT_NAME, SIGNATURE_KEY, ExportMismatchError
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["check_export", "compare", "sample_observations", "tflite_runner"]


def sample_observations(observation_spec: ArraySpec, n: int, seed: int = 0, env: Any = None) -> np.ndarray:
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


def compare(name: str, expected: np.ndarray, got: np.ndarray, action_spec: BoundedArraySpec) -> float:
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


def check_export(saved_model: Path, tflite: bytes | None, model: Any, algo: str, observation_spec: ArraySpec,
                 action_spec: BoundedArraySpec, observations: np.ndarray | None = None) -> dict[str, Any]:
    """Compare the actions of an export with the Python policy's; return the ``check`` of ``signature.json``.

    ``saved_model`` is the SavedModel directory written, ``tflite`` the TFLite flatbuffer converted from
    it (None for a SavedModel export: the SavedModel is checked). ``observations`` default to 64 drawn
    from the observation spec.
    """
    import tensorflow as tf

    from tfrl.agents import get_algorithm

    if observations is None:
        observations = sample_observations(observation_spec, 64)
    observations = np.asarray(observations, dtype=observation_spec.dtype)
    policy = get_algorithm(algo).policy_from_model(model, observation_spec, action_spec)
    expected = np.asarray(policy.action(observations))
    if tflite is None:
        serve = tf.saved_model.load(str(saved_model)).signatures[SIGNATURE_KEY]
        got = serve(**{INPUT_NAME: tf.constant(observations)})[OUTPUT_NAME].numpy()
    else:
        got = tflite_runner(tflite)(**{INPUT_NAME: observations})[OUTPUT_NAME]
    diff = compare("the exported " + ("SavedModel" if tflite is None else "TFLite model"), expected, got, action_spec)
    return {"observations": len(observations), "max_abs_action_diff": diff, "passed": True}
