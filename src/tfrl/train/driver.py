"""Drivers: run a policy in a batched environment for N steps or N episodes, feeding observers.

An observer is any callable ``observer(time_step, action, next_time_step)``; it sees every
vector step, including the auto-reset steps (``time_step`` LAST), so it must itself skip those
where it records transitions (the replay buffer does). This is the TF-Agents driver concept
(``DynamicStepDriver``, ``DynamicEpisodeDriver``) for tfrl's host loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from tfrl.policies import Policy
from tfrl.specs import TimeStep

__all__ = ["Observer", "Driver", "EvalResult", "evaluate_policy"]

Observer = Callable[[TimeStep, np.ndarray, TimeStep], None]


class Driver:
    """Steps ``env`` with ``policy`` and calls each observer on every transition.

    ``policy`` may be a ``Policy`` or a callable from observations to actions. The driver keeps
    the current time step between calls, so ``run_steps`` can be called repeatedly.
    """

    def __init__(self, env, policy: Policy | Callable[[np.ndarray], np.ndarray], observers: Sequence[Observer] = ()):
        self.env = env
        self.policy = policy
        self.observers = list(observers)
        self.time_step: TimeStep | None = None

    def _act(self, observation: np.ndarray) -> np.ndarray:
        return self.policy.action(observation) if hasattr(self.policy, "action") else self.policy(observation)

    def _step(self) -> TimeStep:
        if self.time_step is None:
            self.time_step = self.env.reset()
        action = self._act(self.time_step.observation)
        next_time_step = self.env.step(action)
        for observer in self.observers:
            observer(self.time_step, action, next_time_step)
        previous, self.time_step = self.time_step, next_time_step
        return previous

    def run_steps(self, num_steps: int) -> TimeStep:
        """Run until ``num_steps`` transitions (summed over environments, resets excluded) were taken."""
        done = 0
        while done < num_steps:
            previous = self._step()
            done += int(np.sum(~previous.is_last()))
        return self.time_step

    def run_episodes(self, num_episodes: int) -> TimeStep:
        """Run until ``num_episodes`` episodes (over all environments) have ended."""
        ended = 0
        while ended < num_episodes:
            self._step()
            ended += int(np.sum(self.time_step.is_last()))
        return self.time_step


class EvalResult(NamedTuple):
    """Undiscounted returns and lengths of the evaluation episodes."""

    returns: np.ndarray
    lengths: np.ndarray

    @property
    def mean(self) -> float:
        """Mean return."""
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        """Standard deviation of the returns."""
        return float(np.std(self.returns))


def evaluate_policy(
    env,
    policy: Policy | Callable[[np.ndarray], np.ndarray],
    num_episodes: int,
    seed: int | None = None,
    frame_sink: Callable[[np.ndarray, float], None] | None = None,
) -> EvalResult:
    """Play ``num_episodes`` whole episodes and return their returns and lengths.

    Each of the ``env.num_envs`` environments plays the same number of episodes
    (``ceil(num_episodes / num_envs)``) and the first ``num_episodes`` of those, in environment
    order, are kept: counting only the first episodes to finish would favour short ones.
    ``frame_sink(frame, score)`` receives the rendered frames of environment 0, for videos.
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}")
    num_envs = env.num_envs
    per_env = -(-num_episodes // num_envs)
    act = policy.action if hasattr(policy, "action") else policy
    returns = [[] for _ in range(num_envs)]
    lengths = [[] for _ in range(num_envs)]
    running = np.zeros(num_envs, np.float64)
    steps = np.zeros(num_envs, np.int64)
    time_step = env.reset(seed=seed)
    if frame_sink is not None:
        frame_sink(env.render(), 0.0)
    while min(len(r) for r in returns) < per_env:
        action = act(time_step.observation)
        time_step = env.step(action)
        live = ~time_step.is_first()
        running += np.where(live, time_step.reward, 0.0)
        steps += live
        if frame_sink is not None and len(returns[0]) < per_env:
            frame_sink(env.render(), float(running[0]))
        for i in np.flatnonzero(time_step.is_last()):
            if len(returns[i]) < per_env:
                returns[i].append(running[i])
                lengths[i].append(steps[i])
            running[i] = 0.0
            steps[i] = 0
    flat_returns = np.array([r for env_returns in returns for r in env_returns])[:num_episodes]
    flat_lengths = np.array([n for env_lengths in lengths for n in env_lengths])[:num_episodes]
    return EvalResult(flat_returns, flat_lengths)
