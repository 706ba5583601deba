"""TF-native environments inside one compiled function: a tf.while_loop rollout under XLA."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfrl.envs.native import NativeEnv, native_env
from tfrl.specs import StepType

STEPS = 100


def _compiled_rollout(env: NativeEnv, num_envs: int, jit_compile: bool):
    """A compiled rollout of ``STEPS`` steps with stateless random actions; returns the stacked time steps."""
    spec = env.action_spec()

    @tf.function(jit_compile=jit_compile)
    def rollout(seed: tf.Tensor):
        state, first = env.reset(seed, num_envs)

        def body(t, state, step_types, rewards, discounts, observations):
            action_seed = tf.stack([seed, tf.cast(t, tf.int64)])
            if spec.is_discrete:
                action = tf.random.stateless_uniform(
                    [num_envs], action_seed, minval=0, maxval=spec.num_values, dtype=tf.int64
                )
            else:
                action = tf.random.stateless_uniform([num_envs, 1], action_seed, minval=-2.0, maxval=2.0)
            state, ts = env.step(state, action)
            return (
                t + 1,
                state,
                step_types.write(t, ts.step_type),
                rewards.write(t, ts.reward),
                discounts.write(t, ts.discount),
                observations.write(t, ts.observation),
            )

        arrays = [tf.TensorArray(dtype, size=STEPS) for dtype in (tf.int32, tf.float32, tf.float32, tf.float32)]
        _, state, *arrays = tf.while_loop(lambda t, *_: t < STEPS, body, (tf.constant(0), state, *arrays))
        return first, state, [a.stack() for a in arrays]

    return rollout


@pytest.mark.parametrize(
    "env_id, num_envs, limit",
    [("CartPole-v1", 1024, None), ("Pendulum-v1", 64, 30)],
)
def test_while_loop_rollout_under_xla_ends_and_restarts_episodes(env_id, num_envs, limit):
    env = native_env(env_id, max_episode_steps=limit)
    first, state, (step_type, reward, discount, observation) = _compiled_rollout(env, num_envs, True)(
        tf.constant(7, tf.int64)
    )
    obs_size = env.observation_spec().shape[0]
    assert first.observation.shape == (num_envs, obs_size)
    assert step_type.shape == reward.shape == discount.shape == (STEPS, num_envs)
    assert observation.shape == (STEPS, num_envs, obs_size) and observation.dtype == tf.float32
    assert state.physics[0].shape == (num_envs,) and state.key.shape == (num_envs, 2)
    step_type, reward, discount = step_type.numpy(), reward.numpy(), discount.numpy()
    last = step_type == StepType.LAST
    restarted = step_type == StepType.FIRST
    assert last.sum() >= num_envs  # every env ended an episode at least once (on average)
    # the step after LAST is FIRST, with reward 0 and discount 1, and FIRST only follows LAST
    np.testing.assert_array_equal(restarted[1:], last[:-1])
    assert not restarted[0].any()
    assert np.all(reward[restarted] == 0.0) and np.all(discount[restarted] == 1.0)
    assert np.all(discount[~last] == 1.0)
    if limit is not None:  # only truncations: discount 1, at steps 30, 61, 92
        assert np.all(discount == 1.0)
        assert np.all(last[[29, 60, 91]]) and last.sum() == 3 * num_envs
    else:
        assert np.all(discount[last] == 0.0)  # random CartPole episodes terminate
        first_obs = observation.numpy()[restarted]
        assert np.all(np.abs(first_obs) < 0.05)  # new episodes drawn from Gymnasium's reset range
    if env_id == "CartPole-v1":  # the same seed in graph mode gives the same episodes
        _, _, (graph_types, *_) = _compiled_rollout(env, num_envs, False)(tf.constant(7, tf.int64))
        np.testing.assert_array_equal(graph_types.numpy(), step_type)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "MountainCar-v0", "Acrobot-v1", "Pendulum-v1"])
def test_float32_physics_follow_float64_closely_for_a_few_steps(env_id):
    runs = {}
    for dtype in (tf.float32, tf.float64):
        env = native_env(env_id, dtype=dtype)
        state, ts = env.reset(3, 4)
        assert all(x.dtype == dtype for x in state.physics)
        action = tf.ones([4, *env.action_spec().shape], env.action_spec().dtype)
        observations = [ts.observation]
        for _ in range(5):
            state, ts = env.step(state, action)
            observations.append(ts.observation)
        runs[dtype] = np.stack(observations)
    assert runs[tf.float32].dtype == np.float32
    np.testing.assert_allclose(runs[tf.float32], runs[tf.float64], rtol=0, atol=1e-4)
