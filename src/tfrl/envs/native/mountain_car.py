"""MountainCar-v0 as a batched TF-native environment (Gymnasium's ``MountainCarEnv``).

Physics ``[position, velocity]``; actions 0, 1, 2 accelerate left, not at all, right;
reward -1 on every step; terminated when ``position >= 0.5`` and ``velocity >= 0``; the
velocity is clipped to ``[-0.07, 0.07]``, the position to ``[-1.2, 0.6]``, and hitting the
left wall stops the car; reset position uniform in ``(-0.6, -0.4)``, velocity 0; truncated
after 200 steps.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfrl.envs.native.core import NativeEnv
from tfrl.specs import BoundedArraySpec

__all__ = ["MountainCar", "MountainCarState"]

MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07
GOAL_POSITION = 0.5
GOAL_VELOCITY = 0.0
FORCE = 0.001
GRAVITY = 0.0025
RESET_LOW, RESET_HIGH = -0.6, -0.4


class MountainCarState(NamedTuple):
    """MountainCar's physical variables, each ``[N]``."""

    position: tf.Tensor
    velocity: tf.Tensor


class MountainCar(NativeEnv):
    """MountainCar-v0: drive an underpowered car up a hill by rocking it (actions 0, 1, 2)."""

    env_id = "MountainCar-v0"
    physics_type = MountainCarState
    default_max_episode_steps = 200
    num_draws = 1

    def observation_spec(self) -> BoundedArraySpec:
        """float32 ``(2,)`` within ``[-1.2, -0.07]`` and ``[0.6, 0.07]``."""
        return BoundedArraySpec(
            (2,),
            np.float32,
            name="observation",
            minimum=np.array([MIN_POSITION, -MAX_SPEED], dtype=np.float32),
            maximum=np.array([MAX_POSITION, MAX_SPEED], dtype=np.float32),
        )

    def action_spec(self) -> BoundedArraySpec:
        """int64 scalar in ``{0, 1, 2}``."""
        return BoundedArraySpec((), np.int64, name="action", minimum=0, maximum=2)

    def _initial_physics(self, uniform: list[tf.Tensor]) -> MountainCarState:
        position = RESET_LOW + (RESET_HIGH - RESET_LOW) * uniform[0]
        return MountainCarState(position, tf.zeros_like(position))

    def _dynamics(
        self, physics: MountainCarState, action: tf.Tensor
    ) -> tuple[MountainCarState, tf.Tensor, tf.Tensor]:
        position, velocity = physics
        dtype = position.dtype
        push = tf.cast(tf.cast(action, tf.int64) - 1, dtype) * FORCE
        velocity = velocity + (push + tf.cos(3 * position) * (-GRAVITY))
        velocity = tf.clip_by_value(velocity, -MAX_SPEED, MAX_SPEED)
        position = tf.clip_by_value(position + velocity, MIN_POSITION, MAX_POSITION)
        velocity = tf.where((position == MIN_POSITION) & (velocity < 0), tf.zeros_like(velocity), velocity)
        terminated = (position >= GOAL_POSITION) & (velocity >= GOAL_VELOCITY)
        reward = tf.fill(tf.shape(position), tf.constant(-1.0, dtype))
        return MountainCarState(position, velocity), reward, terminated

    def _observe(self, physics: MountainCarState) -> tf.Tensor:
        return tf.cast(tf.stack(physics, axis=1), tf.float32)
