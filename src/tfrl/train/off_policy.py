"""The off-policy host loop: collect with an exploring policy into a replay buffer, train on a schedule.

Per vector step the loop makes one compiled policy call and ``env.step``; every ``train_freq``
environment steps (counted over all environments) it draws ``gradient_steps`` batches from the
buffer at once and makes one compiled training call that runs them all. Evaluation, logging and
checkpoints happen between steps on their own schedules, measured in environment steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from tfrl.data import UniformReplayBuffer
from tfrl.logging import MetricsLogger, Progress, memory_mb
from tfrl.policies import RandomPolicy
from tfrl.train.checkpoint import CheckpointManager
from tfrl.train.driver import EvalResult, evaluate_policy

__all__ = ["LoopState", "run_off_policy"]


@dataclass
class LoopState:
    """Counters of a training run, saved in every checkpoint."""

    step: int = 0
    """Environment transitions taken (summed over environments)."""
    episodes: int = 0
    """Training episodes finished."""
    train_calls: int = 0
    """Training phases run (each of ``gradient_steps`` gradient steps)."""
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


def _cross(before: int, after: int, every: int) -> bool:
    return every > 0 and after // every > before // every


def run_off_policy(
    agent,
    config,
    run,
    env,
    make_eval_env,
    logger: MetricsLogger,
    checkpoints: CheckpointManager,
    state: LoopState,
    buffer: UniformReplayBuffer | None = None,
    on_eval=None,
    progress_desc: str = "train",
) -> LoopState:
    """Train ``agent`` on ``env`` from ``state.step`` to ``run.total_steps`` (see module docstring).

    ``config`` is the agent's config (its schedule fields), ``run`` the ``RunConfig``.
    ``make_eval_env()`` builds the evaluation environment on first use. ``on_eval(step, result)``
    is called after every evaluation. Returns the final loop state.
    """
    obs_spec, act_spec = env.observation_spec(), env.action_spec()
    if buffer is None:
        buffer = UniformReplayBuffer(
            config.buffer_size, obs_spec, act_spec, num_envs=env.num_envs,
            n_step=config.n_step, gamma=config.gamma, seed=run.seed,
        )
    random_policy = RandomPolicy(act_spec, seed=run.seed + 7 + state.step)
    eval_env = None
    start_time = time.perf_counter() - state.wall_time
    elapsed = lambda: time.perf_counter() - start_time  # noqa: E731

    def evaluate() -> EvalResult:
        nonlocal eval_env
        if eval_env is None:
            eval_env = make_eval_env()
        result = evaluate_policy(eval_env, agent.greedy_policy, run.eval_episodes, seed=run.seed + 100_003)
        now = elapsed()
        state.evaluations.append((state.step, now, result.mean, result.std))
        state.best_eval = max(state.best_eval, result.mean)
        if run.target_return is not None and state.first_solved_step is None and result.mean >= run.target_return:
            state.first_solved_step, state.first_solved_time = state.step, now
        logger.log(state.step, {"eval/return_mean": result.mean, "eval/return_std": result.std,
                                "eval/length_mean": float(np.mean(result.lengths))})
        if on_eval is not None:
            on_eval(state.step, result)
        return result

    def save_checkpoint() -> None:
        state.wall_time = elapsed()
        checkpoints.save(state.step, agent.checkpoint_items(),
                         {**_state_dict(state), "agent_host": agent.host_state()},
                         replay=buffer if run.save_replay else None)

    progress = Progress(run.total_steps, initial=state.step, desc=progress_desc)
    time_step = env.reset(seed=run.seed + state.step)
    recent_returns: list[float] = []
    recent_lengths: list[int] = []
    train_metrics: dict[str, float] = {}
    last_log_time, last_log_step = time.perf_counter(), state.step
    latest_eval = float("nan")
    try:
        while state.step < run.total_steps:
            if state.step < config.learning_starts:
                action = random_policy.action(time_step.observation)
            else:
                action = agent.policy.action(time_step.observation, state.step)
            next_time_step = env.step(action)
            buffer.add(time_step, action, next_time_step)
            before = state.step
            state.step += int(np.count_nonzero(~time_step.is_last()))
            time_step = next_time_step
            for record in env.pop_finished():
                state.episodes += 1
                recent_returns.append(record.episode_return)
                recent_lengths.append(record.length)

            if state.step >= config.learning_starts:
                due = state.step // config.train_freq - state.train_calls
                if state.train_calls == 0 and due > 0:
                    due = 1
                if due > 0:
                    batch = buffer.sample(config.batch_size, num_batches=due * config.gradient_steps)
                    train_metrics = agent.train(batch)
                    state.train_calls = state.step // config.train_freq

            if _cross(before, state.step, run.log_every) or state.step >= run.total_steps:
                now = time.perf_counter()
                scalars = dict(train_metrics)
                scalars["charts/steps_per_sec"] = (state.step - last_log_step) / max(now - last_log_time, 1e-9)
                scalars["charts/epsilon"] = agent.policy.epsilon(state.step)
                scalars["charts/memory_mb"] = memory_mb()
                scalars["charts/episodes"] = state.episodes
                if recent_returns:
                    scalars["charts/episode_return"] = float(np.mean(recent_returns))
                    scalars["charts/episode_length"] = float(np.mean(recent_lengths))
                    progress_return = scalars["charts/episode_return"]
                    recent_returns, recent_lengths = [], []
                else:
                    progress_return = float("nan")
                logger.log(state.step, scalars)
                last_log_time, last_log_step = now, state.step
                progress.update(state.step, ret=progress_return, eval=latest_eval,
                                eps=scalars["charts/epsilon"])
            else:
                progress.update(state.step)

            if _cross(before, state.step, run.eval_every):
                latest_eval = evaluate().mean
                if run.stop_at_target and run.target_return is not None and latest_eval >= run.target_return:
                    break
            if _cross(before, state.step, run.checkpoint_every):
                save_checkpoint()
    finally:
        progress.close()
        if eval_env is not None:
            eval_env.close()
    state.wall_time = elapsed()
    save_checkpoint()
    return state


def _state_dict(state: LoopState) -> dict:
    return {
        "step": state.step,
        "episodes": state.episodes,
        "train_calls": state.train_calls,
        "wall_time": state.wall_time,
        "best_eval": state.best_eval if np.isfinite(state.best_eval) else None,
        "first_solved_step": state.first_solved_step,
        "first_solved_time": state.first_solved_time,
        "evaluations": state.evaluations,
    }


def loop_state_from_dict(data: dict) -> LoopState:
    """Rebuild a ``LoopState`` from a checkpoint's ``state.json``."""
    best = data.get("best_eval")
    return LoopState(
        step=int(data["step"]),
        episodes=int(data.get("episodes", 0)),
        train_calls=int(data.get("train_calls", 0)),
        wall_time=float(data.get("wall_time", 0.0)),
        best_eval=float("-inf") if best is None else float(best),
        first_solved_step=data.get("first_solved_step"),
        first_solved_time=data.get("first_solved_time"),
        evaluations=[tuple(e) for e in data.get("evaluations", [])],
    )
