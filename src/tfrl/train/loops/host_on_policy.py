"""The on-policy host loop: collect with the current policy, train on what was just collected, repeat.

Two ways of collecting, chosen by the agent's config:

* rollouts (A2C, PPO): ``num_steps`` vector steps of every environment into a ``RolloutBuffer``
  (one compiled call per vector step returns the action, its log-probability and the value), then
  the critic's value of the observation after the last step, then one compiled training call;
* whole episodes (REINFORCE, ``episodes_per_update``): vector steps until that many episodes have
  ended; each finished episode goes into the batch. Episodes still running when the batch is full
  carry over into the next batch (their first steps were taken by the previous policy: a small,
  usual approximation that wastes no environment steps).

Evaluation, logging and checkpoints are the shared ``LoopContext``'s.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tfrl.data.rollout import RolloutBuffer
from tfrl.train.loops.context import LoopContext, LoopState

__all__ = ["EpisodeBatch", "run_host_on_policy"]


class EpisodeBatch(NamedTuple):
    """Finished episodes for REINFORCE: lists with one array per episode."""

    observations: list
    actions: list
    rewards: list
    truncated: list


def _collect_rollout(agent, env, rollout: RolloutBuffer, time_step, state: LoopState, context: LoopContext):
    rollout.reset()
    for _ in range(rollout.num_steps):
        env_action, action, log_prob, value = agent.act(time_step.observation)
        next_time_step = env.step(env_action)
        context.check_time_step(next_time_step)
        rollout.add(time_step, action, next_time_step, log_prob=log_prob, value=value)
        state.step += int(np.count_nonzero(~time_step.is_last()))
        time_step = next_time_step
        context.record_episodes(env.pop_finished())
    rollout.finish(time_step, agent.value(time_step.observation))
    return time_step


class _EpisodeCollector:
    """Per-environment trajectories in progress; hands out the ones that have ended."""

    def __init__(self, num_envs: int):
        self.running = [([], [], []) for _ in range(num_envs)]

    def collect(self, agent, env, time_step, count: int, state: LoopState, context: LoopContext):
        done = EpisodeBatch([], [], [], [])
        while len(done.rewards) < count:
            env_action, action, _, _ = agent.act(time_step.observation)
            next_time_step = env.step(env_action)
            context.check_time_step(next_time_step)
            live = ~time_step.is_last()
            for i in np.flatnonzero(live):
                obs, acts, rews = self.running[i]
                obs.append(time_step.observation[i])
                acts.append(action[i])
                rews.append(next_time_step.reward[i])
            for i in np.flatnonzero(next_time_step.is_last()):
                obs, acts, rews = self.running[i]
                done.observations.append(np.stack(obs))
                done.actions.append(np.stack(acts))
                done.rewards.append(np.asarray(rews, np.float32))
                done.truncated.append(bool(next_time_step.discount[i] > 0))
                self.running[i] = ([], [], [])
            state.step += int(np.count_nonzero(live))
            time_step = next_time_step
            context.record_episodes(env.pop_finished())
        return time_step, done


def run_host_on_policy(context: LoopContext) -> LoopState:
    """Train ``context.agent`` on ``context.env`` from ``context.state.step`` to ``total_steps`` (see module docstring)."""
    agent, run, env, state = context.agent, context.run, context.env, context.state
    config = agent.config
    by_episodes = getattr(config, "episodes_per_update", None) is not None
    if by_episodes:
        collector = _EpisodeCollector(env.num_envs)
    else:
        rollout = RolloutBuffer(config.num_steps, env.num_envs, env.observation_spec(), agent.stored_action_spec)
    resumed = context.resume_vars
    if resumed:  # continue the episodes that were running when the checkpoint was written
        time_step = resumed["time_step"]
        if by_episodes:
            collector.running = resumed["running"]
    else:
        time_step = env.reset(seed=run.seed + state.step)
    train_metrics: dict[str, float] = {}
    with context:
        while state.step < run.total_steps:
            before = state.step
            if by_episodes:
                time_step, batch = collector.collect(agent, env, time_step, config.episodes_per_update, state, context)
            else:
                time_step = _collect_rollout(agent, env, rollout, time_step, state, context)
                batch = rollout.as_batch()
            # progress of the run when this batch's collection began: the first update uses the full rate
            train_metrics = agent.train(batch, progress=min(before / run.total_steps, 1.0))
            context.check_metrics(train_metrics)
            state.train_phases += 1
            resumable = {"time_step": time_step, **({"running": collector.running} if by_episodes else {})}
            if context.after_steps(before, lambda: dict(train_metrics), resumable):
                break
    return state
