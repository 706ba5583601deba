"""CartPole-v1 as a batched TF-native environment (Gymnasium's ``CartPoleEnv``, Euler integration).

Physics ``[x, x_dot, theta, theta_dot]``; action 0 pushes the cart left, any other value
right (as Gymnasium: ``force_mag if action == 1 else -force_mag``); reward 1 on every step,
the terminating one included; terminated when ``|x| > 2.4`` or ``|theta| > 12 degrees``;
reset uniform in ``(-0.05, 0.05)`` for all four; truncated after 500 steps.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfrl.envs.native.core import NativeEnv
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["CartPole", "CartPoleState"]

# Gymnasium's constants, combined in the same order so that every float64 value is the same.
GRAVITY = 9.8
MASS_CART = 1.0
MASS_POLE = 0.1
TOTAL_MASS = MASS_POLE + MASS_CART
LENGTH = 0.5  # half the pole's length
POLE_MASS_LENGTH = MASS_POLE * LENGTH
FORCE_MAG = 10.0
TAU = 0.02
THETA_THRESHOLD = 12 * 2 * math.pi / 360
X_THRESHOLD = 2.4
RESET_LOW, RESET_HIGH = -0.05, 0.05


class CartPoleState(NamedTuple):
    """CartPole's physical variables, each ``[N]``."""

    x: tf.Tensor
    x_dot: tf.Tensor
    theta: tf.Tensor
    theta_dot: tf.Tensor


class CartPole(NativeEnv):
    """CartPole-v1: balance a pole on a cart by pushing it left (0) or right (1)."""

    env_id = "CartPole-v1"
    physics_type = CartPoleState
    default_max_episode_steps = 500
    num_draws = 4

    def observation_spec(self) -> ArraySpec:
        """float32 ``(4,)``, unbounded (Gymnasium's Box has infinite velocity bounds)."""
        return ArraySpec((4,), np.float32, name="observation")

    def action_spec(self) -> BoundedArraySpec:
        """int64 scalar in ``{0, 1}``."""
        return BoundedArraySpec((), np.int64, name="action", minimum=0, maximum=1)

    def _initial_physics(self, uniform: list[tf.Tensor]) -> CartPoleState:
        return CartPoleState(*(RESET_LOW + (RESET_HIGH - RESET_LOW) * u for u in uniform))

    def _dynamics(self, physics: CartPoleState, action: tf.Tensor) -> tuple[CartPoleState, tf.Tensor, tf.Tensor]:
        x, x_dot, theta, theta_dot = physics
        dtype = x.dtype
        force = tf.where(tf.equal(action, tf.cast(1, action.dtype)), tf.constant(FORCE_MAG, dtype), -FORCE_MAG)
        cos_theta = tf.cos(theta)
        sin_theta = tf.sin(theta)
        temp = (force + POLE_MASS_LENGTH * tf.square(theta_dot) * sin_theta) / TOTAL_MASS
        theta_acc = (GRAVITY * sin_theta - cos_theta * temp) / (
            LENGTH * (4.0 / 3.0 - MASS_POLE * tf.square(cos_theta) / TOTAL_MASS)
        )
        x_acc = temp - POLE_MASS_LENGTH * theta_acc * cos_theta / TOTAL_MASS
        x = x + TAU * x_dot
        x_dot = x_dot + TAU * x_acc
        theta = theta + TAU * theta_dot
        theta_dot = theta_dot + TAU * theta_acc
        terminated = (
            (x < -X_THRESHOLD) | (x > X_THRESHOLD) | (theta < -THETA_THRESHOLD) | (theta > THETA_THRESHOLD)
        )
        reward = tf.ones_like(x)
        return CartPoleState(x, x_dot, theta, theta_dot), reward, terminated

    def _observe(self, physics: CartPoleState) -> tf.Tensor:
        return tf.cast(tf.stack(physics, axis=1), tf.float32)
