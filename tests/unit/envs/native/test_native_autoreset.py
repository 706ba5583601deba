"""The auto-reset rule, termination and truncation of the TF-native environments, on hand-made states."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfrl.envs.native import (
    CartPole,
    CartPoleState,
    MountainCar,
    NativeState,
    Pendulum,
    initial_key,
)
from tfrl.envs.native.cartpole import THETA_THRESHOLD
from tfrl.specs import StepType

FIRST, MID, LAST = int(StepType.FIRST), int(StepType.MID), int(StepType.LAST)


def _cartpole_state(theta: list[float], theta_dot: list[float], elapsed: list[int]) -> NativeState:
    n = len(theta)
    zeros = tf.zeros([n], tf.float64)
    physics = CartPoleState(zeros, zeros, tf.constant(theta, tf.float64), tf.constant(theta_dot, tf.float64))
    return NativeState(physics, tf.constant(elapsed, tf.int32), tf.zeros([n], tf.bool), initial_key(5, n))


def test_termination_truncation_and_the_auto_reset_step_elementwise():
    env = CartPole()
    edge = THETA_THRESHOLD - 1e-3
    # env 0 falls over; env 1 reaches the time limit upright; env 2 does both (termination wins);
    # env 3 goes on.
    state = _cartpole_state([edge, 0.0, edge, 0.0], [1.0, 0.0, 1.0, 0.0], [10, 499, 499, 10])
    state, ts = env.step(state, tf.constant([1, 1, 1, 1]))
    np.testing.assert_array_equal(ts.step_type, [LAST, LAST, LAST, MID])
    np.testing.assert_array_equal(ts.reward, [1.0, 1.0, 1.0, 1.0])  # CartPole rewards the terminal step too
    np.testing.assert_array_equal(ts.discount, [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(state.last, [True, True, True, False])
    np.testing.assert_array_equal(state.elapsed, [11, 500, 500, 11])

    # The next step starts new episodes for envs 0-2, whatever their action.
    after = [env.step(state, tf.constant(actions)) for actions in ([0, 0, 0, 0], [1, 1, 1, 1])]
    for next_state, next_ts in after:
        np.testing.assert_array_equal(next_ts.step_type, [FIRST, FIRST, FIRST, MID])
        np.testing.assert_array_equal(next_ts.reward, [0.0, 0.0, 0.0, 1.0])
        np.testing.assert_array_equal(next_ts.discount, [1.0, 1.0, 1.0, 1.0])
        np.testing.assert_array_equal(next_state.elapsed, [0, 0, 0, 12])
        np.testing.assert_array_equal(next_state.last, [False] * 4)
    (state_a, ts_a), (state_b, ts_b) = after
    np.testing.assert_array_equal(ts_a.observation[:3], ts_b.observation[:3])  # the action was ignored
    assert not np.array_equal(ts_a.observation[3], ts_b.observation[3])  # env 3 did act
    # The new episodes start from the reset draw of each env's key, and the keys advance by one.
    _, drawn = env.reset_with_key(state.key)
    np.testing.assert_array_equal(ts_a.observation[:3], drawn.observation[:3])
    np.testing.assert_array_equal(state_a.key[:, 1] - state.key[:, 1], [1, 1, 1, 0])
    assert np.all(np.abs(ts_a.observation[:3]) < 0.05)

    # And the step after that is an ordinary MID step.
    state_c, ts_c = env.step(state_a, tf.constant([0, 1, 0, 1]))
    np.testing.assert_array_equal(ts_c.step_type[:3], [MID, MID, MID])
    np.testing.assert_array_equal(state_c.elapsed[:3], [1, 1, 1])


@pytest.mark.parametrize("limit", [1, 3])
def test_time_limit_truncates_with_discount_one(limit):
    env = Pendulum(max_episode_steps=limit)
    state, ts = env.reset(0, 2)
    np.testing.assert_array_equal(ts.step_type, [FIRST, FIRST])
    action = tf.zeros([2, 1], tf.float32)
    types = []
    for _ in range(2 * (limit + 1)):
        state, ts = env.step(state, action)
        types.append(ts.step_type.numpy().tolist())
        if ts.step_type[0] == LAST:
            np.testing.assert_array_equal(ts.discount, [1.0, 1.0])
            assert np.all(ts.reward.numpy() < 0.0)  # the LAST step keeps its reward
    expected = ([MID] * (limit - 1) + [LAST, FIRST]) * 2
    assert [t[0] for t in types] == expected and [t[1] for t in types] == expected


def test_mountain_car_termination_at_the_goal_and_reward():
    env = MountainCar()
    position = tf.constant([0.49, 0.49, -1.19], tf.float64)
    velocity = tf.constant([0.02, -0.02, -0.05], tf.float64)
    physics = env.physics_type(position, velocity)
    state = NativeState(physics, tf.zeros([3], tf.int32), tf.zeros([3], tf.bool), initial_key(0, 3))
    state, ts = env.step(state, tf.constant([2, 0, 0], tf.int64))
    np.testing.assert_array_equal(ts.step_type, [LAST, MID, MID])
    np.testing.assert_array_equal(ts.discount, [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(ts.reward, [-1.0, -1.0, -1.0])
    # the left wall stops the car
    assert state.physics.position[2] == -1.2 and state.physics.velocity[2] == 0.0
