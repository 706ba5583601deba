"""The ring of preallocated NumPy arrays that both replay buffers build on.

Storage is laid out ``[rows, num_envs, ...]`` with ``rows = ceil(capacity / num_envs)``: one ``add``
writes one row, the transitions of every environment at one vector step, over the oldest row once the
ring is full. Under auto-reset the call after a LAST step returns the FIRST step of a new episode and
ignores the action, so a row whose ``time_step`` was LAST is stored with ``valid=False`` and never
sampled. ``RingReplay`` holds what the buffers share: their settings and the checks of them, the input
checks of ``add``, uniform sampling of n-step transitions (``tfrl.data.nstep``) and the state and files
of a checkpoint. ``UniformReplayBuffer`` (``tfrl.data.replay``) and ``FrameStackReplayBuffer``
(``tfrl.data.frame_replay``) say what a row stores and how observations are read back.
"""

from __future__ import annotations

import abc
import json
import os
import threading
from typing import Any

import numpy as np

from tfrl.data.nstep import Transition, draw_slots, walk_n_steps
from tfrl.data.storage import VectorStorage
from tfrl.errors import ConfigError, RunDirError
from tfrl.fileio import atomic_path
from tfrl.specs import ArraySpec, StepType, TimeStep

__all__ = ["BOOL_SLOT", "FLOAT_SLOT", "STATE_VERSION", "RingReplay", "check_count", "check_n_step", "state_scalar"]

STATE_VERSION = 1
"""Version of the ``state_dict`` layout."""
_LAST = int(StepType.LAST)
FLOAT_SLOT = ((), np.dtype(np.float32))
"""``_allocate`` layout of one float32 per slot (reward, discount)."""
BOOL_SLOT = ((), np.dtype(bool))
"""``_allocate`` layout of one flag per slot (last, valid)."""


def check_count(name: str, value: Any, or_none: bool = False) -> int:
    """``value`` as an int, which must be an integer >= 1 (``or_none``: the message says None is allowed too)."""
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1{' or None' if or_none else ''}, got {value!r}")
    return int(value)


def check_n_step(n_step: Any) -> int:
    """``n_step`` as an int, which must be an integer >= 1 (not a bool)."""
    if not isinstance(n_step, (int, np.integer)) or isinstance(n_step, bool) or n_step < 1:
        raise ConfigError(f"n_step must be an integer >= 1, got {n_step!r}")
    return int(n_step)


def state_scalar(state: dict[str, Any], key: str, kind: str) -> Any:
    """The scalar ``state[key]`` of a ``kind`` buffer's state, which must have it."""
    if key not in state:
        raise ConfigError(f"replay buffer state has no {key!r}: not a {kind} state")
    return np.asarray(state[key]).item()


class RingReplay(VectorStorage, abc.ABC):
    """What the two replay buffers share: their settings, their input checks, uniform sampling and files.

    A subclass provides the methods below that raise ``NotImplementedError``: ``_setup`` calls
    ``_allocate`` with the arrays a slot stores (``action``, ``reward``, ``discount``, ``last`` and
    ``valid`` among them), the others store a row, say which slots may be sampled and read observations
    back. It may add to a checkpoint with ``_extra_state``, ``_check_extra_state`` and ``_restore_extra``.
    ``add``, ``sample`` and the state methods take an internal lock, so a prefetching ``tf.data``
    pipeline may sample while the training loop adds.
    """

    _OWNER = "replay buffer"
    _KIND = "RingReplay"  # the class name in repr and state messages

    def __init__(
        self,
        capacity: int,
        observation_spec: ArraySpec,
        action_spec: ArraySpec,
        num_envs: int = 1,
        n_step: int = 1,
        gamma: float = 0.99,
        seed: int | None = None,
    ) -> None:
        check_count("replay capacity", capacity)
        check_count("num_envs", num_envs)
        check_n_step(n_step)
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.integer, np.floating)) \
                or not 0.0 <= float(gamma) <= 1.0:
            raise ConfigError(f"gamma must lie in [0, 1], got {gamma!r}")
        self._observation_spec = observation_spec
        self._action_spec = action_spec
        self._num_envs = int(num_envs)
        self._rows = -(-int(capacity) // self._num_envs)
        self._n_step = int(n_step)
        self._gamma = float(gamma)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._position = 0  # next row to write
        self._filled = 0  # rows written so far, at most ``rows``
        self._num_valid = 0  # valid slots among the filled rows
        self._checked = False  # dtypes verified against the specs (first add)
        envs, obs_shape = self._num_envs, tuple(observation_spec.shape)
        self._shapes = {"observation": (envs, *obs_shape), "action": (envs, *action_spec.shape), "reward": (envs,),
                        "discount": (envs,), "next_observation": (envs, *obs_shape), "last": (envs,),
                        "valid": (envs,)}
        self._setup()

    @abc.abstractmethod
    def _setup(self) -> None:
        """Check the subclass's own needs of the specs and ``_allocate`` the ring (end of ``__init__``)."""
        ...

    def _allocate(self, **layout: tuple[tuple[int, ...], np.dtype]) -> None:
        """Zeroed arrays ``_<key>`` of shape ``[rows, num_envs, *shape]`` for ``key=(shape, dtype)``, and
        their flat views ``[rows * num_envs, *shape]`` in ``_flat`` (slot = row * num_envs + env)."""
        rows, envs = self._rows, self._num_envs
        self._flat: dict[str, np.ndarray] = {}
        for key, (shape, dtype) in layout.items():
            array = np.zeros((rows, envs, *shape), dtype=dtype)
            setattr(self, "_" + key, array)
            self._flat[key] = array.reshape(rows * envs, *shape)

    def _action_layout(self) -> tuple[tuple[int, ...], np.dtype]:
        return tuple(self._action_spec.shape), self._action_spec.dtype

    # ------------------------------------------------------------------ properties

    @property
    def capacity(self) -> int:
        """Number of transition slots: the requested capacity rounded up to a multiple of ``num_envs``."""
        return self._rows * self._num_envs

    @property
    def n_step(self) -> int:
        """Default ``n`` of the n-step returns."""
        return self._n_step

    @property
    def gamma(self) -> float:
        """Discount factor of the n-step returns."""
        return self._gamma

    def __len__(self) -> int:
        """Number of sampleable transitions stored."""
        with self._lock:
            return self._available()

    def _repr_extra(self) -> str:
        return ""

    def __repr__(self) -> str:
        return (
            f"{self._KIND}(capacity={self.capacity}, num_envs={self._num_envs}, {self._repr_extra()}"
            f"n_step={self._n_step}, gamma={self._gamma}, len={len(self)})"
        )

    # ------------------------------------------------------------------ writing

    def add(self, time_step: TimeStep, action: Any, next_time_step: TimeStep) -> None:
        """Store the transitions ``(time_step, action, next_time_step)`` of every environment (one row).

        Environments whose ``time_step`` is LAST are stored as invalid: under auto-reset their
        ``next_time_step`` starts a new episode and their action was ignored.
        """
        self.add_batch(
            observation=time_step.observation,
            action=action,
            reward=next_time_step.reward,
            discount=next_time_step.discount,
            next_observation=next_time_step.observation,
            last=np.asarray(next_time_step.step_type) == _LAST,
            valid=np.asarray(time_step.step_type) != _LAST,
        )

    def add_batch(
        self,
        observation: Any,
        action: Any,
        reward: Any,
        discount: Any,
        next_observation: Any,
        last: Any,
        valid: Any | None = None,
    ) -> None:
        """Store one row from raw arrays, each with leading dimension ``num_envs``.

        ``discount`` is the step discount of the next time step (0 on termination, 1 otherwise),
        ``last`` marks a next time step that ends an episode, and ``valid=False`` marks slots never
        to be sampled (default: all valid). Shapes are checked on every call, dtypes on the first.
        """
        if valid is None:
            valid = np.ones(self._num_envs, dtype=bool)
        given = {"observation": observation, "action": action, "reward": reward, "discount": discount,
                 "next_observation": next_observation, "last": last, "valid": valid}
        values = {key: self._check_shape(key, value) for key, value in given.items()}
        if not self._checked:
            self._check_dtypes(values, booleans=("last", "valid"))
        self._write(values)

    def _write(self, values: dict[str, np.ndarray]) -> None:
        """Store a checked row at the write position, over the oldest row once the ring is full."""
        with self._lock:
            pos = self._position
            if self._filled == self._rows:
                self._num_valid -= int(np.count_nonzero(self._valid[pos]))
            else:
                self._filled += 1
            for key in ("action", "reward", "discount", "last", "valid"):
                getattr(self, "_" + key)[pos] = values[key]
            self._store(pos, values)
            self._num_valid += int(np.count_nonzero(self._valid[pos]))
            self._position = pos + 1 if pos + 1 < self._rows else 0

    @abc.abstractmethod
    def _store(self, pos: int, values: dict[str, np.ndarray]) -> None:
        """Store what a slot holds besides action, reward, discount, last and valid (under the lock)."""
        ...

    # ------------------------------------------------------------------ sampling

    @abc.abstractmethod
    def _available(self) -> int:
        """Number of sampleable slots stored (under the lock)."""
        ...

    @abc.abstractmethod
    def _sampleable(self, slots: np.ndarray) -> np.ndarray:
        """Which of the flat ``slots`` (all filled) may be drawn."""
        ...

    @abc.abstractmethod
    def _observations(self, slots: np.ndarray) -> np.ndarray:
        """The observations of the flat ``slots``."""
        ...

    @abc.abstractmethod
    def _next_observations(self, slots: np.ndarray) -> np.ndarray:
        """The next observations of the flat ``slots``."""
        ...

    def sample(self, batch_size: int, num_batches: int | None = None, n_step: int | None = None) -> Transition:
        """Draw transitions uniformly from the sampleable ones stored (with replacement).

        Returns a ``Transition`` of NumPy arrays with leading shape ``[batch_size]``, or
        ``[num_batches, batch_size]`` when ``num_batches`` is given (many batches in one call).
        ``n_step`` overrides the buffer's ``n`` of the n-step returns for this call.
        """
        batch_size = check_count("batch_size", batch_size)
        if num_batches is not None:
            num_batches = check_count("num_batches", num_batches, or_none=True)
        n = check_n_step(self._n_step if n_step is None else n_step)
        lead = (batch_size,) if num_batches is None else (num_batches, batch_size)
        size = int(np.prod(lead))
        with self._lock:
            if self._available() == 0:
                raise ConfigError("the replay buffer is empty: add transitions before sampling")
            slots = draw_slots(self._rng, self._filled * self._num_envs, self._sampleable, size)
            out = self._gather(slots, n)
        return Transition(*(x.reshape(lead + x.shape[1:]) for x in out))

    def _gather(self, slots: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
        """The n-step ``Transition`` fields for flat ``slots`` (see ``tfrl.data.nstep``)."""
        newest = (self._position - 1) % self._rows
        reward, discount, end = walk_n_steps(self._flat, slots, n, self._gamma, self._rows, self._num_envs, newest)
        return self._observations(slots), self._flat["action"][slots], reward, discount, self._next_observations(end)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to restore the buffer: stored rows (filled part), position, fill, RNG state.

        Values are NumPy arrays, ints and a JSON string (the sampling generator's state).
        ``n_step`` and ``gamma`` are sampling settings and are recorded but not restored.
        """
        with self._lock:
            state: dict[str, Any] = {key: getattr(self, "_" + key)[: self._filled].copy() for key in self._flat}
            state.update(self._extra_state())
            state.update(
                version=STATE_VERSION,
                rows=self._rows,
                num_envs=self._num_envs,
                position=self._position,
                filled=self._filled,
                n_step=self._n_step,
                gamma=self._gamma,
                rng_state=json.dumps(self._rng.bit_generator.state),
            )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict`` taken from a buffer with the same capacity, num_envs and specs."""

        def scalar(key: str) -> Any:
            return state_scalar(state, key, self._KIND)

        version = scalar("version")
        if int(version) != STATE_VERSION:
            raise ConfigError(f"replay buffer state version {version} is not supported (expected {STATE_VERSION})")
        rows, num_envs = int(scalar("rows")), int(scalar("num_envs"))
        if (rows, num_envs) != (self._rows, self._num_envs):
            raise ConfigError(
                f"replay buffer state has {rows} rows x {num_envs} envs, this buffer {self._rows} rows x "
                f"{self._num_envs} envs: build the buffer with the same capacity and num_envs"
            )
        filled, position = int(scalar("filled")), int(scalar("position"))
        if not (0 <= filled <= rows and 0 <= position < rows and (filled == rows or position == filled)):
            raise ConfigError(f"replay buffer state is corrupt: filled={filled}, position={position}, rows={rows}")
        arrays = {}
        for key in self._flat:
            if key not in state:
                raise ConfigError(f"replay buffer state has no {key!r} array")
            value = np.asarray(state[key])
            target = getattr(self, "_" + key)
            if value.shape != (filled, *target.shape[1:]) or value.dtype != target.dtype:
                raise ConfigError(
                    f"replay buffer state: {key} is {value.dtype}{list(value.shape)}, expected "
                    f"{target.dtype}{[filled, *target.shape[1:]]}: the specs differ"
                )
            arrays[key] = value
        extra = self._check_extra_state(state, arrays)
        rng_state = json.loads(str(scalar("rng_state")))
        with self._lock:
            for key, value in arrays.items():
                target = getattr(self, "_" + key)
                target[:filled] = value
                target[filled:] = 0
            self._restore_extra(extra)
            self._filled, self._position = filled, position
            self._num_valid = int(np.count_nonzero(self._valid[:filled]))
            self._checked = False
            self._rng.bit_generator.state = rng_state

    def _extra_state(self) -> dict[str, Any]:
        """What a subclass adds to ``state_dict`` (called under the lock)."""
        return {}

    def _check_extra_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
        """Check what ``_extra_state`` wrote into ``state`` (``arrays``: the checked ring arrays);
        return what ``_restore_extra`` needs."""
        return None

    def _restore_extra(self, extra: Any) -> None:
        """Restore what ``_check_extra_state`` returned (called under the lock)."""

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``state_dict()`` to one ``.npz`` file atomically (temporary file, fsync, rename)."""
        state = self.state_dict()
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **{key: np.asarray(value) for key, value in state.items()})

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore the buffer from a file written by ``save``."""
        path = os.fspath(path)
        if not os.path.exists(path):
            raise RunDirError(f"replay buffer file {path!r} does not exist: check the checkpoint directory")
        with np.load(path, allow_pickle=False) as data:
            self.load_state_dict({key: data[key] for key in data.files})
