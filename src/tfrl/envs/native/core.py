"""``NativeEnv``: a batch of environments as two pure TensorFlow functions, ``reset`` and ``step``.

A native environment holds no mutable state: everything that changes lives in a
``NativeState`` nest of tensors with leading dimension ``N`` (the number of environments),
which ``step`` takes and returns. Both functions use only TensorFlow ops without side
effects or variables, so a whole rollout of thousands of environments runs inside one
compiled ``tf.function`` (graph mode or ``jit_compile=True``).

Each environment class supplies a ``NamedTuple`` of its physical variables (each a tensor
``[N]``, so that XLA fuses a whole step into loops over ``N``) and three pieces of math,
all batched over ``N``: ``_initial_physics`` (the reset distribution, from uniform draws in
``[0, 1)``), ``_dynamics`` (one step: next physics, reward, terminated) and ``_observe``.
This base class adds what every environment shares, the same rules as the Gymnasium adapter:

* the time limit: ``truncated`` when the episode's step count reaches
  ``max_episode_steps``; discount 0 on termination, 1 on truncation, termination wins;
* auto-reset: the step after a LAST step returns FIRST of a new episode for that
  environment (reward 0, discount 1, its action ignored), elementwise with ``tf.where``;
* stateless randomness: environment ``i``'s reset draws come from its own key
  ``state.key[i] = (seed, i * 2**32 + episode)``, advanced by one at each of its resets, so a
  seed fixes the whole run and environment ``i``'s episodes do not depend on ``N`` or on the
  actions of the other environments (see ``tfrl.envs.native.random``).
"""

from __future__ import annotations

import abc
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from tfrl.envs.native.random import stateless_uniform_columns
from tfrl.specs import ArraySpec, BoundedArraySpec, StepType, TimeStep

__all__ = ["NativeEnv", "NativeState", "initial_key"]



class NativeState(NamedTuple):
    """Everything that changes in a batch of ``N`` native environments; every tensor has leading dim ``N``."""

    physics: Any
    """The environment's ``NamedTuple`` of physical variables, each ``[N]`` (float64 by default),
    named and ordered as in the Gymnasium env's ``state``."""
    elapsed: tf.Tensor
    """int32 ``[N]``: steps taken in the current episode (0 on a FIRST step)."""
    last: tf.Tensor
    """bool ``[N]``: the previous step was LAST, so the next ``step`` starts a new episode."""
    key: tf.Tensor
    """int64 ``[N, 2]``: the stateless seed of each environment's next reset draw."""


def initial_key(seed: int | tf.Tensor, num_envs: int) -> tf.Tensor:
    """The keys of ``num_envs`` environments seeded with ``seed``: row ``i`` is ``(seed, i * 2**32)``."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    streams = tf.bitwise.left_shift(tf.range(num_envs, dtype=tf.int64), tf.constant(32, tf.int64))
    return tf.stack([tf.fill([num_envs], seed), streams], axis=1)


class NativeEnv(abc.ABC):
    """A batched TF-native environment: ``reset(seed, num_envs)`` and ``step(state, action)``.

    Subclasses set ``env_id``, ``physics_type``, ``default_max_episode_steps`` and
    ``num_draws`` and implement ``_initial_physics``, ``_dynamics`` and ``_observe``.

    Args:
        max_episode_steps: truncate episodes after this many steps; None keeps the limit
            Gymnasium registers for ``env_id``.
        dtype: float dtype of the physics. float64 (the default) is what Gymnasium computes
            in, and keeps trajectories equal to Gymnasium's; float32 drifts (Acrobot is chaotic).
    """

    env_id: str = ""
    """The Gymnasium id this environment reproduces."""
    physics_type: type = tuple
    """The ``NamedTuple`` class of the physical variables, in the order of Gymnasium's ``state``."""
    default_max_episode_steps: int = 0
    """The time limit Gymnasium registers for ``env_id``."""
    num_draws: int = 0
    """Uniform draws per reset."""

    def __init__(self, max_episode_steps: int | None = None, dtype: tf.DType = tf.float64) -> None:
        limit = self.default_max_episode_steps if max_episode_steps is None else max_episode_steps
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
            raise ValueError(f"max_episode_steps must be a positive integer, got {max_episode_steps!r}")
        dtype = tf.as_dtype(dtype)
        if dtype not in (tf.float32, tf.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype.name}")
        self._max_episode_steps = int(limit)
        self._dtype = dtype

    @property
    def max_episode_steps(self) -> int:
        """Episodes are truncated after this many steps."""
        return self._max_episode_steps

    @property
    def dtype(self) -> tf.DType:
        """Float dtype of the physics."""
        return self._dtype

    @property
    def physics_size(self) -> int:
        """Number of physical variables."""
        return len(self.physics_type._fields)

    @abc.abstractmethod
    def observation_spec(self) -> ArraySpec:
        """Spec of one environment's observation, equal to the Gymnasium adapter's."""

    @abc.abstractmethod
    def action_spec(self) -> BoundedArraySpec:
        """Spec of one environment's action, equal to the Gymnasium adapter's."""

    def state_spec(self, num_envs: int | None) -> NativeState:
        """``tf.TensorSpec`` of every tensor of the state of ``num_envs`` environments (None: any number)."""
        physics = self.physics_type(
            *(tf.TensorSpec([num_envs], self._dtype, name=name) for name in self.physics_type._fields)
        )
        return NativeState(
            physics=physics,
            elapsed=tf.TensorSpec([num_envs], tf.int32, name="elapsed"),
            last=tf.TensorSpec([num_envs], tf.bool, name="last"),
            key=tf.TensorSpec([num_envs, 2], tf.int64, name="key"),
        )

    def reset(self, seed: int | tf.Tensor, num_envs: int) -> tuple[NativeState, TimeStep]:
        """Start an episode in each of ``num_envs`` environments, drawn from ``seed``; all steps FIRST."""
        return self.reset_with_key(initial_key(seed, num_envs))

    def reset_with_key(self, key: tf.Tensor) -> tuple[NativeState, TimeStep]:
        """Start a new episode in every environment from its key (int64 ``[N, 2]``), then advance the keys."""
        key = tf.convert_to_tensor(key, tf.int64)
        physics = self._draw(key)
        n = tf.shape(key)[0]
        state = NativeState(
            physics=physics,
            elapsed=tf.zeros([n], tf.int32),
            last=tf.zeros([n], tf.bool),
            key=key + tf.constant([[0, 1]], tf.int64),
        )
        time_step = TimeStep(
            step_type=tf.fill([n], tf.constant(int(StepType.FIRST), tf.int32)),
            reward=tf.zeros([n], tf.float32),
            discount=tf.ones([n], tf.float32),
            observation=self._observe(physics),
        )
        return state, time_step

    def step(self, state: NativeState, action: Any) -> tuple[NativeState, TimeStep]:
        """Advance every environment by one step; an environment whose previous step was LAST
        ignores its action and returns FIRST of a new episode (reward 0, discount 1)."""
        action = tf.convert_to_tensor(action)
        physics, reward, terminated = self._dynamics(state.physics, action)
        elapsed = state.elapsed + 1
        truncated = elapsed >= self._max_episode_steps
        resetting = state.last
        # The reset draws cost a few steps of physics: skip them when no environment resets.
        fresh = tf.cond(
            tf.reduce_any(resetting),
            lambda: self._draw(state.key),
            lambda: tf.nest.map_structure(tf.zeros_like, state.physics),
        )
        physics = tf.nest.map_structure(lambda new, old: tf.where(resetting, new, old), fresh, physics)
        last = tf.logical_and(tf.logical_or(terminated, truncated), tf.logical_not(resetting))
        step_type = tf.where(
            resetting,
            tf.constant(int(StepType.FIRST), tf.int32),
            tf.where(last, tf.constant(int(StepType.LAST), tf.int32), tf.constant(int(StepType.MID), tf.int32)),
        )
        new_state = NativeState(
            physics=physics,
            elapsed=tf.where(resetting, tf.zeros_like(elapsed), elapsed),
            last=last,
            key=state.key + tf.cast(resetting, tf.int64)[:, None] * tf.constant([[0, 1]], tf.int64),
        )
        reward = tf.cast(reward, tf.float32)
        ended = tf.logical_and(last, terminated)
        time_step = TimeStep(
            step_type=step_type,
            reward=tf.where(resetting, tf.zeros_like(reward), reward),
            discount=tf.where(ended, tf.zeros_like(reward), tf.ones_like(reward)),
            observation=self._observe(physics),
        )
        return new_state, time_step

    def observe(self, physics: Any) -> tf.Tensor:
        """The float32 observations ``[N, obs]`` of a physics ``NamedTuple``."""
        return self._observe(tf.nest.map_structure(lambda x: tf.convert_to_tensor(x, self._dtype), physics))

    def _draw(self, key: tf.Tensor) -> Any:
        """Initial physics drawn from the keys ``[N, 2]``, one row per environment."""
        uniform = stateless_uniform_columns(key, self.num_draws)
        physics = self._initial_physics(uniform)
        return self.physics_type(*(tf.cast(x, self._dtype) for x in physics))

    @abc.abstractmethod
    def _initial_physics(self, uniform: list[tf.Tensor]) -> Any:
        """The reset distribution: physics (float64 ``[N]`` each) from ``num_draws`` uniform draws ``[N]``."""

    @abc.abstractmethod
    def _dynamics(self, physics: Any, action: tf.Tensor) -> tuple[Any, tf.Tensor, tf.Tensor]:
        """One step of every environment: next physics, reward ``[N]`` and terminated (bool ``[N]``)."""

    @abc.abstractmethod
    def _observe(self, physics: Any) -> tf.Tensor:
        """Float32 observations ``[N, obs]`` of the physics."""

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(max_episode_steps={self._max_episode_steps}, dtype={self._dtype.name})"
