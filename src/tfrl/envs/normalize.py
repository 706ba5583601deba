"""Observation and reward normalization as wrappers of a batched ``Environment``.

``NormalizeObservation`` keeps a running mean and variance of the observations it has seen and
returns ``clip((obs - mean) / sqrt(var + eps), -clip, clip)``. ``NormalizeReward`` divides rewards
by the running standard deviation of a discounted return accumulated per environment (the scheme
of OpenAI Baselines' ``VecNormalize``), which keeps value targets of order one without moving
their zero. Both stop updating with ``update=False`` (evaluation environments share the training
statistics frozen), and both save their statistics with ``state_dict`` for checkpoints.

Put ``NormalizeReward`` outside ``EpisodeStatistics`` (as ``make`` does) so that episode returns
are reported in the environment's own units.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfrl.envs.core import Environment, EnvironmentWrapper
from tfrl.specs import ArraySpec, TimeStep

__all__ = ["RunningMeanStd", "NormalizeObservation", "NormalizeReward"]


class RunningMeanStd:
    """Mean and variance of a stream of batches (Chan et al.'s parallel update), in float64."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = float(epsilon)

    def update(self, batch: np.ndarray) -> None:
        """Fold a batch ``[B, *shape]`` into the statistics."""
        batch = np.asarray(batch, np.float64)
        if batch.shape[0] == 0:
            return
        batch_mean, batch_var, n = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + np.square(delta) * self.count * n / total
        self.var = m2 / total
        self.count = total

    def state_dict(self) -> dict[str, Any]:
        """JSON-friendly statistics."""
        return {"mean": self.mean.tolist(), "var": self.var.tolist(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
        self.mean = np.asarray(state["mean"], np.float64).reshape(self.mean.shape)
        self.var = np.asarray(state["var"], np.float64).reshape(self.var.shape)
        self.count = float(state["count"])


class NormalizeObservation(EnvironmentWrapper):
    """Standardize observations with running statistics, clipped to ``[-clip, clip]`` (float32)."""

    def __init__(self, environment: Environment, clip: float = 10.0, epsilon: float = 1e-8,
                 stats: RunningMeanStd | None = None, update: bool = True):
        super().__init__(environment)
        spec = environment.observation_spec()
        self.stats = stats if stats is not None else RunningMeanStd(spec.shape)
        self.clip, self.epsilon, self.update = float(clip), float(epsilon), update
        self._spec = ArraySpec(spec.shape, np.float32, name=spec.name)

    def observation_spec(self) -> ArraySpec:
        """Float32 observations of the inner shape (normalized values are unbounded but clipped)."""
        return self._spec

    def time_step_spec(self) -> TimeStep:
        """The inner time step spec with this wrapper's observation spec."""
        return self.environment.time_step_spec()._replace(observation=self._spec)

    def normalize(self, observation: np.ndarray) -> np.ndarray:
        """Apply the current statistics (without updating them)."""
        scaled = (np.asarray(observation, np.float64) - self.stats.mean) / np.sqrt(self.stats.var + self.epsilon)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)

    def _process(self, time_step: TimeStep) -> TimeStep:
        if self.update:
            self.stats.update(time_step.observation)
        return time_step._replace(observation=self.normalize(time_step.observation))

    def reset(self, seed: int | None = None) -> TimeStep:
        """Reset and normalize the first observations."""
        return self._process(self.environment.reset(seed))

    def step(self, action: np.ndarray) -> TimeStep:
        """Step and normalize."""
        return self._process(self.environment.step(action))

    def state_dict(self) -> dict[str, Any]:
        """The running statistics, for checkpoints."""
        return self.stats.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the running statistics."""
        self.stats.load_state_dict(state)


class NormalizeReward(EnvironmentWrapper):
    """Divide rewards by the running std of a per-environment discounted return; clip to ``[-clip, clip]``."""

    _snapshot_attributes = ("_returns",)  # the statistics are saved by the training loop itself

    def __init__(self, environment: Environment, gamma: float = 0.99, clip: float = 10.0, epsilon: float = 1e-8,
                 update: bool = True):
        super().__init__(environment)
        self.gamma, self.clip, self.epsilon, self.update = float(gamma), float(clip), float(epsilon), update
        self.stats = RunningMeanStd(())
        self._returns = np.zeros(environment.num_envs, np.float64)

    def reset(self, seed: int | None = None) -> TimeStep:
        """Reset (the accumulated returns too)."""
        self._returns[:] = 0.0
        return self.environment.reset(seed)

    def step(self, action: np.ndarray) -> TimeStep:
        """Step and scale the rewards."""
        time_step = self.environment.step(action)
        reward = np.asarray(time_step.reward, np.float64)
        first = time_step.is_first()
        self._returns = np.where(first, 0.0, self._returns * self.gamma + reward)
        if self.update:
            self.stats.update(self._returns[~first])
        scaled = np.clip(reward / np.sqrt(self.stats.var + self.epsilon), -self.clip, self.clip)
        if np.any(time_step.is_last()):
            self._returns = np.where(time_step.is_last(), 0.0, self._returns)
        return time_step._replace(reward=scaled.astype(np.float32))

    def state_dict(self) -> dict[str, Any]:
        """The running statistics, for checkpoints."""
        return self.stats.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the running statistics."""
        self.stats.load_state_dict(state)
