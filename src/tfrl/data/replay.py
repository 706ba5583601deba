"""Uniform replay with n-step returns, stored in preallocated NumPy rings.

Storage is laid out ``[rows, num_envs, ...]`` with ``rows = ceil(capacity / num_envs)``: one
``add`` writes one row, the transitions of every environment at one vector step. Each slot holds
the observation, the action, the reward and the *step discount* of the next time step (0 on
termination, 1 otherwise), the next observation, a ``last`` flag (the next time step ended an
episode) and a ``valid`` flag. Under auto-reset the call after a LAST step returns the FIRST step
of a new episode and ignores the action, so a row whose ``time_step`` was LAST is stored with
``valid=False`` and never sampled.

A sampled ``Transition`` carries the *whole* bootstrap multiplier, so every value method uses
``target = reward + discount * V(next_observation)`` whatever ``n`` is. Starting at a sampled
slot ``(row, env)`` the n-step walk moves forward in that environment's column and, with
``d_j`` the step discount of the ``j``-th step walked, computes::

    reward   = sum_{k<m} gamma**k * prod_{j<k} d_j * r_k
    discount = gamma**m * prod_{j<m} d_j          (0 if the episode terminated within m steps)
    next_observation = next_observation of step m - 1

where ``m <= n`` is the number of steps walked. The walk stops early, after step ``k``, when step
``k`` is LAST (terminated: discount 0, truncated: bootstrap from that step's next observation),
when step ``k`` is the newest row written (a shorter ``m``-step return is still a valid target), or
when the next row is invalid. It never crosses the write position into older data.
"""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from tfrl.errors import ConfigError, RunDirError
from tfrl.fileio import atomic_path
from tfrl.specs import ArraySpec, StepType, TimeStep

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = ["Transition", "UniformReplayBuffer"]

_STATE_VERSION = 1
_LAST = int(StepType.LAST)
_ARRAY_KEYS = ("observation", "action", "reward", "discount", "next_observation", "last", "valid")
# Rounds of vectorised redraws of invalid slots before falling back to an exact draw over the
# valid slots (only reached when nearly every stored slot is invalid).
_MAX_REDRAWS = 32


class Transition(NamedTuple):
    """A batch of (possibly n-step) transitions; the target is ``reward + discount * V(next_observation)``.

    ``reward`` (float32) is the discounted sum of the ``m <= n`` rewards walked and ``discount``
    (float32) the whole bootstrap multiplier ``gamma**m * d``, with ``d = 0`` if the episode
    terminated within those ``m`` steps and 1 otherwise. ``observation`` and ``next_observation``
    have the observation spec's dtype, ``action`` the action spec's dtype.
    """

    observation: Any
    action: Any
    reward: Any
    discount: Any
    next_observation: Any


def _castable(src: np.dtype, dst: np.dtype) -> bool:
    """True if values of ``src`` may be stored in ``dst`` without changing their kind."""
    if np.can_cast(src, dst, casting="same_kind"):
        return True
    return np.issubdtype(src, np.integer) and np.issubdtype(dst, np.integer)


class _RingReplay:
    """What the two replay buffers share: their settings, uniform sampling of n-step transitions and files.

    A subclass stores ``_rows`` rows of ``_num_envs`` slots and provides ``_sampleable(slots)`` (which
    flat slots may be drawn), ``_available()`` (how many may) and ``_gather(slots, n)``.
    """

    @property
    def capacity(self) -> int:
        """Number of transition slots: the requested capacity rounded up to a multiple of ``num_envs``."""
        return self._rows * self._num_envs

    @property
    def num_envs(self) -> int:
        """Number of environments written by each ``add``."""
        return self._num_envs

    @property
    def n_step(self) -> int:
        """Default ``n`` of the n-step returns."""
        return self._n_step

    @property
    def gamma(self) -> float:
        """Discount factor of the n-step returns."""
        return self._gamma

    @property
    def observation_spec(self) -> ArraySpec:
        """Spec of one stored observation (a whole stack of frames for ``FrameStackReplayBuffer``)."""
        return self._observation_spec

    @property
    def action_spec(self) -> ArraySpec:
        """Spec of one stored action."""
        return self._action_spec

    @staticmethod
    def _check_n_step(n_step: Any) -> None:
        if not isinstance(n_step, (int, np.integer)) or isinstance(n_step, bool) or n_step < 1:
            raise ConfigError(f"n_step must be an integer >= 1, got {n_step!r}")

    def sample(self, batch_size: int, num_batches: int | None = None, n_step: int | None = None) -> Transition:
        """Draw transitions uniformly from the sampleable ones stored (with replacement).

        Returns a ``Transition`` of NumPy arrays with leading shape ``[batch_size]``, or
        ``[num_batches, batch_size]`` when ``num_batches`` is given (many batches in one call).
        ``n_step`` overrides the buffer's ``n`` of the n-step returns for this call.
        """
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if num_batches is not None and (not isinstance(num_batches, (int, np.integer)) or num_batches < 1):
            raise ConfigError(f"num_batches must be an integer >= 1 or None, got {num_batches!r}")
        n = self._n_step if n_step is None else n_step
        self._check_n_step(n)
        lead = (int(batch_size),) if num_batches is None else (int(num_batches), int(batch_size))
        size = int(np.prod(lead))
        with self._lock:
            if self._available() == 0:
                raise ConfigError("the replay buffer is empty: add transitions before sampling")
            slots = self._draw_slots(size)
            out = self._gather(slots, int(n))
        return Transition(*(x.reshape(lead + x.shape[1:]) for x in out))

    def _draw_slots(self, size: int) -> np.ndarray:
        """``size`` slots uniform over the sampleable filled slots: draw over filled slots, redraw the others."""
        num_slots = self._filled * self._num_envs
        slots = self._rng.integers(0, num_slots, size=size)
        bad = np.flatnonzero(~self._sampleable(slots))
        rounds = 0
        while bad.size:
            if rounds == _MAX_REDRAWS:
                candidates = np.flatnonzero(self._sampleable(np.arange(num_slots)))
                slots[bad] = candidates[self._rng.integers(0, candidates.size, size=bad.size)]
                break
            redraw = self._rng.integers(0, num_slots, size=bad.size)
            ok = self._sampleable(redraw)
            slots[bad[ok]] = redraw[ok]
            bad = bad[~ok]
            rounds += 1
        return slots

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


class UniformReplayBuffer(_RingReplay):
    """A ring of the last ``capacity`` transitions of ``num_envs`` environments, sampled uniformly.

    Args:
        capacity: number of transitions kept; rounded up to a multiple of ``num_envs``
            (``rows = ceil(capacity / num_envs)`` rows of ``num_envs`` slots each).
        observation_spec: spec of one observation (without the batch dimension).
        action_spec: spec of one action (without the batch dimension).
        num_envs: number of environments written by each ``add``.
        n_step: default ``n`` of the n-step returns computed by ``sample``.
        gamma: discount factor of the n-step returns.
        seed: seed of the sampling generator (``None``: fresh entropy).

    ``add`` is O(1): one row of NumPy assignments, no Python loop over environments.
    ``add``, ``sample`` and the state methods take an internal lock, so a prefetching
    ``as_dataset`` pipeline may sample while the training loop adds.
    """

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
        if not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise ConfigError(f"replay capacity must be an integer >= 1, got {capacity!r}")
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ConfigError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self._check_n_step(n_step)
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

        rows, envs = self._rows, self._num_envs
        obs_shape, act_shape = tuple(observation_spec.shape), tuple(action_spec.shape)
        self._observation = np.zeros((rows, envs, *obs_shape), dtype=observation_spec.dtype)
        self._action = np.zeros((rows, envs, *act_shape), dtype=action_spec.dtype)
        self._reward = np.zeros((rows, envs), dtype=np.float32)
        self._discount = np.zeros((rows, envs), dtype=np.float32)
        self._next_observation = np.zeros((rows, envs, *obs_shape), dtype=observation_spec.dtype)
        self._last = np.zeros((rows, envs), dtype=bool)
        self._valid = np.zeros((rows, envs), dtype=bool)
        # Flat views [rows * num_envs, ...] for single-index gathers; slot = row * num_envs + env.
        self._flat: dict[str, np.ndarray] = {}
        for key in _ARRAY_KEYS:
            array = getattr(self, "_" + key)
            self._flat[key] = array.reshape(rows * envs, *array.shape[2:])

        self._position = 0  # next row to write
        self._filled = 0  # rows written so far, at most ``rows``
        self._num_valid = 0  # valid slots among the filled rows
        self._checked = False  # shapes and dtypes verified against the specs (first add)
        self._row_shapes = {
            "observation": (envs, *obs_shape),
            "action": (envs, *act_shape),
            "reward": (envs,),
            "discount": (envs,),
            "next_observation": (envs, *obs_shape),
            "last": (envs,),
            "valid": (envs,),
        }

    # ------------------------------------------------------------------ properties

    def __len__(self) -> int:
        """Number of valid (sampleable) transitions stored."""
        return self._num_valid

    def _available(self) -> int:
        return self._num_valid

    def _sampleable(self, slots: np.ndarray) -> np.ndarray:
        return self._flat["valid"][slots]

    def __repr__(self) -> str:
        return (
            f"UniformReplayBuffer(capacity={self.capacity}, num_envs={self._num_envs}, "
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
        to be sampled (default: all valid).
        """
        if valid is None:
            valid = np.ones(self._num_envs, dtype=bool)
        values = {
            "observation": np.asarray(observation),
            "action": np.asarray(action),
            "reward": np.asarray(reward),
            "discount": np.asarray(discount),
            "next_observation": np.asarray(next_observation),
            "last": np.asarray(last),
            "valid": np.asarray(valid),
        }
        if not self._checked:
            self._check_first(values)
        else:
            for key, value in values.items():
                if value.shape != self._row_shapes[key]:
                    self._raise_shape(key, value)
        with self._lock:
            pos = self._position
            if self._filled == self._rows:
                self._num_valid -= int(np.count_nonzero(self._valid[pos]))
            else:
                self._filled += 1
            self._observation[pos] = values["observation"]
            self._action[pos] = values["action"]
            self._reward[pos] = values["reward"]
            self._discount[pos] = values["discount"]
            self._next_observation[pos] = values["next_observation"]
            self._last[pos] = values["last"]
            self._valid[pos] = values["valid"]
            self._num_valid += int(np.count_nonzero(self._valid[pos]))
            self._position = pos + 1 if pos + 1 < self._rows else 0

    def _raise_shape(self, key: str, value: np.ndarray) -> None:
        raise ConfigError(
            f"replay buffer: {key} has shape {value.shape}, expected {self._row_shapes[key]} "
            f"(num_envs={self._num_envs} first, then the spec's shape); "
            "pass batched arrays from the vector environment"
        )

    def _check_first(self, values: dict[str, np.ndarray]) -> None:
        for key, value in values.items():
            if value.shape != self._row_shapes[key]:
                self._raise_shape(key, value)
        expected = {
            "observation": self._observation_spec.dtype,
            "next_observation": self._observation_spec.dtype,
            "action": self._action_spec.dtype,
        }
        for key, dtype in expected.items():
            if not _castable(values[key].dtype, dtype):
                raise ConfigError(
                    f"replay buffer: {key} has dtype {values[key].dtype}, which cannot be stored as the "
                    f"spec's dtype {dtype}; convert it or fix the spec"
                )
        for key in ("reward", "discount"):
            if not _castable(values[key].dtype, np.dtype(np.float32)):
                raise ConfigError(f"replay buffer: {key} has dtype {values[key].dtype}, expected a float array")
        for key in ("last", "valid"):
            if values[key].dtype != bool:
                raise ConfigError(f"replay buffer: {key} has dtype {values[key].dtype}, expected a boolean array")
        self._checked = True

    # ------------------------------------------------------------------ sampling

    def _gather(self, slots: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
        """The n-step ``Transition`` fields for flat ``slots`` (see the module docstring)."""
        flat = self._flat
        envs, rows = self._num_envs, self._rows
        gamma = np.float32(self._gamma)
        observation = flat["observation"][slots]
        action = flat["action"][slots]
        if n == 1:
            reward = flat["reward"][slots]
            discount = gamma * flat["discount"][slots]
            return observation, action, reward, discount, flat["next_observation"][slots]

        row0, env = np.divmod(slots, envs)
        newest = (self._position - 1) % rows
        # Rows available from row0 to the newest row, inclusive, walking forward in the ring.
        available = (newest - row0) % rows + 1
        reward = np.zeros(slots.shape, dtype=np.float32)
        discount = np.ones(slots.shape, dtype=np.float32)  # gamma**k * prod_{j<k} d_j
        end = slots.copy()  # slot of the last step walked
        active = np.ones(slots.shape, dtype=bool)
        for k in range(n):
            slot = ((row0 + k) % rows) * envs + env
            reward = np.where(active, reward + discount * flat["reward"][slot], reward)
            discount = np.where(active, discount * gamma * flat["discount"][slot], discount)
            end = np.where(active, slot, end)
            if k + 1 == n:
                break
            stop = flat["last"][slot] | (k + 1 >= available)
            following = ((row0 + k + 1) % rows) * envs + env
            stop |= ~flat["valid"][following]
            active &= ~stop
            if not active.any():
                break
        return observation, action, reward, discount, flat["next_observation"][end]

    # ------------------------------------------------------------------ tf.data

    def as_dataset(
        self,
        batch_size: int,
        num_steps: int | None = None,
        num_parallel_calls: int | None = None,
    ) -> tf.data.Dataset:
        """An endless ``tf.data.Dataset`` of ``Transition`` batches of tensors, shape ``[batch_size, ...]``.

        Args:
            batch_size: transitions per element.
            num_steps: ``n`` of the n-step returns (default: the buffer's ``n_step``). TF-Agents'
                ``as_dataset(num_steps=2)`` (pairs of adjacent steps) is ``num_steps=1`` here:
                each element already holds the observation and the next observation.
            num_parallel_calls: parallel sampling calls of the ``map`` (``None``: sequential, so the
                stream is reproducible from the buffer's seed; parallel calls interleave draws).

        Elements are sampled when the pipeline pulls them (prefetched), from the data stored then.
        """
        import tensorflow as tf

        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        n = self._n_step if num_steps is None else num_steps
        self._check_n_step(n)
        batch_size, n = int(batch_size), int(n)
        obs_shape = (batch_size, *self._observation_spec.shape)
        shapes = Transition(
            observation=obs_shape,
            action=(batch_size, *self._action_spec.shape),
            reward=(batch_size,),
            discount=(batch_size,),
            next_observation=obs_shape,
        )
        dtypes = Transition(
            observation=tf.as_dtype(self._observation_spec.dtype),
            action=tf.as_dtype(self._action_spec.dtype),
            reward=tf.float32,
            discount=tf.float32,
            next_observation=tf.as_dtype(self._observation_spec.dtype),
        )

        def draw() -> list[np.ndarray]:
            return list(self.sample(batch_size, n_step=n))

        def sample_fn(_: tf.Tensor) -> Transition:
            values = tf.py_function(draw, inp=[], Tout=list(dtypes))
            return Transition(*(tf.ensure_shape(v, s) for v, s in zip(values, shapes)))

        dataset = tf.data.Dataset.range(1).repeat()
        if num_parallel_calls is None:
            dataset = dataset.map(sample_fn)
        else:
            dataset = dataset.map(sample_fn, num_parallel_calls=num_parallel_calls, deterministic=False)
        return dataset.prefetch(tf.data.AUTOTUNE)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to restore the buffer: stored rows (filled part), position, fill, RNG state.

        Values are NumPy arrays, ints and a JSON string (the sampling generator's state).
        ``n_step`` and ``gamma`` are sampling settings and are recorded but not restored.
        """
        with self._lock:
            state: dict[str, Any] = {
                key: getattr(self, "_" + key)[: self._filled].copy() for key in _ARRAY_KEYS
            }
            state.update(
                version=_STATE_VERSION,
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
            if key not in state:
                raise ConfigError(f"replay buffer state has no {key!r}: not a UniformReplayBuffer state")
            return np.asarray(state[key]).item()

        if int(scalar("version")) != _STATE_VERSION:
            raise ConfigError(
                f"replay buffer state version {scalar('version')} is not supported (expected {_STATE_VERSION})"
            )
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
        for key in _ARRAY_KEYS:
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
        rng_state = json.loads(str(scalar("rng_state")))
        with self._lock:
            for key, value in arrays.items():
                target = getattr(self, "_" + key)
                target[:filled] = value
                target[filled:] = 0
            self._filled, self._position = filled, position
            self._num_valid = int(np.count_nonzero(self._valid[:filled]))
            self._checked = False
            self._rng.bit_generator.state = rng_state
