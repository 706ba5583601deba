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
training env use ``pop_game_records(environment)``, which collects ``GameRecord``s (raw game return and
length in agent steps) from every sub-env, for the sync and async backends alike.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Mapping
from typing import Any, NamedTuple, SupportsFloat

import gymnasium
import numpy as np

from tfrl.envs.wrappers import TimeLimit, _positive_int
from tfrl.errors import ConfigError

__all__ = [
    "make_atari_env",
    "pop_game_records",
    "GameRecord",
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

NOOP = 0
FIRE = 1


def _ale(env: gymnasium.Env) -> Any:
    return env.unwrapped.ale  # type: ignore[attr-defined]


class NoopReset(gymnasium.Wrapper):
    """After each reset, play a random number of NOOP frames, uniform in 1..``noop_max``.

    The count is drawn from the env's ``np_random`` (seeded by ``reset(seed=...)``) and kept in
    ``last_noops``. If the NOOPs end the game, the env is reset again.
    """

    def __init__(self, env: gymnasium.Env, noop_max: int = 30) -> None:
        super().__init__(env)
        self.noop_max = _positive_int("noop_max", noop_max)
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


class MaxAndSkip(gymnasium.Wrapper):
    """Repeat each action for ``skip`` frames, summing rewards; observe the max of the last two frames.

    Stops early when the game ends; the observation is then the max of the last two frames played
    (or the one frame, if only one was played).
    """

    def __init__(self, env: gymnasium.Env, skip: int = 4) -> None:
        super().__init__(env)
        self.skip = _positive_int("frame_skip", skip)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Play ``action`` for up to ``skip`` frames."""
        total = 0.0
        last_two: collections.deque[np.ndarray] = collections.deque(maxlen=2)
        for _ in range(self.skip):
            observation, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            last_two.append(observation)
            if terminated or truncated:
                break
        frame = last_two[-1] if len(last_two) == 1 else np.maximum(last_two[0], last_two[1])
        return frame, total, terminated, truncated, info


def _area_weights(size_in: int, size_out: int) -> np.ndarray:
    """``[size_out, size_in]`` matrix: row j averages input cells over [j, j+1) * size_in / size_out."""
    scale = size_in / size_out
    edges = np.arange(size_out + 1) * scale
    cells = np.arange(size_in)
    lo = np.maximum(edges[:-1, None], cells[None, :])
    hi = np.minimum(edges[1:, None], cells[None, :] + 1)
    return (np.clip(hi - lo, 0.0, None) / scale).astype(np.float32)


def _sparse_area_weights(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray]:
    """The nonzero entries of ``_area_weights`` per output cell: ``(indices, weights)``, both ``[size_out, k]``."""
    weights = _area_weights(size_in, size_out)
    nonzero = weights > 0
    k = int(nonzero.sum(axis=1).max())
    indices = np.sort(np.argsort(~nonzero, axis=1, kind="stable")[:, :k], axis=1)
    return indices, np.take_along_axis(weights, indices, axis=1)


@functools.lru_cache(maxsize=8)
def _resize_weights(
    in_shape: tuple[int, int], out_shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rows, row_weights = _sparse_area_weights(in_shape[0], out_shape[0])
    cols, col_weights = _sparse_area_weights(in_shape[1], out_shape[1])
    return rows, row_weights[:, :, None], cols, col_weights[None, :, :]


def area_resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D uint8 frame by area averaging (as OpenCV's ``INTER_AREA`` when shrinking), rounded.

    Each output pixel is the area-weighted mean of the input pixels its cell covers; the weights are
    applied as a gather and a weighted sum per axis (about 0.15 ms for 210x160 to 84x84, no BLAS call).
    """
    rows, row_weights, cols, col_weights = _resize_weights(frame.shape[:2], (height, width))
    tall = (frame[rows].astype(np.float32) * row_weights).sum(axis=1)  # [height, in_width]
    out = (tall[:, cols] * col_weights).sum(axis=2)  # [height, width]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class ResizeObservation(gymnasium.ObservationWrapper):
    """Area-resize a 2-D grayscale uint8 observation to ``(height, width)``."""

    def __init__(self, env: gymnasium.Env, height: int = 84, width: int = 84) -> None:
        super().__init__(env)
        self.height = _positive_int("screen_size", height)
        self.width = _positive_int("screen_size", width)
        if len(env.observation_space.shape or ()) != 2:
            raise ConfigError(f"ResizeObservation needs 2-D grayscale frames, got {env.observation_space}")
        self.observation_space = gymnasium.spaces.Box(0, 255, (self.height, self.width), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """The resized frame."""
        return area_resize(np.asarray(observation), self.height, self.width)


class GameRecord(NamedTuple):
    """One finished real game (all lives) of one sub-env."""

    env_index: int
    """Index of the sub-env in the batch."""
    game_return: float
    """Sum of the game's raw (unclipped) rewards: the game score."""
    length: int
    """Agent steps of the game (each ``frame_skip`` frames), including those of FIRE and life-loss resets."""
    terminated: bool
    """True on a game over, False when ``max_episode_steps`` truncated the game."""


class GameStatistics(gymnasium.Wrapper):
    """Records the raw return and length of each real game; read them with ``pop_game_records``.

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


class FrameStack(gymnasium.Wrapper):
    """Observe the last ``num_frames`` 2-D frames stacked on a last axis, oldest first, as uint8.

    After a reset the stack holds ``num_frames`` copies of the reset frame.
    """

    def __init__(self, env: gymnasium.Env, num_frames: int = 4) -> None:
        super().__init__(env)
        self.num_frames = _positive_int("frame_stack", num_frames)
        shape = env.observation_space.shape
        self.observation_space = gymnasium.spaces.Box(0, 255, (*shape, self.num_frames), np.uint8)
        self._frames: collections.deque[np.ndarray] = collections.deque(maxlen=self.num_frames)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset and fill the stack with the first frame."""
        observation, info = self.env.reset(**kwargs)
        for _ in range(self.num_frames):
            self._frames.append(observation)
        return self._stacked(), info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step and push the new frame."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._frames.append(observation)
        return self._stacked(), reward, terminated, truncated, info

    def _stacked(self) -> np.ndarray:
        return np.stack(self._frames, axis=-1).astype(np.uint8, copy=False)


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


_BASE_KWARGS = ("frameskip", "repeat_action_probability", "obs_type")


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
    from tfrl.envs.registry import check_env_id

    check_env_id(env_id)
    kwargs = dict(env_kwargs or {})
    clash = sorted(set(kwargs) & set(_BASE_KWARGS))
    if clash:
        raise ConfigError(
            f"env_kwargs {clash} are set by the Atari pipeline; use frame_skip=... and sticky_actions=... instead"
        )
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
    meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
    if len(meanings) >= 3 and meanings[FIRE] == "FIRE":
        env = FireReset(env)
    if training if clip_rewards is None else clip_rewards:
        env = ClipReward(env)
    env = FrameStack(env, frame_stack)
    if seed is not None:
        env = _SeedFirstReset(env, seed)
    return env


def pop_game_records(environment: Any) -> list[GameRecord]:
    """The real games finished since the last call in each sub-env of ``environment``, by env index.

    ``environment`` is what ``tfrl.envs.make`` returned for an Atari id (or any ``Environment`` wrapping
    its ``GymnasiumEnvironment``). Works for the sync and async backends (one ``call`` on the vector env) and
    for backend ``"envpool"`` (``EnvPoolEnvironment`` keeps the records itself).
    """
    from tfrl.envs.core import EnvironmentWrapper
    from tfrl.envs.envpool_env import EnvPoolEnvironment
    from tfrl.envs.gym_env import GymnasiumEnvironment

    inner = environment
    while isinstance(inner, EnvironmentWrapper):
        inner = inner.environment
    if isinstance(inner, EnvPoolEnvironment):
        return inner.pop_game_records()
    if not isinstance(inner, GymnasiumEnvironment):
        raise ConfigError(f"pop_game_records needs an Atari environment made by tfrl.envs.make, got {environment!r}")
    per_env = inner.call("pop_game_records")
    return [
        GameRecord(index, game_return, length, terminated)
        for index, records in enumerate(per_env)
        for game_return, length, terminated in records
    ]
