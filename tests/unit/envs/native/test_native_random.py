"""Stateless randomness of the TF-native environments: per-env keys, reproducibility, reset ranges."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from tfrl.envs.native import NATIVE_ENV_IDS, NativeEnvironment, native_env, stateless_uniform_rows

KEYS = np.array(
    [[0, 0], [1, 2], [-5, 7], [123456789012, (3 << 32) | 17], [2**62, -1], [-(2**63), 2**63 - 1]], np.int64
)


@pytest.mark.parametrize("jit_compile", [None, False, True])  # None: eager
def test_rows_equal_tf_random_stateless_uniform_bit_for_bit(jit_compile):
    expected = np.stack(
        [tf.random.stateless_uniform([5], seed=key, dtype=tf.float64, alg="philox").numpy() for key in KEYS]
    )
    fn = stateless_uniform_rows if jit_compile is None else tf.function(stateless_uniform_rows, jit_compile=jit_compile)
    np.testing.assert_array_equal(fn(tf.constant(KEYS), 5).numpy(), expected)


def _rollout(env_id: str, seed: int, num_envs: int, steps: int = 200) -> np.ndarray:
    """Observations of a run with actions from a fixed NumPy generator (the same for every seed)."""
    env = NativeEnvironment(native_env(env_id, max_episode_steps=40), num_envs, seed=seed, jit_compile=False)
    spec = env.action_spec()
    rng = np.random.default_rng(123)
    observations = [env.reset().observation]
    for _ in range(steps):
        if spec.is_discrete:
            action = rng.integers(0, spec.num_values, size=num_envs)
        else:
            action = rng.uniform(-2, 2, size=(num_envs, 1)).astype(np.float32)
        observations.append(env.step(action).observation)
    return np.stack(observations)


def test_same_seed_same_run_different_seeds_differ_and_envs_do_not_depend_on_the_batch():
    first = _rollout("MountainCar-v0", seed=3, num_envs=3)  # 40-step episodes: 4 auto-resets per env
    np.testing.assert_array_equal(first, _rollout("MountainCar-v0", seed=3, num_envs=3))
    other = _rollout("MountainCar-v0", seed=4, num_envs=3)
    assert not np.array_equal(first[:, :, 0], other[:, :, 0])
    for t in range(0, 200, 41):  # every FIRST step: new episodes differ between seeds
        assert not np.any(first[t, :, 0] == other[t, :, 0])
    # env i's resets come from its own key: a larger batch whose envs 0-2 get the same actions
    # would reproduce them; here the first reset of a batch of 5 equals that of a batch of 3.
    five = native_env("MountainCar-v0").reset(3, 5)[1].observation.numpy()
    np.testing.assert_array_equal(five[:3], first[0])


def test_reset_and_reset_with_key_continue_the_key_sequence():
    env = NativeEnvironment(native_env("CartPole-v1"), 4, seed=9)
    first = env.reset().observation
    second = env.reset().observation  # seed=None: each env continues its own key sequence
    assert not np.any(first == second)
    np.testing.assert_array_equal(env.reset(seed=9).observation, first)
    np.testing.assert_array_equal(env.reset().observation, second)
    env.close()


RANGES = {  # Gymnasium's reset distributions: (low, high) of each physical variable
    "CartPole-v1": [(-0.05, 0.05)] * 4,
    "MountainCar-v0": [(-0.6, -0.4), (0.0, 0.0)],
    "Acrobot-v1": [(-0.1, 0.1)] * 4,
    "Pendulum-v1": [(-math.pi, math.pi), (-1.0, 1.0)],
}


@pytest.mark.parametrize("env_id", NATIVE_ENV_IDS)
def test_reset_distribution_covers_gymnasiums_ranges(env_id):
    env = native_env(env_id)
    state, _ = env.reset(0, 4096)
    for (low, high), values in zip(RANGES[env_id], state.physics, strict=True):
        values = values.numpy()
        assert values.dtype == np.float64 and values.shape == (4096,)
        assert np.all(values >= low) and np.all(values <= high)
        if high > low:
            span = high - low
            assert values.min() < low + 0.01 * span and values.max() > high - 0.01 * span
            assert abs(values.mean() - (low + high) / 2) < 0.05 * span
            assert len(np.unique(values)) > 4000  # (Acrobot rounds to float32: a few repeats)
    if env_id == "Acrobot-v1":  # Gymnasium stores the reset state as float32
        for values in state.physics:
            np.testing.assert_array_equal(values.numpy(), values.numpy().astype(np.float32))
