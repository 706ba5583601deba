"""Environment ids and back-ends, without TensorFlow: ``Backend``, ``check_env_id``, ``list_env_ids`` and
the helpers that read an id (``split_module``, ``is_atari_id``, ``register_ale``).

Importing this module imports Gymnasium but neither TensorFlow nor any module of ``tfrl.envs`` that
imports it, so the command line can check its arguments before it loads TensorFlow.
"""

from __future__ import annotations

import importlib
import typing
from typing import Literal

import gymnasium

from tfrl.errors import ConfigError, UnknownEnvironmentError, unknown_name

__all__ = [
    "Backend",
    "BACKENDS",
    "SYNC_BACKEND",
    "ASYNC_BACKEND",
    "NATIVE_BACKEND",
    "ENVPOOL_BACKEND",
    "GYMNASIUM_BACKENDS",
    "check_backend",
    "check_env_id",
    "list_env_ids",
    "split_module",
    "is_atari_id",
    "register_ale",
]

Backend = Literal["sync", "async", "tf", "envpool"]
"""Where training environments run: ``"sync"``, Gymnasium envs stepped one after another in this process;
``"async"``, Gymnasium envs in one worker process each (worth it when one step is slow); ``"tf"``, the
TF-native environments of ``tfrl.envs.native`` (``CartPole-v1``, ``MountainCar-v0``, ``Acrobot-v1``,
``Pendulum-v1``), whose whole batch one compiled TensorFlow call steps; ``"envpool"``, Atari ids on
EnvPool's C++ thread pool (``pip install 'tfrl[envpool]'``)."""

BACKENDS: tuple[str, ...] = typing.get_args(Backend)
"""The names of ``Backend``, in its order."""

# One name per back-end; the unpacking fails at import if ``Backend`` changes without them.
SYNC_BACKEND, ASYNC_BACKEND, NATIVE_BACKEND, ENVPOOL_BACKEND = BACKENDS

GYMNASIUM_BACKENDS: tuple[str, ...] = (SYNC_BACKEND, ASYNC_BACKEND)
"""The back-ends of ``GymnasiumEnvironment``: a Gymnasium ``SyncVectorEnv`` or ``AsyncVectorEnv``."""


def check_backend(backend: object, choices: tuple[str, ...] = BACKENDS, context: str = "") -> str:
    """``backend`` if it is one of ``choices``, else a ConfigError with the closest and the valid ones."""
    if backend not in choices:
        raise ConfigError(unknown_name("backend", backend, choices, context=context, label="Valid backends"))
    return str(backend)


def split_module(env_id: str) -> tuple[str | None, str]:
    """``"module:EnvId"`` as ``("module", "EnvId")``; an id without a module gives ``(None, env_id)``."""
    module, _, name = env_id.rpartition(":")
    return (module or None), name


def is_atari_id(env_id: str) -> bool:
    """Whether ``env_id`` (with or without a ``"module:"`` prefix) names an ALE game: ``"ALE/..."`` or
    ``"...NoFrameskip..."``."""
    name = split_module(env_id)[1]
    return name.startswith("ALE/") or "NoFrameskip" in name


def register_ale() -> bool:
    """Register ale-py's Atari ids with Gymnasium; False if ale-py is not installed."""
    try:
        import ale_py
    except ImportError:
        return False
    if hasattr(ale_py, "LoggerMode"):  # keep the emulator's start-up banner off the console
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
    gymnasium.register_envs(ale_py)
    return True


def check_env_id(env_id: str) -> None:
    """Make ``env_id`` known to Gymnasium (import its module or ale-py), or raise UnknownEnvironmentError."""
    module, name = split_module(env_id)
    if module is not None:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name is None or not (module == e.name or module.startswith(e.name + ".")):
                raise  # the module exists but one of its own imports failed: show the real error
            raise UnknownEnvironmentError(
                f"cannot import module {module!r} named in environment id {env_id!r} ({e}); "
                f"install the package that provides it"
            ) from None
    if is_atari_id(name) and name not in gymnasium.registry and not register_ale():
        raise UnknownEnvironmentError(
            f"environment id {env_id!r} is an Atari game, which needs ale-py: "
            f"pip install ale-py (or pip install 'gymnasium[atari]')"
        )
    if name not in gymnasium.registry:
        raise UnknownEnvironmentError(unknown_name(
            "environment id", name, list_env_ids(), listing="Run 'tfrl envs' to list the installed ids."))


def list_env_ids() -> list[str]:
    """The sorted ids Gymnasium knows (including ale-py's Atari ids when ale-py is installed)."""
    register_ale()
    return sorted(gymnasium.registry)
