"""``EpisodeStatistics``, ``TimeLimit`` and ``ActionRepeat`` checked against hand counts."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from tfrl.envs import ActionRepeat, EpisodeRecord, EpisodeStatistics, GymnasiumEnvironment, TimeLimit, make
from tfrl.errors import ConfigError


def test_episode_statistics_against_a_hand_count(countdown):
    # env 0 terminates on step 2, env 1 is truncated on step 3; reward = action + 1
    env = EpisodeStatistics(
        GymnasiumEnvironment([functools.partial(countdown, terminate_at=2), lambda: TimeLimit(countdown(), 3)])
    )
    with env:
        env.reset()
        assert env.pop_finished() == [] and env.total_steps == 0
        env.step([1, 0])  # rewards 2, 1
        env.step([2, 2])  # rewards 3, 3; env 0 ends: return 5 over 2 steps
        assert env.pop_finished() == [EpisodeRecord(0, 5.0, 2, True)]
        assert env.pop_finished() == []
        env.step([2, 1])  # env 0 FIRST (not counted); env 1 reward 2, ends: return 6 over 3 steps
        env.step([0, 2])  # env 0 reward 1; env 1 FIRST
        env.step([1, 1])  # env 0 reward 2, ends: return 3 over 2 steps; env 1 reward 2
        assert env.pop_finished() == [EpisodeRecord(1, 6.0, 3, False), EpisodeRecord(0, 3.0, 2, True)]
        assert env.total_episodes == 3
        assert env.total_steps == 8  # 10 env steps minus 2 FIRST steps
        assert env.recent_returns(2) == [6.0, 3.0]
        assert env.recent_returns(10) == [5.0, 6.0, 3.0]
        assert env.recent_returns(0) == []

        # a reset drops the episodes in progress: env 1 had 1 step, now starts again
        env.reset()
        env.step([0, 0])
        env.step([0, 0])
        env.step([0, 0])
        assert env.pop_finished() == [EpisodeRecord(0, 2.0, 2, True), EpisodeRecord(1, 3.0, 3, False)]
        assert env.total_steps == 13  # the FIRST step of env 0 after its auto-reset is not counted
        assert env.total_episodes == 5


def test_episode_statistics_through_make(countdown):
    with make(countdown, num_envs=2, env_kwargs={"terminate_at": 3}) as env:
        env.reset()
        for _ in range(7):  # two full episodes per env and one FIRST step in between
            env.step([1, 2])
        finished = env.pop_finished()
        assert [(r.env_index, r.episode_return, r.length) for r in finished] == [
            (0, 6.0, 3),
            (1, 9.0, 3),
            (0, 6.0, 3),
            (1, 9.0, 3),
        ]
        assert env.total_steps == 12


def test_time_limit_by_hand(countdown):
    env = TimeLimit(countdown(), 3)
    env.reset()
    assert [env.step(0)[3] for _ in range(3)] == [False, False, True]
    env.reset()  # the count restarts
    assert [env.step(0)[3] for _ in range(3)] == [False, False, True]

    env = TimeLimit(countdown(terminate_at=3), 3)
    env.reset()
    env.step(0), env.step(0)
    _, _, terminated, truncated, _ = env.step(0)
    assert terminated and not truncated  # terminated on the limit: not truncated

    env = TimeLimit(countdown(terminate_at=2), 3)
    env.reset()
    env.step(0)
    _, _, terminated, truncated, _ = env.step(0)
    assert terminated and not truncated


def test_action_repeat_by_hand(countdown):
    inner = countdown()
    env = ActionRepeat(inner, 3)
    env.reset()
    observation, reward, terminated, truncated, _ = env.step(2)
    np.testing.assert_array_equal(observation, [3, 6])  # t = 3, sum of actions = 6
    assert reward == 9.0 and not terminated and not truncated
    assert inner.actions == [2, 2, 2]

    # stops early on termination
    env = ActionRepeat(countdown(terminate_at=2), 3)
    env.reset()
    observation, reward, terminated, truncated, _ = env.step(1)
    np.testing.assert_array_equal(observation, [2, 2])
    assert reward == 4.0 and terminated and not truncated

    # stops early on truncation
    env = ActionRepeat(TimeLimit(countdown(), 4), 3)
    env.reset()
    env.step(0)
    observation, reward, terminated, truncated, _ = env.step(0)
    np.testing.assert_array_equal(observation, [4, 0])
    assert reward == 1.0 and truncated and not terminated


@pytest.mark.parametrize("bad", [0, -3, 1.5, True, "2", None])
def test_wrapper_arguments_must_be_positive_ints(countdown, bad):
    with pytest.raises(ConfigError, match=f"max_episode_steps must be a positive integer, got {bad!r}"):
        TimeLimit(countdown(), bad)
    with pytest.raises(ConfigError, match="action_repeat must be a positive integer"):
        ActionRepeat(countdown(), bad)
