"""``make``: build an ``Environment`` from a Gymnasium id, a ``gymnasium.Env`` class, a factory or an
instance, and ``env_id_of``.

Ids are looked up in Gymnasium's registry: built-in ids, ``"module:EnvId"`` ids (the module is
imported first, so it can register its envs), and ids registered by any imported package
(``tfrl.envs.ids.check_env_id``). Atari ids (``"ALE/..."`` or ``"...NoFrameskip..."``) import ``ale_py``
on demand and get the DeepMind preprocessing of ``tfrl.envs.atari`` (``make(..., training=True|False)``).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium

from tfrl.envs.atari import AtariEnvironment, make_atari_env
from tfrl.envs.atari_common import ATARI_OPTIONS
from tfrl.envs.checks import check_seed, positive_int
from tfrl.envs.core import Environment, EnvironmentWrapper
from tfrl.envs.gym_env import GymnasiumEnvironment
from tfrl.envs.ids import (
    ENVPOOL_BACKEND,
    NATIVE_BACKEND,
    SYNC_BACKEND,
    check_backend,
    check_env_id,
    is_atari_id,
    register_ale,
    split_module,
)
from tfrl.envs.wrappers import ActionRepeat, EpisodeStatistics, TimeLimit
from tfrl.errors import ConfigError

__all__ = ["make", "env_id_of", "EnvLike"]

EnvLike = str | type[gymnasium.Env] | Callable[..., gymnasium.Env] | gymnasium.Env
"""What ``make`` accepts: an id, a ``gymnasium.Env`` subclass, a factory, or an instance."""


def env_id_of(env: EnvLike | Environment) -> str:
    """A readable name for ``env``, safe as part of a run directory name.

    The Gymnasium id for an id string or a registered env (without a ``"module:"`` prefix and
    with ``/`` replaced by ``_``, so ``"ALE/Pong-v5"`` gives ``"ALE_Pong-v5"``), the class name
    for a user's env class or instance, the function name for a factory. For an ``Environment``
    made by ``make``, the name of its sub-envs.
    """
    if isinstance(env, str):
        name = split_module(env)[1]
    elif isinstance(env, Environment):
        while isinstance(env, EnvironmentWrapper):
            env = env.environment
        name = getattr(env, "env_id", None) or type(env).__name__
    elif isinstance(env, gymnasium.Env):
        name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    else:
        name = getattr(env, "__name__", None) or type(env).__name__
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "env"


def _make_registered(
    env_id: str, render_mode: str | None, kwargs: Mapping[str, Any], own_limit: bool
) -> gymnasium.Env:
    if is_atari_id(env_id):
        register_ale()  # again, in case this runs in a fresh worker process
    user_kwargs, kwargs = dict(kwargs), dict(kwargs)
    if own_limit:
        kwargs["max_episode_steps"] = -1  # -1: no registered TimeLimit, tfrl applies its own
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    try:
        env = gymnasium.make(env_id, **kwargs)
    except TypeError as exc:
        error = _kwargs_error(env_id, user_kwargs, exc)
        if error is None:
            raise
        raise error from None
    _check_render_modes(env, render_mode)
    return env


def _make_from_class(
    cls: type[gymnasium.Env], render_mode: str | None, kwargs: Mapping[str, Any]
) -> gymnasium.Env:
    user_kwargs = kwargs
    if render_mode is not None:
        kwargs = {**kwargs, "render_mode": render_mode}
    try:
        env = cls(**kwargs)
    except TypeError as exc:
        error = _kwargs_error(cls.__name__, user_kwargs, exc)
        if error is None:
            raise
        raise error from None
    _check_render_modes(env, render_mode)
    return env


def _kwargs_error(name: str, user_kwargs: Mapping[str, Any], exc: TypeError) -> ConfigError | None:
    """A ConfigError for env_kwargs the environment's constructor does not take (None for other TypeErrors)."""
    text = str(exc)
    if not user_kwargs or "keyword argument" not in text:
        return None
    return ConfigError(f"env_kwargs {dict(user_kwargs)!r} do not fit environment {name!r}: "
                       f"{text.split(' was raised from')[0]}; pass only keyword arguments its constructor takes")


def _check_render_modes(env: gymnasium.Env, render_mode: str | None) -> None:
    """Refuse a render mode the environment does not list in ``metadata["render_modes"]`` (Gymnasium only warns)."""
    modes = list(env.metadata.get("render_modes") or [])
    if render_mode is not None and modes and render_mode not in modes:
        env.close()
        raise ConfigError(f"render_mode={render_mode!r} is not a render mode of {env_id_of(env)!r}; "
                          f"choose one of {', '.join(map(repr, modes))}")


def _make_from_factory(
    factory: Callable[..., gymnasium.Env], render_mode: str | None, kwargs: Mapping[str, Any]
) -> gymnasium.Env:
    env = factory(**kwargs)
    if not isinstance(env, gymnasium.Env):
        raise ConfigError(
            f"environment factory {env_id_of(factory)!r} returned {type(env).__name__}, not a gymnasium.Env"
        )
    _check_render_mode(env, render_mode)
    return env


def _check_render_mode(env: gymnasium.Env, render_mode: str | None) -> None:
    if render_mode is not None and env.render_mode != render_mode:
        raise ConfigError(
            f"render_mode={render_mode!r} was requested but {env_id_of(env)!r} was built with "
            f"render_mode={env.render_mode!r}; build it with render_mode={render_mode!r} in your factory"
        )


def _make_single(
    build: Callable[[], gymnasium.Env], max_episode_steps: int | None, action_repeat: int
) -> gymnasium.Env:
    env = build()
    if action_repeat > 1:
        env = ActionRepeat(env, action_repeat)
    if max_episode_steps is not None:
        env = TimeLimit(env, max_episode_steps)
    return env


def _make_atari(
    env_id: str, training: bool, max_episode_steps: int | None, render_mode: str | None, kwargs: Mapping[str, Any]
) -> gymnasium.Env:
    register_ale()  # again, in case this runs in a fresh worker process
    options = {k: v for k, v in kwargs.items() if k in ATARI_OPTIONS}
    rest = {k: v for k, v in kwargs.items() if k not in ATARI_OPTIONS}
    return make_atari_env(
        env_id,
        training=training,
        max_episode_steps=max_episode_steps,
        render_mode=render_mode,
        env_kwargs=rest,
        **options,
    )


@dataclass(frozen=True)
class _Request:
    """The arguments of one ``make`` call, checked."""

    env: EnvLike
    num_envs: int
    backend: str
    action_repeat: int
    max_episode_steps: int | None
    seed: int | None
    render_mode: str | None
    env_kwargs: Mapping[str, Any]
    training: bool


def _make_native(request: _Request) -> EpisodeStatistics:
    """``make`` for ``backend="tf"``; imports TensorFlow (through ``tfrl.envs.native``) only now."""
    from tfrl.envs.native import NATIVE_ENV_IDS, make_native

    env = request.env
    if not isinstance(env, str) or env not in NATIVE_ENV_IDS:
        raise ConfigError(
            f"backend='tf' needs one of the TF-native environment ids {', '.join(NATIVE_ENV_IDS)}; "
            f"got {env_id_of(env) if not isinstance(env, str) else env!r}. "
            f"Use backend='sync' or 'async' for other environments"
        )
    unsupported = {
        "action_repeat": request.action_repeat != 1,
        "render_mode": request.render_mode is not None,
        "env_kwargs": bool(request.env_kwargs),
    }
    for name, given in unsupported.items():
        if given:
            raise ConfigError(f"{name} is not supported by backend='tf' (TF-native {env}); leave it at its default")
    return make_native(env, num_envs=request.num_envs, seed=request.seed, max_episode_steps=request.max_episode_steps)


def _refuse_action_repeat(request: _Request) -> None:
    """Atari ids have a frame skip instead of an action repeat."""
    if request.action_repeat != 1:
        raise ConfigError(
            f"action_repeat is not supported for Atari id {request.env!r}: its frame skip is "
            f"env_kwargs={{'frame_skip': N}} (default 4)"
        )


def _make_envpool(request: _Request) -> EpisodeStatistics:
    """``make`` for ``backend="envpool"``: Atari ids only."""
    from tfrl.envs.envpool_env import EnvPoolEnvironment

    env = request.env
    if not isinstance(env, str) or not is_atari_id(env):
        raise ConfigError(
            f"backend='envpool' plays Atari ids only (such as 'BreakoutNoFrameskip-v4' or 'ALE/Breakout-v5'); "
            f"got {env if isinstance(env, str) else env_id_of(env)!r}. "
            f"Use backend='sync' or 'async' for other environments"
        )
    _refuse_action_repeat(request)
    return EpisodeStatistics(EnvPoolEnvironment(
        env, request.num_envs, request.seed, training=request.training, max_episode_steps=request.max_episode_steps,
        render_mode=request.render_mode, env_kwargs=request.env_kwargs,
    ))


def _make_gymnasium(request: _Request) -> EpisodeStatistics:
    """``make`` for the sync and async back-ends."""
    env, kwargs, render_mode = request.env, dict(request.env_kwargs), request.render_mode
    if render_mode == "rgb_array" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        # off-screen frames need no window: keep pygame's SDL from looking for a display
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    if isinstance(env, str) and is_atari_id(env):
        _refuse_action_repeat(request)
        check_env_id(env)
        env_fn = functools.partial(_make_atari, env, request.training, request.max_episode_steps, render_mode, kwargs)
        return EpisodeStatistics(AtariEnvironment([env_fn] * request.num_envs, request.backend, request.seed))
    build: Callable[[], gymnasium.Env]
    if isinstance(env, str):
        check_env_id(env)
        build = functools.partial(_make_registered, env, render_mode, kwargs, request.max_episode_steps is not None)
    elif isinstance(env, gymnasium.Env):
        if request.num_envs != 1 or request.backend != SYNC_BACKEND:
            raise ConfigError(
                f"a gymnasium.Env instance ({env_id_of(env)}) can only be used with num_envs=1 "
                f"and backend='sync'; for num_envs={request.num_envs}, backend={request.backend!r} "
                f"pass its class or a factory that builds a new env"
            )
        if kwargs:
            raise ConfigError("env_kwargs cannot be applied to an env instance; pass its class or a factory")
        _check_render_mode(env, render_mode)
        instance = env
        build = lambda: instance  # noqa: E731
    elif isinstance(env, type) and issubclass(env, gymnasium.Env):
        build = functools.partial(_make_from_class, env, render_mode, kwargs)
    elif callable(env):
        build = functools.partial(_make_from_factory, env, render_mode, kwargs)
    else:
        raise ConfigError(
            f"cannot make an environment from {env!r}: pass an id string, a gymnasium.Env subclass, "
            f"a factory returning a gymnasium.Env, or a gymnasium.Env instance"
        )
    env_fn = functools.partial(_make_single, build, request.max_episode_steps, request.action_repeat)
    return EpisodeStatistics(GymnasiumEnvironment([env_fn] * request.num_envs, request.backend, request.seed))


def make(
    env: EnvLike,
    num_envs: int = 1,
    seed: int | None = None,
    backend: str = SYNC_BACKEND,
    max_episode_steps: int | None = None,
    action_repeat: int = 1,
    render_mode: str | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    training: bool = True,
) -> EpisodeStatistics:
    """Build a batch of ``num_envs`` Gymnasium envs as an ``Environment`` with episode statistics.

    Args:
        env: a registered id (``"CartPole-v1"``, ``"ALE/Pong-v5"``, ``"my_pkg.envs:MyEnv-v0"``), a
            ``gymnasium.Env`` subclass, a factory returning a ``gymnasium.Env`` (called with
            ``**env_kwargs``), or a ``gymnasium.Env`` instance (only with ``num_envs=1`` and the
            sync backend; closing the ``Environment`` closes it).
        num_envs: number of envs in the batch.
        seed: seed of the first ``reset()``; env ``i`` gets ``seed + i``.
        backend: ``"sync"`` or ``"async"`` (one process per env), or ``"tf"`` for the TF-native
            version of ``CartPole-v1``, ``MountainCar-v0``, ``Acrobot-v1`` or ``Pendulum-v1``
            (``tfrl.envs.native``: one compiled TensorFlow call steps the whole batch).
            ``"envpool"`` plays an Atari id on EnvPool's C++ thread pool (``tfrl.envs.envpool_env``; needs
            ``pip install 'tfrl[envpool]'``) with the same specs and time steps as the ale-py pipeline.
        max_episode_steps: truncate episodes after this many steps (counted after action repeat);
            for a registered id it replaces the registered limit. None keeps the registered limit.
        action_repeat: repeat each action this many times, summing the rewards.
        render_mode: Gymnasium render mode, e.g. ``"rgb_array"`` for ``render()`` frames.
        env_kwargs: keyword arguments for ``gymnasium.make``, the class, or the factory. For an Atari
            id, the keyword arguments of ``tfrl.envs.atari.make_atari_env`` among them (``sticky_actions``,
            ``frame_stack``, ``noop_max``, ``frame_skip``, ``screen_size``, ``terminal_on_life_loss``,
            ``clip_rewards``) go to it and the rest to ``gymnasium.make``.
        training: for Atari ids (``"ALE/..."``, ``"...NoFrameskip..."``), which all get the DeepMind
            preprocessing of ``tfrl.envs.atari``: True ends an episode (terminated, discount 0) on
            each lost life and clips rewards to {-1, 0, 1}, so ``pop_finished()`` reports one record per
            life with clipped returns (the environment's ``pop_game_records()`` gives the real game scores);
            False plays whole games with raw rewards (evaluation). Ignored for other environments.

    Returns:
        The environment wrapped in ``EpisodeStatistics``.
    """
    request = _Request(  # the arguments are checked in this order
        env=env,
        num_envs=positive_int("num_envs", num_envs),
        backend=check_backend(backend),
        action_repeat=positive_int("action_repeat", action_repeat),
        max_episode_steps=None if max_episode_steps is None else positive_int("max_episode_steps", max_episode_steps),
        seed=check_seed(seed),
        render_mode=render_mode,
        env_kwargs=dict(env_kwargs or {}),
        training=training,
    )
    if request.backend == NATIVE_BACKEND:
        return _make_native(request)
    if request.backend == ENVPOOL_BACKEND:
        return _make_envpool(request)
    return _make_gymnasium(request)
