"""``VectorAdapter``: the base of the ``Environment`` adapters over a library's vector env that resets a
sub-env on the step after the one that ended its episode (Gymnasium's ``NEXT_STEP`` auto-reset, EnvPool).

On that step the library ignores the sub-env's action and returns the first observation of its new
episode, which is the ``Environment`` auto-reset rule; the adapter only labels the step types: FIRST
after ``reset`` and on the step after a LAST step of the same sub-env (reward 0), LAST when the library
says terminated or truncated, MID otherwise. Discounts are each adapter's own.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from tfrl.envs.core import Environment, checked_actions
from tfrl.specs import ArraySpec, BoundedArraySpec, StepType, TimeStep

__all__ = ["VectorAdapter"]


class VectorAdapter(Environment):
    """Specs, FIRST steps and step-type labels of an adapter over an auto-resetting vector env.

    A subclass passes its specs to ``__init__``, returns ``self._first_steps(observation)`` from ``reset``,
    checks the actions of ``step`` with ``self._step_actions(action)``, labels the library's flags with
    ``self._label(reward, terminated, truncated)``, and releases the library's env in ``_close``.
    """

    def __init__(self, env_id: str, num_envs: int, observation_spec: ArraySpec, action_spec: BoundedArraySpec) -> None:
        self._env_id = env_id
        self._num_envs = num_envs
        self._observation_spec = observation_spec
        self._action_spec = action_spec
        self._after_last = np.zeros(num_envs, dtype=bool)
        self._started = False
        self._closed = False

    @property
    def env_id(self) -> str:
        """The id of the sub-envs (or their class name when they are not registered)."""
        return self._env_id

    @property
    def num_envs(self) -> int:
        """Number of sub-envs."""
        return self._num_envs

    def observation_spec(self) -> ArraySpec:
        """Spec of one sub-env's observation."""
        return self._observation_spec

    def action_spec(self) -> BoundedArraySpec:
        """Spec of one sub-env's action."""
        return self._action_spec

    def close(self) -> None:
        """Release the library's vector env (its processes or threads). Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._close()

    @abc.abstractmethod
    def _close(self) -> None:
        """Release the library's vector env (called once)."""

    def _first_steps(self, observation: np.ndarray) -> TimeStep:
        """The FIRST time steps of a reset of every sub-env: reward 0, discount 1."""
        self._after_last[:] = False
        self._started = True
        n = self._num_envs
        return TimeStep(
            step_type=np.full(n, StepType.FIRST, dtype=np.int32),
            reward=np.zeros(n, dtype=np.float32),
            discount=np.ones(n, dtype=np.float32),
            observation=observation,
        )

    def _step_actions(self, action: Any) -> np.ndarray:
        """``action`` as an array of shape ``[num_envs, *action_shape]``; refused before the first ``reset``."""
        if not self._started:
            raise RuntimeError("call reset() before the first step()")
        return checked_actions(action, self._num_envs, self._action_spec, self._env_id)

    def _label(
        self, reward: np.ndarray, terminated: np.ndarray, truncated: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(first, last, step_type, reward)`` of the step the library returned these flags for.

        ``first``: the sub-envs whose previous step was LAST (the library reset them; their reward
        becomes 0). ``last``: the others that terminated or were truncated.
        """
        first = self._after_last
        last = (terminated | truncated) & ~first
        step_type = np.where(first, StepType.FIRST, np.where(last, StepType.LAST, StepType.MID)).astype(np.int32)
        self._after_last = last
        return first, last, step_type, np.where(first, 0.0, reward).astype(np.float32)
