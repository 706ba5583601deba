"""Wrappers: episode statistics over a batched ``Environment``, and time limit and action repeat
as ``gymnasium.Wrapper`` subclasses applied to each single Gymnasium env before vectorizing.
"""

from __future__ import annotations

from typing import Any, NamedTuple, SupportsFloat

import gymnasium
import numpy as np

from tfrl.envs.checks import positive_int
from tfrl.envs.core import Environment, EnvironmentWrapper
from tfrl.specs import TimeStep

__all__ = ["EpisodeRecord", "EpisodeStatistics", "TimeLimit", "ActionRepeat"]


class EpisodeRecord(NamedTuple):
    """One finished episode of one env of the batch."""

    env_index: int
    """Index of the env in the batch."""
    episode_return: float
    """Sum of the episode's rewards, undiscounted."""
    length: int
    """Number of steps of the episode (transitions that produced MID or LAST)."""
    terminated: bool
    """True if the episode terminated (discount 0), False if it was truncated."""


class EpisodeStatistics(EnvironmentWrapper):
    """Tracks the return and length of each env's current episode and records finished ones.

    The step that returns FIRST (after ``reset`` or after an auto-reset) starts an episode and
    does not count toward its length; every step that returns MID or LAST counts once and
    adds its reward to the return. Episodes in progress at a ``reset`` are dropped.
    """

    _snapshot_attributes = ("_returns", "_lengths", "_finished", "_total_steps")

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self._returns = np.zeros(environment.num_envs, dtype=np.float64)
        self._lengths = np.zeros(environment.num_envs, dtype=np.int64)
        self._finished: list[EpisodeRecord] = []
        self._all_returns: list[float] = []
        self._total_steps = 0

    @property
    def total_episodes(self) -> int:
        """Number of episodes finished so far."""
        return len(self._all_returns)

    @property
    def total_steps(self) -> int:
        """Number of transitions counted so far (env steps that produced MID or LAST), over all envs."""
        return self._total_steps

    def reset(self, seed: int | None = None) -> TimeStep:
        """Reset the inner environment and drop the episodes in progress."""
        time_step = self.environment.reset(seed)
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return time_step

    def step(self, action: np.ndarray) -> TimeStep:
        """Step the inner environment and update the statistics."""
        time_step = self.environment.step(action)
        counted = ~time_step.is_first()
        self._returns[counted] += time_step.reward[counted]
        self._lengths[counted] += 1
        self._total_steps += int(np.count_nonzero(counted))
        for i in np.flatnonzero(time_step.is_last()):
            record = EpisodeRecord(
                env_index=int(i),
                episode_return=float(self._returns[i]),
                length=int(self._lengths[i]),
                terminated=bool(time_step.discount[i] == 0.0),
            )
            self._finished.append(record)
            self._all_returns.append(record.episode_return)
            self._returns[i] = 0.0
            self._lengths[i] = 0
        return time_step

    def pop_finished(self) -> list[EpisodeRecord]:
        """The episodes finished since the last call, in the order they finished."""
        finished, self._finished = self._finished, []
        return finished

    def recent_returns(self, n: int) -> list[float]:
        """The returns of the last ``n`` finished episodes (fewer if fewer finished), oldest first."""
        return self._all_returns[-n:] if n > 0 else []


class TimeLimit(gymnasium.Wrapper):
    """Truncates an episode after ``max_episode_steps`` steps, unless it terminated on that step."""

    def __init__(self, env: gymnasium.Env, max_episode_steps: int) -> None:
        super().__init__(env)
        self.max_episode_steps = positive_int("max_episode_steps", max_episode_steps)
        self._elapsed = 0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset the env and the step count."""
        self._elapsed = 0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env; ``truncated`` becomes True on step ``max_episode_steps`` if not terminated."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._elapsed += 1
        if self._elapsed >= self.max_episode_steps and not terminated:
            truncated = True
        return observation, reward, terminated, truncated, info


class ActionRepeat(gymnasium.Wrapper):
    """Repeats each action ``repeat`` times and sums the rewards; stops early when the episode ends."""

    def __init__(self, env: gymnasium.Env, repeat: int) -> None:
        super().__init__(env)
        self.repeat = positive_int("action_repeat", repeat)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env up to ``repeat`` times; return the last observation and the summed reward."""
        total = 0.0
        for _ in range(self.repeat):
            observation, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return observation, total, terminated, truncated, info
