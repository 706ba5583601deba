"""Pendulum-v1 as a batched TF-native environment (Gymnasium's ``PendulumEnv``, ``g = 10``).

Physics ``[theta, theta_dot]``; the action is a float32 torque ``[1]``, clipped to
``[-2, 2]``; reward ``-(angle_normalize(theta)**2 + 0.1 theta_dot**2 + 0.001 u**2)``; never
terminates; the angular velocity is clipped to ``[-8, 8]``; reset theta uniform in
``(-pi, pi)``, theta_dot in ``(-1, 1)``; truncated after 200 steps. As in Gymnasium (NumPy 2),
the terms of the torque are computed in float32 and the rest in float64.
"""

from __future__ import annotations

from math import pi
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfrl.envs.native.core import NativeEnv
from tfrl.specs import BoundedArraySpec

__all__ = ["Pendulum", "PendulumState", "angle_normalize"]

MAX_SPEED = 8.0
MAX_TORQUE = 2.0
DT = 0.05
G = 10.0
MASS = 1.0
LENGTH = 1.0
GRAVITY_TERM = 3 * G / (2 * LENGTH)
TORQUE_TERM = 3.0 / (MASS * LENGTH**2)


def angle_normalize(x: tf.Tensor) -> tf.Tensor:
    """``x`` moved into ``[-pi, pi)``: ``((x + pi) mod 2 pi) - pi`` with a floored modulo."""
    return tf.math.floormod(x + pi, 2 * pi) - pi


class PendulumState(NamedTuple):
    """Pendulum's physical variables, each ``[N]``."""

    theta: tf.Tensor
    theta_dot: tf.Tensor


class Pendulum(NativeEnv):
    """Pendulum-v1: swing a pendulum up and hold it upright with a torque in ``[-2, 2]``."""

    env_id = "Pendulum-v1"
    physics_type = PendulumState
    default_max_episode_steps = 200
    num_draws = 2

    def observation_spec(self) -> BoundedArraySpec:
        """float32 ``(3,)``: ``cos theta, sin theta`` within ``[-1, 1]``, ``theta_dot`` within ``[-8, 8]``."""
        high = np.array([1.0, 1.0, MAX_SPEED], dtype=np.float32)
        return BoundedArraySpec((3,), np.float32, name="observation", minimum=-high, maximum=high)

    def action_spec(self) -> BoundedArraySpec:
        """float32 ``(1,)`` within ``[-2, 2]``."""
        return BoundedArraySpec((1,), np.float32, name="action", minimum=-MAX_TORQUE, maximum=MAX_TORQUE)

    def _initial_physics(self, uniform: list[tf.Tensor]) -> PendulumState:
        return PendulumState(-pi + (pi - (-pi)) * uniform[0], -1.0 + (1.0 - (-1.0)) * uniform[1])

    def _dynamics(self, physics: PendulumState, action: tf.Tensor) -> tuple[PendulumState, tf.Tensor, tf.Tensor]:
        theta, theta_dot = physics
        dtype = theta.dtype
        u = tf.clip_by_value(tf.cast(action, tf.float32)[:, 0], -MAX_TORQUE, MAX_TORQUE)
        costs = (
            tf.square(angle_normalize(theta))
            + 0.1 * tf.square(theta_dot)
            + tf.cast(tf.constant(0.001, tf.float32) * tf.square(u), dtype)
        )
        theta_dot = theta_dot + (GRAVITY_TERM * tf.sin(theta) + tf.cast(TORQUE_TERM * u, dtype)) * DT
        theta_dot = tf.clip_by_value(theta_dot, -MAX_SPEED, MAX_SPEED)
        theta = theta + theta_dot * DT
        terminated = tf.zeros(tf.shape(theta), tf.bool)
        return PendulumState(theta, theta_dot), -costs, terminated

    def _observe(self, physics: PendulumState) -> tf.Tensor:
        theta, theta_dot = physics
        return tf.cast(tf.stack([tf.cos(theta), tf.sin(theta), theta_dot], axis=1), tf.float32)
