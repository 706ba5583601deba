"""The EnvPool back-end (``tfrl.envs.envpool_env``) against the ale-py pipeline's specs and semantics."""

from __future__ import annotations

import sys

import gymnasium
import numpy as np
import pytest

pytest.importorskip("envpool")
pytest.importorskip("ale_py")

from tfrl import envs  # noqa: E402
from tfrl.envs.atari import FIRE, NOOP, area_resize  # noqa: E402
from tfrl.envs.envpool_env import EnvPoolEnvironment, envpool_options  # noqa: E402
from tfrl.envs.ids import register_ale  # noqa: E402
from tfrl.errors import ConfigError  # noqa: E402
from tfrl.specs import StepType  # noqa: E402

BREAKOUT = "BreakoutNoFrameskip-v4"
SPACE_INVADERS = "SpaceInvadersNoFrameskip-v4"


def _make(env_id: str = BREAKOUT, **kwargs):
    return envs.make(env_id, backend="envpool", **kwargs)


def _play(env, steps: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    n, num_actions = env.num_envs, env.action_spec().num_values
    return [env.step(rng.integers(0, num_actions, n)) for _ in range(steps)]


@pytest.mark.parametrize("env_id", [BREAKOUT, "ALE/Breakout-v5"])
def test_specs_and_arrays_match_the_ale_py_backend(env_id):
    with envs.make(env_id, num_envs=1, seed=0, backend="sync") as ale, _make(env_id, num_envs=3, seed=0) as pool:
        assert pool.observation_spec() == ale.observation_spec()
        assert pool.action_spec() == ale.action_spec()
        assert pool.time_step_spec() == ale.time_step_spec()
        assert envs.env_id_of(pool) == envs.env_id_of(ale)
        ts = pool.reset()
        for ts in (ts, pool.step(np.array([FIRE, NOOP, 2]))):
            assert ts.observation.shape == (3, 84, 84, 4) and ts.observation.dtype == np.uint8
            assert ts.step_type.dtype == np.int32 and ts.reward.dtype == np.float32
            assert ts.discount.dtype == np.float32
        assert pool.render() is None


@pytest.mark.parametrize(
    ("env_id", "training", "kwargs", "expected"),
    [
        (BREAKOUT, True, {}, dict(repeat_action_probability=0.0, episodic_life=True, reward_clip=True)),
        (BREAKOUT, False, {}, dict(repeat_action_probability=0.0, episodic_life=False, reward_clip=False)),
        ("ALE/Breakout-v5", True, {}, dict(repeat_action_probability=0.25)),
        ("ALE/Breakout-v5", True, {"sticky_actions": False}, dict(repeat_action_probability=0.0)),
        (BREAKOUT, True, {"terminal_on_life_loss": False, "clip_rewards": False},
         dict(episodic_life=False, reward_clip=False)),
        (BREAKOUT, True, {"noop_max": 7, "frame_skip": 2, "screen_size": 64},
         dict(noop_max=7, frame_skip=2, img_height=64, img_width=64, max_episode_steps=54_000)),
        (BREAKOUT, True, {}, dict(noop_max=30, frame_skip=4, img_height=84, gray_scale=True, stack_num=1,
                                  use_fire_reset=True, max_episode_steps=27_000)),  # ALE's 108000 frames
        ("FreewayNoFrameskip-v4", True, {}, dict(use_fire_reset=False)),  # actions NOOP, UP, DOWN
    ],
)
def test_options_follow_the_id_family_and_the_training_flag(env_id, training, kwargs, expected):
    task_id, options, frame_stack = envpool_options(env_id, training, env_kwargs=kwargs)
    assert task_id == env_id.removeprefix("ALE/").replace("NoFrameskip-v4", "-v5")
    assert frame_stack == 4
    assert {key: options[key] for key in expected} == expected
    assert envpool_options(BREAKOUT, True, max_episode_steps=100)[1]["max_episode_steps"] == 100
    assert envpool_options(BREAKOUT, True, env_kwargs={"frame_stack": 2})[2] == 2


def test_frames_and_rewards_equal_ale_frames_max_pooled_and_area_resized():
    """With no-op starts off, EnvPool's reset is reset_game and one FIRE frame: replay it on ale-py."""
    register_ale()
    reference = gymnasium.make(BREAKOUT, frameskip=1, obs_type="grayscale", repeat_action_probability=0.0)
    reference.reset(seed=0)
    ale = reference.unwrapped.ale
    action_set = ale.getMinimalActionSet()
    ale.act(action_set[FIRE])
    with _make(num_envs=1, seed=0, training=False, env_kwargs={"noop_max": 1}) as env:
        ts = env.reset()
        expected = area_resize(ale.getScreenGrayscale(), 84, 84)
        np.testing.assert_array_equal(ts.observation[0], np.repeat(expected[..., None], 4, axis=-1))
        rng = np.random.default_rng(0)
        total = 0.0
        for _ in range(100):
            action = int(rng.integers(4))
            frames, reward = [], 0.0
            for _ in range(4):
                reward += ale.act(action_set[action])
                frames.append(ale.getScreenGrayscale())
            previous, ts = ts, env.step(np.array([action]))
            assert ts.step_type[0] == StepType.MID
            expected = area_resize(np.maximum(frames[-2], frames[-1]), 84, 84).astype(int)
            # OpenCV's INTER_AREA and tfrl's area_resize round some half gray levels differently
            assert np.abs(ts.observation[0, ..., -1].astype(int) - expected).max() <= 1
            np.testing.assert_array_equal(ts.observation[0, ..., :3], previous.observation[0, ..., 1:])
            assert ts.reward[0] == reward  # evaluation rewards are raw
            total += reward
        assert total > 0  # the ball was hit: the comparison covered rewards, not only a static screen
    reference.close()


def test_training_episodes_are_lives_and_evaluation_episodes_are_games():
    with _make(num_envs=2, seed=0, training=True) as env:
        ts = env.reset()
        lasts, firsts = [], []
        while len(games := env.pop_game_records()) == 0:
            previous, ts = ts, env.step(np.array([FIRE, FIRE]))
            lasts += [float(d) for d in ts.discount[ts.step_type == StepType.LAST]]
            after_last = previous.step_type == StepType.LAST
            assert np.all(ts.step_type[after_last] == StepType.FIRST)
            firsts += [(float(ts.reward[i]), float(ts.discount[i])) for i in np.flatnonzero(after_last)]
            # a first observation repeats its frame, also after a lost life
            for i in np.flatnonzero(ts.step_type == StepType.FIRST):
                assert all(np.array_equal(ts.observation[i, ..., k], ts.observation[i, ..., 3]) for k in range(3))
        finished = env.pop_finished()
        for game in games:
            lives = [r for r in finished if r.env_index == game.env_index]
            assert [r.terminated for r in lives] == [True] * 5  # five lives, each ended with discount 0
            assert sum(r.length for r in lives) == game.length and game.terminated
        assert set(lasts) == {0.0} and set(firsts) == {(0.0, 1.0)}
    with _make(num_envs=1, seed=0, training=False) as env:
        ts = env.reset()
        steps = 0
        while ts.step_type[0] != StepType.LAST:
            ts = env.step(np.array([FIRE]))  # in evaluation the policy relaunches the ball itself
            steps += 1
        assert ts.discount[0] == 0.0
        [record] = env.pop_finished()
        [game] = env.pop_game_records()
        assert record.length == game.length == steps and steps > 100  # one episode played all five lives
        assert game.game_return == record.episode_return and game.terminated
        ts = env.step(np.array([FIRE]))
        assert ts.step_type[0] == StepType.FIRST and ts.reward[0] == 0.0 and ts.discount[0] == 1.0


def test_training_rewards_are_clipped_and_evaluation_rewards_and_game_scores_raw():
    train, evaluate = _make(SPACE_INVADERS, seed=1, training=True), _make(SPACE_INVADERS, seed=1, training=False)
    with train, evaluate:
        np.testing.assert_array_equal(train.reset().observation, evaluate.reset().observation)
        rng = np.random.default_rng(0)
        raw, clipped = [], []
        for _ in range(1000):
            action = rng.integers(6, size=1)
            ts_t, ts_e = train.step(action), evaluate.step(action)
            clipped.append(float(ts_t.reward[0]))
            raw.append(float(ts_e.reward[0]))
            if ts_t.step_type[0] == StepType.LAST:  # first life lost: the two envs part ways
                break
        assert ts_t.step_type[0] == StepType.LAST
        raw, clipped = np.array(raw), np.array(clipped)
        np.testing.assert_array_equal(clipped, np.sign(raw))
        assert raw.max() > 1.0  # Space Invaders aliens are worth 5 to 30 points
        while not (games := train.pop_game_records()):
            train.step(rng.integers(6, size=1))
        [game] = games
        clipped_return = sum(r.episode_return for r in train.pop_finished())
        assert game.game_return % 5 == 0 and game.game_return >= 5 * clipped_return > 0


def test_auto_reset_step_ignores_its_action_and_seeds_reproduce_games():
    with _make(num_envs=2, seed=3) as a, _make(num_envs=2, seed=3) as b:
        ts_a, ts_b = a.reset(), b.reset()
        np.testing.assert_array_equal(ts_a.observation, ts_b.observation)
        rng = np.random.default_rng(0)
        swapped = 0
        for _ in range(300):
            action = rng.integers(4, size=2)
            other = np.where(ts_a.step_type == StepType.LAST, 3 - action, action)  # differs only where ignored
            swapped += int(np.count_nonzero(other != action))
            ts_a, ts_b = a.step(action), b.step(other)
            for field_a, field_b in zip(ts_a, ts_b):
                np.testing.assert_array_equal(field_a, field_b)
        assert swapped > 0
        first_run = [a.reset(seed=3)] + _play(a, 200)
        again = [a.reset(seed=3)] + _play(a, 200)
        other_seed = [a.reset(seed=4)] + _play(a, 200)
    for x, y in zip(first_run, again):
        for field_x, field_y in zip(x, y):
            np.testing.assert_array_equal(field_x, field_y)
    assert any(not np.array_equal(x.observation, y.observation) for x, y in zip(first_run, other_seed))


def test_rgb_rendering_and_bad_actions():
    with _make(num_envs=2, seed=0, render_mode="rgb_array") as env:
        with pytest.raises(RuntimeError, match="reset"):
            env.step(np.array([0, 0]))
        env.reset()
        frame = env.render()
        assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8 and frame.any()
        with pytest.raises(ValueError, match="expected shape"):
            env.step(np.array([0]))
        with pytest.raises(ValueError, match="outside the action spec"):
            env.step(np.array([0, 4]))


def test_backend_errors(monkeypatch):
    with pytest.raises(ConfigError, match="backend='envpool' plays Atari ids only"):
        envs.make("CartPole-v1", backend="envpool")
    with pytest.raises(ConfigError, match="action_repeat"):
        _make(action_repeat=2)
    with pytest.raises(ConfigError, match=r"env_kwargs \['render_fps'\] are not supported by backend='envpool'"):
        _make(env_kwargs={"render_fps": 30})
    with pytest.raises(ConfigError, match="frameskip"):
        _make(env_kwargs={"frameskip": 4})
    with pytest.raises(ConfigError, match="render_mode='rgb_array'"):
        _make(render_mode="human")
    with pytest.raises(ConfigError, match="seeds up to 2147483646 for 2 envs"):
        _make(num_envs=2, seed=2**31 - 1)
    with pytest.raises(ConfigError, match="Valid backends: async, envpool, sync, tf"):
        envs.make(BREAKOUT, backend="envpools")
    monkeypatch.setitem(sys.modules, "envpool", None)  # as if envpool were not installed
    with pytest.raises(ConfigError, match=r"pip install 'tfrl\[envpool\]'"):
        _make()
    with pytest.raises(ConfigError, match=r"pip install 'tfrl\[envpool\]'"):
        EnvPoolEnvironment(BREAKOUT)
