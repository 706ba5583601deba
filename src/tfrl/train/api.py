"""Train, train several seeds, and resume: runs on disk.

``train("dqn", "CartPole-v1")`` resolves the settings (``tfrl.runs``), writes a new run directory's
``config.yaml``, builds a ``Session`` and runs its loop; ``resume(run_dir)`` does the same from the run's
newest intact checkpoint; ``train_seeds`` trains one run directory per seed (all seeds in one compiled
call with backend 'tf').

``runs/<algo>-<env>-<YYYYmmdd-HHMMSS>/`` holds ``config.yaml`` (every setting, the seed and the
library versions), TensorBoard events, ``metrics.csv``, ``checkpoints/``, ``policy.keras`` (the
final policy network), ``best_policy.keras`` (the network at its best evaluation), ``final_eval.json``,
``learning_curve.png`` and ``videos/``.

One process at a time trains a run directory: ``train``, ``train_seeds`` and ``resume`` hold its lock
(``tfrl.runs.lock.RunLock`` on ``<run>/.lock``) from before its ``config.yaml`` is written or read until the
session is closed, and refuse a run directory that another process is training (``RunLockedError``).

A new run that fails before training starts (a setting or an environment refused while the session is built)
leaves nothing behind: the directories the call made are removed, and in a directory that was there before the
``config.yaml`` and ``.lock`` it wrote (``tfrl.runs.record.remove_if_unstarted``), so that a retry is not refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import numbers
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tfrl.config import brief
from tfrl.envs.ids import NATIVE_BACKEND
from tfrl.errors import ConfigError, RunDirError
from tfrl.runs.lock import RunLock
from tfrl.runs.record import (env_label, first_missing, load_record, new_run_dir, remove_empty, remove_if_unstarted,
                              saved_configs, saved_env, start_run_dir, update_total_steps)
from tfrl.runs.settings import resolve_settings
from tfrl.train.session import RunResult, Session

__all__ = ["train", "train_seeds", "resume"]


def _path(name: str, value: Any) -> Path:
    """``value`` as a ``Path``, or the ConfigError of an argument that is not one."""
    if isinstance(value, (str, os.PathLike)):
        with contextlib.suppress(TypeError):  # a PathLike of bytes
            return Path(value)
    raise ConfigError(f"{name} must be a path (str or os.PathLike), got {type(value).__name__} {brief(value)}")


def _run_dir(run_dir: Any) -> Path | None:
    """The ``run_dir`` argument as a ``Path`` (None stays None), refusing one that is not a path or is empty."""
    if run_dir is None:
        return None
    path = _path("run_dir", run_dir)
    if not os.fspath(run_dir).strip():
        raise ConfigError("run_dir is empty; name a directory (or leave it out for runs/<algo>-<env>-<time>)")
    return path


def _steps(total_steps: Any) -> int:
    """``total_steps`` as an int, or the ConfigError of a value that is not an integer >= 1."""
    if isinstance(total_steps, numbers.Integral) and not isinstance(total_steps, bool) and total_steps >= 1:
        return int(total_steps)
    raise ConfigError(f"total_steps must be an integer >= 1, got {brief(total_steps)}")


def _settings(overrides: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` and the keyword settings as one dict (keyword settings win)."""
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"overrides must be a mapping of setting: value, got {type(overrides).__name__} "
                          f"{brief(overrides)}")
    return {**(overrides or {}), **settings}


def _seed_list(seeds: Any) -> list[int]:
    """``seeds`` as a list of distinct ints, or the ConfigError of anything else."""
    items = list(seeds) if isinstance(seeds, Iterable) and not isinstance(seeds, (str, bytes, Mapping)) else None
    if (not items or len(set(items)) != len(items)
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in items)):
        raise ConfigError(f"seeds must be distinct integers, got {brief(items if items is not None else seeds)}")
    return [int(s) for s in items]


@contextlib.contextmanager
def _removed_if_empty(directory: Path, created: Path | None) -> Iterator[None]:
    """Remove ``directory`` and its parents up to ``created`` (the first this call made) if the block fails and
    leaves them empty."""
    try:
        yield
    except BaseException:
        remove_empty(directory, created)
        raise


@contextlib.contextmanager
def _new_run(run_dir: Path, start: Callable[[], Path], created: Path | None = None) -> Iterator[RunLock]:
    """Hold the lock of the new run directory ``run_dir`` from before ``start`` (``start_run_dir``) writes its
    ``config.yaml`` to the end of the block; undo what was made when the block fails before training started.

    A directory that already holds a run, or that cannot be made, is refused by ``start`` itself before
    anything is created in it. Locking before ``config.yaml`` is written means that of two trainings started
    into one new directory at once, one trains and the other is refused without writing anything. ``created``
    is the first directory that this run made (``first_missing``: None if ``run_dir`` was there before); it is
    removed, with ``run_dir``, if the run fails unstarted (``remove_if_unstarted``, done under the lock).
    """
    created = created if created is not None else first_missing(run_dir)
    with contextlib.suppress(OSError):  # start_run_dir names a directory that cannot be made
        run_dir.mkdir(parents=True, exist_ok=True)
    if not run_dir.is_dir() or (run_dir / "config.yaml").exists():
        try:
            start()  # refuses, with start_run_dir's message
        finally:
            remove_empty(run_dir, created)
    with RunLock(run_dir) as lock:
        try:
            start()
        except BaseException:  # refused: only a directory made here (holding just .lock) is removed
            if created is not None:
                remove_if_unstarted(run_dir, created)
            raise
        try:
            yield lock
        except BaseException:
            remove_if_unstarted(run_dir, created)
            raise


def train(
    algo: str,
    env: Any,
    *,
    config: str | Path | None = None,
    run_dir: str | Path | None = None,
    runs_root: str | Path = "runs",
    overrides: dict[str, Any] | None = None,
    use_preset: bool = True,
    verbose: bool = True,
    on_eval: Callable[[int, float], None] | None = None,
    **settings: Any,
) -> RunResult:
    """Train ``algo`` on ``env`` (an id, a ``gymnasium.Env`` subclass or a factory) in a new run directory.

    ``settings`` are flat keys of ``RunConfig`` and the agent's config, e.g.
    ``train("dqn", "CartPole-v1", total_steps=20_000, learning_rate=1e-3)``.
    ``on_eval(step, mean_return)`` is called after each evaluation during training (``tfrl.sweep`` reports to Ray Tune).
    """
    directory, root = _run_dir(run_dir), _path("runs_root", runs_root)
    label = env_label(env)
    chosen = resolve_settings(algo, label, config, _settings(overrides, settings), use_preset=use_preset)
    created = None
    if directory is None:
        created = first_missing(root)
        directory = new_run_dir(root, chosen.algorithm.name, label)
        created = created or directory
    with _new_run(directory, lambda: start_run_dir(directory, chosen, env), created):
        with Session(chosen.algorithm, env, label, chosen.run, chosen.agent, directory, verbose=verbose,
                     on_eval=on_eval) as session:
            return session.finish(session.loop(session.context))


def train_seeds(
    algo: str,
    env: Any,
    seeds: Sequence[int],
    *,
    config: str | Path | None = None,
    run_dir: str | Path | None = None,
    runs_root: str | Path = "runs",
    overrides: dict[str, Any] | None = None,
    use_preset: bool = True,
    verbose: bool = True,
    **settings: Any,
) -> list[RunResult]:
    """Train one run per seed, in ``<run_dir>/seed-<s>/`` (each an ordinary run directory).

    With backend 'tf' (the compiled loops) all seeds train together: one compiled call advances every seed,
    the way PureJaxRL maps a training function over seeds (``run_compiled_seeds`` for ppo and a2c,
    ``run_compiled_off_policy_seeds`` for dqn, sac, td3 and ddpg, each seed with its own replay buffer, taking the
    steps and ending with the weights of ``train`` with that seed). Each seed stops on its own (``total_steps``,
    or its target with ``stop_at_target``) while the others go on. Otherwise the runs go one after another.
    """
    seeds = _seed_list(seeds)
    parent, root = _run_dir(run_dir), _path("runs_root", runs_root)
    label = env_label(env)
    chosen = resolve_settings(algo, label, config, _settings(overrides, settings), use_preset=use_preset)
    runs = [dataclasses.replace(chosen.run, seed=s) for s in seeds]  # each seed checked before anything is made
    created = first_missing(parent if parent is not None else root)
    if parent is None:
        parent = new_run_dir(root, chosen.algorithm.name, label)
        created = created or parent
    parent.mkdir(parents=True, exist_ok=True)
    dirs = [parent / f"seed-{s}" for s in seeds]
    with _removed_if_empty(parent, created), contextlib.ExitStack() as held:  # every seed locked before one trains
        locks = [held.enter_context(_new_run(directory, functools.partial(start_run_dir, directory, chosen, env, run)))
                 for directory, run in zip(dirs, runs)]
        if chosen.run.backend != NATIVE_BACKEND:
            results = []
            for run, directory, lock in zip(runs, dirs, locks):  # a seed's lock is released when it is done
                with lock, Session(chosen.algorithm, env, label, run, chosen.agent, directory,
                                   verbose=verbose) as session:
                    results.append(session.finish(session.loop(session.context)))
            return results
        if chosen.algorithm.host_loop == "off_policy":
            from tfrl.train.loops.compiled_off_policy import run_compiled_off_policy_seeds as run_together
        else:
            from tfrl.train.loops.compiled_on_policy import run_compiled_seeds as run_together

        sessions: list[Session] = []
        try:
            for run, directory in zip(runs, dirs):
                sessions.append(Session(chosen.algorithm, env, label, run, chosen.agent, directory, verbose=verbose))
            states = run_together([s.context for s in sessions], seeds)
            return [session.finish(state) for session, state in zip(sessions, states)]
        finally:
            for session in sessions:
                session.close()


def resume(run_dir: str | Path, total_steps: int | None = None, verbose: bool = True, env: Any = None,
           on_eval: Callable[[int, float], None] | None = None, trust: bool = False) -> RunResult:
    """Continue the run in ``run_dir`` from its newest complete checkpoint (optionally to more steps).

    ``env`` rebuilds the environment when the run was trained on a factory rather than an id or class.
    ``trust=True`` imports the environment class the run names even if no installed package provides it
    (see ``tfrl.runs.saved_env``): only for run directories you trust.
    """
    from tfrl.train.checkpoint import CheckpointManager

    run_dir = _path("run_dir", run_dir)
    total_steps = _steps(total_steps) if total_steps is not None else None
    if not (run_dir / "config.yaml").is_file():
        load_record(run_dir)  # says what is wrong with the directory, before the lock creates anything in it
    with RunLock(run_dir):  # before anything in the run directory is read or written, until the session is closed
        record = load_record(run_dir)
        algorithm, run, agent_config = saved_configs(run_dir, record)
        if total_steps is not None:
            run = dataclasses.replace(run, total_steps=int(total_steps))
        latest, problems = CheckpointManager(run_dir / "checkpoints").latest_intact()
        for problem in problems if latest is not None else []:
            print(f"warning: {problem}; skipping it", file=sys.stderr)
        if latest is None:
            found = "; ".join(problems) if problems else "none was written"
            raise RunDirError(f"{str(run_dir)!r} has no intact checkpoint to resume from ({found}); "
                              f"start a new run instead")
        if problems and verbose:
            print(f"resuming from the previous checkpoint, {latest.name}", file=sys.stderr)
        env_spec = env if env is not None else saved_env(record, trust=trust, run_dir=run_dir)
        with Session(algorithm, env_spec, record["env"], run, agent_config, run_dir, resume_from=latest,
                     verbose=verbose, on_eval=on_eval) as session:
            if total_steps is not None:  # only once the run has started: a refused resume leaves config.yaml as it was
                update_total_steps(run_dir, record, int(total_steps))
            return session.finish(session.loop(session.context))
