"""``envs.make``, ``list_env_ids`` and ``env_id_of``."""

from __future__ import annotations

import importlib.util

import gymnasium
import numpy as np
import pytest

from tfrl import envs
from tfrl.errors import ConfigError, UnknownEnvironmentError
from tfrl.specs import ArraySpec, BoundedArraySpec, StepType


def _rollout(env: envs.Environment, steps: int) -> np.ndarray:
    """Observations of ``steps`` steps with a fixed action pattern, after the first reset."""
    observations = [env.reset().observation]
    for t in range(steps):
        actions = np.array([(t + i) % 2 for i in range(env.num_envs)])
        observations.append(env.step(actions).observation)
    return np.stack(observations)


@pytest.mark.parametrize("backend", ["sync", "async"])
def test_cartpole_specs_shapes_and_dtypes(backend):
    with envs.make("CartPole-v1", num_envs=3, seed=0, backend=backend) as env:
        assert isinstance(env, envs.EpisodeStatistics)
        assert env.num_envs == 3
        assert env.observation_spec() == ArraySpec((4,), np.float32, name="observation")
        assert env.action_spec() == BoundedArraySpec((), np.int64, name="action", minimum=0, maximum=1)
        ts = env.reset()
        assert ts.observation.shape == (3, 4) and ts.observation.dtype == np.float32
        assert ts.step_type.shape == ts.reward.shape == ts.discount.shape == (3,)
        ts = env.step(np.array([0, 1, 0]))
        assert ts.step_type.dtype == np.int32 and ts.reward.dtype == np.float32 and ts.discount.dtype == np.float32
        np.testing.assert_array_equal(ts.step_type, [StepType.MID] * 3)
        np.testing.assert_array_equal(ts.reward, [1.0, 1.0, 1.0])


def test_same_seed_same_observations_on_both_backends_and_different_seeds_differ():
    with envs.make("CartPole-v1", num_envs=2, seed=3) as a, envs.make("CartPole-v1", num_envs=2, seed=3) as b:
        first = _rollout(a, 60)
        np.testing.assert_array_equal(first, _rollout(b, 60))
    with envs.make("CartPole-v1", num_envs=2, seed=3, backend="async") as c:
        np.testing.assert_array_equal(first, _rollout(c, 60))
    with envs.make("CartPole-v1", num_envs=2, seed=4) as d:
        assert not np.array_equal(first, _rollout(d, 60))


def test_unknown_id_suggests_the_closest_ids_on_one_line():
    with pytest.raises(UnknownEnvironmentError) as info:
        envs.make("CartPol-v1")
    message = str(info.value)
    assert message.startswith("unknown environment id 'CartPol-v1'. Did you mean CartPole-v1, CartPole-v0")
    assert message.endswith("Run 'tfrl envs' to list the installed ids.")
    assert "\n" not in message
    with pytest.raises(UnknownEnvironmentError, match=r"^unknown environment id 'Qwzx-v9'\. Run 'tfrl envs'"):
        envs.make("Qwzx-v9")


def test_module_prefixed_ids():
    with envs.make("gymnasium.envs.classic_control:CartPole-v1") as env:
        assert envs.env_id_of(env) == "CartPole-v1"
        assert env.reset().observation.shape == (1, 4)
    with pytest.raises(UnknownEnvironmentError, match="cannot import module 'no_such_tfrl_module'"):
        envs.make("no_such_tfrl_module:Foo-v0")


@pytest.mark.skipif(importlib.util.find_spec("ale_py") is not None, reason="ale-py is installed")
def test_atari_id_without_ale_py_says_how_to_install_it():
    with pytest.raises(UnknownEnvironmentError, match="pip install ale-py"):
        envs.make("ALE/Pong-v5")
    with pytest.raises(UnknownEnvironmentError, match="pip install ale-py"):
        envs.make("PongNoFrameskip-v4")


def test_class_factory_and_instance_are_accepted(countdown):
    def factory(terminate_at=5):
        return countdown(terminate_at=terminate_at)

    made = [
        envs.make(countdown, num_envs=2, env_kwargs={"terminate_at": 1}),
        envs.make(factory, num_envs=2, env_kwargs={"terminate_at": 1}),
        envs.make(lambda: countdown(terminate_at=1), num_envs=2, backend="async"),
        envs.make(countdown(terminate_at=1)),
    ]
    for env in made:
        with env:
            env.reset()
            ts = env.step(np.ones(env.num_envs, dtype=np.int64))
            np.testing.assert_array_equal(ts.step_type, [StepType.LAST] * env.num_envs)
            np.testing.assert_array_equal(ts.discount, [0.0] * env.num_envs)
            assert envs.env_id_of(env) == "Countdown"


def test_instance_with_several_envs_or_async_is_refused(countdown):
    for kwargs in ({"num_envs": 2}, {"backend": "async"}):
        with pytest.raises(ConfigError, match="pass its class or a factory"):
            envs.make(countdown(), **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_envs": 0}, "num_envs must be a positive integer, got 0"),
        ({"num_envs": 1.5}, "num_envs must be a positive integer"),
        ({"backend": "threads"}, r"unknown backend 'threads'\. Valid backends: async, envpool, sync, tf\."),
        ({"action_repeat": 0}, "action_repeat must be a positive integer"),
        ({"max_episode_steps": -1}, "max_episode_steps must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_bad_arguments_raise_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        envs.make("CartPole-v1", **kwargs)


def test_bad_env_argument_and_factory_result():
    with pytest.raises(ConfigError, match="pass an id string, a gymnasium.Env subclass"):
        envs.make(42)
    with pytest.raises(ConfigError, match="returned int, not a gymnasium.Env"):
        envs.make(lambda: 3)


def test_render_mode_for_a_factory_that_ignores_it(countdown):
    with pytest.raises(ConfigError, match="render_mode='rgb_array' was requested"):
        envs.make(lambda: countdown(), render_mode="rgb_array")


def test_render_rgb_array_frame():
    with envs.make("CartPole-v1", num_envs=2, seed=0, render_mode="rgb_array") as env:
        env.reset()
        frame = env.render()
        assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8


@pytest.fixture
def registered_countdown(countdown):
    env_id = "TfrlTestCountdown-v0"
    gymnasium.register(env_id, entry_point=countdown, max_episode_steps=3)
    yield env_id
    del gymnasium.registry[env_id]


def test_max_episode_steps_replaces_the_registered_limit(registered_countdown):
    def steps_to_last(env: envs.Environment) -> tuple[int, float]:
        env.reset()
        for t in range(1, 20):
            ts = env.step([0])
            if ts.is_last()[0]:
                return t, float(ts.discount[0])
        raise AssertionError("no LAST step")

    with envs.make(registered_countdown) as env:
        assert steps_to_last(env) == (3, 1.0)
    with envs.make(registered_countdown, max_episode_steps=5) as env:
        assert steps_to_last(env) == (5, 1.0)
    with envs.make(registered_countdown, action_repeat=2) as env:
        assert steps_to_last(env) == (2, 1.0)  # the registered limit counts single steps
    with envs.make(registered_countdown, max_episode_steps=5, action_repeat=2) as env:
        assert steps_to_last(env) == (5, 1.0)  # tfrl's limit counts repeated steps
    with envs.make(registered_countdown, env_kwargs={"terminate_at": 2}) as env:
        assert steps_to_last(env) == (2, 0.0)


def test_list_env_ids():
    ids = envs.list_env_ids()
    assert ids == sorted(ids)
    assert {"CartPole-v1", "MountainCar-v0", "Pendulum-v1"} <= set(ids)


def test_env_id_of(countdown):
    assert envs.env_id_of("CartPole-v1") == "CartPole-v1"
    assert envs.env_id_of("ALE/Pong-v5") == "ALE_Pong-v5"
    assert envs.env_id_of("my_pkg.envs:MyEnv-v0") == "MyEnv-v0"
    assert envs.env_id_of(countdown) == "Countdown"
    assert envs.env_id_of(countdown()) == "Countdown"
    assert envs.env_id_of(gymnasium.make("CartPole-v1")) == "CartPole-v1"
