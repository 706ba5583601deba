"""Tests of tfrl.policies: schedules, greedy / epsilon-greedy / random / scripted policies."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfrl.policies import (
    ConstantSchedule,
    EpsilonGreedyPolicy,
    GreedyPolicy,
    LinearSchedule,
    Policy,
    RandomPolicy,
    ScriptedPolicy,
    cartpole_lean_policy,
)
from tfrl.specs import ArraySpec, BoundedArraySpec

OBS = ArraySpec((3,), np.float32)
ACTIONS = BoundedArraySpec((), np.int64, 0, 2)
# Q(s) = s @ K: Q[0] = s[2], Q[1] = s[0], Q[2] = s[1]
KERNEL = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], np.float32)


def linear_q_model(kernel=KERNEL) -> keras.Model:
    """A Q network whose values are ``observation @ kernel``: known exactly for any observation."""
    inputs = keras.Input(OBS.shape, dtype="float32")
    dense = keras.layers.Dense(kernel.shape[1], use_bias=False, name="q")
    model = keras.Model(inputs, dense(inputs))
    dense.set_weights([kernel])
    return model


def observations(batch=64, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, 3)).astype(np.float32)


# --------------------------------------------------------------------------- schedules


def test_linear_schedule_values():
    s = LinearSchedule(1.0, 0.1, 10)
    assert s(0) == 1.0
    assert s(5) == pytest.approx(0.55)
    assert s(9) == pytest.approx(0.19)
    assert s(10) == pytest.approx(0.1)
    assert s(11) == pytest.approx(0.1)
    assert s(10_000) == pytest.approx(0.1)
    assert s(-3) == 1.0  # before the start: clamped to start


def test_linear_schedule_increasing_and_zero_duration():
    up = LinearSchedule(0.0, 2.0, 4)
    assert [up(t) for t in range(6)] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0])
    assert LinearSchedule(1.0, 0.05, 0)(0) == 0.05
    with pytest.raises(ValueError, match="duration must be >= 0"):
        LinearSchedule(1.0, 0.0, -1)


def test_constant_schedule():
    s = ConstantSchedule(0.3)
    assert s(0) == s(10**9) == 0.3


# --------------------------------------------------------------------------- greedy


@pytest.mark.parametrize("jit_compile", [False, True])
def test_greedy_policy_picks_argmax(jit_compile):
    policy = GreedyPolicy(linear_q_model(), OBS, ACTIONS, jit_compile=jit_compile)
    obs = observations()
    actions = policy.action(obs)
    np.testing.assert_array_equal(actions, np.argmax(obs @ KERNEL, axis=-1))
    assert actions.dtype == np.int64 and actions.shape == (64,)
    # a hand example: Q = [s2, s0, s1] = [0, 5, -1] -> action 1
    assert policy.action(np.array([[5.0, -1.0, 0.0]], np.float32)).tolist() == [1]


@pytest.mark.parametrize("jit_compile", [False, True])
def test_greedy_policy_ties_go_to_first_action(jit_compile):
    policy = GreedyPolicy(linear_q_model(), OBS, ACTIONS, jit_compile=jit_compile)
    assert policy.action(np.zeros((2, 3), np.float32)).tolist() == [0, 0]


class CountingQ(keras.Model):
    """Q = observation @ KERNEL; counts Python executions of ``call`` (once per trace in a tf.function)."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3, use_bias=False)
        self.calls = 0

    def call(self, observation, training=False):
        self.calls += 1
        return self.dense(observation)


def test_greedy_policy_traces_once_for_any_batch_size():
    model = CountingQ()
    model(np.zeros((1, 3), np.float32))
    model.dense.set_weights([KERNEL])
    policy = GreedyPolicy(model, OBS, ACTIONS)
    policy.action(observations(2))
    traced = model.calls
    for batch in (1, 5, 17, 2):
        obs = observations(batch, seed=batch)
        actions = policy.action(obs)
        assert actions.shape == (batch,)
        np.testing.assert_array_equal(actions, np.argmax(obs @ KERNEL, axis=-1))
    assert model.calls == traced, "a new batch size made the greedy policy trace again"


def test_greedy_policy_action_offset_and_dtype():
    spec = BoundedArraySpec((), np.int32, 1, 3)  # actions {1, 2, 3}
    policy = GreedyPolicy(linear_q_model(), OBS, spec)
    obs = observations(200)
    actions = policy.action(obs)
    assert actions.dtype == np.int32
    np.testing.assert_array_equal(actions, np.argmax(obs @ KERNEL, axis=-1) + 1)
    assert set(actions.tolist()) == {1, 2, 3}


def test_policies_satisfy_protocol():
    assert isinstance(GreedyPolicy(linear_q_model(), OBS, ACTIONS), Policy)
    assert isinstance(RandomPolicy(ACTIONS), Policy)
    assert isinstance(ScriptedPolicy(cartpole_lean_policy), Policy)


# --------------------------------------------------------------------------- epsilon-greedy


def test_epsilon_zero_equals_greedy():
    model = linear_q_model()
    eps = EpsilonGreedyPolicy(model, OBS, ACTIONS, epsilon=0.0, seed=0)
    greedy = GreedyPolicy(model, OBS, ACTIONS)
    for seed in range(3):
        obs = observations(50, seed)
        np.testing.assert_array_equal(eps.action(obs), greedy.action(obs))


def test_epsilon_schedule_uses_step():
    schedule = LinearSchedule(1.0, 0.0, 100)
    policy = EpsilonGreedyPolicy(linear_q_model(), OBS, ACTIONS, epsilon=schedule, seed=0)
    obs = observations(300)
    greedy = np.argmax(obs @ KERNEL, axis=-1)
    np.testing.assert_array_equal(policy.action(obs, step=100), greedy)  # epsilon 0 at the end
    early = policy.action(obs, step=0)  # epsilon 1: uniform, about 1/3 agree with greedy
    assert 0.2 < np.mean(early == greedy) < 0.5


class _Spy:
    """Stands in for ``GreedyPolicy.action`` and counts calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, observation):
        self.calls += 1
        return self.fn(observation)


def test_epsilon_one_is_uniform_and_never_calls_the_network():
    policy = EpsilonGreedyPolicy(linear_q_model(), OBS, ACTIONS, epsilon=1.0, seed=3)
    spy = _Spy(policy.greedy.action)
    policy.greedy.action = spy
    obs = np.tile(np.array([[0.0, 0.0, 9.0]], np.float32), (3000, 1))  # greedy would always be 0
    actions = np.concatenate([policy.action(obs[:1000]) for _ in range(3)])
    assert spy.calls == 0
    counts = np.bincount(actions, minlength=3)
    assert counts.sum() == 3000 and len(counts) == 3
    assert np.all(np.abs(counts - 1000) < 120), counts  # ~5 standard deviations
    assert actions.dtype == np.int64


def test_epsilon_half_mixes_greedy_and_random():
    policy = EpsilonGreedyPolicy(linear_q_model(), OBS, ACTIONS, epsilon=0.5, seed=1)
    spy = _Spy(policy.greedy.action)
    policy.greedy.action = spy
    obs = np.tile(np.array([[0.0, 0.0, 9.0]], np.float32), (4000, 1))  # greedy action 0
    actions = policy.action(obs)
    assert spy.calls == 1
    # P(action 0) = 0.5 + 0.5 / 3
    assert np.mean(actions == 0) == pytest.approx(2 / 3, abs=0.03)
    assert np.mean(actions == 1) == pytest.approx(1 / 6, abs=0.03)


def test_epsilon_greedy_offset_and_dtype_when_mixing():
    spec = BoundedArraySpec((), np.int32, 1, 3)
    policy = EpsilonGreedyPolicy(linear_q_model(), OBS, spec, epsilon=0.5, seed=0)
    actions = policy.action(observations(500))
    assert actions.dtype == np.int32
    assert set(actions.tolist()) == {1, 2, 3}
    random_only = EpsilonGreedyPolicy(linear_q_model(), OBS, spec, epsilon=1.0, seed=0).action(observations(500))
    assert random_only.dtype == np.int32 and set(random_only.tolist()) == {1, 2, 3}


def test_epsilon_greedy_same_seed_same_actions():
    obs = observations(100)
    runs = []
    for seed in (7, 7, 8):
        policy = EpsilonGreedyPolicy(linear_q_model(), OBS, ACTIONS, epsilon=0.5, seed=seed)
        runs.append(np.concatenate([policy.action(obs, step=t) for t in range(3)]))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


# --------------------------------------------------------------------------- random


def test_random_policy_discrete_bounds_coverage_and_seed():
    spec = BoundedArraySpec((), np.int64, 2, 5)
    obs = np.zeros((2000, 1))
    a = RandomPolicy(spec, seed=4).action(obs)
    b = RandomPolicy(spec, seed=4).action(obs)
    c = RandomPolicy(spec, seed=5).action(obs)
    assert a.shape == (2000,) and a.dtype == np.int64
    assert set(a.tolist()) == {2, 3, 4, 5}  # both ends inclusive
    assert spec.check_array(a, batched=True)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_policy_box_bounds_and_seed():
    spec = BoundedArraySpec((2,), np.float32, [-1.0, 10.0], [1.0, 12.0])
    obs = np.zeros((1000, 4))
    a = RandomPolicy(spec, seed=0).action(obs)
    assert a.shape == (1000, 2) and a.dtype == np.float32
    assert spec.check_array(a, batched=True)
    # spread over the box, per dimension
    assert a[:, 0].min() < -0.9 and a[:, 0].max() > 0.9
    assert a[:, 1].min() < 10.1 and a[:, 1].max() > 11.9
    assert abs(a[:, 1].mean() - 11.0) < 0.1
    np.testing.assert_array_equal(a, RandomPolicy(spec, seed=0).action(obs))
    assert not np.array_equal(a, RandomPolicy(spec, seed=1).action(obs))


def test_random_policy_multi_discrete():
    spec = BoundedArraySpec((3,), np.int32, [0, 0, 5], [1, 4, 5])
    a = RandomPolicy(spec, seed=0).action(np.zeros((500, 2)))
    assert a.shape == (500, 3) and a.dtype == np.int32
    assert spec.check_array(a, batched=True)
    assert set(a[:, 1].tolist()) == {0, 1, 2, 3, 4}
    assert set(a[:, 2].tolist()) == {5}


# --------------------------------------------------------------------------- scripted


def test_cartpole_lean_policy():
    obs = np.array([[0.0, 0.0, 0.1, 0.0], [0.0, 0.0, -0.1, 0.0], [5.0, 5.0, 0.0, 5.0]], np.float32)
    actions = cartpole_lean_policy(obs)
    assert actions.tolist() == [1, 0, 0]  # push right when leaning right
    assert actions.dtype == np.int64


def test_scripted_policy_with_and_without_spec():
    obs = np.array([[0.0, 0.0, 0.2, 0.0], [0.0, 0.0, -0.2, 0.0]], np.float32)
    plain = ScriptedPolicy(cartpole_lean_policy)
    assert plain.action(obs).tolist() == [1, 0] and plain.action(obs).dtype == np.int64
    typed = ScriptedPolicy(cartpole_lean_policy, BoundedArraySpec((), np.int32, 0, 1))
    out = typed.action(obs)
    assert out.tolist() == [1, 0] and out.dtype == np.int32
    listed = ScriptedPolicy(lambda o: [3] * len(o))
    assert isinstance(listed.action(obs), np.ndarray) and listed.action(obs).tolist() == [3, 3]


def test_cartpole_lean_policy_beats_random_on_cartpole():
    gymnasium = pytest.importorskip("gymnasium")
    env = gymnasium.make("CartPole-v1")

    def mean_length(choose, episodes=10):
        lengths = []
        for ep in range(episodes):
            obs, _ = env.reset(seed=ep)
            done, steps = False, 0
            while not done:
                obs, _, terminated, truncated, _ = env.step(int(choose(obs[None])[0]))
                done, steps = terminated or truncated, steps + 1
            lengths.append(steps)
        return np.mean(lengths)

    lean = mean_length(ScriptedPolicy(cartpole_lean_policy).action)
    rand = mean_length(RandomPolicy(BoundedArraySpec((), np.int64, 0, 1), seed=0).action)
    assert lean > rand + 10, (lean, rand)
