"""Train, train several seeds, and resume: runs on disk.

``train("dqn", "CartPole-v1")`` resolves the settings (``tfrl.runs``), writes a new run directory's
``config.yaml``, builds a ``Session`` and runs its loop; ``resume(run_dir)`` does the same from the run's
newest intact checkpoint; ``train_seeds`` trains one run directory per seed (all seeds in one compiled
call where the compiled on-policy loop trains the algorithm).

``runs/<algo>-<env>-<YYYYmmdd-HHMMSS>/`` holds ``config.yaml`` (every setting, the seed and the
library versions), TensorBoard events, ``metrics.csv``, ``checkpoints/``, ``policy.keras`` (the
final policy network), ``best_policy.keras`` (the network at its best evaluation), ``final_eval.json``,
``learning_curve.png`` and ``videos/``.

One process at a time trains a run directory: ``train``, ``train_seeds`` and ``resume`` hold its lock
(``tfrl.runs.lock.RunLock`` on ``<run>/.lock``) from before its ``config.yaml`` is written or read until the
session is closed, and refuse a run directory that another process is training (``RunLockedError``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tfrl.envs.ids import NATIVE_BACKEND
from tfrl.errors import ConfigError, RunDirError, TfrlError
from tfrl.runs.lock import RunLock
from tfrl.runs.record import (env_label, load_record, new_run_dir, remove_if_unstarted, saved_configs, saved_env,
                              start_run_dir, update_total_steps)
from tfrl.runs.settings import resolve_settings
from tfrl.train.session import RunResult, Session

__all__ = ["train", "train_seeds", "resume"]


@contextlib.contextmanager
def _new_run(run_dir: Path, start: Callable[[], Path]) -> Iterator[RunLock]:
    """Hold the lock of the new run directory ``run_dir`` from before ``start`` (``start_run_dir``) writes its
    ``config.yaml`` to the end of the block.

    A directory that already holds a run, or that cannot be made, is refused by ``start`` itself before
    anything is created in it. Locking before ``config.yaml`` is written means that of two trainings started
    into one new directory at once, one trains and the other is refused without writing anything.
    """
    with contextlib.suppress(OSError):  # start_run_dir names a directory that cannot be made
        run_dir.mkdir(parents=True, exist_ok=True)
    if not run_dir.is_dir() or (run_dir / "config.yaml").exists():
        start()  # refuses, with start_run_dir's message
    with RunLock(run_dir) as lock:
        start()
        yield lock


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
    if run_dir is not None and not str(run_dir).strip():
        raise ConfigError("run_dir is empty; name a directory (or leave it out for runs/<algo>-<env>-<time>)")
    label = env_label(env)
    chosen = resolve_settings(algo, label, config, {**(overrides or {}), **settings}, use_preset=use_preset)
    existed = run_dir is not None and Path(run_dir).exists()
    directory = Path(run_dir) if run_dir is not None else new_run_dir(Path(runs_root), chosen.algorithm.name, label)
    with _new_run(directory, lambda: start_run_dir(directory, chosen, env)):
        try:
            with Session(chosen.algorithm, env, label, chosen.run, chosen.agent, directory, verbose=verbose,
                         on_eval=on_eval) as session:
                return session.finish(session.loop(session.context))
        except TfrlError:
            remove_if_unstarted(directory, existed)
            raise


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

    Where the compiled on-policy loop trains the algorithm (backend 'tf' with ppo or a2c) all seeds train
    together: one compiled call advances every seed, the way PureJaxRL maps a training function over
    seeds. Otherwise the runs go one after another.
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct integers, got {seeds}")
    label = env_label(env)
    chosen = resolve_settings(algo, label, config, {**(overrides or {}), **settings}, use_preset=use_preset)
    parent = Path(run_dir) if run_dir is not None else new_run_dir(Path(runs_root), chosen.algorithm.name, label)
    parent.mkdir(parents=True, exist_ok=True)
    runs = [dataclasses.replace(chosen.run, seed=s) for s in seeds]
    dirs = [parent / f"seed-{s}" for s in seeds]
    with contextlib.ExitStack() as held:  # every seed directory locked before any seed trains
        locks = [held.enter_context(_new_run(directory, functools.partial(start_run_dir, directory, chosen, env, run)))
                 for directory, run in zip(dirs, runs)]
        if chosen.run.backend != NATIVE_BACKEND or chosen.algorithm.host_loop != "on_policy":
            results = []
            for run, directory, lock in zip(runs, dirs, locks):  # a seed's lock is released when it is done
                with lock, Session(chosen.algorithm, env, label, run, chosen.agent, directory,
                                   verbose=verbose) as session:
                    results.append(session.finish(session.loop(session.context)))
            return results
        from tfrl.train.loops.compiled_on_policy import run_compiled_seeds

        sessions: list[Session] = []
        try:
            for run, directory in zip(runs, dirs):
                sessions.append(Session(chosen.algorithm, env, label, run, chosen.agent, directory, verbose=verbose))
            states = run_compiled_seeds([s.context for s in sessions], seeds)
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

    run_dir = Path(run_dir)
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
