"""Environment ids and back-ends, without TensorFlow: ``Backend``, ``check_env_id``, ``list_env_ids`` and
the helpers that read an id (``split_module``, ``is_atari_id``, ``register_ale``).

Importing this module imports Gymnasium but neither TensorFlow nor any module of ``tfrl.envs`` that
imports it, so the command line can check its arguments before it loads TensorFlow.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
import traceback
import typing
from collections.abc import Iterator
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


_EXTRAS: dict[str, str] = {"box2d": "box2d", "mujoco": "mujoco"}
"""tfrl's extra for a package that Gymnasium's environments import, by the package's lower-cased name as
Gymnasium's ``DependencyNotInstalled`` message (``"Box2D"``, ``"MuJoCo"``) or the missing module names it."""


def _extra_hint(package: str) -> str | None:
    """``pip install 'tfrl[box2d]' (...)`` for a package one of tfrl's extras installs, else None."""
    extra = _EXTRAS.get(package.strip().lower())
    if extra is None:
        return None
    return f"pip install 'tfrl[{extra}]' (which installs gymnasium[{extra}])"


def missing_dependency(env_id: str, exc: BaseException) -> MissingDependencyError | None:
    """The error to raise when making ``env_id`` failed with ``exc`` because a package is not installed
    (Gymnasium's ``DependencyNotInstalled`` or a ``ModuleNotFoundError``); None for any other ``exc``.

    Box2D and MuJoCo, which tfrl's extras install, are named with their extra (``pip install 'tfrl[mujoco]'``)
    instead of Gymnasium's own advice."""
    if isinstance(exc, gymnasium.error.DependencyNotInstalled):
        text = " ".join(str(exc).split())
        found = re.match(r"(?P<dep>.+?) is not installed[.,;:]?\s*(?P<hint>.*)$", text)
        if found is None:
            return MissingDependencyError(f"environment {env_id!r} needs a package that is not installed: {text}")
        hint = _extra_hint(found["dep"]) or found["hint"].rstrip(".") or "install it"
        return MissingDependencyError(f"environment {env_id!r} needs {found['dep']}, which is not installed; {hint}")
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        package = exc.name.split(".")[0]
        hint = _extra_hint(package) or f"install it (pip install {package})"
        return MissingDependencyError(f"environment {env_id!r} needs the module {exc.name!r}, which is not installed; "
                                      f"{hint}")
    return None


_GL_MODULES = frozenset({"gl_context", "egl", "osmesa", "glfw", "cgl"})
"""The last part of the names of mujoco's modules that set up OpenGL (``mujoco.egl``, ``mujoco.gl_context``...)."""


def _opengl_error(env_id: str, exc: BaseException) -> MissingDependencyError | None:
    """The error to raise when importing ``env_id``'s module failed with ``exc`` inside mujoco's OpenGL set-up, which
    the user's ``MUJOCO_GL`` chose (an unknown value, or a back-end whose system library is missing); None for any
    other ``exc``."""
    if not os.environ.get("MUJOCO_GL"):
        return None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        name = str(frame.f_globals.get("__name__", ""))
        if name.startswith("OpenGL") or (name.startswith("mujoco.") and name.rsplit(".", 1)[-1] in _GL_MODULES):
            from tfrl.video import gl_error

            return gl_error(env_id, exc)
    return None


@contextlib.contextmanager
def _mujoco_gl_deferred() -> Iterator[None]:
    """While the block runs, a first import of mujoco skips its OpenGL set-up if ``MUJOCO_GL=osmesa``.

    That set-up loads Mesa's libOSMesa, whose LLVM crashes a process that also loads TensorFlow's, even one that
    never draws a frame (training). tfrl draws MuJoCo frames in worker processes (``tfrl.envs.gym_env``), which
    import mujoco with the user's setting, and Gymnasium's renderer imports its back-end module when it needs it.
    """
    value = os.environ.get("MUJOCO_GL")
    if value is None or value.strip().lower() != "osmesa" or "mujoco" in sys.modules:
        yield
        return
    os.environ["MUJOCO_GL"] = "disable"
    try:
        yield
    finally:
        os.environ["MUJOCO_GL"] = value


def _import_module(env_id: str, module: str) -> None:
    """Import the ``module`` part of ``env_id``, refusing a name that is no absolute module name."""
    if not all(part.isidentifier() for part in module.split(".")):
        raise UnknownEnvironmentError(
            f"{env_id!r} names the module {module!r}, which is not an importable module name; write module:EnvId "
            f"with an absolute module (for example my_package.envs:MyEnv-v0)")
    try:
        with _mujoco_gl_deferred():
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
    except Exception as e:
        error = _opengl_error(env_id, e)
        if error is None:
            raise
        raise error from None


def _load_entry_point(env_id: str, name: str) -> None:
    """Import the module of the registered ``name``'s entry point, so that a missing package is named now."""
    entry_point = gymnasium.registry[name].entry_point
    if not isinstance(entry_point, str):
        return
    try:
        with _mujoco_gl_deferred():
            gymnasium.envs.registration.load_env_creator(entry_point)
    except (ModuleNotFoundError, gymnasium.error.DependencyNotInstalled) as e:
        error = missing_dependency(env_id, e)
        if error is None:
            raise
        raise error from None
    except Exception as e:  # mujoco's OpenGL set-up, chosen by MUJOCO_GL, runs when mujoco is imported
        error = _opengl_error(env_id, e)
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
