"""Tests of tfrl.data.rollout: rollout storage filled from real vector environments, and episodes()."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import numpy as np
import pytest

from tfrl import envs
from tfrl.data import Episode, RolloutBatch, RolloutBuffer, episodes
from tfrl.errors import ConfigError
from tfrl.specs import ArraySpec, BoundedArraySpec, StepType, TimeStep

F, M, L = StepType.FIRST, StepType.MID, StepType.LAST


class Walk(gymnasium.Env):
    """Observation ``[t, episode]`` (steps taken, episodes started before this one), reward ``t``;
    action 1 terminates the episode."""

    metadata = {"render_modes": []}
    observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def __init__(self) -> None:
        self.t = 0
        self.episode = -1

    def _obs(self) -> np.ndarray:
        return np.array([self.t, self.episode], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.episode += 1
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), float(self.t), int(action) == 1, False, {}


def fake_value(observation: np.ndarray) -> np.ndarray:
    """A deterministic stand-in for a critic: any function of the observation will do."""
    return (observation.sum(axis=-1) * 10.0).astype(np.float32)


def collect(env, buffer, time_step, actions):
    """Fill ``buffer`` with ``len(actions)`` steps; returns every time step seen (T + 1 of them)."""
    seen = [time_step]
    for t, action in enumerate(actions):
        next_time_step = env.step(action)
        log_prob = -np.arange(buffer.num_envs, dtype=np.float32) - t  # -(t + env)
        buffer.add(time_step, action, next_time_step, log_prob=log_prob, value=fake_value(time_step.observation))
        time_step = next_time_step
        seen.append(time_step)
    buffer.finish(time_step, fake_value(time_step.observation))
    return seen


def check_against_time_steps(batch: RolloutBatch, seen: list[TimeStep], actions: np.ndarray) -> None:
    T = len(seen) - 1
    step_type = np.stack([ts.step_type for ts in seen])  # [T + 1, N]
    np.testing.assert_array_equal(batch.observation, np.stack([ts.observation for ts in seen]))
    np.testing.assert_array_equal(batch.action, actions)
    np.testing.assert_array_equal(batch.reward, np.stack([ts.reward for ts in seen[1:]]))
    np.testing.assert_array_equal(batch.discount, np.stack([ts.discount for ts in seen[1:]]))
    np.testing.assert_array_equal(batch.last, step_type[1:] == L)
    np.testing.assert_array_equal(batch.valid, step_type[:T] != L)
    np.testing.assert_array_equal(batch.first, step_type[:T] == F)
    np.testing.assert_array_equal(batch.value, fake_value(batch.observation))
    np.testing.assert_array_equal(batch.log_prob, -np.add.outer(np.arange(T), np.arange(actions.shape[1])))
    # the auto-reset rules, seen through the rollout's arrays
    assert not np.any(batch.discount[~batch.last] != 1.0)  # discount 0 only where an episode ended
    np.testing.assert_array_equal(batch.valid[1:], ~batch.last[:-1])  # the row after a LAST is a reset row
    np.testing.assert_array_equal(batch.first[1:], ~batch.valid[:-1])  # ... and the next one starts an episode
    assert np.all(batch.reward[~batch.valid] == 0.0) and np.all(batch.discount[~batch.valid] == 1.0)
    assert not np.any(batch.last & ~batch.valid)  # a reset row's next time step is FIRST


# ---------------------------------------------------------------- CartPole


def test_fill_from_cartpole_with_random_actions():
    T, N = 64, 3
    rng = np.random.default_rng(0)
    with envs.make("CartPole-v1", num_envs=N, seed=0) as env:
        buffer = RolloutBuffer(T, N, env.observation_spec(), env.action_spec())
        assert not buffer.full and buffer.num_valid == 0 and buffer.num_added == 0
        actions = rng.integers(0, 2, size=(T, N))
        seen = collect(env, buffer, env.reset(), actions)
        assert buffer.full and buffer.finished and buffer.num_added == T
        batch = buffer.as_batch()
        assert batch.observation.shape == (T + 1, N, 4) and batch.observation.dtype == np.float32
        assert batch.action.shape == (T, N) and batch.action.dtype == np.int64
        assert batch.value.shape == (T + 1, N) and batch.log_prob.dtype == np.float32
        assert batch.last.dtype == bool and batch.valid.dtype == bool
        check_against_time_steps(batch, seen, actions)
        np.testing.assert_array_equal(batch.observation[T], seen[-1].observation)  # row T: after the last step
        assert batch.last.sum() >= 3  # random CartPole episodes last ~20 steps: several ended
        assert np.all(batch.discount[batch.last] == 0.0)  # the pole fell: terminated, never truncated here
        assert buffer.num_valid == int(batch.valid.sum()) == T * N - int(batch.last[:-1].sum())
        with pytest.raises(ValueError, match="read-only"):
            batch.reward[0, 0] = 1.0

        # the episodes: every one ended in the rollout started in it (reset() at row 0)
        finished = env.pop_finished()
        found = episodes(batch)
        assert len(found) == len(finished) == int(batch.last.sum())
        by_env = sorted(finished, key=lambda r: r.env_index)  # stable: keeps the order within an env
        for episode, record in zip(found, by_env):
            assert episode.env == record.env_index and episode.length == record.length
            assert float(episode.rewards.sum()) == pytest.approx(record.episode_return)
            assert not episode.truncated and record.terminated
            np.testing.assert_array_equal(episode.observations[0], batch.observation[episode.start, episode.env])

        # full: one more add is refused, and nothing is written
        extra = env.step(np.zeros(N, np.int64))
        with pytest.raises(RuntimeError, match="the rollout buffer is full \\(64 steps\\).*reset\\(\\)"):
            buffer.add(seen[-1], np.zeros(N, np.int64), extra)
        np.testing.assert_array_equal(buffer.as_batch().observation[T], seen[-1].observation)

        # reset: the same buffer takes the next rollout, continuing from the environment's last step
        buffer.reset()
        assert not buffer.full and not buffer.finished and buffer.num_valid == 0
        with pytest.raises(RuntimeError, match="as_batch\\(\\) needs a finished rollout: 0 of 64"):
            buffer.as_batch()
        actions = rng.integers(0, 2, size=(T, N))
        seen = collect(env, buffer, extra, actions)
        check_against_time_steps(buffer.as_batch(), seen, actions)
        assert buffer.num_valid == int(buffer.as_batch().valid.sum())


# ---------------------------------------------------------------- truncation and episodes()

# Walk with a time limit of 3, two envs. Env 0 always plays 0 (truncated every 3 steps); the 1s in its
# column fall on reset rows, where the action is ignored. Env 1 terminates with 1s; its 1 at row 2
# falls on a reset row too.
WALK_ACTIONS = np.array([[0, 0], [0, 1], [0, 1], [1, 1], [0, 0], [0, 0], [0, 0], [1, 0], [0, 0], [0, 1]], np.int64)


@pytest.fixture
def walk():
    with envs.make(Walk, num_envs=2, seed=0, max_episode_steps=3) as env:
        yield env


def test_truncation_termination_and_episodes_from_a_time_limited_env(walk):
    buffer = RolloutBuffer(10, 2, walk.observation_spec(), walk.action_spec())
    seen = collect(walk, buffer, walk.reset(), WALK_ACTIONS)
    batch = buffer.as_batch()
    check_against_time_steps(batch, seen, WALK_ACTIONS)
    # column by column, worked out by hand
    np.testing.assert_array_equal(batch.observation[:, 0, 0], [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2])  # t
    np.testing.assert_array_equal(batch.observation[:, 0, 1], [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2])  # episode
    np.testing.assert_array_equal(batch.observation[:, 1, 0], [0, 1, 2, 0, 1, 0, 1, 2, 3, 0, 1])
    np.testing.assert_array_equal(batch.observation[:, 1, 1], [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3])
    np.testing.assert_array_equal(batch.reward.T, [[1, 2, 3, 0, 1, 2, 3, 0, 1, 2], [1, 2, 0, 1, 0, 1, 2, 3, 0, 1]])
    rows = np.arange(10)
    np.testing.assert_array_equal(batch.last.T, [np.isin(rows, [2, 6]), np.isin(rows, [1, 3, 7, 9])])
    np.testing.assert_array_equal(batch.discount.T, [np.ones(10), ~np.isin(rows, [1, 3, 9])])  # truncation: 1
    np.testing.assert_array_equal(batch.valid.T, [~np.isin(rows, [3, 7]), ~np.isin(rows, [2, 4, 8])])
    np.testing.assert_array_equal(batch.first.T, [np.isin(rows, [0, 4, 8]), np.isin(rows, [0, 3, 5, 9])])
    assert buffer.num_valid == 20 - 5

    found = episodes(batch)
    assert all(isinstance(e, Episode) for e in found)
    summary = [
        (e.env, e.start, e.rewards.tolist(), e.observations[:, 0].tolist(), e.final_observation.tolist(), e.truncated)
        for e in found
    ]
    assert summary == [
        (0, 0, [1, 2, 3], [0, 1, 2], [3, 0], True),
        (0, 4, [1, 2, 3], [0, 1, 2], [3, 1], True),  # env 0's third episode is still running: left out
        (1, 0, [1, 2], [0, 1], [2, 0], False),
        (1, 3, [1], [0], [1, 1], False),
        (1, 5, [1, 2, 3], [0, 1, 2], [3, 2], True),
        (1, 9, [1], [0], [1, 3], False),  # FIRST at row 9 and LAST after it: complete
    ]
    by_start = {(e.env, e.start): e for e in found}
    np.testing.assert_array_equal(by_start[1, 5].actions, [0, 0, 0])
    np.testing.assert_array_equal(by_start[1, 5].log_probs, [-6, -7, -8])  # -(t + env) at rows 5, 6, 7
    np.testing.assert_array_equal(by_start[1, 9].actions, [1])
    assert [e.length for e in found] == [3, 3, 2, 1, 3, 1]

    # the next rollout starts mid-episode (env 0) and on a LAST step (env 1)
    buffer.reset()
    seen = collect(walk, buffer, seen[-1], np.zeros((10, 2), np.int64))
    batch = buffer.as_batch()
    check_against_time_steps(batch, seen, np.zeros((10, 2), np.int64))
    np.testing.assert_array_equal(batch.valid[0], [True, False])
    np.testing.assert_array_equal(batch.first[:2], [[False, False], [False, True]])
    np.testing.assert_array_equal(batch.last[0], [True, False])  # env 0's episode began last rollout
    assert [(e.env, e.start, e.truncated) for e in episodes(batch)] == [(0, 2, True), (0, 6, True), (1, 1, True), (1, 5, True)]


def test_episodes_of_a_rollout_without_an_episode_end():
    buffer = RolloutBuffer(2, 1, ArraySpec((), np.float32), BoundedArraySpec((), np.int64, 0, 1))
    ts = [TimeStep(np.array([t], np.int32), np.zeros(1, np.float32), np.ones(1, np.float32), np.array([float(i)], np.float32))
          for i, t in enumerate([F, M, M])]
    buffer.add(ts[0], np.array([0]), ts[1])
    buffer.add(ts[1], np.array([1]), ts[2])
    buffer.finish(ts[2])
    batch = buffer.as_batch()
    assert episodes(batch) == []
    np.testing.assert_array_equal(batch.value, np.zeros((3, 1)))  # no critic: zeros
    np.testing.assert_array_equal(batch.log_prob, np.zeros((2, 1)))
    np.testing.assert_array_equal(batch.observation[:, 0], [0.0, 1.0, 2.0])


# ---------------------------------------------------------------- validation


def _ts(step_type, n=2, obs_shape=(2,), obs_dtype=np.float32):
    return TimeStep(np.full(n, step_type, np.int32), np.zeros(n, np.float32), np.ones(n, np.float32),
                    np.zeros((n, *obs_shape), obs_dtype))


OBS = ArraySpec((2,), np.float32)
ACT = BoundedArraySpec((), np.int64, 0, 1)


@pytest.mark.parametrize("num_steps, num_envs, message", [
    (0, 2, "num_steps must be an integer >= 1, got 0"),
    (2.0, 2, "num_steps must be an integer >= 1, got 2.0"),
    (True, 2, "num_steps must be an integer >= 1, got True"),
    (4, 0, "num_envs must be an integer >= 1, got 0"),
])
def test_bad_sizes_are_config_errors(num_steps, num_envs, message):
    with pytest.raises(ConfigError, match=message):
        RolloutBuffer(num_steps, num_envs, OBS, ACT)


def test_bad_arrays_are_refused_with_clear_messages():
    buffer = RolloutBuffer(3, 2, OBS, ACT)
    with pytest.raises(ConfigError, match="observation has shape \\(2, 3\\), expected \\(2, 2\\)"):
        buffer.add(_ts(F, obs_shape=(3,)), np.zeros(2, np.int64), _ts(M))
    with pytest.raises(ConfigError, match="action has shape \\(3,\\), expected \\(2,\\)"):
        buffer.add(_ts(F), np.zeros(3, np.int64), _ts(M))
    with pytest.raises(ConfigError, match="action has dtype float64, which cannot be stored as the spec's dtype int64"):
        buffer.add(_ts(F), np.zeros(2, np.float64), _ts(M))
    with pytest.raises(ConfigError, match="observation has dtype complex128"):
        buffer.add(_ts(F, obs_dtype=np.complex128), np.zeros(2, np.int64), _ts(M))
    with pytest.raises(ConfigError, match="log_prob has shape \\(2, 1\\), expected \\(2,\\)"):
        buffer.add(_ts(F), np.zeros(2, np.int64), _ts(M), log_prob=np.zeros((2, 1), np.float32))
    with pytest.raises(ConfigError, match="value has dtype complex64, expected a float array"):
        buffer.add(_ts(F), np.zeros(2, np.int64), _ts(M), value=np.zeros(2, np.complex64))
    assert buffer.num_added == 0  # nothing refused was written
    buffer.add(_ts(F), np.zeros(2, np.int32), _ts(M))  # int32 actions fit the int64 spec
    with pytest.raises(ValueError, match="time_step.step_type \\[2, 2\\] differs from the previous next_time_step's \\[1, 1\\]"):
        buffer.add(_ts(L), np.zeros(2, np.int64), _ts(F))
    with pytest.raises(RuntimeError, match="finish\\(\\) needs a full rollout: 1 of 3 steps added"):
        buffer.finish(_ts(M))
    buffer.add(_ts(M), np.zeros(2, np.int64), _ts(M))
    buffer.add(_ts(M), np.zeros(2, np.int64), _ts(L))
    with pytest.raises(RuntimeError, match="as_batch\\(\\) needs a finished rollout: 3 of 3 steps added, call finish"):
        buffer.as_batch()
    with pytest.raises(ValueError, match="last_time_step.step_type \\[1, 1\\] differs"):
        buffer.finish(_ts(M))
    buffer.finish(_ts(L), last_value=np.array([1.0, 2.0], np.float32))
    np.testing.assert_array_equal(buffer.as_batch().value[3], [1.0, 2.0])


def test_importing_the_rollout_module_does_not_import_tensorflow():
    code = "import sys, tfrl.data, tfrl.data.rollout; assert 'tensorflow' not in sys.modules, 'TF imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
