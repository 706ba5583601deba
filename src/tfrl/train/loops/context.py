"""What every training loop receives: the built agent, environment and buffer, the counters, and
evaluation, logging, progress and checkpoints.

The session builds one ``LoopContext`` and hands it to a loop; the loop collects and trains, and after
each batch of environment steps calls ``LoopContext.after_steps``, which evaluates, logs and
checkpoints whenever the step counter crosses a multiple of ``eval_every``, ``log_every`` or
``checkpoint_every``, and says whether training should stop (the target return was reached with
``stop_at_target``, ``max_minutes`` have passed, or a SIGINT or SIGTERM arrived). Used as a context
manager, it takes the final checkpoint when the loop ends without an error.
"""

from __future__ import annotations

import pickle
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tfrl.logging import MetricsLogger, Progress, memory_mb
from tfrl.train.checkpoint import CheckpointManager
from tfrl.train.driver import EvalResult, evaluate_policy
from tfrl.train.guards import StopSignals, check_finite_metrics, check_finite_time_step

__all__ = ["LoopState", "LoopContext", "loop_state_from_dict"]


@dataclass
class LoopState:
    """Counters of a training run, saved in every checkpoint."""

    step: int = 0
    """Environment transitions taken (summed over environments)."""
    episodes: int = 0
    """Training episodes finished."""
    train_phases: int = 0
    """Training phases run: calls of the agent's update (one per rollout; off-policy, one per phase of
    ``gradient_steps`` x periods gradient steps), counted alike by the host and the compiled loops."""
    periods_done: int = 0
    """Off-policy only: ``train_freq`` periods of environment steps trained for (``tfrl.schedules.periods_due``)."""
    wall_time: float = 0.0
    """Seconds of training before this session (resume keeps counting)."""
    best_eval: float = float("-inf")
    """Best evaluation mean so far."""
    first_solved_step: int | None = None
    """First step at which the evaluation mean reached ``target_return`` (if set)."""
    first_solved_time: float | None = None
    """Wall time (seconds) at that step."""
    evaluations: list = field(default_factory=list)
    """(step, wall_time, mean, std) of every evaluation."""
    train_metrics: dict = field(default_factory=dict)
    """The latest training phase's metrics, which every log row repeats until the next phase."""
    unlogged_episodes: list = field(default_factory=list)
    """(return, length) of the training episodes finished since the last metrics row, which the next row
    averages (saved, so that the first row after a resume is the one an uninterrupted run writes)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly copy (an infinite best_eval becomes None)."""
        return {
            "step": self.step,
            "episodes": self.episodes,
            "train_phases": self.train_phases,
            "periods_done": self.periods_done,
            "wall_time": self.wall_time,
            "best_eval": self.best_eval if np.isfinite(self.best_eval) else None,
            "first_solved_step": self.first_solved_step,
            "first_solved_time": self.first_solved_time,
            "evaluations": [list(e) for e in self.evaluations],
            "train_metrics": {str(k): float(v) for k, v in self.train_metrics.items()},
            "unlogged_episodes": [list(e) for e in self.unlogged_episodes],
        }


def loop_state_from_dict(data: dict) -> LoopState:
    """Rebuild a ``LoopState`` from a checkpoint's ``state.json``."""
    best = data.get("best_eval")
    return LoopState(
        step=int(data["step"]),
        episodes=int(data.get("episodes", 0)),
        train_phases=int(data.get("train_phases", 0)),
        periods_done=int(data.get("periods_done", 0)),
        wall_time=float(data.get("wall_time", 0.0)),
        best_eval=float("-inf") if best is None else float(best),
        first_solved_step=data.get("first_solved_step"),
        first_solved_time=data.get("first_solved_time"),
        evaluations=[tuple(e) for e in data.get("evaluations", [])],
        train_metrics={str(k): float(v) for k, v in data.get("train_metrics", {}).items()},
        unlogged_episodes=[(float(r), float(n)) for r, n in data.get("unlogged_episodes", [])],
    )


def _crossed(before: int, after: int, every: int) -> bool:
    return every > 0 and after // every > before // every


class LoopContext:
    """A loop's whole world: what it trains and on what, and the schedule of evaluations, logs and checkpoints.

    ``agent`` provides ``eval_policy``, ``checkpoint_items()`` and ``host_state()``; ``env`` is the training
    environment (for backend 'tf', the host adapter of the TF-native environment, whose ``native`` the
    compiled loops step); ``replay`` (off-policy host loop) is saved with checkpoints when
    ``run.save_replay``; ``state`` holds the counters. ``resume_vars`` is what the loop gave
    ``after_steps`` as ``resumable`` at the checkpoint a resumed run starts from (its current time step and
    random generators), saved with the environment's running episodes (``env.get_state()``).
    ``extra_state()`` adds JSON to each checkpoint (the observation normalizer's statistics). Whole-game
    scores (``env.pop_game_records()``, Atari) are logged as ``charts/game_score``, since training
    episodes there end on a life loss. ``stop`` is the session's ``StopSignals``.
    """

    def __init__(
        self,
        agent,
        run,
        env,
        state: LoopState,
        *,
        logger: MetricsLogger,
        checkpoints: CheckpointManager,
        make_eval_env: Callable[[], Any],
        stop: StopSignals,
        on_eval: Callable[[int, EvalResult], None] | None = None,
        progress_desc: str = "train",
        replay=None,
        extra_state: Callable[[], dict] | None = None,
        resume_vars: dict[str, Any] | None = None,
    ):
        self.agent, self.run, self.env, self.state = agent, run, env, state
        self.logger, self.checkpoints, self.make_eval_env, self.stop = logger, checkpoints, make_eval_env, stop
        self.on_eval, self.replay, self.extra_state, self.resume_vars = on_eval, replay, extra_state, resume_vars
        self._resumable: dict[str, Any] | Callable[[], dict[str, Any]] | None = None
        self._warned_loop_state = False
        self.eval_env = None
        self._start = time.perf_counter() - state.wall_time
        self._last_log = (time.perf_counter(), state.step)
        self._latest_eval = float("nan")
        self.progress = Progress(run.total_steps, initial=state.step, desc=progress_desc)

    @property
    def native(self):
        """The TF-native environment (pure functions) under ``env`` that the compiled loops step (backend 'tf')."""
        env = self.env
        while not hasattr(env, "native"):
            env = env.environment
        return env.native

    def elapsed(self) -> float:
        """Seconds of training, including earlier sessions of a resumed run."""
        return time.perf_counter() - self._start

    def record_episodes(self, records: Iterable) -> None:
        """Count finished training episodes (``EpisodeRecord``s) for the next log row."""
        for record in records:
            self.state.episodes += 1
            self.state.unlogged_episodes.append((float(record.episode_return), float(record.length)))

    def record_summary(self, return_sum: float, length_sum: float, count: int) -> None:
        """Count ``count`` finished episodes known only by their summed returns and lengths (compiled loops)."""
        if count <= 0:
            return
        self.state.episodes += count
        self.state.unlogged_episodes.extend([(return_sum / count, length_sum / count)] * count)

    def evaluate(self) -> EvalResult:
        """Play ``eval_episodes`` episodes of the evaluation policy, log them and update the best and solved marks."""
        state, run = self.state, self.run
        if self.eval_env is None:
            self.eval_env = self.make_eval_env()
        result = evaluate_policy(self.eval_env, self.agent.eval_policy, run.eval_episodes, seed=run.seed + 100_003)
        now = self.elapsed()
        state.evaluations.append((state.step, now, result.mean, result.std))
        state.best_eval = max(state.best_eval, result.mean)
        if run.target_return is not None and state.first_solved_step is None and result.mean >= run.target_return:
            state.first_solved_step, state.first_solved_time = state.step, now
        self.logger.log(state.step, {"eval/return_mean": result.mean, "eval/return_std": result.std,
                                     "eval/length_mean": float(np.mean(result.lengths))})
        self._latest_eval = result.mean
        self.progress.update(state.step, eval=result.mean)
        if self.on_eval is not None:
            self.on_eval(state.step, result)
        return result

    def log(self, scalars: dict[str, float]) -> None:
        """Write one row of training metrics (with episode statistics, speed and memory)."""
        state = self.state
        now = time.perf_counter()
        row = dict(scalars)
        row["charts/steps_per_sec"] = (state.step - self._last_log[1]) / max(now - self._last_log[0], 1e-9)
        row["charts/memory_mb"] = memory_mb()
        row["charts/episodes"] = state.episodes
        if state.unlogged_episodes:
            returns, lengths = np.asarray(state.unlogged_episodes, np.float64).T
            row["charts/episode_return"] = float(np.mean(returns))
            row["charts/episode_length"] = float(np.mean(lengths))
            state.unlogged_episodes = []
        games = self.env.pop_game_records()
        if games:
            row["charts/game_score"] = float(np.mean([game.game_return for game in games]))
        self.logger.log(state.step, row)
        self._last_log = (now, state.step)
        postfix = {"ret": row.get("charts/episode_return", float("nan")), "eval": self._latest_eval}
        if "charts/epsilon" in row:
            postfix["eps"] = row["charts/epsilon"]
        self.progress.update(state.step, **postfix)

    def after_steps(self, before: int, scalars: Callable[[], dict[str, float]],
                    resumable: dict[str, Any] | Callable[[], dict[str, Any]] | None = None) -> bool:
        """Log, evaluate and checkpoint if the step counter crossed their intervals; True means stop
        (the target return was reached with ``stop_at_target``, ``max_minutes`` have passed, or a signal).

        ``scalars()`` gives the training metrics of a log row. ``resumable`` is what the loop needs to
        continue its running episodes after a resume (``resume_vars``), or a function that returns it (called
        only when a checkpoint is written); the checkpoints save it. A compiled loop's ``resumable`` holds the
        native environments' state under ``"compiled"``; otherwise the environment's ``get_state()`` is saved
        with it, under ``"env"``.
        """
        state, run = self.state, self.run
        self._resumable = resumable
        if _crossed(before, state.step, run.log_every) or state.step >= run.total_steps:
            self.log(scalars())
        else:
            self.progress.update(state.step)
        stop = False
        if _crossed(before, state.step, run.eval_every):
            result = self.evaluate()
            stop = bool(run.stop_at_target and run.target_return is not None and result.mean >= run.target_return)
        if self.stop.name is not None:  # SIGINT or SIGTERM: finish this step, checkpoint, return
            stop = True
        max_minutes = run.max_minutes
        if max_minutes is not None and self.elapsed() >= 60.0 * max_minutes:
            stop = True
        if _crossed(before, state.step, run.checkpoint_every) and not stop:
            self.save_checkpoint()
        return stop

    def check_metrics(self, metrics: dict[str, float]) -> None:
        """Stop the run (``TrainingDivergedError``) if a training metric is NaN or infinite."""
        check_finite_metrics(metrics, self.state.step, self.checkpoints.latest())

    def check_time_step(self, time_step) -> None:
        """Stop the run (``TrainingDivergedError``) if a reward or observation is NaN or infinite."""
        check_finite_time_step(time_step, self.state.step, self.checkpoints.latest())

    def _loop_state(self) -> bytes | None:
        resumable = self._resumable() if callable(self._resumable) else self._resumable
        if resumable is None:
            return None
        if "compiled" not in resumable:  # the compiled loops carry the environments' state themselves
            env_state = self.env.get_state()
            if env_state is None:
                return None
            resumable = {"env": env_state, **resumable}
        try:
            return pickle.dumps(resumable, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an environment that cannot be pickled: resume starts new episodes
            if not self._warned_loop_state:
                self._warned_loop_state = True
                print(f"warning: the episodes in progress cannot be saved with checkpoints ({type(exc).__name__}: "
                      f"{exc}); a resumed run will start new episodes", file=sys.stderr)
            return None

    def save_checkpoint(self) -> None:
        """Write a checkpoint of the agent, the counters, the running episodes and (optionally) the replay buffer."""
        self.state.wall_time = self.elapsed()
        extra = self.extra_state() if self.extra_state is not None else {}
        self.checkpoints.save(
            self.state.step,
            self.agent.checkpoint_items(),
            {**self.state.to_dict(), "agent_host": self.agent.host_state(), "metrics_rows": self.logger.rows, **extra},
            replay=self.replay if self.run.save_replay else None,
            loop_state=self._loop_state(),
        )

    def __enter__(self) -> LoopContext:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        """Close; the final checkpoint is written only when the loop ended without an error."""
        self.close(save=exc_type is None)

    def close(self, save: bool = True) -> None:
        """Close the progress bar and the evaluation environment, and take the final checkpoint.

        Used as a context manager (``with context:``), it passes ``save=False`` when the loop stops on
        an error: a checkpoint taken in the middle of a failed step could hold a half-updated state
        (or NaN weights).
        """
        self.progress.close()
        if self.eval_env is not None:
            self.eval_env.close()
            self.eval_env = None
        self.state.wall_time = self.elapsed()
        if save:
            self.save_checkpoint()
