"""The TF-native environments by Gymnasium id."""

from __future__ import annotations

import tensorflow as tf

from tfrl.envs.native.acrobot import Acrobot
from tfrl.envs.native.cartpole import CartPole
from tfrl.envs.native.core import NativeEnv
from tfrl.envs.native.mountain_car import MountainCar
from tfrl.envs.native.pendulum import Pendulum
from tfrl.errors import ConfigError

__all__ = ["NATIVE_ENVS", "NATIVE_ENV_IDS", "native_env"]

NATIVE_ENVS: dict[str, type[NativeEnv]] = {
    cls.env_id: cls for cls in (CartPole, MountainCar, Acrobot, Pendulum)
}
"""Native environment class of each Gymnasium id."""

NATIVE_ENV_IDS: tuple[str, ...] = tuple(NATIVE_ENVS)
"""The Gymnasium ids that have a TF-native implementation."""


def native_env(env_id: str, max_episode_steps: int | None = None, dtype: tf.DType = tf.float64) -> NativeEnv:
    """The native environment of ``env_id``; raises ``ConfigError`` listing ``NATIVE_ENV_IDS`` for any other id."""
    cls = NATIVE_ENVS.get(env_id) if isinstance(env_id, str) else None
    if cls is None:
        raise ConfigError(
            f"environment {env_id!r} has no TF-native implementation (backend='tf'); "
            f"TF-native ids: {', '.join(NATIVE_ENV_IDS)}. Use backend='sync' or 'async' for other environments"
        )
    return cls(max_episode_steps=max_episode_steps, dtype=dtype)
