"""Playing a run's saved policy: load it safely, evaluate it, watch it as a video.

``load_saved_policy(run_dir)`` reads ``policy.keras`` in Keras safe mode with the run's record;
``load_policy(run_dir, env)`` gives the policy that ``tfrl eval`` and ``tfrl watch`` play on ``env``;
``evaluate_run`` and ``watch_run`` are those two commands.
"""

from __future__ import annotations

import datetime as _dt
import numbers
from pathlib import Path
from typing import Any, NamedTuple

from tfrl.agents import Algorithm, get_algorithm
from tfrl.errors import ConfigError, RunDirError, UnsafeModelError, UnsupportedSpaceError
from tfrl.runs.record import load_record, saved_configs, saved_env
from tfrl.train.session import make_run_env

__all__ = ["SavedPolicy", "check_policy_fits", "load_saved_policy", "load_policy", "evaluate_run", "watch_run"]


class SavedPolicy(NamedTuple):
    """A run's saved policy network with what is needed to play it."""

    record: dict[str, Any]
    """The run's ``config.yaml``."""
    model: Any
    """The ``keras.Model`` of ``policy.keras``."""
    algorithm: Algorithm
    """The descriptor of the algorithm that trained it."""


def load_saved_policy(run_dir: str | Path, safe_mode: bool = True) -> SavedPolicy:
    """The policy network saved in ``run_dir`` (``policy.keras``), loaded in Keras safe mode.

    Safe mode refuses a model file that would run Python code when loaded (a ``Lambda`` layer's
    function, say): such a file raises ``UnsafeModelError`` unless ``safe_mode=False``, which only
    a file from a trusted source should get. tfrl's own layers are registered and load safely.
    """
    import keras

    import tfrl.continuous_networks  # noqa: F401  (registers tfrl's layers for safe-mode loading)
    import tfrl.networks  # noqa: F401
    import tfrl.value_networks  # noqa: F401

    run_dir = Path(run_dir)
    record = load_record(run_dir)
    path = run_dir / "policy.keras"
    if not path.is_file():
        raise RunDirError(f"{str(run_dir)!r} has no policy.keras yet (training has not finished); "
                          f"resume it with 'tfrl train --resume {run_dir}'")
    try:
        model = keras.saving.load_model(path, safe_mode=safe_mode)
    except Exception as exc:
        if safe_mode and "safe_mode" in str(exc):
            raise UnsafeModelError(
                f"{str(path)!r} contains Python code that would run when it is loaded ({str(exc).split('.')[0]}); "
                f"it was refused. Load it only if you trust where it came from: safe_mode=False in Python, "
                f"--no-safe-mode on the command line"
            ) from None
        raise RunDirError(f"{str(path)!r} cannot be loaded ({type(exc).__name__}); the file is corrupt") from None
    return SavedPolicy(record, model, get_algorithm(record["algo"]))


def check_policy_fits(model, observation_spec, trained_on: str, use: str = "evaluate") -> None:
    """``UnsupportedSpaceError`` unless the saved policy ``model`` takes observations of ``observation_spec``'s
    shape (a run whose config.yaml names another environment than the one it was trained on)."""
    expected = tuple(model.input_shape[1:])
    if tuple(observation_spec.shape) != expected:
        raise UnsupportedSpaceError(
            f"the saved policy takes observations of shape {expected}, but this environment's are "
            f"{tuple(observation_spec.shape)}; {use} it on the environment it was trained on ({trained_on})")


def _policy_on(saved: SavedPolicy, env, seed: int):
    """The policy ``eval`` and ``watch`` play: greedy (the mode), or epsilon-greedy where the run set
    ``eval_epsilon``."""
    check_policy_fits(saved.model, env.observation_spec(), saved.record["env"])
    epsilon = float(saved.record["agent"].get("eval_epsilon", 0.0) or 0.0)
    return saved.algorithm.policy_from_model(saved.model, env.observation_spec(), env.action_spec(),
                                             epsilon=epsilon, seed=seed)


def _check_seed(seed: int) -> None:
    """Refuse a seed outside ``[0, 2**32 - 1]``, the range of a training run's seed."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= 2**32 - 1:
        raise ConfigError(f"seed must lie in [0, 2**32 - 1], got {seed!r}")


def load_policy(run_dir: str | Path, env, safe_mode: bool = True, seed: int = 0):
    """The policy of ``run_dir`` that ``tfrl eval`` plays, ready to act on ``env`` (a tfrl ``Environment``)."""
    return _policy_on(load_saved_policy(run_dir, safe_mode=safe_mode), env, seed)


def evaluate_run(run_dir: str | Path, episodes: int = 20, video: bool = False, seed: int = 12345, env: Any = None,
                 safe_mode: bool = True, trust: bool = False):
    """Evaluate the saved policy of ``run_dir`` over ``episodes`` episodes; optionally record a video.

    ``env`` overrides the environment saved with the run (needed for runs trained on a factory);
    ``safe_mode=False`` loads a policy file that holds Python code (see ``load_saved_policy``);
    ``trust=True`` imports the environment class the run names even if no installed package provides
    it (see ``tfrl.runs.saved_env``): only for run directories you trust.
    Returns ``(EvalResult, video_path or None)``; the video is one episode, made by ``watch_run``.
    """
    from tfrl.train.driver import evaluate_policy

    if episodes < 1:
        raise ConfigError(f"episodes must be >= 1, got {episodes}")
    _check_seed(seed)
    run_dir = Path(run_dir)
    saved = load_saved_policy(run_dir, safe_mode=safe_mode)
    run = saved_configs(run_dir, saved.record)[1]
    eval_env = make_run_env(env if env is not None else saved_env(saved.record, trust=trust, run_dir=run_dir), run,
                            min(episodes, 20), seed)
    try:
        result = evaluate_policy(eval_env, _policy_on(saved, eval_env, seed), episodes, seed=seed)
    finally:
        eval_env.close()
    video_path = (watch_run(run_dir, episodes=1, seed=seed, env=env, safe_mode=safe_mode, trust=trust)[0]
                  if video else None)
    return result, video_path


def watch_run(run_dir: str | Path, episodes: int = 1, out: str | Path | None = None, seed: int = 12345,
              env: Any = None, fps: int = 30, safe_mode: bool = True, trust: bool = False):
    """Play the saved policy of ``run_dir`` for ``episodes`` episodes and write them as one video.

    The running return is drawn on every frame. The file is an MP4 (a GIF where no encoder works),
    by default ``<run_dir>/videos/watch-<time>.mp4``. Returns ``(video_path, EvalResult)``. ``env``,
    ``safe_mode`` and ``trust`` as in ``evaluate_run``.
    """
    from tfrl.train.driver import evaluate_policy
    from tfrl.video import annotate, video_path, write_video

    if episodes < 1:
        raise ConfigError(f"episodes must be >= 1, got {episodes}")
    _check_seed(seed)
    out = video_path(out) if out is not None else None  # refused before the episodes are played
    run_dir = Path(run_dir)
    saved = load_saved_policy(run_dir, safe_mode=safe_mode)
    run = saved_configs(run_dir, saved.record)[1]
    frames: list = []
    one = make_run_env(env if env is not None else saved_env(saved.record, trust=trust, run_dir=run_dir), run, 1, seed,
                       render_mode="rgb_array")
    try:
        result = evaluate_policy(one, _policy_on(saved, one, seed), episodes, seed=seed,
                                 frame_sink=lambda frame, score: frames.append(annotate(frame, f"return {score:.0f}")))
    finally:
        one.close()
    if out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        (run_dir / "videos").mkdir(exist_ok=True)
        out = run_dir / "videos" / f"watch-{stamp}.mp4"
    return write_video(frames, Path(out), fps=fps), result
