"""The ring of preallocated NumPy arrays that both replay buffers build on.

Storage is laid out ``[rows, num_envs, ...]`` with ``rows = ceil(capacity / num_envs)``: one ``add``
writes one row, the transitions of every environment at one vector step, over the oldest row once the
ring is full. Under auto-reset the call after a LAST step returns the FIRST step of a new episode and
ignores the action, so a row whose ``time_step`` was LAST is stored with ``valid=False`` and never
sampled. ``RingReplay`` holds what the buffers share: their settings and the checks of them, the input
checks of ``add``, uniform sampling of n-step transitions (``tfrl.data.nstep``), proportional
prioritized sampling and the state and files of a checkpoint. ``UniformReplayBuffer``
(``tfrl.data.replay``) and ``FrameStackReplayBuffer`` (``tfrl.data.frame_replay``) say what a row
stores and how observations are read back.

Prioritized replay (Schaul et al. 2016, arXiv:1511.05952, proportional variant) is switched on by
``priority_alpha``. Every slot then has a priority in a ``tfrl.data.sum_tree.SumTree``: a slot written
gets the largest priority ever set (1 at first) so it is drawn at least once soon, an invalid slot 0
so it is never drawn, and ``update_priorities`` sets ``p = (|td_error| + epsilon) ** alpha``.
``sample_prioritized`` draws slot ``i`` with ``P(i) = p_i / sum_k p_k`` (stratified: one draw in each of
``B`` equal segments of the sum) and returns the importance weights ``(N * P(i)) ** -beta``, divided by
the largest of their batch, and the slots to pass back to ``update_priorities``.
"""

from __future__ import annotations

import abc
import threading
from typing import Any, NamedTuple

import numpy as np

from tfrl.data.nstep import Transition, draw_slots, walk_n_steps
from tfrl.data.ring_state import STATE_VERSION, RingState, state_scalar
from tfrl.data.storage import VectorStorage
from tfrl.data.sum_tree import SumTree, importance_weights, stratified_draw
from tfrl.errors import ConfigError
from tfrl.specs import ArraySpec, StepType, TimeStep

__all__ = ["BOOL_SLOT", "FLOAT_SLOT", "STATE_VERSION", "PrioritizedBatch", "RingReplay", "check_count",
           "check_n_step", "state_scalar"]

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


def _real(value: Any) -> float | None:
    """``value`` as a float if it is a real number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value)


def _unit(name: str, value: Any) -> float:
    """``value`` as a float, which must be a real number in [0, 1] (not a bool)."""
    number = _real(value)
    if number is None or not 0.0 <= number <= 1.0:
        raise ConfigError(f"{name} must lie in [0, 1], got {value!r}")
    return number


class PrioritizedBatch(NamedTuple):
    """What ``sample_prioritized`` returns; every field has the leading shape ``[B]`` or ``[G, B]``.

    ``transition`` is what ``sample`` returns for these slots, ``weights`` (float32) the importance
    weights that multiply each transition's loss (the largest of each batch of ``B`` is 1), and
    ``slots`` (int64) the flat slots drawn, to pass to ``update_priorities`` with the new TD errors.
    """

    transition: Transition
    weights: np.ndarray
    slots: np.ndarray


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

    With ``priority_alpha`` (in [0, 1]; 0 gives uniform probabilities) the buffer also keeps a priority
    per slot for ``sample_prioritized`` and ``update_priorities``; ``priority_epsilon`` (> 0) keeps
    every priority positive. Without it (``None``) the buffer is uniform and pays nothing for them.
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
        *,
        priority_alpha: float | None = None,
        priority_epsilon: float = 1e-6,
    ) -> None:
        check_count("replay capacity", capacity)
        check_count("num_envs", num_envs)
        check_n_step(n_step)
        _unit("gamma", gamma)
        if priority_alpha is not None:
            _unit("priority_alpha", priority_alpha)
        epsilon = _real(priority_epsilon)
        if epsilon is None or not 0.0 < epsilon < np.inf:
            raise ConfigError(f"priority_epsilon must be a finite number > 0, got {priority_epsilon!r}")
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
        self._alpha = None if priority_alpha is None else float(priority_alpha)
        self._epsilon = epsilon
        self._tree = None if priority_alpha is None else SumTree(self._rows * self._num_envs)
        self._max_priority = 1.0  # the largest priority ever set
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

    @property
    def prioritized(self) -> bool:
        """True if the buffer was built with ``priority_alpha`` (``sample_prioritized`` may be used)."""
        return self._tree is not None

    def __len__(self) -> int:
        """Number of sampleable transitions stored."""
        with self._lock:
            return self._available()

    def _repr_extra(self) -> str:
        return ""

    def __repr__(self) -> str:
        priority = "" if self._alpha is None else f"priority_alpha={self._alpha}, "
        return (
            f"{self._KIND}(capacity={self.capacity}, num_envs={self._num_envs}, {self._repr_extra()}{priority}"
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
            if self._tree is not None:  # new transitions get the largest priority, invalid ones 0
                slots = pos * self._num_envs + np.arange(self._num_envs)
                self._tree.update(slots, np.where(self._valid[pos], self._max_priority, 0.0))
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

    # ------------------------------------------------------------------ prioritized replay

    def _check_prioritized(self, method: str) -> SumTree:
        """The sum tree of the priorities; ``ConfigError`` naming ``method`` if the buffer is uniform."""
        if self._tree is None:
            raise ConfigError(
                f"{method} needs a prioritized replay buffer: build it with priority_alpha (e.g. "
                f"{self._KIND}(..., priority_alpha=0.6)), or call sample for uniform replay"
            )
        return self._tree

    def sample_prioritized(self, batch_size: int, num_batches: int | None = None, beta: float = 0.4,
                           n_step: int | None = None) -> PrioritizedBatch:
        """Draw transitions with probability ``P(i) = p_i / sum_k p_k`` (with replacement).

        Each batch of ``batch_size`` is stratified: ``[0, sum_k p_k)`` is cut into ``batch_size`` equal
        segments and one slot drawn in each. Slots ``sample`` would never draw are redrawn. Returns
        ``PrioritizedBatch(transition, weights, slots)``, each with leading shape ``[batch_size]``, or
        ``[num_batches, batch_size]`` when ``num_batches`` is given: ``transition`` as ``sample``
        returns it (``n_step`` overrides the buffer's ``n``), ``weights = (N * P(i)) ** -beta``
        divided by the largest of their batch, with ``N = len(self)``, and ``slots`` for
        ``update_priorities``. ``beta`` lies in [0, 1] (1 corrects the bias of prioritized draws fully).
        """
        tree = self._check_prioritized("sample_prioritized")
        batch_size = check_count("batch_size", batch_size)
        if num_batches is not None:
            num_batches = check_count("num_batches", num_batches, or_none=True)
        beta = _unit("beta", beta)
        n = check_n_step(self._n_step if n_step is None else n_step)
        lead = (batch_size,) if num_batches is None else (num_batches, batch_size)
        with self._lock:
            count = self._available()
            if count == 0:
                raise ConfigError("the replay buffer is empty: add transitions before sampling")
            slots = stratified_draw(tree, self._rng, self._sampleable, batch_size, num_batches or 1)
            weights = importance_weights(tree.get(slots) / tree.total, count, beta)
            out = self._gather(slots.reshape(-1), n)
        transition = Transition(*(x.reshape(lead + x.shape[1:]) for x in out))
        return PrioritizedBatch(transition, weights.reshape(lead).astype(np.float32), slots.reshape(lead))

    def update_priorities(self, slots: np.ndarray, td_errors: np.ndarray) -> None:
        """Set the priorities of ``slots`` (from ``sample_prioritized``) to ``(|td_error| + epsilon) ** alpha``.

        ``slots`` and ``td_errors`` have one shape, any (e.g. ``[G, B]``). Where a slot occurs more than
        once, the error given last (in row-major order) wins. A slot whose row was overwritten by an
        invalid one since it was drawn keeps its priority 0. The largest priority ever set is the one
        given to the next transitions added.
        """
        tree = self._check_prioritized("update_priorities")
        slots, errors = np.asarray(slots), np.asarray(td_errors, dtype=np.float64)
        if slots.shape != errors.shape:
            raise ConfigError(f"update_priorities: slots have shape {slots.shape} and td_errors {errors.shape}: "
                              "pass one TD error per slot drawn")
        if slots.size and not np.issubdtype(slots.dtype, np.integer):
            raise ConfigError(f"update_priorities: slots must be integers, got dtype {slots.dtype}")
        bad = np.count_nonzero(~np.isfinite(errors))
        if bad:
            raise ConfigError(f"update_priorities: {bad} of {errors.size} TD errors are not finite (NaN or inf); "
                              "the loss has diverged: lower the learning rate or clip the gradients")
        slots = slots.reshape(-1).astype(np.int64, copy=False)
        if slots.size and (slots.min() < 0 or slots.max() >= self.capacity):
            raise ConfigError(f"update_priorities: slots must lie in [0, {self.capacity}), "
                              f"got {slots.min()} .. {slots.max()}: pass the slots sample_prioritized returned")
        priorities = (np.abs(errors.reshape(-1)) + self._epsilon) ** self._alpha
        with self._lock:
            valid = self._flat["valid"][slots]
            tree.update(slots, np.where(valid, priorities, 0.0))
            if valid.any():
                self._max_priority = max(self._max_priority, float(priorities[valid].max()))
