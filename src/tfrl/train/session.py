"""A session: one run directory being trained, built once and handed to its loop.

``Session`` makes the training environment (and its normalizers), the agent, the replay buffer, the
logger, the checkpoint manager and the ``LoopContext``; when resuming, it restores all of them from a
checkpoint. ``session.loop(session.context)`` trains; ``session.finish(state)`` saves the policy, plays
the final evaluation and writes the summary and the learning curve (or, after a SIGINT or SIGTERM,
says how to resume). From construction to ``close`` a first SIGINT or SIGTERM stops the run cleanly.
"""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfrl.agents import Algorithm
from tfrl.envs.ids import ENVPOOL_BACKEND, NATIVE_BACKEND, SYNC_BACKEND
from tfrl.errors import ConfigError, RunDirError
from tfrl.runs.settings import RunConfig

__all__ = ["RunResult", "Session", "make_run_env"]


@dataclass
class RunResult:
    """What a finished training run produced."""

    run_dir: Path
    """The run directory."""
    final_eval: Any
    """``EvalResult`` of the final evaluation (None if final_eval_episodes is 0)."""
    steps: int
    """Environment steps trained."""
    wall_time: float
    """Seconds of training (all sessions of a resumed run)."""
    first_solved_step: int | None
    """First step whose evaluation reached ``target_return`` (None if never or not set)."""
    first_solved_time: float | None
    """Training seconds until then."""
    interrupted: str | None = None
    """``"SIGINT"`` or ``"SIGTERM"`` when a signal stopped the run early (a checkpoint was written, no final
    evaluation played; resume it to finish), else None."""


def make_run_env(env: Any, run: RunConfig, num_envs: int, seed: int, render_mode: str | None = None,
                 training: bool = False):
    """The environment of a run: for evaluation (``training=False``: Gymnasium, whole Atari games with raw
    scores), or for training on the run's backend (for backend 'tf', the host adapter of the TF-native twin)."""
    from tfrl import envs

    backend = run.backend if num_envs > 1 or run.backend == ENVPOOL_BACKEND else SYNC_BACKEND
    if run.backend == NATIVE_BACKEND:
        if training:
            from tfrl.envs.native import make_native

            if not isinstance(env, str):
                raise ConfigError("backend 'tf' needs the id of a TF-native environment, not a Python environment")
            return make_native(env, num_envs=num_envs, seed=seed, max_episode_steps=run.max_episode_steps)
        backend = SYNC_BACKEND  # evaluation always plays the Gymnasium environment
    return envs.make(env, num_envs=num_envs, seed=seed, backend=backend, max_episode_steps=run.max_episode_steps,
                     render_mode=render_mode, training=training)


def _save_keras(model, path: Path) -> None:
    from tfrl.fileio import atomic_path

    with atomic_path(path) as tmp:
        model.save(tmp)


class Session:
    """One run directory being trained: its environment, agent, buffer, logger, checkpoints and loop context.

    ``env_spec`` is what the run trains on (an id, a ``gymnasium.Env`` subclass or a factory);
    ``resume_from`` a checkpoint directory to restore; ``on_eval(step, mean)`` is called after each
    evaluation during training.
    """

    def __init__(self, algorithm: Algorithm, env_spec: Any, env_label: str, run: RunConfig, agent_config: Any,
                 run_dir: Path, *, resume_from: Path | None = None, verbose: bool = True,
                 on_eval: Callable[[int, float], None] | None = None):
        from tfrl.logging import MetricsLogger
        from tfrl.train.checkpoint import CheckpointManager
        from tfrl.train.guards import StopSignals
        from tfrl.train.loops import LoopContext, LoopState, loop_for

        if run.deterministic:
            _set_deterministic(run.seed)
        self.algorithm, self.env_spec, self.env_label = algorithm, env_spec, env_label
        self.run, self.agent_config, self.run_dir, self.on_eval = run, agent_config, run_dir, on_eval
        self.loop = loop_for(algorithm, run.backend)
        """The training loop of this algorithm and backend: ``state = session.loop(session.context)``."""
        self.stop = StopSignals().__enter__()  # from here on a SIGINT or SIGTERM ends the run with a checkpoint
        self.logger = self.env = None
        try:
            self.env = env = make_run_env(env_spec, run, run.num_envs, run.seed, training=True)
            self.raw_observation_spec = env.observation_spec()
            self.obs_norm = self.reward_norm = None
            if getattr(agent_config, "normalize_observations", False):
                from tfrl.envs.normalize import NormalizeObservation

                self.env = env = self.obs_norm = NormalizeObservation(env)
            if getattr(agent_config, "normalize_rewards", False):
                from tfrl.envs.normalize import NormalizeReward

                self.env = env = self.reward_norm = NormalizeReward(env, gamma=agent_config.gamma)
            from tfrl.runs.memory import check_memory  # before the agent and its buffers take any memory
            from tfrl.runs.settings import Settings

            check_memory(Settings(algorithm, run, agent_config, None), env.observation_spec(), env.action_spec())
            self.agent = algorithm.agent(agent_config, env.observation_spec(), env.action_spec(),
                                         total_steps=run.total_steps, seed=run.seed, num_envs=env.num_envs)
            self.checkpoints = CheckpointManager(run_dir / "checkpoints", keep=run.keep_checkpoints)
            state, replay, resume_vars, resume_rows = LoopState(), None, None, None
            if algorithm.host_loop == "off_policy" and run.backend != NATIVE_BACKEND:
                from tfrl.train.loops.host_off_policy import make_replay_buffer

                replay = make_replay_buffer(agent_config, env, run.seed)
            elif algorithm.host_loop == "off_policy":  # the compiled loop's replay buffer, in tf.Variables
                from tfrl.data.graph_replay import GraphReplayBuffer
                from tfrl.train.loops.compiled_off_policy import check_compiled_config

                check_compiled_config(agent_config)
                replay = GraphReplayBuffer(agent_config.buffer_size, env.observation_spec(), env.action_spec(),
                                           env.num_envs)
            if resume_from is not None:
                state, resume_vars, resume_rows = self._restore(resume_from, replay)
                if verbose:
                    print(f"resuming {run_dir} from step {state.step}", file=sys.stderr)
            self.logger = MetricsLogger(run_dir, tensorboard=run.tensorboard,
                                        resume_step=state.step if resume_from else None, resume_rows=resume_rows)
            self._best = state.best_eval
            self.context = LoopContext(
                self.agent, run, env, state, logger=self.logger, checkpoints=self.checkpoints,
                make_eval_env=lambda: self.make_eval_env(run.eval_episodes, run.seed + 10_000), stop=self.stop,
                on_eval=self._keep_best, replay=replay, extra_state=self._normalizer_state, resume_vars=resume_vars,
                progress_desc=f"{algorithm.name} {env_label}" + (f" seed {run.seed}" if run.seed else ""),
            )
            """What the loop trains with: agent, environment, buffer, counters, logs and checkpoints."""
        except BaseException:
            self.close()
            raise

    def _restore(self, checkpoint: Path, replay):
        """The loop state, the loop's resume variables and the metric rows saved in ``checkpoint``, with the
        agent, the buffer, the running episodes and the normalizers restored from it."""
        from tfrl.train.checkpoint import CheckpointManager
        from tfrl.train.loops.context import loop_state_from_dict

        try:
            saved = CheckpointManager.restore(checkpoint, self.agent.checkpoint_items(), replay)
            rows = saved.pop("metrics_rows", None)
            loop_blob = saved.pop("loop_state", None)
            refused = saved.pop("loop_state_refused", None)
            if refused is not None:
                print(f"warning: {refused}", file=sys.stderr)
            resume_vars = None
            if loop_blob is not None:  # its HMAC verified: written by tfrl on this machine, unchanged since
                resume_vars = pickle.loads(loop_blob)
                env_state = resume_vars.pop("env", None)  # a compiled loop keeps its environments in "compiled"
                if env_state is not None:
                    self.env.set_state(env_state)
            self.agent.load_host_state(saved.get("agent_host", {}))
            for name, wrapper in (("obs_norm", self.obs_norm), ("reward_norm", self.reward_norm)):
                if wrapper is not None and name in saved:
                    wrapper.load_state_dict(saved[name])
            return loop_state_from_dict(saved), resume_vars, rows
        except Exception as exc:  # a torn or unreadable checkpoint
            raise RunDirError(f"checkpoint {checkpoint} cannot be read ({type(exc).__name__}: {exc})") from None

    def make_eval_env(self, num_envs: int, seed: int):
        """A Gymnasium evaluation environment (observations normalized with the frozen training statistics)."""
        eval_env = make_run_env(self.env_spec, self.run, num_envs, seed)
        if self.obs_norm is not None:
            from tfrl.envs.normalize import NormalizeObservation

            eval_env = NormalizeObservation(eval_env, stats=self.obs_norm.stats, update=False)
        return eval_env

    def _normalizer_state(self) -> dict:
        return {name: wrapper.state_dict() for name, wrapper in (("obs_norm", self.obs_norm),
                                                                 ("reward_norm", self.reward_norm))
                if wrapper is not None}

    def saved_model(self):
        """The policy network to save, with observation normalization built in when it is used."""
        if self.obs_norm is None:
            return self.agent.policy_model
        from tfrl.networks import with_observation_normalizer

        stats = self.obs_norm.stats
        return with_observation_normalizer(self.agent.policy_model, self.raw_observation_spec, stats.mean,
                                           stats.var, self.obs_norm.clip, self.obs_norm.epsilon)

    def _keep_best(self, step: int, result) -> None:
        if result.mean > self._best:
            self._best = result.mean
            _save_keras(self.saved_model(), self.run_dir / "best_policy.keras")
        if self.on_eval is not None:
            self.on_eval(step, float(result.mean))

    def finish(self, state=None) -> RunResult:
        """End the run: save the policy, play the final evaluation, write the summary and the learning curve.

        After a SIGINT or SIGTERM only the checkpoint is there (the loop wrote it): no policy file and no
        final evaluation, and the result says how to resume.
        """
        from tfrl.fileio import atomic_write_text
        from tfrl.plotting import plot_learning_curve
        from tfrl.train.driver import evaluate_policy

        run, run_dir = self.run, self.run_dir
        state = state if state is not None else self.context.state
        if self.stop.name is not None:
            return self._interrupted(state, self.stop.name)
        _save_keras(self.saved_model(), run_dir / "policy.keras")
        final = None
        if run.final_eval_episodes > 0:
            eval_env = self.make_eval_env(min(run.final_eval_episodes, 20), run.seed + 20_000)
            try:
                final = evaluate_policy(eval_env, self.agent.eval_policy, run.final_eval_episodes,
                                        seed=run.seed + 200_003)
            finally:
                eval_env.close()
            self.logger.log(state.step, {"eval/final_return_mean": final.mean, "eval/final_return_std": final.std})
        self.logger.close()
        summary = {
            "steps": state.step,
            "wall_time": state.wall_time,
            "episodes": state.episodes,
            "num_updates": int(self.agent.num_updates.numpy()),
            "best_eval": state.best_eval if state.best_eval != float("-inf") else None,
            "first_solved_step": state.first_solved_step,
            "first_solved_time": state.first_solved_time,
            "final_eval_mean": final.mean if final is not None else None,
            "final_eval_std": final.std if final is not None else None,
            "final_eval_episodes": len(final.returns) if final is not None else 0,
        }
        atomic_write_text(run_dir / "final_eval.json", json.dumps(summary, indent=1))
        try:
            plot_learning_curve(run_dir / "metrics.csv", run_dir / "learning_curve.png",
                                title=f"{self.algorithm.name} on {self.env_label} (seed {run.seed})")
        except Exception as exc:  # a plot is a convenience; never lose a run over it
            print(f"warning: learning curve not drawn: {exc}", file=sys.stderr)
        return RunResult(run_dir, final, state.step, state.wall_time, state.first_solved_step, state.first_solved_time)

    def _interrupted(self, state, signal_name: str) -> RunResult:
        self.logger.close()
        print(f"{signal_name}: stopped at step {state.step:,} of {self.run.total_steps:,}; checkpoint written. "
              f"Run directory: {self.run_dir}\nresume with: tfrl train --resume {self.run_dir}", file=sys.stderr)
        return RunResult(self.run_dir, None, state.step, state.wall_time, state.first_solved_step,
                         state.first_solved_time, interrupted=signal_name)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Close the logger and the training environment and restore the signal handlers (safe to call twice)."""
        if self.logger is not None:
            self.logger.close()
        if self.env is not None:
            self.env.close()
        self.stop.__exit__(None, None, None)


def _set_deterministic(seed: int) -> None:
    """TensorFlow's op determinism on, and the global Python, NumPy and TensorFlow seeds set to ``seed``."""
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
