"""``Environment.pop_game_records``: ``[]`` by default, the games of an Atari environment, through any wrapper."""

from __future__ import annotations

import numpy as np
import pytest

from tfrl import envs
from tfrl.envs import Environment, EpisodeStatistics, GameRecord
from tfrl.envs.normalize import NormalizeObservation, NormalizeReward
from tfrl.specs import ArraySpec, BoundedArraySpec, StepType, TimeStep


class _Games(Environment):
    """One env that finishes a game of score 10 every third step."""

    def __init__(self) -> None:
        self.t = 0
        self.games: list[GameRecord] = []

    @property
    def num_envs(self) -> int:
        return 1

    def observation_spec(self) -> ArraySpec:
        return ArraySpec((1,), np.float32, name="observation")

    def action_spec(self) -> BoundedArraySpec:
        return BoundedArraySpec((), np.int64, name="action", minimum=0, maximum=1)

    def reset(self, seed: int | None = None) -> TimeStep:
        return TimeStep(np.array([StepType.FIRST], np.int32), np.zeros(1, np.float32), np.ones(1, np.float32),
                        np.zeros((1, 1), np.float32))

    def step(self, action: np.ndarray) -> TimeStep:
        self.t += 1
        if self.t % 3 == 0:
            self.games.append(GameRecord(0, 10.0, 3, True))
        return TimeStep(np.array([StepType.MID], np.int32), np.ones(1, np.float32), np.ones(1, np.float32),
                        np.full((1, 1), self.t, np.float32))

    def pop_game_records(self) -> list[GameRecord]:
        games, self.games = self.games, []
        return games

    def close(self) -> None:
        pass


def test_environments_without_whole_games_return_no_records():
    with envs.make("CartPole-v1", num_envs=2, seed=0) as env:
        env.reset()
        for _ in range(30):
            env.step(np.zeros(2, np.int64))
        assert env.pop_game_records() == []
        assert env.environment.pop_game_records() == []


def test_wrappers_forward_the_records_of_the_environment_they_wrap():
    inner = _Games()
    env = NormalizeReward(NormalizeObservation(EpisodeStatistics(inner)))
    env.reset()
    for _ in range(7):
        env.step(np.zeros(1, np.int64))
    assert env.pop_game_records() == [GameRecord(0, 10.0, 3, True)] * 2
    assert env.pop_game_records() == []
    assert NormalizeObservation(inner).pop_game_records() == []


@pytest.mark.parametrize("backend", ["sync", "async"])
def test_atari_game_records_reach_through_wrappers(backend):
    pytest.importorskip("ale_py")
    from tfrl.envs.atari import FIRE, AtariEnvironment

    with envs.make("BreakoutNoFrameskip-v4", num_envs=2, seed=0, backend=backend, training=True) as made:
        assert isinstance(made.environment, AtariEnvironment)
        env = NormalizeObservation(made)
        env.reset()
        steps = 0
        while not (games := env.pop_game_records()):
            env.step(np.full(2, FIRE))
            steps += 1
        lives = made.pop_finished()
        assert steps < 2000 and {game.env_index for game in games} <= {0, 1}
        for game in games:
            assert game.terminated and game.length >= 5 and game.game_return >= 0.0
            assert sum(1 for r in lives if r.env_index == game.env_index) >= 5  # one episode per life
