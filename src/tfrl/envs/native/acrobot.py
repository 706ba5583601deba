"""Acrobot-v1 as a batched TF-native environment (Gymnasium's ``AcrobotEnv``, "book" dynamics).

Physics ``[theta1, theta2, dtheta1, dtheta2]``; actions 0, 1, 2 apply torque -1, 0, +1 to
the joint between the links; one step is one fourth-order Runge-Kutta step of 0.2 s, then
the angles are wrapped into ``[-pi, pi]`` and the velocities clipped to ``4 pi`` and
``9 pi``; reward -1 per step and 0 on the terminating step; terminated when
``-cos(theta1) - cos(theta1 + theta2) > 1``; reset uniform in ``(-0.1, 0.1)`` for all four,
rounded to float32 as Gymnasium does; truncated after 500 steps.
"""

from __future__ import annotations

from math import pi
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfrl.envs.native.core import NativeEnv
from tfrl.specs import BoundedArraySpec

__all__ = ["Acrobot", "AcrobotState"]

DT = 0.2
LINK_LENGTH_1 = 1.0
LINK_MASS_1 = 1.0
LINK_MASS_2 = 1.0
LINK_COM_POS_1 = 0.5
LINK_COM_POS_2 = 0.5
LINK_MOI = 1.0
GRAVITY = 9.8
MAX_VEL_1 = 4 * pi
MAX_VEL_2 = 9 * pi
RESET_LOW, RESET_HIGH = -0.1, 0.1
WRAP_PASSES = 3
"""Unrolled passes of Gymnasium's ``wrap`` loop, each moving an angle by one turn: exact for any
change of angle below 6 pi in one 0.2 s step (the velocities start each step clipped to 4 pi
and 9 pi, so a change beyond 2 pi is already rare)."""

# Products of constants, grouped as Gymnasium's expressions group them.
_M1_LC1_SQ = LINK_MASS_1 * LINK_COM_POS_1**2
_L1_SQ_PLUS_LC2_SQ = LINK_LENGTH_1**2 + LINK_COM_POS_2**2
_TWO_L1_LC2 = 2 * LINK_LENGTH_1 * LINK_COM_POS_2
_LC2_SQ = LINK_COM_POS_2**2
_L1_LC2 = LINK_LENGTH_1 * LINK_COM_POS_2
_M2_LC2_G = LINK_MASS_2 * LINK_COM_POS_2 * GRAVITY
_NEG_M2_L1_LC2 = -LINK_MASS_2 * LINK_LENGTH_1 * LINK_COM_POS_2
_TWO_M2_L1_LC2 = 2 * LINK_MASS_2 * LINK_LENGTH_1 * LINK_COM_POS_2
_M2_L1_LC2 = LINK_MASS_2 * LINK_LENGTH_1 * LINK_COM_POS_2
_ARM_G = (LINK_MASS_1 * LINK_COM_POS_1 + LINK_MASS_2 * LINK_LENGTH_1) * GRAVITY
_INERTIA_2 = LINK_MASS_2 * LINK_COM_POS_2**2 + LINK_MOI


def _derivatives(
    theta1: tf.Tensor, theta2: tf.Tensor, dtheta1: tf.Tensor, dtheta2: tf.Tensor, torque: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Time derivatives of ``(theta1, theta2, dtheta1, dtheta2)`` under ``torque`` (Gymnasium's ``_dsdt``)."""
    cos_theta2 = tf.cos(theta2)
    sin_theta2 = tf.sin(theta2)
    d1 = _M1_LC1_SQ + LINK_MASS_2 * (_L1_SQ_PLUS_LC2_SQ + _TWO_L1_LC2 * cos_theta2) + LINK_MOI + LINK_MOI
    d2 = LINK_MASS_2 * (_LC2_SQ + _L1_LC2 * cos_theta2) + LINK_MOI
    phi2 = _M2_LC2_G * tf.cos(theta1 + theta2 - pi / 2.0)
    phi1 = (
        _NEG_M2_L1_LC2 * tf.square(dtheta2) * sin_theta2
        - _TWO_M2_L1_LC2 * dtheta2 * dtheta1 * sin_theta2
        + _ARM_G * tf.cos(theta1 - pi / 2)
        + phi2
    )
    ddtheta2 = (torque + d2 / d1 * phi1 - _M2_L1_LC2 * tf.square(dtheta1) * sin_theta2 - phi2) / (
        _INERTIA_2 - tf.square(d2) / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return dtheta1, dtheta2, ddtheta1, ddtheta2


def _wrap(x: tf.Tensor) -> tf.Tensor:
    """``x`` moved by whole turns into ``[-pi, pi]``, one turn at a time (as Gymnasium's ``wrap``)."""
    for _ in range(WRAP_PASSES):
        x = tf.where(x > pi, x - 2 * pi, x)
        x = tf.where(x < -pi, x + 2 * pi, x)
    return x


class AcrobotState(NamedTuple):
    """Acrobot's physical variables, each ``[N]``: the two joint angles and their velocities."""

    theta1: tf.Tensor
    theta2: tf.Tensor
    dtheta1: tf.Tensor
    dtheta2: tf.Tensor


class Acrobot(NativeEnv):
    """Acrobot-v1: swing a two-link arm's tip above a line by torquing its middle joint (actions 0, 1, 2)."""

    env_id = "Acrobot-v1"
    physics_type = AcrobotState
    default_max_episode_steps = 500
    num_draws = 4

    def observation_spec(self) -> BoundedArraySpec:
        """float32 ``(6,)``: ``cos, sin`` of both angles within ``[-1, 1]``, velocities within ``4 pi, 9 pi``."""
        high = np.array([1.0, 1.0, 1.0, 1.0, MAX_VEL_1, MAX_VEL_2], dtype=np.float32)
        return BoundedArraySpec((6,), np.float32, name="observation", minimum=-high, maximum=high)

    def action_spec(self) -> BoundedArraySpec:
        """int64 scalar in ``{0, 1, 2}``: torque -1, 0, +1."""
        return BoundedArraySpec((), np.int64, name="action", minimum=0, maximum=2)

    def _initial_physics(self, uniform: list[tf.Tensor]) -> AcrobotState:
        # Gymnasium stores the reset state as float32.
        return AcrobotState(
            *(tf.cast(tf.cast(RESET_LOW + (RESET_HIGH - RESET_LOW) * u, tf.float32), tf.float64) for u in uniform)
        )

    def _dynamics(self, physics: AcrobotState, action: tf.Tensor) -> tuple[AcrobotState, tf.Tensor, tf.Tensor]:
        y = list(physics)
        torque = tf.cast(tf.cast(action, tf.int64) - 1, y[0].dtype)
        # One classical Runge-Kutta step over [0, DT], with Gymnasium's order of operations.
        half = DT / 2.0
        k1 = _derivatives(*y, torque)
        k2 = _derivatives(*[s + half * k for s, k in zip(y, k1)], torque)
        k3 = _derivatives(*[s + half * k for s, k in zip(y, k2)], torque)
        k4 = _derivatives(*[s + DT * k for s, k in zip(y, k3)], torque)
        theta1, theta2, dtheta1, dtheta2 = [
            s + DT / 6.0 * (a + 2 * b + 2 * c + d) for s, a, b, c, d in zip(y, k1, k2, k3, k4)
        ]
        theta1 = _wrap(theta1)
        theta2 = _wrap(theta2)
        dtheta1 = tf.clip_by_value(dtheta1, -MAX_VEL_1, MAX_VEL_1)
        dtheta2 = tf.clip_by_value(dtheta2, -MAX_VEL_2, MAX_VEL_2)
        terminated = -tf.cos(theta1) - tf.cos(theta2 + theta1) > 1.0
        reward = tf.where(terminated, tf.zeros_like(theta1), -tf.ones_like(theta1))
        return AcrobotState(theta1, theta2, dtheta1, dtheta2), reward, terminated

    def _observe(self, physics: AcrobotState) -> tf.Tensor:
        theta1, theta2, dtheta1, dtheta2 = physics
        observation = tf.stack(
            [tf.cos(theta1), tf.sin(theta1), tf.cos(theta2), tf.sin(theta2), dtheta1, dtheta2], axis=1
        )
        return tf.cast(observation, tf.float32)
