"""``NativeEnvironment``: a TF-native environment behind the ordinary host ``Environment`` interface.

One compiled call per vector step: the state stays in TensorFlow tensors between calls,
actions come in as NumPy arrays and time steps go out as NumPy arrays. The step and reset
functions are compiled with input signatures, so they trace once.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np
import tensorflow as tf

from tfrl.envs.checks import check_seed, positive_int
from tfrl.envs.core import Environment
from tfrl.envs.native.catalog import native_env
from tfrl.envs.native.core import NativeEnv, NativeState
from tfrl.envs.wrappers import EpisodeStatistics
from tfrl.specs import ArraySpec, BoundedArraySpec, TimeStep

__all__ = ["NativeEnvironment", "make_native"]


class NativeEnvironment(Environment):
    """An ``Environment`` over ``num_envs`` copies of a ``NativeEnv``, stepped by one compiled call.

    Args:
        native: the native environment.
        num_envs: number of environments in the batch.
        seed: seed of the first ``reset`` when it is called with ``seed=None``; environment
            ``i`` draws its episodes from the key ``(seed, i * 2**32 + episode)``.
        jit_compile: compile the step and reset functions with XLA.
    """

    def __init__(self, native: NativeEnv, num_envs: int, seed: int | None = None, jit_compile: bool = True) -> None:
        self._native = native
        self._num_envs = positive_int("num_envs", num_envs)
        self._pending_seed = seed
        self._state: NativeState | None = None
        action_spec = native.action_spec()
        self._action_spec = action_spec
        action_signature = tf.TensorSpec([self._num_envs, *action_spec.shape], tf.as_dtype(action_spec.dtype))
        state_signature = native.state_spec(self._num_envs)
        n = self._num_envs
        self._reset_fn = tf.function(
            lambda seed: native.reset(seed, n),
            input_signature=[tf.TensorSpec([], tf.int64)],
            jit_compile=jit_compile,
        )
        self._reset_with_key_fn = tf.function(
            native.reset_with_key, input_signature=[state_signature.key], jit_compile=jit_compile
        )
        self._step_fn = tf.function(
            native.step, input_signature=[state_signature, action_signature], jit_compile=jit_compile
        )

    @property
    def native(self) -> NativeEnv:
        """The native environment (pure functions) this adapter steps."""
        return self._native

    @property
    def env_id(self) -> str:
        """The Gymnasium id of the environment."""
        return self._native.env_id

    @property
    def num_envs(self) -> int:
        """Number of environments in the batch."""
        return self._num_envs

    @property
    def state(self) -> NativeState | None:
        """The current state of the batch (None before the first ``reset``)."""
        return self._state

    def observation_spec(self) -> ArraySpec:
        """Spec of one environment's observation."""
        return self._native.observation_spec()

    def action_spec(self) -> BoundedArraySpec:
        """Spec of one environment's action."""
        return self._action_spec

    def reset(self, seed: int | None = None) -> TimeStep:
        """Start a new episode in every environment; all steps FIRST, reward 0, discount 1.

        With ``seed=None``, the first reset uses the seed given at construction (a random one
        if none was given) and later resets continue each environment's own key sequence.
        """
        if seed is None:
            seed, self._pending_seed = self._pending_seed, None
        else:
            self._pending_seed = None
        if seed is None and self._state is not None:
            self._state, time_step = self._reset_with_key_fn(self._state.key)
        else:
            if seed is None:
                seed = secrets.randbits(63)
            self._state, time_step = self._reset_fn(tf.constant(seed, tf.int64))
        return _to_numpy(time_step)

    def step(self, action: Any) -> TimeStep:
        """Step every environment; ``action`` has shape ``[num_envs, *action_spec().shape]``."""
        if self._state is None:
            raise RuntimeError("call reset() before the first step()")
        actions = np.asarray(action)
        expected = (self._num_envs, *self._action_spec.shape)
        if actions.shape != expected:
            raise ValueError(
                f"action of shape {actions.shape} does not fit {self.env_id!r}: expected shape {expected} "
                f"(num_envs={self._num_envs}, action spec {self._action_spec})"
            )
        if self._action_spec.is_discrete and not self._action_spec.check_array(
            actions.astype(self._action_spec.dtype, copy=False), batched=True
        ):
            raise ValueError(
                f"actions for {self.env_id!r} must lie in [{self._action_spec.minimum}, {self._action_spec.maximum}]"
            )
        self._state, time_step = self._step_fn(self._state, actions.astype(self._action_spec.dtype, copy=False))
        return _to_numpy(time_step)

    def render(self) -> None:
        """TF-native environments do not render: always None."""
        return None

    def close(self) -> None:
        """Drop the state (``reset`` starts again). Safe to call twice."""
        self._state = None


def _to_numpy(time_step: TimeStep) -> TimeStep:
    return TimeStep(*(t.numpy() for t in time_step))


def make_native(
    env_id: str,
    num_envs: int = 1,
    seed: int | None = None,
    max_episode_steps: int | None = None,
    jit_compile: bool = True,
) -> EpisodeStatistics:
    """The TF-native ``env_id`` as a host ``Environment`` of ``num_envs`` environments, with episode statistics.

    Raises ``ConfigError`` listing the native ids when ``env_id`` has no native implementation.
    """
    native = native_env(env_id, max_episode_steps=_check_limit(max_episode_steps))
    return EpisodeStatistics(NativeEnvironment(native, num_envs, seed=check_seed(seed), jit_compile=jit_compile))


def _check_limit(max_episode_steps: int | None) -> int | None:
    return None if max_episode_steps is None else positive_int("max_episode_steps", max_episode_steps)
