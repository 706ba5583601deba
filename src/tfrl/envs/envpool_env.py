"""``EnvPoolEnvironment``: Atari games stepped by EnvPool's C++ thread pool, with the outputs of
``tfrl.envs.atari``'s ale-py pipeline (``make(id, backend="envpool")``).

EnvPool (``pip install 'tfrl[envpool]'``, Linux x86-64) runs the DeepMind preprocessing in C++ on
its own threads. ``envpool_options`` configures it to match ``make_atari_env`` for the same id and
``training`` flag:

* sticky actions as the id registers them (``NoFrameskip-v4``: none; ``ALE/...-v5``: 0.25), or as
  ``env_kwargs["sticky_actions"]`` says;
* frame skip 4 with the max over the last two frames, ALE's grayscale, area resize to 84x84 (OpenCV's
  ``INTER_AREA``, equal to ``area_resize`` up to one gray level of rounding);
* episode end on life loss (``episodic_life``) and reward clipping (``reward_clip``) only when training;
* FIRE after a reset for the games that ``make_atari_env`` fires in (action 1 is FIRE, 3+ actions);
* the same game length limit: ALE's ``max_num_frames_per_episode`` (108000 frames, 27000 agent steps)
  or ``max_episode_steps`` if smaller.

This module is the one that knows EnvPool's auto-reset: after a sub-env reports ``terminated`` or
``truncated``, EnvPool's next ``step`` ignores that env's action, runs its reset (a real game reset,
or after a life loss in training only the no-ops and FIRE) and returns the first observation with
reward 0 and both flags False; the adapter labels that step FIRST, as the ``Environment`` contract
wants. LAST when ``terminated`` or ``truncated``; discount 0 when the game is over or (training) a
life was lost, which wins over a simultaneous truncation as in the ale-py pipeline; 1 otherwise.

EnvPool is asked for one frame per observation and the adapter stacks the last four itself
(channels last, oldest first), so every FIRST observation holds four copies of its first frame, also
after a lost life in training, exactly as ``FrameStack`` (EnvPool's own stack would keep the frames
of the previous life there).

Where EnvPool cannot match the ale-py pipeline:

* resets: EnvPool plays 0..29 NOOP frames and then one FIRE frame (FIRE games) or 1..30 NOOP frames
  (others); the ale-py pipeline plays 1..30 NOOP frames and then FIRE for one agent step (4 frames).
  After a lost life in training EnvPool plays its no-ops and FIRE frame again; the ale-py pipeline
  plays one NOOP and one FIRE agent step. Random numbers differ, so one seed gives different games;
* the game length limit counts agent steps after the game's reset, ALE's counts frames from the reset
  (including the reset's no-ops), so a truncation comes up to a few steps later here;
* the LAST observation of a game that ends on the first or second of its 4 frames is not the max of
  the frames played (EnvPool keeps an older frame);
* ``GameRecord.length`` counts the agent steps of the game (EnvPool's ``elapsed_step``); the ale-py
  pipeline's also counts its FIRE and life-loss reset steps;
* ``reset(seed)`` rebuilds the pool (EnvPool fixes seeds at construction), env ``i`` gets ``seed + i``;
* no snapshot of the episodes in progress (``get_state`` is None); ``render()`` is an RGB frame of env
  0 only with ``render_mode="rgb_array"``, otherwise None.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import gymnasium
import numpy as np

from tfrl.envs.atari_common import ATARI_OPTIONS, GameRecord, check_pipeline_kwargs, fires_on_reset
from tfrl.envs.checks import check_seed, positive_int
from tfrl.envs.gym_env import space_to_spec
from tfrl.envs.ids import check_env_id, split_module
from tfrl.envs.vector import VectorAdapter
from tfrl.errors import ConfigError
from tfrl.specs import BoundedArraySpec, TimeStep

__all__ = ["EnvPoolEnvironment", "envpool_options", "import_envpool"]

_GAME_OPTIONS = ("mode", "difficulty", "full_action_space", "max_num_frames_per_episode")
"""ale-py keyword arguments that EnvPool has too."""
_NO_LIMIT = 10**9  # EnvPool needs an int step limit; its counter starts at limit + 1, so not INT_MAX
_MAX_SEED = 2**31 - 1  # EnvPool seeds env i with seed + i as a C++ int


def import_envpool() -> Any:
    """The ``envpool`` module, or a ConfigError that says how to install it."""
    try:
        import envpool
    except ImportError as exc:
        raise ConfigError(
            f"backend='envpool' needs the envpool package, which is not importable ({exc}); "
            f"install it with: pip install 'tfrl[envpool]' (Linux x86-64 wheels only)"
        ) from None
    return envpool


@functools.lru_cache(maxsize=64)
def _action_meanings(gym_id: str, full_action_space: bool) -> tuple[str, ...]:
    """ale-py's action meanings of ``gym_id`` (the FIRE-reset rule of ``make_atari_env`` reads them)."""
    env = gymnasium.make(gym_id, full_action_space=full_action_space)
    try:
        return tuple(env.unwrapped.get_action_meanings())  # type: ignore[attr-defined]
    finally:
        env.close()


def envpool_options(
    env_id: str,
    training: bool,
    max_episode_steps: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, Any], int]:
    """``(EnvPool task id, keyword arguments for envpool.make, frame stack)`` matching ``make_atari_env``.

    Args:
        env_id: an ale-py Atari id such as ``"BreakoutNoFrameskip-v4"`` or ``"ALE/Breakout-v5"``.
        training: life loss ends episodes and rewards are clipped (both can be overridden by
            ``terminal_on_life_loss`` and ``clip_rewards`` in ``env_kwargs``).
        max_episode_steps: agent steps after which a game is truncated (None: ALE's frame limit).
        env_kwargs: ``make_atari_env`` options (``sticky_actions``, ``frame_stack``, ``noop_max``,
            ``frame_skip``, ``screen_size``, ``terminal_on_life_loss``, ``clip_rewards``) and the ale-py
            arguments ``mode``, ``difficulty``, ``full_action_space``, ``max_num_frames_per_episode``.
    """
    check_env_id(env_id)
    gym_id = split_module(env_id)[1]
    registered = dict(gymnasium.spec(gym_id).kwargs)
    kwargs = dict(env_kwargs or {})
    check_pipeline_kwargs(kwargs)
    unknown = sorted(set(kwargs) - set(ATARI_OPTIONS) - set(_GAME_OPTIONS))
    if unknown:
        raise ConfigError(f"env_kwargs {unknown} are not supported by backend='envpool'; "
                          f"it takes {', '.join(ATARI_OPTIONS + _GAME_OPTIONS)}")
    game = str(registered["game"])
    task_id = "".join(part.capitalize() for part in game.split("_")) + "-v5"  # EnvPool's naming of ROMs
    if task_id not in import_envpool().list_all_envs():
        raise ConfigError(f"EnvPool has no Atari game {task_id!r} for {env_id!r}; use backend='sync' or 'async'")

    sticky = kwargs.get("sticky_actions")
    if sticky is None:
        repeat_probability = float(registered.get("repeat_action_probability", 0.25))
    else:
        repeat_probability = 0.25 if sticky else 0.0
    frame_skip = positive_int("frame_skip", kwargs.get("frame_skip", 4))
    screen_size = positive_int("screen_size", kwargs.get("screen_size", 84))
    frame_stack = positive_int("frame_stack", kwargs.get("frame_stack", 4))
    full_action_space = bool(kwargs.get("full_action_space", registered.get("full_action_space", False)))
    meanings = _action_meanings(gym_id, full_action_space)
    life_loss = kwargs.get("terminal_on_life_loss")
    clip = kwargs.get("clip_rewards")
    limit = _NO_LIMIT
    frames = kwargs.get("max_num_frames_per_episode", registered.get("max_num_frames_per_episode"))
    if frames:
        limit = max(1, int(frames) // frame_skip)
    if max_episode_steps is not None:
        limit = min(limit, positive_int("max_episode_steps", max_episode_steps))
    options: dict[str, Any] = dict(
        repeat_action_probability=repeat_probability,
        noop_max=positive_int("noop_max", kwargs.get("noop_max", 30)),
        frame_skip=frame_skip,
        img_height=screen_size,
        img_width=screen_size,
        gray_scale=True,
        use_inter_area_resize=True,
        stack_num=1,  # the adapter stacks (see the module docstring)
        episodic_life=bool(training if life_loss is None else life_loss),
        reward_clip=bool(training if clip is None else clip),
        use_fire_reset=fires_on_reset(meanings),
        max_episode_steps=limit,
        full_action_space=full_action_space,
    )
    for name in ("mode", "difficulty"):
        if kwargs.get(name) is not None:
            options[name] = int(kwargs[name])
    return task_id, options, frame_stack


class EnvPoolEnvironment(VectorAdapter):
    """A batch of ``num_envs`` Atari games on EnvPool with the specs and time steps of ``make_atari_env``.

    Args:
        env_id: an ale-py Atari id (``"BreakoutNoFrameskip-v4"``, ``"ALE/Breakout-v5"``).
        num_envs: games in the batch.
        seed: seed of the first ``reset()`` called without one; env ``i`` gets ``seed + i``. None
            draws a seed.
        training: life loss ends episodes and rewards are clipped; False plays whole games with raw
            rewards (evaluation).
        max_episode_steps: truncate a game after this many agent steps (None: ALE's 108000 frames).
        render_mode: None, or ``"rgb_array"`` for ``render()`` frames of env 0.
        env_kwargs: see ``envpool_options``.
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int = 1,
        seed: int | None = None,
        training: bool = True,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        envpool = import_envpool()
        n = positive_int("num_envs", num_envs)
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"backend='envpool' renders only render_mode='rgb_array', got {render_mode!r}")
        task_id, options, frame_stack = envpool_options(env_id, training, max_episode_steps, env_kwargs)
        if render_mode is not None:
            options["render_mode"] = render_mode
        self._make_pool = functools.partial(envpool.make, task_id, env_type="gymnasium", num_envs=n, **options)
        self._task_id, self._render_mode = task_id, render_mode
        self._episodic = bool(options["episodic_life"])
        self._pool: Any = None
        self._new_pool(self._check_seed(seed if seed is not None else self._draw_seed(), n))
        size = int(options["img_height"])
        action_spec = space_to_spec(self._pool.action_space, "action", env_id)
        assert isinstance(action_spec, BoundedArraySpec)
        # the specs of the ale-py back-end: uint8 (screen_size, screen_size, frame_stack), an int64 action index
        super().__init__(env_id, n, space_to_spec(
            gymnasium.spaces.Box(0, 255, (size, size, frame_stack), np.uint8), "observation", env_id), action_spec)
        self._action_bounds = (int(action_spec.minimum), int(action_spec.maximum))
        self._stack = np.zeros((n, size, size, frame_stack), np.uint8)
        self._lives = np.zeros(n, dtype=np.int64)
        self._game_returns = np.zeros(n, dtype=np.float64)
        self._finished_games: list[GameRecord] = []

    @property
    def task_id(self) -> str:
        """EnvPool's id of the game, e.g. ``"Breakout-v5"``."""
        return self._task_id

    def reset(self, seed: int | None = None) -> TimeStep:
        """Reset every game; a ``seed`` other than that of the current pool rebuilds the pool with it.

        Without a seed the games are reset by EnvPool's own reset, which, when training and a game is
        not over, continues that game after its no-ops (as the ale-py pipeline's ``EpisodicLife``).
        """
        if seed is not None and (self._started or seed != self._pool_seed):
            self._new_pool(self._check_seed(seed, self._num_envs))
        observation, info = self._pool.reset()
        order = self._order(info)
        frame, lives = observation[order, -1], info["lives"][order]
        self._stack = np.repeat(frame[..., None], self._stack.shape[-1], axis=-1)
        self._game_returns[info["elapsed_step"][order] == 0] = 0.0  # games in progress that were reset
        self._lives = lives.astype(np.int64)
        return self._first_steps(self._stack)

    def step(self, action: Any) -> TimeStep:
        """Step every game; a game whose previous step was LAST ignores its action and returns FIRST."""
        actions = self._step_actions(action)
        if actions.min() < self._action_bounds[0] or actions.max() > self._action_bounds[1]:
            raise ValueError(f"actions {actions} are outside the action spec {self._action_spec} of {self._env_id!r}")
        observation, reward, terminated, truncated, info = self._pool.step(actions.astype(np.int32))
        order = self._order(info)
        if isinstance(order, np.ndarray):
            observation, reward, terminated, truncated = (observation[order], reward[order],
                                                          terminated[order], truncated[order])
        lives = info["lives"][order].astype(np.int64)
        game_over = info["terminated"][order].astype(bool)
        first, last, step_type, reward = self._label(reward, terminated, truncated)
        life_lost = self._episodic & (lives > 0) & (lives < self._lives)
        # termination (game over, or a life lost when training) wins over a truncation on the same step
        ended = last & (game_over | life_lost | ~truncated)
        discount = np.where(ended, 0.0, 1.0).astype(np.float32)

        frame = observation[:, -1]
        stack = np.empty_like(self._stack)
        stack[..., :-1] = self._stack[..., 1:]
        stack[..., -1] = frame
        if first.any():
            stack[first] = frame[first][..., None]
        self._stack = stack  # a new array every step: observations handed out are never written again

        self._record_games(first, last & (game_over | truncated), game_over, info["reward"][order],
                           info["elapsed_step"][order])
        self._lives = lives
        return TimeStep(step_type, reward, discount, stack)

    def pop_game_records(self) -> list[GameRecord]:
        """The real games (all lives, raw rewards) finished since the last call, in the order they finished.

        ``GameRecord.length`` is the number of agent steps that played the game.
        """
        finished, self._finished_games = self._finished_games, []
        return finished

    def render(self) -> np.ndarray | None:
        """An RGB frame ``(210, 160, 3)`` of env 0 when made with ``render_mode="rgb_array"``, else None."""
        if self._render_mode is None or self._pool is None:
            return None
        return np.asarray(self._pool.render(0)[0])

    def _close(self) -> None:
        self._close_pool()

    def _record_games(self, first: np.ndarray, game_end: np.ndarray, game_over: np.ndarray,
                      raw_reward: np.ndarray, elapsed: np.ndarray) -> None:
        self._game_returns[~first] += raw_reward[~first]
        for i in np.flatnonzero(game_end):
            self._finished_games.append(
                GameRecord(int(i), float(self._game_returns[i]), int(elapsed[i]), bool(game_over[i])))
            self._game_returns[i] = 0.0

    def _order(self, info: Mapping[str, Any]) -> np.ndarray | slice:
        """Index that puts EnvPool's results in env order (``slice(None)`` when they already are)."""
        env_ids = np.asarray(info["env_id"])
        if np.array_equal(env_ids, np.arange(self._num_envs)):
            return slice(None)
        return np.argsort(env_ids)

    def _new_pool(self, seed: int) -> None:
        self._close_pool()
        self._pool = self._make_pool(seed=seed)
        self._pool_seed = seed
        self._started = False

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @staticmethod
    def _draw_seed() -> int:
        return int(np.random.SeedSequence().generate_state(1)[0] % (_MAX_SEED // 2))

    @staticmethod
    def _check_seed(seed: Any, num_envs: int) -> int:
        seed = check_seed(seed)
        assert seed is not None  # callers pass a seed
        if seed + num_envs - 1 > _MAX_SEED:
            raise ConfigError(f"backend='envpool' takes seeds up to {_MAX_SEED - num_envs + 1} "
                              f"for {num_envs} envs (EnvPool seeds env i with seed + i as a 32-bit int); got {seed}")
        return int(seed)
