"""The Atari pipeline (``tfrl.envs.atari``) on real ALE ROMs."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

pytest.importorskip("ale_py")

from tfrl import envs  # noqa: E402
from tfrl.envs.atari import (  # noqa: E402
    FIRE,
    NOOP,
    MaxAndSkip,
    NoopReset,
    ResizeObservation,
    area_resize,
    make_atari_env,
)
from tfrl.envs.ids import register_ale  # noqa: E402
from tfrl.errors import ConfigError  # noqa: E402
from tfrl.specs import StepType  # noqa: E402

BREAKOUT = "BreakoutNoFrameskip-v4"


def _base(env_id: str = BREAKOUT) -> gymnasium.Env:
    register_ale()
    return gymnasium.make(env_id, frameskip=1, obs_type="grayscale", repeat_action_probability=0.0)


def _ale(env: gymnasium.Env):
    return env.unwrapped.ale


@pytest.mark.parametrize("env_id", [BREAKOUT, "ALE/Breakout-v5"])
def test_make_routes_atari_ids_to_uint8_frame_stacks(env_id):
    with envs.make(env_id, num_envs=2, seed=0) as env:
        spec = env.observation_spec()
        assert spec.shape == (84, 84, 4) and spec.dtype == np.uint8
        assert env.action_spec().maximum == 3  # Breakout: NOOP, FIRE, RIGHT, LEFT
        ts = env.reset()
        assert ts.observation.shape == (2, 84, 84, 4) and ts.observation.dtype == np.uint8
        ts = env.step(np.array([FIRE, NOOP]))
        assert ts.observation.shape == (2, 84, 84, 4) and ts.observation.dtype == np.uint8
        # the newest frame is last: the stack shifts by one frame per step
        ts2 = env.step(np.array([NOOP, NOOP]))
        np.testing.assert_array_equal(ts2.observation[..., :3], ts.observation[..., 1:])


def test_area_resize_averages_blocks_by_hand():
    frame = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    expected = np.rint(frame.reshape(2, 2, 2, 2).astype(np.float64).mean(axis=(1, 3)))
    np.testing.assert_array_equal(area_resize(frame, 2, 2), expected)
    # 210x160 to 84x84: cut every pixel into 2x21 equal parts, then average blocks of 5x40 parts
    screen = np.random.default_rng(0).integers(0, 256, (210, 160), dtype=np.uint8)
    fine = np.repeat(np.repeat(screen.astype(np.float64), 2, axis=0), 21, axis=1)
    exact = fine.reshape(84, 5, 84, 40).mean(axis=(1, 3))
    assert np.abs(area_resize(screen, 84, 84) - exact).max() <= 0.5 + 1e-3
    constant = np.full((210, 160), 77, dtype=np.uint8)
    np.testing.assert_array_equal(area_resize(constant, 84, 84), np.full((84, 84), 77))


def test_max_and_skip_is_the_max_of_the_last_two_ale_frames():
    env = MaxAndSkip(_base(), skip=4)
    env.reset(seed=0)
    for _ in range(30):  # launch the ball so consecutive frames differ
        env.step(FIRE)
    ale = _ale(env)
    state = ale.cloneState()
    frame, reward, *_ = env.step(NOOP)
    assert frame.shape == (210, 160) and frame.dtype == np.uint8
    ale.restoreState(state)
    grabbed = []
    for _ in range(4):
        ale.act(NOOP)
        grabbed.append(ale.getScreenGrayscale().copy())
    assert not np.array_equal(grabbed[2], grabbed[3])  # the check is not trivial
    np.testing.assert_array_equal(frame, np.maximum(grabbed[2], grabbed[3]))
    assert not np.array_equal(frame, grabbed[3])


def test_noop_starts_are_within_1_to_30_and_reproducible_by_seed():
    env = NoopReset(_base(), noop_max=30)
    counts = {}
    for seed in range(8):
        env.reset(seed=seed)
        counts[seed] = env.last_noops
        assert 1 <= env.last_noops <= 30
        assert _ale(env).getEpisodeFrameNumber() == env.last_noops
    for seed in range(8):
        env.reset(seed=seed)
        assert env.last_noops == counts[seed]
    assert len(set(counts.values())) > 1
    a = make_atari_env(BREAKOUT, training=True, seed=3)
    b = make_atari_env(BREAKOUT, training=True, seed=3)
    np.testing.assert_array_equal(a.reset()[0], b.reset()[0])
    assert _ale(a).getEpisodeFrameNumber() == _ale(b).getEpisodeFrameNumber()


def test_fire_on_reset_launches_the_breakout_ball():
    env = make_atari_env(BREAKOUT, training=False, seed=0)
    first, _ = env.reset()
    frames = [env.step(NOOP)[0][..., -1] for _ in range(10)]
    assert any(not np.array_equal(f, first[..., -1]) for f in frames)
    # without FIRE the screen stands still under NOOP
    plain = ResizeObservation(MaxAndSkip(NoopReset(_base())))
    still, _ = plain.reset(seed=0)
    for _ in range(10):
        np.testing.assert_array_equal(plain.step(NOOP)[0], still)


def test_life_loss_ends_a_training_episode_but_not_the_game():
    env = make_atari_env(BREAKOUT, training=True, seed=0)
    env.reset()
    ale = _ale(env)
    assert ale.lives() == 5
    for _ in range(1000):
        _, _, terminated, truncated, _ = env.step(FIRE)
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert ale.lives() == 4 and not ale.game_over()
    frame_number = ale.getEpisodeFrameNumber()
    env.reset()
    assert ale.lives() == 4  # the game goes on
    assert ale.getEpisodeFrameNumber() > frame_number


def test_training_episodes_are_lives_and_evaluation_episodes_are_games():
    with envs.make(BREAKOUT, num_envs=1, seed=0, training=True) as env:
        env.reset()
        lasts = []
        while not (games := env.pop_game_records()):
            ts = env.step(np.array([FIRE]))
            if ts.step_type[0] == StepType.LAST:
                lasts.append(float(ts.discount[0]))
        assert lasts == [0.0] * 5  # five lives, each a terminated episode
        assert len(env.pop_finished()) == 5
        assert len(games) == 1 and games[0].env_index == 0 and games[0].terminated
    with envs.make(BREAKOUT, num_envs=1, seed=0, training=False) as env:
        ts = env.reset()
        inner = env.environment._vec.envs[0]  # noqa: SLF001 (only to read the lives)
        steps = 0
        lives_seen = set()
        while ts.step_type[0] != StepType.LAST:
            ts = env.step(np.array([FIRE]))
            steps += 1
            lives_seen.add(int(inner.unwrapped.ale.lives()))
        assert ts.discount[0] == 0.0
        assert lives_seen >= {5, 4, 1, 0}  # every life was played in one episode
        [record] = env.pop_finished()
        assert record.length == steps and record.terminated
        [game] = env.pop_game_records()
        assert game.game_return == record.episode_return


def test_training_rewards_are_clipped_and_evaluation_rewards_raw():
    train = make_atari_env("SpaceInvadersNoFrameskip-v4", training=True, seed=1)
    evaluate = make_atari_env("SpaceInvadersNoFrameskip-v4", training=False, seed=1)
    obs_t, _ = train.reset()
    obs_e, _ = evaluate.reset()
    np.testing.assert_array_equal(obs_t, obs_e)
    rng = np.random.default_rng(0)
    raw, clipped = [], []
    for _ in range(400):
        action = int(rng.integers(train.action_space.n))
        _, r_t, term_t, trunc_t, _ = train.step(action)
        _, r_e, _, _, _ = evaluate.step(action)
        clipped.append(r_t)
        raw.append(r_e)
        if term_t or trunc_t:  # first life lost: the two envs part ways
            break
    raw, clipped = np.array(raw), np.array(clipped)
    assert set(np.unique(clipped)) <= {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(clipped, np.sign(raw))
    assert raw.max() > 1.0  # Space Invaders aliens are worth 5 to 30 points


@pytest.mark.parametrize(
    ("env_id", "sticky", "expected"),
    [(BREAKOUT, None, 0.0), (BREAKOUT, True, 0.25), ("ALE/Breakout-v5", None, 0.25), ("ALE/Breakout-v5", False, 0.0)],
)
def test_sticky_actions_option(env_id, sticky, expected):
    env = make_atari_env(env_id, training=True, sticky_actions=sticky)
    assert _ale(env).getFloat("repeat_action_probability") == pytest.approx(expected)
    assert env.unwrapped._frameskip == 1  # noqa: SLF001 (the pipeline does the frame skip)


def test_make_passes_atari_options_and_refuses_conflicts():
    with envs.make(BREAKOUT, env_kwargs={"sticky_actions": True, "frame_stack": 2}) as env:
        assert env.observation_spec().shape == (84, 84, 2)
        inner = env.environment._vec.envs[0]  # noqa: SLF001
        assert inner.unwrapped.ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    with pytest.raises(ConfigError, match="action_repeat"):
        envs.make(BREAKOUT, action_repeat=2)
    with pytest.raises(ConfigError, match="frameskip"):
        make_atari_env(BREAKOUT, training=True, env_kwargs={"frameskip": 4})
