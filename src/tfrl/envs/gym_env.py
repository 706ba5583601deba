"""``GymnasiumEnvironment``: the one adapter from Gymnasium vector envs to ``Environment``.

This is the only module of tfrl that knows Gymnasium's autoreset rules. Gymnasium 1.x vector
envs default to ``AutoresetMode.NEXT_STEP``: after a sub-env reports ``terminated`` or
``truncated``, its next ``step`` call ignores the action, resets that sub-env and returns
the first observation of the new episode with reward 0 and both flags False. That is exactly
the ``Environment`` auto-reset rule, so the adapter only has to label the step types:

* FIRST after ``reset`` and on the step that follows a LAST step of the same env;
* LAST when ``terminated`` or ``truncated``; discount 0.0 on termination, 1.0 on truncation
  (termination wins when both are set);
* MID otherwise.

Spaces: ``Discrete`` and ``Box`` are supported for observations and actions; any other space
is refused with ``UnsupportedSpaceError``. Float64 observations are converted to float32.

MuJoCo environments made with a render mode that draws off-screen (``"rgb_array"``, ``"depth_array"``...)
get an OpenGL back-end that works without a display (``tfrl.video.ensure_headless_gl``) when they are built,
and a failing back-end is reported by ``render()`` as one ``MissingDependencyError``. They run in worker
processes started afresh (``spawn``), whatever the back-end: without a GPU, OpenGL is Mesa's llvmpipe, which
brings its own LLVM, and a process that has also loaded TensorFlow (with another LLVM) crashes at the first
frame. Training environments render nothing and stay where their back-end puts them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv

from tfrl.envs.ids import GYMNASIUM_BACKENDS, SYNC_BACKEND, check_backend, missing_dependency
from tfrl.envs.vector import VectorAdapter
from tfrl.errors import ConfigError, TfrlError, UnsupportedSpaceError
from tfrl.specs import ArraySpec, BoundedArraySpec, TimeStep

__all__ = ["GymnasiumEnvironment", "space_to_spec"]

_NAME_KEY = "tfrl.env_name"  # metadata key under which each sub-env records its readable name
_MUJOCO_KEY = "tfrl.mujoco"  # metadata key: True for Gymnasium's MuJoCo environments

_log = logging.getLogger(__name__)


def space_to_spec(space: gymnasium.Space, name: str, env_name: str) -> ArraySpec:
    """The spec of one observation (``name="observation"``) or action (``name="action"``) space.

    ``Discrete(n, start)`` becomes ``BoundedArraySpec((), int64, start, start + n - 1)``.
    ``Box`` keeps its shape, dtype and bounds, except that float64 observations become
    float32; an observation ``Box`` with an infinite bound becomes a plain ``ArraySpec``.
    Raises ``UnsupportedSpaceError`` for any other space.
    """
    if isinstance(space, gymnasium.spaces.Discrete):
        start = int(space.start)
        return BoundedArraySpec((), np.int64, name=name, minimum=start, maximum=start + int(space.n) - 1)
    if isinstance(space, gymnasium.spaces.Box):
        dtype = np.dtype(space.dtype)
        if name == "observation" and dtype == np.float64:
            dtype = np.dtype(np.float32)
        with np.errstate(over="ignore"):  # float64 bounds beyond float32's range become inf
            low = np.asarray(space.low).astype(dtype)
            high = np.asarray(space.high).astype(dtype)
        finite = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)))
        if name == "action" or finite:
            return BoundedArraySpec(space.shape, dtype, name=name, minimum=low, maximum=high)
        return ArraySpec(space.shape, dtype, name=name)
    raise UnsupportedSpaceError(
        f"environment {env_name!r} has {name} space {space}, which tfrl does not support; "
        f"supported {name} spaces are Discrete and Box (wrap the env to flatten or select from it)"
    )


class _SpecCheck(gymnasium.Wrapper):
    """Outermost wrapper of each sub-env: refuses unsupported spaces when built, checks the
    shape (and numeric dtype) of every observation from reset and step, and records the env's
    readable name in its metadata."""

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        spec = env.spec
        self._env_name = spec.id if spec is not None else type(env.unwrapped).__name__
        self._observation_spec = space_to_spec(env.observation_space, "observation", self._env_name)
        space_to_spec(env.action_space, "action", self._env_name)
        self.metadata = {**env.metadata, _NAME_KEY: self._env_name, _MUJOCO_KEY: _uses_mujoco(env)}

    def _check(self, observation: Any, where: str) -> None:
        array = np.asarray(observation)
        if array.shape != self._observation_spec.shape or array.dtype.kind not in "biuf":
            raise UnsupportedSpaceError(
                f"environment {self._env_name!r} returned an observation of shape {array.shape} and dtype "
                f"{array.dtype} from {where}, but its observation_space {self.env.observation_space} promises "
                f"shape {self._observation_spec.shape} {self._observation_spec.dtype} (expected spec "
                f"{self._observation_spec}); fix the environment's observations or its observation_space"
            )

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        self._check(observation, "reset()")
        return observation, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._check(observation, "step()")
        return observation, reward, terminated, truncated, info


def _fn_name(env_fn: Callable[[], gymnasium.Env]) -> str:
    """What a sub-env function of ``tfrl.envs.make`` builds, for messages: the id, or the class or factory name."""
    while isinstance(env_fn, functools.partial) and env_fn.args:
        first = env_fn.args[0]
        if isinstance(first, str):
            return first
        env_fn = first
    return getattr(env_fn, "__name__", type(env_fn).__name__)


def _uses_mujoco(env: gymnasium.Env) -> bool:
    """Whether ``env`` is one of Gymnasium's MuJoCo environments or a subclass of one (mujoco is not imported)."""
    return any(cls.__module__.startswith("gymnasium.envs.mujoco") for cls in type(env.unwrapped).__mro__)


def _checked(env_fn: Callable[[], gymnasium.Env]) -> gymnasium.Env:
    try:
        env = env_fn()
    except gymnasium.error.DependencyNotInstalled as exc:  # a package the environment imports only when built
        raise missing_dependency(_fn_name(env_fn), exc) from None
    if env.render_mode not in (None, "human") and _uses_mujoco(env):
        from tfrl.video import ensure_headless_gl

        try:
            ensure_headless_gl()  # before the first frame, which makes the OpenGL context
        except TfrlError:
            env.close()
            raise
    return _SpecCheck(env)


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Let the workers started meanwhile skip importing this program's ``__main__`` (which ``spawn`` does, and which
    may import TensorFlow); the sub-env functions travel by cloudpickle and do not need it."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _rendering_workers(fns: list[Callable[[], gymnasium.Env]], built: VectorEnv) -> VectorEnv:
    """The sub-envs of ``built`` (a vector env of MuJoCo envs that render) rebuilt in freshly spawned worker processes,
    where no TensorFlow is loaded; ``built`` itself if they cannot be started there (with a warning)."""
    try:
        with _main_module_hidden():
            workers = AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP, context="spawn")
    except Exception as exc:  # a sub-env function that cannot be pickled, a worker that fails to start...
        _log.warning("MuJoCo frames are drawn in this process (%s: %s); if it has loaded TensorFlow and OpenGL is "
                     "Mesa's llvmpipe, the first frame can crash it", type(exc).__name__, exc)
        return built
    built.close()
    return workers


class GymnasiumEnvironment(VectorAdapter):
    """An ``Environment`` over a Gymnasium ``SyncVectorEnv`` or ``AsyncVectorEnv``.

    Args:
        env_fns: one zero-argument function per sub-env, each returning a ``gymnasium.Env``.
        backend: ``"sync"`` (all envs in this process) or ``"async"`` (one process per env). MuJoCo
            environments that render run in spawned worker processes with either (see the module docstring).
        seed: seed of the first ``reset`` when it is called with ``seed=None``; sub-env ``i``
            is seeded with ``seed + i``.
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gymnasium.Env]],
        backend: str = SYNC_BACKEND,
        seed: int | None = None,
    ) -> None:
        self._backend = check_backend(backend, GYMNASIUM_BACKENDS, context=" for a GymnasiumEnvironment")
        if len(env_fns) < 1:
            raise ConfigError("GymnasiumEnvironment needs at least one env function")
        fns = [functools.partial(_checked, fn) for fn in env_fns]
        vector_cls = SyncVectorEnv if backend == SYNC_BACKEND else AsyncVectorEnv
        self._vec: VectorEnv = vector_cls(fns, autoreset_mode=AutoresetMode.NEXT_STEP)
        if self._vec.metadata.get(_MUJOCO_KEY) and self._vec.render_mode not in (None, "human"):
            self._vec = _rendering_workers(fns, self._vec)
        # The step-type labels of VectorAdapter are only right under NEXT_STEP autoreset.
        assert self._vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
        env_id: str = self._vec.metadata[_NAME_KEY]
        action_spec = space_to_spec(self._vec.single_action_space, "action", env_id)
        assert isinstance(action_spec, BoundedArraySpec)
        super().__init__(env_id, int(self._vec.num_envs),
                         space_to_spec(self._vec.single_observation_space, "observation", env_id), action_spec)
        self._action_dtype = np.dtype(self._vec.single_action_space.dtype)
        self._pending_seed = seed

    @property
    def backend(self) -> str:
        """``"sync"`` or ``"async"``."""
        return self._backend

    def reset(self, seed: int | None = None) -> TimeStep:
        """Reset every sub-env; with ``seed=None`` the first reset uses the seed given at construction."""
        if seed is None:
            seed, self._pending_seed = self._pending_seed, None
        else:
            self._pending_seed = None
        observation, _ = self._vec.reset(seed=seed)
        return self._first_steps(self._to_observation(observation))

    def step(self, action: Any) -> TimeStep:
        """Step every sub-env; ``action`` is an array, list or tensor of shape ``[num_envs, *action_shape]``."""
        actions = self._step_actions(action).astype(self._action_dtype, copy=False)
        observation, reward, terminated, truncated, _ = self._vec.step(actions)
        _, last, step_type, reward = self._label(reward, terminated, truncated)
        discount = np.where(last & terminated, 0.0, 1.0).astype(np.float32)
        return TimeStep(step_type, reward, discount, self._to_observation(observation))

    def get_state(self) -> dict[str, Any] | None:
        """The sub-environments themselves (to be pickled) with the auto-reset flags; sync back-end only.

        None for the async back-end (its sub-environments live in other processes) and before the
        first ``reset``.
        """
        if not isinstance(self._vec, SyncVectorEnv) or not self._started:
            return None
        return {"envs": list(self._vec.envs), "autoreset": self._vec._autoreset_envs.copy(),
                "after_last": self._after_last.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Replace the sub-environments with those of a ``get_state`` snapshot (unpickled)."""
        if not isinstance(self._vec, SyncVectorEnv):
            raise ConfigError("only the sync back-end can restore a snapshot of its sub-environments")
        if len(state["envs"]) != self.num_envs:
            raise ConfigError(f"the snapshot has {len(state['envs'])} sub-environments, this environment {self.num_envs}")
        for env in self._vec.envs:
            env.close()
        self._vec.envs = list(state["envs"])
        self._vec._autoreset_envs = np.array(state["autoreset"], dtype=np.bool_)
        self._after_last = np.array(state["after_last"], dtype=bool)
        self._started, self._pending_seed = True, None

    def render(self) -> np.ndarray | None:
        """An RGB frame of sub-env 0 when made with ``render_mode="rgb_array"``, else None.

        A MuJoCo environment whose OpenGL back-end fails raises one ``MissingDependencyError`` naming ``MUJOCO_GL``
        and what to install (``tfrl.video.gl_error``) instead of OpenGL's traceback.
        """
        if self._vec.render_mode is None:
            return None
        try:
            frame = self._vec.envs[0].render() if isinstance(self._vec, SyncVectorEnv) else self._vec.call("render")[0]
        except gymnasium.error.DependencyNotInstalled as exc:  # pygame, for most rgb_array frames
            raise missing_dependency(self.env_id, exc) from None
        except Exception as exc:
            if isinstance(exc, TfrlError) or not self._vec.metadata.get(_MUJOCO_KEY):
                raise
            from tfrl.video import gl_error

            raise gl_error(self.env_id, exc) from None  # OpenGL's own error is a traceback deep in mujoco
        return np.asarray(frame) if frame is not None else None

    def call(self, name: str, *args, **kwargs) -> tuple:
        """Call method ``name`` (or read attribute ``name``) on every sub-environment; one result each.

        Works with both back-ends (for async, in the worker processes); used by wrappers that keep
        per-game records inside the sub-environments, such as Atari's raw game scores.
        """
        return tuple(self._vec.call(name, *args, **kwargs))

    def _close(self) -> None:
        self._vec.close()

    def _to_observation(self, observation: Any) -> np.ndarray:
        return np.asarray(observation, dtype=self._observation_spec.dtype)
