"""Environment ids and back-ends, without TensorFlow: ``Backend``, ``check_env_id``, ``list_env_ids`` and
the helpers that read an id (``split_module``, ``is_atari_id``, ``register_ale``).

Importing this module imports Gymnasium but neither TensorFlow nor any module of ``tfrl.envs`` that
imports it, so the command line can check its arguments before it loads TensorFlow.
"""

from __future__ import annotations

import importlib
import re
import typing
from typing import Literal

import gymnasium

from tfrl.errors import ConfigError, MissingDependencyError, UnknownEnvironmentError, unknown_name

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
    "missing_dependency",
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


def missing_dependency(env_id: str, exc: BaseException) -> MissingDependencyError | None:
    """The error to raise when making ``env_id`` failed with ``exc`` because a package is not installed
    (Gymnasium's ``DependencyNotInstalled`` or a ``ModuleNotFoundError``); None for any other ``exc``."""
    if isinstance(exc, gymnasium.error.DependencyNotInstalled):
        text = " ".join(str(exc).split())
        found = re.match(r"(?P<dep>.+?) is not installed[.,;:]?\s*(?P<hint>.*)$", text)
        if found is None:
            return MissingDependencyError(f"environment {env_id!r} needs a package that is not installed: {text}")
        hint = found["hint"].rstrip(".") or "install it"
        return MissingDependencyError(f"environment {env_id!r} needs {found['dep']}, which is not installed; {hint}")
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return MissingDependencyError(f"environment {env_id!r} needs the module {exc.name!r}, which is not installed; "
                                      f"install it (pip install {exc.name.split('.')[0]})")
    return None


def _import_module(env_id: str, module: str) -> None:
    """Import the ``module`` part of ``env_id``, refusing a name that is no absolute module name."""
    if not all(part.isidentifier() for part in module.split(".")):
        raise UnknownEnvironmentError(
            f"{env_id!r} names the module {module!r}, which is not an importable module name; write module:EnvId "
            f"with an absolute module (for example my_package.envs:MyEnv-v0)")
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is None or not (module == e.name or module.startswith(e.name + ".")):
            raise missing_dependency(env_id, e) or e from None  # one of the module's own imports failed
        raise UnknownEnvironmentError(
            f"cannot import module {module!r} named in environment id {env_id!r} ({e}); "
            f"install the package that provides it"
        ) from None
    except gymnasium.error.DependencyNotInstalled as e:
        raise missing_dependency(env_id, e) from None


def _load_entry_point(env_id: str, name: str) -> None:
    """Import the module of the registered ``name``'s entry point, so that a missing package is named now."""
    entry_point = gymnasium.registry[name].entry_point
    if not isinstance(entry_point, str):
        return
    try:
        gymnasium.envs.registration.load_env_creator(entry_point)
    except (ModuleNotFoundError, gymnasium.error.DependencyNotInstalled) as e:
        error = missing_dependency(env_id, e)
        if error is None:
            raise
        raise error from None


def check_env_id(env_id: str) -> None:
    """Make ``env_id`` known to Gymnasium (import its module or ale-py), or raise UnknownEnvironmentError; raise
    MissingDependencyError when the environment needs a package that is not installed (Box2D, MuJoCo, jax...)."""
    module, _, name = env_id.rpartition(":")
    if ":" in env_id:
        _import_module(env_id, module)
    if is_atari_id(name) and name not in gymnasium.registry and not register_ale():
        raise UnknownEnvironmentError(
            f"environment id {env_id!r} is an Atari game, which needs ale-py: "
            f"pip install ale-py (or pip install 'gymnasium[atari]')"
        )
    if name not in gymnasium.registry:
        raise UnknownEnvironmentError(unknown_name(
            "environment id", name, list_env_ids(), listing="Run 'tfrl envs' to list the installed ids."))
    _load_entry_point(env_id, name)


def list_env_ids() -> list[str]:
    """The sorted ids Gymnasium knows (including ale-py's Atari ids when ale-py is installed)."""
    register_ale()
    return sorted(gymnasium.registry)
