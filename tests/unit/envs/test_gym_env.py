"""The Gymnasium adapter: step types, discounts, auto-reset, specs, actions and refusals."""

from __future__ import annotations

import functools

import gymnasium
import numpy as np
import pytest

from tfrl.envs import GymnasiumEnvironment, TimeLimit
from tfrl.errors import ConfigError, UnsupportedSpaceError
from tfrl.specs import ArraySpec, BoundedArraySpec, StepType

F, M, L = StepType.FIRST, StepType.MID, StepType.LAST


@pytest.fixture(params=["sync", "async"])
def mixed_batch(request, countdown):
    """env 0 terminates on step 2, env 1 is truncated by TimeLimit on step 3, env 2 terminates on step 4."""
    env = GymnasiumEnvironment(
        [
            functools.partial(countdown, terminate_at=2),
            lambda: TimeLimit(countdown(), 3),
            functools.partial(countdown, terminate_at=4),
        ],
        backend=request.param,
    )
    yield env
    env.close()


def test_termination_truncation_and_auto_reset_across_a_batch(mixed_batch):
    env = mixed_batch
    ts = env.reset()
    np.testing.assert_array_equal(ts.step_type, [F, F, F])
    np.testing.assert_array_equal(ts.reward, [0, 0, 0])
    np.testing.assert_array_equal(ts.discount, [1, 1, 1])
    np.testing.assert_array_equal(ts.observation, np.zeros((3, 2)))
    assert ts.step_type.dtype == np.int32 and ts.reward.dtype == np.float32
    assert ts.discount.dtype == np.float32 and ts.observation.dtype == np.float32

    # (actions, step types, rewards, discounts, observations [t, sum of actions])
    script = [
        ([1, 1, 1], [M, M, M], [2, 2, 2], [1, 1, 1], [[1, 1], [1, 1], [1, 1]]),
        ([2, 1, 1], [L, M, M], [3, 2, 2], [0, 1, 1], [[2, 3], [2, 2], [2, 2]]),
        # env 0 auto-resets: its action 2 is ignored (t stays 0); env 1 hits its time limit
        ([2, 0, 1], [F, L, M], [0, 1, 2], [1, 1, 1], [[0, 0], [3, 2], [3, 3]]),
        # env 1 auto-resets and ignores its action; env 2 terminates
        ([1, 2, 2], [M, F, L], [2, 0, 3], [1, 1, 0], [[1, 1], [0, 0], [4, 5]]),
        ([0, 1, 2], [L, M, F], [1, 2, 0], [0, 1, 1], [[2, 1], [1, 1], [0, 0]]),
        ([1, 1, 1], [F, M, M], [0, 2, 2], [1, 1, 1], [[0, 0], [2, 2], [1, 1]]),
    ]
    for actions, step_type, reward, discount, observation in script:
        ts = env.step(np.array(actions))
        np.testing.assert_array_equal(ts.step_type, step_type)
        np.testing.assert_array_equal(ts.reward, reward)
        np.testing.assert_array_equal(ts.discount, discount)
        np.testing.assert_array_equal(ts.observation, observation)


def test_action_of_an_auto_reset_step_never_reaches_the_env(countdown):
    inner = countdown(terminate_at=1)
    env = GymnasiumEnvironment([lambda: inner])
    env.reset()
    assert env.step([2]).step_type[0] == L
    assert env.step([1]).step_type[0] == F
    assert env.step([0]).step_type[0] == L
    assert inner.actions == [2, 0]
    assert inner.resets == 2


def test_termination_wins_when_terminated_and_truncated(countdown):
    with GymnasiumEnvironment([functools.partial(countdown, terminate_at=2, truncate_at=2)]) as env:
        env.reset()
        env.step([0])
        ts = env.step([0])
        assert ts.step_type[0] == L and ts.discount[0] == 0.0


def test_truncation_by_the_env_itself_keeps_discount_one(countdown):
    with GymnasiumEnvironment([functools.partial(countdown, truncate_at=1)]) as env:
        env.reset()
        ts = env.step([1])
        assert ts.step_type[0] == L and ts.discount[0] == 1.0 and ts.reward[0] == 2.0


def test_time_step_spec_and_specs(countdown):
    with GymnasiumEnvironment([countdown, countdown]) as env:
        assert env.num_envs == 2
        assert env.env_id == "Countdown"
        assert env.observation_spec() == ArraySpec((2,), np.float32, name="observation")
        assert env.action_spec() == BoundedArraySpec((), np.int64, name="action", minimum=0, maximum=2)
        spec = env.time_step_spec()
        assert spec.step_type == ArraySpec((), np.int32, name="step_type")
        assert spec.reward == ArraySpec((), np.float32, name="reward")
        assert spec.discount == BoundedArraySpec((), np.float32, name="discount", minimum=0.0, maximum=1.0)
        assert spec.observation == env.observation_spec()
        ts = env.reset()
        assert spec.observation.check_array(ts.observation, batched=True)


class SpacesEnv(gymnasium.Env):
    """Returns zeros of any observation space; the spaces are given to the constructor."""

    def __init__(self, observation_space: gymnasium.Space, action_space: gymnasium.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space
        self.last_action = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample() * 0, {}

    def step(self, action):
        self.last_action = action
        return self.observation_space.sample() * 0, 0.0, False, False, {}


def _make(obs_space: gymnasium.Space, act_space: gymnasium.Space, **kwargs) -> GymnasiumEnvironment:
    return GymnasiumEnvironment([lambda: SpacesEnv(obs_space, act_space)], **kwargs)


def test_box_and_discrete_spaces_become_specs():
    box = gymnasium.spaces.Box
    with _make(box(0, 255, (4, 4, 3), np.uint8), gymnasium.spaces.Discrete(3, start=1)) as env:
        assert env.observation_spec() == BoundedArraySpec((4, 4, 3), np.uint8, name="observation", minimum=0, maximum=255)
        assert env.action_spec() == BoundedArraySpec((), np.int64, name="action", minimum=1, maximum=3)
        assert env.reset().observation.dtype == np.uint8
        env.step(np.array([3]))
    with _make(box(-2.0, 2.0, (3,), np.float64), box(-1.0, 1.0, (2,), np.float32)) as env:
        assert env.observation_spec() == BoundedArraySpec((3,), np.float32, name="observation", minimum=-2, maximum=2)
        assert env.action_spec() == BoundedArraySpec((2,), np.float32, name="action", minimum=-1, maximum=1)
        assert env.reset().observation.dtype == np.float32
        assert env.step(np.zeros((1, 2), np.float64)).observation.shape == (1, 3)
    # float64 bounds beyond float32's range are unbounded after conversion
    big = np.finfo(np.float64).max
    with _make(box(-big, big, (2,), np.float64), gymnasium.spaces.Discrete(2)) as env:
        assert env.observation_spec() == ArraySpec((2,), np.float32, name="observation")
    with _make(gymnasium.spaces.Discrete(5), gymnasium.spaces.Discrete(2)) as env:
        assert env.observation_spec() == BoundedArraySpec((), np.int64, name="observation", minimum=0, maximum=4)
        assert env.reset().observation.shape == (1,)


@pytest.mark.parametrize(
    "obs_space, act_space, named",
    [
        (gymnasium.spaces.Dict({"x": gymnasium.spaces.Discrete(2)}), gymnasium.spaces.Discrete(2), "observation space Dict"),
        (gymnasium.spaces.Box(0, 1, (2,)), gymnasium.spaces.MultiDiscrete([2, 3]), "action space MultiDiscrete"),
        (gymnasium.spaces.Tuple([gymnasium.spaces.Discrete(2)]), gymnasium.spaces.Discrete(2), "observation space Tuple"),
        (gymnasium.spaces.Box(0, 1, (2,)), gymnasium.spaces.MultiBinary(3), "action space MultiBinary"),
    ],
)
@pytest.mark.parametrize("backend", ["sync", "async"])
def test_unsupported_spaces_are_refused_with_a_clear_message(obs_space, act_space, named, backend):
    with pytest.raises(UnsupportedSpaceError) as info:
        _make(obs_space, act_space, backend=backend)
    message = str(info.value)
    assert named in message
    assert "'SpacesEnv'" in message
    assert "Discrete and Box" in message


class WrongShapeEnv(gymnasium.Env):
    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, False, False, {}


@pytest.mark.filterwarnings("ignore::UserWarning")  # gymnasium logs the worker error
@pytest.mark.parametrize("backend", ["sync", "async"])
def test_wrong_observation_shape_names_the_expected_spec(backend):
    with GymnasiumEnvironment([WrongShapeEnv], backend=backend) as env:
        with pytest.raises(UnsupportedSpaceError) as info:
            env.reset()
    message = str(info.value)
    assert "'WrongShapeEnv'" in message
    assert "shape (2,)" in message
    assert "BoundedArraySpec(shape=(3,), dtype=dtype('float32'), name='observation'" in message


def test_actions_as_lists_arrays_and_wrong_shapes():
    with _make(gymnasium.spaces.Box(0, 1, (2,)), gymnasium.spaces.Discrete(4)) as env:
        with pytest.raises(RuntimeError, match="reset"):
            env.step([0])
        env.reset()
        env.step([3])
        env.step(np.array([2], dtype=np.int32))
        with pytest.raises(ValueError, match=r"expected shape \(1,\)"):
            env.step(np.array([[1]]))


def test_tensorflow_tensor_actions():
    tf = pytest.importorskip("tensorflow")
    inner = SpacesEnv(gymnasium.spaces.Box(0, 1, (2,)), gymnasium.spaces.Box(-1, 1, (2,)))
    with GymnasiumEnvironment([lambda: inner]) as env:
        env.reset()
        env.step(tf.constant([[0.5, -0.25]], dtype=tf.float64))
        assert inner.last_action.dtype == np.float32
        np.testing.assert_array_equal(inner.last_action, [0.5, -0.25])


def test_seed_given_at_construction_seeds_the_first_reset_only():
    def cartpole():
        return gymnasium.make("CartPole-v1")

    with GymnasiumEnvironment([cartpole, cartpole], seed=7) as a, GymnasiumEnvironment([cartpole, cartpole]) as b:
        first = a.reset().observation
        np.testing.assert_array_equal(first, b.reset(seed=7).observation)
        assert not np.array_equal(first[0], first[1])  # env i is seeded with seed + i
        assert not np.array_equal(first, a.reset().observation)


def test_render_returns_none_without_render_mode(countdown):
    with GymnasiumEnvironment([countdown]) as env:
        env.reset()
        assert env.render() is None


def test_unknown_backend_and_close_twice(countdown):
    with pytest.raises(ConfigError, match=r"unknown backend 'threads' for a GymnasiumEnvironment\. Valid backends: async, sync\."):
        GymnasiumEnvironment([countdown], backend="threads")
    env = GymnasiumEnvironment([countdown])
    env.close()
    env.close()
