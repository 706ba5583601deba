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
import threading
from typing import Any

import numpy as np

from tfrl.data.nstep import Transition, draw_slots, walk_n_steps
from tfrl.data.ring_state import STATE_VERSION, RingState, state_scalar
from tfrl.data.storage import VectorStorage
from tfrl.errors import ConfigError
from tfrl.specs import ArraySpec, StepType, TimeStep

__all__ = ["BOOL_SLOT", "FLOAT_SLOT", "STATE_VERSION", "RingReplay", "check_count", "check_n_step", "state_scalar"]

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


class RingReplay(RingState, VectorStorage, abc.ABC):
    """What the two replay buffers share: their settings, their input checks, uniform sampling and files.

    A subclass provides the abstract methods below: ``_setup`` calls ``_allocate`` with the arrays a slot
    stores (``action``, ``reward``, ``discount``, ``last`` and ``valid`` among them), the others store a
    row, say which slots may be sampled and read observations back. It may add to a checkpoint with
    ``_check_kind``, ``_extra_state``, ``_check_extra_state``, ``_restore_extra`` and ``_clear_extra``.
    ``save`` and ``load`` move the filled rows between the ring and a file without a second copy of
    them in memory, so a buffer of any size can be checkpointed and resumed within its own footprint.
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
        their flat views ``[rows * num_envs, *shape]`` in ``_flat`` (slot = row * num_envs + env).

        ``np.zeros`` of a large array takes fresh zero pages from the operating system (``calloc``), so a
        page costs memory only once a row on it is written: a buffer of a large capacity uses the memory
        of the rows it holds. Rows at and beyond the fill stay zero (``load_state_dict`` keeps it so):
        the n-step walk and the frame-stack lookups read a few of them under a mask, and zeros keep
        those reads well defined."""
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
