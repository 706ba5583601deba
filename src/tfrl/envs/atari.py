"""Atari: the DeepMind preprocessing (Mnih et al. 2015, Machado et al. 2018) as ``gymnasium.Wrapper``
classes applied to each single ALE env before vectorizing, and ``make_atari_env`` that stacks them.

From the ALE env outwards (``make_atari_env``):

1. the ALE env itself, with ``frameskip=1`` (one emulator frame per step), grayscale observations
   (ALE's ``getScreenGrayscale``, 210x160) and ``repeat_action_probability`` 0.25 with sticky actions
   (the v5 setting) or 0.0 without (the ``NoFrameskip-v4`` setting);
2. ``NoopReset``: a random number of NOOP frames, 1..``noop_max``, after each real game reset, drawn
   from the env's seeded ``np_random`` (so reproducible by the reset seed);
3. ``MaxAndSkip``: each agent action is repeated for ``skip`` frames (rewards summed) and the
   observation is the pixel-wise maximum of the last two frames (removes Atari sprite flicker);
4. ``ResizeObservation``: area-average resize to 84x84 (pure NumPy, no OpenCV);
5. ``TimeLimit`` (only when ``max_episode_steps`` is given): truncates a real game after that many
   agent steps;
6. ``GameStatistics``: records the return (raw, unclipped) and length of every real game;
7. ``EpisodicLife`` (training only): a lost life ends the episode with ``terminated=True``, so the
   agent sees LAST with discount 0 and does not bootstrap across it, as DeepMind's DQN. The next
   ``reset`` does not reset the game: it continues from where the life was lost (one NOOP frame
   group), and only resets the real game when the game is over;
8. ``FireReset`` (games whose action 1 is FIRE, such as Breakout): press FIRE after every reset,
   so the ball is launched (in training, after every life too, since each life starts with a reset);
9. ``ClipReward`` (training only): rewards become their sign, in {-1, 0, 1};
10. ``FrameStack``: the last ``frame_stack`` frames as one uint8 array ``(84, 84, frame_stack)``,
    channels last, oldest first.

Evaluation (``training=False``) plays whole games with raw rewards: no life-loss episode ends and no
clipping, so its episode returns are game scores. An evaluation game is only ever reset by a game
over (or ``max_episode_steps``); note that in Breakout the policy has to press FIRE itself after a lost
life.

What ``EpisodeStatistics.pop_finished()`` reports for an Atari env made by ``tfrl.envs.make``: one record
per *episode* as the agent sees it. When training that is one life, with clipped rewards: its
``episode_return`` is the number of rewarding events minus penalties in that life, not a game score.
When evaluating it is one whole game with raw rewards: the game score. For the real game scores of a
training env use its ``pop_game_records()`` method (``AtariEnvironment``, forwarded by every
``EnvironmentWrapper``), which collects ``GameRecord``s (raw game return and length in agent steps) from
every sub-env, for the sync and async backends alike.

The frame wrappers (``MaxAndSkip``, ``ResizeObservation``, ``FrameStack``, ``area_resize``) live in
``tfrl.envs.atari_frames``, the constants and ``GameRecord`` shared with EnvPool in
``tfrl.envs.atari_common``; this module exports them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, SupportsFloat

import gymnasium
import numpy as np

from tfrl.envs.atari_common import FIRE, NOOP, GameRecord, check_pipeline_kwargs, fires_on_reset
from tfrl.envs.atari_frames import FrameStack, MaxAndSkip, ResizeObservation, area_resize
from tfrl.envs.checks import positive_int
from tfrl.envs.gym_env import GymnasiumEnvironment
from tfrl.envs.ids import check_env_id
from tfrl.envs.wrappers import TimeLimit
from tfrl.errors import ConfigError

__all__ = [
    "make_atari_env",
    "AtariEnvironment",
    "GameRecord",
    "NOOP",
    "FIRE",
    "NoopReset",
    "MaxAndSkip",
    "ResizeObservation",
    "GameStatistics",
    "EpisodicLife",
    "FireReset",
    "ClipReward",
    "FrameStack",
    "area_resize",
]


def _ale(env: gymnasium.Env) -> Any:
    return env.unwrapped.ale  # type: ignore[attr-defined]


class NoopReset(gymnasium.Wrapper):
    """After each reset, play a random number of NOOP frames, uniform in 1..``noop_max``.

    The count is drawn from the env's ``np_random`` (seeded by ``reset(seed=...)``) and kept in
    ``last_noops``. If the NOOPs end the game, the env is reset again.
    """

    def __init__(self, env: gymnasium.Env, noop_max: int = 30) -> None:
        super().__init__(env)
        self.noop_max = positive_int("noop_max", noop_max)
        meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
        if meanings[NOOP] != "NOOP":
            raise ConfigError(f"no-op starts need action 0 to be NOOP, got {meanings[NOOP]!r}")
        self.last_noops = 0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset the env and play 1..``noop_max`` NOOP frames."""
        observation, info = self.env.reset(**kwargs)
        self.last_noops = int(self.np_random.integers(1, self.noop_max + 1))
        for _ in range(self.last_noops):
            observation, _, terminated, truncated, info = self.env.step(NOOP)
            if terminated or truncated:
                observation, info = self.env.reset()
        return observation, info


class GameStatistics(gymnasium.Wrapper):
    """Records the raw return and length of each real game; read them with ``AtariEnvironment.pop_game_records``.

    Sits below the life-loss and reward-clipping wrappers, so it sees raw rewards and real game overs.
    """

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        self._return = 0.0
        self._length = 0
        self._finished: list[tuple[float, int, bool]] = []

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset the game; a game in progress is dropped."""
        self._return, self._length = 0.0, 0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step and count; record the game when it ends."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        self._length += 1
        if terminated or truncated:
            self._finished.append((self._return, self._length, bool(terminated)))
            self._return, self._length = 0.0, 0
        return observation, reward, terminated, truncated, info

    def pop_game_records(self) -> list[tuple[float, int, bool]]:
        """``(game_return, length, terminated)`` of the games finished since the last call."""
        finished, self._finished = self._finished, []
        return finished


class EpisodicLife(gymnasium.Wrapper):
    """Training only: a lost life ends the episode (``terminated=True``) without resetting the game.

    ``reset`` resets the real game only after a game over or a truncation; after a lost life it
    plays one NOOP step and continues the game.
    """

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        self._lives = 0
        self._game_over = True

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step; ``terminated`` is True on a game over or a lost life."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._game_over = bool(terminated or truncated)
        lives = int(_ale(self.env).lives())
        if 0 < lives < self._lives:
            terminated = True
        self._lives = lives
        return observation, reward, terminated, truncated, info

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset the game after a game over; otherwise continue it with one NOOP step."""
        if self._game_over or kwargs.get("seed") is not None:
            observation, info = self.env.reset(**kwargs)
        else:
            observation, _, terminated, truncated, info = self.env.step(NOOP)
            if terminated or truncated:
                observation, info = self.env.reset(**kwargs)
        self._game_over = False
        self._lives = int(_ale(self.env).lives())
        return observation, info


class FireReset(gymnasium.Wrapper):
    """Press FIRE once after each reset (for games that wait for it, such as Breakout)."""

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
        if len(meanings) < 2 or meanings[FIRE] != "FIRE":
            raise ConfigError(f"FireReset needs action 1 to be FIRE, got actions {meanings}")

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset and press FIRE (reset again, unseeded, if that ends the episode)."""
        self.env.reset(**kwargs)
        observation, _, terminated, truncated, info = self.env.step(FIRE)
        if terminated or truncated:
            kwargs.pop("seed", None)
            observation, info = self.env.reset(**kwargs)
        return observation, info


class ClipReward(gymnasium.RewardWrapper):
    """Training only: rewards become their sign, -1, 0 or 1."""

    def reward(self, reward: SupportsFloat) -> float:
        """``sign(reward)``."""
        return float(np.sign(float(reward)))


class _SeedFirstReset(gymnasium.Wrapper):
    """Uses ``seed`` for the first ``reset`` that is called without one."""

    def __init__(self, env: gymnasium.Env, seed: int | None) -> None:
        super().__init__(env)
        self._pending_seed = seed

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        if kwargs.get("seed") is None and self._pending_seed is not None:
            kwargs["seed"] = self._pending_seed
        self._pending_seed = None
        return self.env.reset(**kwargs)


def make_atari_env(
    env_id: str,
    training: bool,
    sticky_actions: bool | None = None,
    frame_stack: int = 4,
    seed: int | None = None,
    noop_max: int = 30,
    frame_skip: int = 4,
    screen_size: int = 84,
    terminal_on_life_loss: bool | None = None,
    clip_rewards: bool | None = None,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> gymnasium.Env:
    """One ALE game with the DeepMind preprocessing (see the module docstring for the wrapper order).

    Args:
        env_id: an ale-py id, ``"BreakoutNoFrameskip-v4"`` or ``"ALE/Breakout-v5"`` (both are played at
            one frame per ALE step, the frame skip is this pipeline's).
        training: True for life loss as episode end and clipped rewards; False (evaluation) for whole
            games and raw rewards.
        sticky_actions: ``repeat_action_probability`` 0.25 (True) or 0 (False); None keeps the id's
            registered setting (0.25 for v5 ids, 0 for ``NoFrameskip-v4`` ids).
        frame_stack: number of stacked frames (the observation is ``(screen_size, screen_size, frame_stack)``).
        seed: seed of the first ``reset()`` called without a seed.
        noop_max: no-op starts play 1..``noop_max`` NOOP frames after each game reset.
        frame_skip: frames per agent step.
        screen_size: height and width of the resized frames.
        terminal_on_life_loss: None follows ``training``.
        clip_rewards: None follows ``training``.
        max_episode_steps: truncate a real game after this many agent steps (None: ALE's own limit of
            108000 frames).
        render_mode: ALE render mode, e.g. ``"rgb_array"``.
        env_kwargs: more keyword arguments for ``gymnasium.make`` (``mode``, ``difficulty``,
            ``full_action_space``, ...); ``frameskip``, ``repeat_action_probability`` and ``obs_type``
            are set by this function.
    """
    check_env_id(env_id)
    kwargs = dict(env_kwargs or {})
    check_pipeline_kwargs(kwargs)
    if sticky_actions is not None:
        kwargs["repeat_action_probability"] = 0.25 if sticky_actions else 0.0
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env = gymnasium.make(env_id, frameskip=1, obs_type="grayscale", **kwargs)
    env = NoopReset(env, noop_max)
    env = MaxAndSkip(env, frame_skip)
    env = ResizeObservation(env, screen_size, screen_size)
    if max_episode_steps is not None:
        env = TimeLimit(env, max_episode_steps)
    env = GameStatistics(env)
    if training if terminal_on_life_loss is None else terminal_on_life_loss:
        env = EpisodicLife(env)
    if fires_on_reset(env.unwrapped.get_action_meanings()):  # type: ignore[attr-defined]
        env = FireReset(env)
    if training if clip_rewards is None else clip_rewards:
        env = ClipReward(env)
    env = FrameStack(env, frame_stack)
    if seed is not None:
        env = _SeedFirstReset(env, seed)
    return env


class AtariEnvironment(GymnasiumEnvironment):
    """The ``GymnasiumEnvironment`` that ``tfrl.envs.make`` builds for an Atari id (sync and async back-ends):
    sub-envs made by ``make_atari_env``, whose real games ``pop_game_records`` reports."""

    def pop_game_records(self) -> list[GameRecord]:
        """The real games (all lives, raw rewards) finished since the last call in each sub-env, by env index."""
        return [
            GameRecord(index, game_return, length, terminated)
            for index, records in enumerate(self.call("pop_game_records"))
            for game_return, length, terminated in records
        ]
