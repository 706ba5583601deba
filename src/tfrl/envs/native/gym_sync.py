"""Copy physical states between native environments and their Gymnasium twins (for tests and debugging).

Gymnasium's classic-control envs keep their state in ``env.unwrapped.state`` in the same
order as ``NativeState.physics``; the step count of the current episode lives in the
``TimeLimit`` wrapper. The Gymnasium envs must have been reset once (Gymnasium's order
checks) before a state is copied into them.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium
import numpy as np
import tensorflow as tf

from tfrl.envs.native.catalog import native_env
from tfrl.envs.native.core import NativeState, initial_key

__all__ = ["state_from_gymnasium", "state_to_gymnasium"]


def _time_limit(env: gymnasium.Env) -> gymnasium.Wrapper | None:
    """The outermost time-limit wrapper of ``env`` (Gymnasium's or tfrl's), or None."""
    from tfrl.envs.wrappers import TimeLimit as TfrlTimeLimit

    while isinstance(env, gymnasium.Wrapper):
        if isinstance(env, (gymnasium.wrappers.TimeLimit, TfrlTimeLimit)):
            return env
        env = env.env
    return None


def _get_elapsed(env: gymnasium.Env) -> int:
    limit = _time_limit(env)
    if limit is None:
        return 0
    return int(limit._elapsed_steps if isinstance(limit, gymnasium.wrappers.TimeLimit) else limit._elapsed)


def _set_elapsed(env: gymnasium.Env, elapsed: int) -> None:
    limit = _time_limit(env)
    if limit is None:
        return
    if isinstance(limit, gymnasium.wrappers.TimeLimit):
        limit._elapsed_steps = elapsed
    else:
        limit._elapsed = elapsed


def state_from_gymnasium(
    env_id: str,
    gym_envs: Sequence[gymnasium.Env],
    key: tf.Tensor | np.ndarray | None = None,
    dtype: tf.DType = tf.float64,
) -> NativeState:
    """The native state of ``len(gym_envs)`` environments equal to the Gymnasium envs' states.

    Physics from ``env.unwrapped.state``, the episode's step count from the ``TimeLimit``
    wrapper (0 without one), ``last`` False (each env is in the middle of an episode or just
    reset). ``key`` (int64 ``[N, 2]``) defaults to ``initial_key(0, N)``.
    """
    native = native_env(env_id)
    physics = np.stack([np.asarray(env.unwrapped.state, dtype=np.float64) for env in gym_envs])
    if physics.shape[1] != native.physics_size:
        raise ValueError(f"{env_id!r} has {native.physics_size} state variables, the Gymnasium envs {physics.shape[1]}")
    n = len(gym_envs)
    return NativeState(
        physics=native.physics_type(*(tf.constant(column, dtype) for column in physics.T)),
        elapsed=tf.constant([_get_elapsed(env) for env in gym_envs], tf.int32),
        last=tf.zeros([n], tf.bool),
        key=initial_key(0, n) if key is None else tf.convert_to_tensor(key, tf.int64),
    )


def state_to_gymnasium(
    env_id: str, state: NativeState, gym_envs: Sequence[gymnasium.Env], indices: Sequence[int] | None = None
) -> None:
    """Set Gymnasium env ``j`` to native environment ``indices[j]`` (default ``j``): its physics and step count."""
    native_env(env_id)  # refuses ids without a native implementation
    physics = np.stack([np.asarray(column, dtype=np.float64) for column in state.physics], axis=1)
    elapsed = np.asarray(state.elapsed)
    indices = range(len(gym_envs)) if indices is None else indices
    for env, i in zip(gym_envs, indices, strict=True):
        unwrapped = env.unwrapped
        unwrapped.state = physics[i].copy()
        if hasattr(unwrapped, "steps_beyond_terminated"):
            unwrapped.steps_beyond_terminated = None  # CartPole: a fresh, non-terminated state
        if hasattr(unwrapped, "last_u"):
            unwrapped.last_u = None  # Pendulum: only used for rendering
        _set_elapsed(env, int(elapsed[i]))
