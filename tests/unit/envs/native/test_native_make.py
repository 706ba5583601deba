"""``make(id, backend="tf")``: the TF-native environments as ordinary ``Environment`` objects."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import numpy as np
import pytest

from tfrl import envs
from tfrl.errors import ConfigError
from tfrl.specs import StepType


@pytest.mark.parametrize("env_id", ["CartPole-v1", "MountainCar-v0", "Acrobot-v1", "Pendulum-v1"])
def test_specs_equal_the_gymnasium_adapters(env_id):
    from tfrl.envs.native import native_env

    with envs.make(env_id) as gym_env:
        native = native_env(env_id)
        assert native.observation_spec() == gym_env.observation_spec()
        assert native.action_spec() == gym_env.action_spec()
        assert native.max_episode_steps == gymnasium.spec(env_id).max_episode_steps


def test_make_cartpole_with_backend_tf_is_an_environment_with_episode_statistics():
    from tfrl.envs.native import NativeEnvironment

    with envs.make("CartPole-v1", backend="tf", num_envs=8, seed=0) as env, envs.make("CartPole-v1") as gym_env:
        assert isinstance(env, envs.EpisodeStatistics) and isinstance(env.environment, NativeEnvironment)
        assert env.num_envs == 8
        assert env.observation_spec() == gym_env.observation_spec()
        assert env.action_spec() == gym_env.action_spec()
        assert env.time_step_spec() == gym_env.time_step_spec()
        assert env.render() is None
        ts = env.reset()
        np.testing.assert_array_equal(ts.step_type, [StepType.FIRST] * 8)
        assert ts.observation.shape == (8, 4) and ts.observation.dtype == np.float32
        assert ts.step_type.dtype == np.int32 and ts.reward.dtype == ts.discount.dtype == np.float32
        rng = np.random.default_rng(0)
        finished = []
        after_last = np.zeros(8, bool)
        for _ in range(200):
            ts = env.step(rng.integers(0, 2, size=8))
            np.testing.assert_array_equal(ts.is_first(), after_last)
            after_last = ts.is_last()
            finished += env.pop_finished()
        assert len(finished) >= 8 and env.total_episodes == len(finished)
        for record in finished:
            assert record.terminated and record.episode_return == record.length >= 8
        assert env.reset(seed=0).observation.shape == (8, 4)
        env.step(np.zeros(8, np.int32))  # any integer dtype: cast to the spec's int64
        assert env.environment._step_fn.experimental_get_tracing_count() == 1  # compiled once, never retraced
        with pytest.raises(ValueError, match=r"expected shape \(8,\)"):
            env.step(np.zeros(3, np.int64))
        with pytest.raises(ValueError, match="must lie in"):
            env.step(np.full(8, 2))


def test_make_pendulum_with_backend_tf_and_a_time_limit():
    with envs.make("Pendulum-v1", backend="tf", num_envs=2, seed=1, max_episode_steps=5) as env:
        assert env.action_spec().shape == (1,)
        env.reset()
        for _ in range(5):
            ts = env.step(np.zeros((2, 1), np.float32))
        np.testing.assert_array_equal(ts.step_type, [StepType.LAST] * 2)
        np.testing.assert_array_equal(ts.discount, [1.0, 1.0])
        records = env.pop_finished()
        assert [(r.length, r.terminated) for r in records] == [(5, False), (5, False)]


def test_non_native_ids_and_options_are_refused_listing_the_native_ids():
    for env_id in ("LunarLander-v3", "CartPole-v0"):
        with pytest.raises(ConfigError) as info:
            envs.make(env_id, backend="tf")
        message = str(info.value)
        assert repr(env_id) in message
        for native_id in ("CartPole-v1", "MountainCar-v0", "Acrobot-v1", "Pendulum-v1"):
            assert native_id in message
    with pytest.raises(ConfigError, match="action_repeat is not supported by backend='tf'"):
        envs.make("CartPole-v1", backend="tf", action_repeat=2)
    with pytest.raises(ConfigError, match="render_mode is not supported"):
        envs.make("CartPole-v1", backend="tf", render_mode="rgb_array")
    with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
        envs.make("CartPole-v1", backend="tf", seed=-1)


def test_importing_tfrl_envs_does_not_import_tensorflow():
    code = "import sys, tfrl.envs; sys.exit(1 if 'tensorflow' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
