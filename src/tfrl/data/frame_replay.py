"""Uniform replay of frame-stacked observations that stores every frame once.

``FrameStackReplayBuffer`` has the API and the n-step semantics of ``UniformReplayBuffer`` (see
``tfrl.data.replay``) for observations that are stacks of the last ``K`` frames, channels last
(``K = observation_spec.shape[-1]``, e.g. uint8 ``(84, 84, 4)`` on Atari). Instead of two full
stacks per transition it keeps:

* ``frame[row, env]``: the newest frame of the next observation (``next_observation[..., -1]``),
  one ``[rows, num_envs, *frame_shape]`` ring of the spec's dtype;
* ``start[row, env]``: the observation of this slot does *not* continue the previous slot's next
  observation (first step of an episode, the first ``add`` after construction or ``load``, or any
  discontinuity); its full ``K``-frame observation is then kept in a side store keyed by slot and
  dropped when the row is overwritten (one stack per episode: a few bytes per transition on Atari);
* action, reward, step discount, ``last`` and ``valid`` exactly as ``UniformReplayBuffer``.

Within an episode the stacks are rebuilt exactly: with ``s`` the latest start slot at or before
``u`` in the same column, ``next_observation(u) = concat(stack(s), frame[s..u])[-K:]`` and
``observation(t) = stack(t)`` at a start slot, else ``next_observation(t - 1)``. Because the
episode's first stack is stored as it was added, whatever the environment used to pad it
(Gymnasium's ``FrameStackObservation`` repeats the reset frame by default, ``padding_type="zero"``
uses zeros, a custom padding anything) comes back unchanged, so no padding option is needed.

``add`` checks the frame-stack invariant on every valid slot (``next_observation[..., :-1] ==
observation[..., 1:]``) and raises ``ConfigError`` otherwise. A valid slot whose stack would need a
frame already overwritten by the ring (only in the ``K`` oldest rows: the observation of row ``t``
needs the frames of rows ``t - K .. t - 1`` unless its episode started within them) is not sampled
and not counted by ``len``; so a ring of at most ``K`` rows holds nothing sampleable in the middle of
a long episode, and ``capacity`` should be well above ``K * num_envs``.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np

from tfrl.data.replay import _castable, _RingReplay
from tfrl.errors import ConfigError
from tfrl.specs import ArraySpec, StepType, TimeStep

__all__ = ["FrameStackReplayBuffer"]

_STATE_VERSION = 1
_KIND = "FrameStackReplayBuffer"
_LAST = int(StepType.LAST)
_ARRAY_KEYS = ("frame", "action", "reward", "discount", "last", "valid", "start")


class FrameStackReplayBuffer(_RingReplay):
    """A ring of the last ``capacity`` frame-stacked transitions of ``num_envs`` environments.

    Args:
        capacity: number of transitions kept; rounded up to a multiple of ``num_envs``.
        observation_spec: spec of one observation, a stack of ``K = shape[-1]`` frames on the
            last axis (e.g. uint8 ``(84, 84, 4)``).
        action_spec: spec of one action (without the batch dimension).
        num_envs: number of environments written by each ``add``.
        n_step: default ``n`` of the n-step returns computed by ``sample``.
        gamma: discount factor of the n-step returns.
        seed: seed of the sampling generator (``None``: fresh entropy).

    ``sample`` returns the same ``Transition`` as ``UniformReplayBuffer`` would for the same
    stream: full ``K``-frame observation and next observation, n-step reward and discount.
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
        obs_shape = tuple(observation_spec.shape)
        if len(obs_shape) < 1 or obs_shape[-1] < 1:
            raise ConfigError(
                f"FrameStackReplayBuffer needs an observation spec whose last axis stacks K >= 1 frames, "
                f"got shape {obs_shape}"
            )
        self._observation_spec = observation_spec
        self._action_spec = action_spec
        self._num_envs = int(num_envs)
        self._rows = -(-int(capacity) // self._num_envs)
        self._n_step = int(n_step)
        self._gamma = float(gamma)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._stack = obs_shape[-1]
        self._frame_shape = obs_shape[:-1]
        self._obs_dtype = np.dtype(observation_spec.dtype)

        rows, envs = self._rows, self._num_envs
        act_shape = tuple(action_spec.shape)
        self._frame = np.zeros((rows, envs, *self._frame_shape), dtype=self._obs_dtype)
        self._action = np.zeros((rows, envs, *act_shape), dtype=action_spec.dtype)
        self._reward = np.zeros((rows, envs), dtype=np.float32)
        self._discount = np.zeros((rows, envs), dtype=np.float32)
        self._last = np.zeros((rows, envs), dtype=bool)
        self._valid = np.zeros((rows, envs), dtype=bool)
        self._start = np.zeros((rows, envs), dtype=bool)
        self._flat: dict[str, np.ndarray] = {}
        for key in _ARRAY_KEYS:
            array = getattr(self, "_" + key)
            self._flat[key] = array.reshape(rows * envs, *array.shape[2:])
        # Full first stacks of start slots, frames first: slot -> [K, *frame_shape].
        self._side: dict[int, np.ndarray] = {}

        self._position = 0
        self._filled = 0
        self._num_valid = 0
        self._checked = False
        # Next observation of the previous add, per env, and whether a valid slot may continue it.
        self._prev_next = np.zeros((envs, *obs_shape), dtype=self._obs_dtype)
        self._prev_ok = np.zeros(envs, dtype=bool)
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

    @property
    def nbytes(self) -> int:
        """Bytes held by the ring arrays and the side store of episode-start stacks."""
        ring = sum(getattr(self, "_" + key).nbytes for key in _ARRAY_KEYS)
        return ring + sum(stack.nbytes for stack in self._side.values())

    def __len__(self) -> int:
        """Number of sampleable transitions: valid ones whose stacks are still fully stored."""
        with self._lock:
            return self._num_valid - self._num_unreachable()

    def __repr__(self) -> str:
        return (
            f"FrameStackReplayBuffer(capacity={self.capacity}, num_envs={self._num_envs}, "
            f"frames={self._stack}, n_step={self._n_step}, gamma={self._gamma}, len={len(self)})"
        )

    # ------------------------------------------------------------------ writing

    def add(self, time_step: TimeStep, action: Any, next_time_step: TimeStep) -> None:
        """Store the transitions ``(time_step, action, next_time_step)`` of every environment (one row).

        Environments whose ``time_step`` is LAST are stored as invalid (auto-reset rows).
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
        """Store one row from raw arrays with leading dimension ``num_envs`` (as ``UniformReplayBuffer``)."""
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
        envs = self._num_envs
        obs = values["observation"].astype(self._obs_dtype, copy=False)
        nxt = values["next_observation"].astype(self._obs_dtype, copy=False)
        valid_row = values["valid"]
        shifted = (nxt[..., :-1] == obs[..., 1:]).reshape(envs, -1).all(axis=1)
        broken = np.flatnonzero(valid_row & ~shifted)
        if broken.size:
            raise ConfigError(
                f"FrameStackReplayBuffer: next_observation of env {int(broken[0])} is not its observation "
                f"shifted by one frame (next[..., :-1] != obs[..., 1:]); the observations must be stacks of "
                f"the last {self._stack} frames on the last axis"
            )
        with self._lock:
            continues = self._prev_ok & (obs == self._prev_next).reshape(envs, -1).all(axis=1)
            start = valid_row & ~continues
            pos = self._position
            if self._filled == self._rows:
                self._num_valid -= int(np.count_nonzero(self._valid[pos]))
                for e in np.flatnonzero(self._start[pos]):
                    self._side.pop(pos * envs + int(e), None)
            else:
                self._filled += 1
            self._frame[pos] = nxt[..., -1]
            self._action[pos] = values["action"]
            self._reward[pos] = values["reward"]
            self._discount[pos] = values["discount"]
            self._last[pos] = values["last"]
            self._valid[pos] = valid_row
            self._start[pos] = start
            for e in np.flatnonzero(start):
                self._side[pos * envs + int(e)] = np.moveaxis(obs[e], -1, 0).copy()
            self._num_valid += int(np.count_nonzero(valid_row))
            self._prev_next[...] = nxt
            self._prev_ok[...] = valid_row
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
            "observation": self._obs_dtype,
            "next_observation": self._obs_dtype,
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

    # ------------------------------------------------------------------ reconstruction

    def _older(self, rows0: np.ndarray) -> np.ndarray:
        """Number of stored rows strictly older than each row of ``rows0``."""
        oldest = self._position if self._filled == self._rows else 0
        return (rows0 - oldest) % self._rows

    def _reachable(self, slots: np.ndarray) -> np.ndarray:
        """True where the observation stack of ``slots`` needs no overwritten frame (stacks of every
        later step of the same episode then need none either)."""
        envs, rows, k = self._num_envs, self._rows, self._stack
        row0, env = np.divmod(slots, envs)
        older = self._older(row0)
        ok = self._flat["start"][slots].copy()
        undecided = ~ok
        # observation(t) = next_observation(t - 1): frames of rows t-1 .. t-1-j back to a start slot,
        # or K rows t-1 .. t-K without one.
        for j in range(k - 1):
            present = older >= j + 1
            found = undecided & present & self._flat["start"][((row0 - 1 - j) % rows) * envs + env]
            ok |= found
            undecided &= ~found & present
        ok |= undecided & (older >= k)
        return ok

    def _num_unreachable(self) -> int:
        """Valid slots among the oldest ``K`` rows whose stacks need overwritten frames."""
        if self._filled == 0:
            return 0
        oldest = self._position if self._filled == self._rows else 0
        count = min(self._stack, self._filled)
        rows = (oldest + np.arange(count)) % self._rows
        slots = (rows[:, None] * self._num_envs + np.arange(self._num_envs)).ravel()
        return int(np.count_nonzero(self._flat["valid"][slots] & ~self._reachable(slots)))

    def _next_stacks(self, slots: np.ndarray) -> np.ndarray:
        """``next_observation`` of ``slots``: ``concat(stack(s), frame[s..u])[-K:]``."""
        envs, rows, k = self._num_envs, self._rows, self._stack
        row0, env = np.divmod(slots, envs)
        size = slots.shape[0]
        # d: distance back to the latest start slot, K - 1 if none within K - 2 rows (no side stack).
        dist = np.full(size, k - 1, dtype=np.int64)
        undecided = np.ones(size, dtype=bool)
        for j in range(k - 1):
            found = undecided & self._flat["start"][((row0 - j) % rows) * envs + env]
            dist[found] = j
            undecided &= ~found
        out = np.empty((size, *self._frame_shape, k), dtype=self._obs_dtype)
        needs_side = np.flatnonzero(dist < k - 1)
        side = np.zeros((size, k, *self._frame_shape), dtype=self._obs_dtype)
        for i in needs_side:
            start_slot = int(((row0[i] - dist[i]) % rows) * envs + env[i])
            side[i] = self._side[start_slot]
        index = np.arange(size)
        for c in range(k):
            j = k - 1 - c
            frames = self._flat["frame"][((row0 - j) % rows) * envs + env]
            from_side = side[index, np.minimum(c + dist + 1, k - 1)]
            use_frame = (j <= dist).reshape((size,) + (1,) * len(self._frame_shape))
            out[..., c] = np.where(use_frame, frames, from_side)
        return out

    def _observation_stacks(self, slots: np.ndarray) -> np.ndarray:
        """``observation`` of ``slots``: the stored stack at a start slot, else the previous next observation."""
        envs, rows = self._num_envs, self._rows
        out = np.empty((slots.shape[0], *self._frame_shape, self._stack), dtype=self._obs_dtype)
        start = self._flat["start"][slots]
        for i in np.flatnonzero(start):
            out[i] = np.moveaxis(self._side[int(slots[i])], 0, -1)
        rest = np.flatnonzero(~start)
        if rest.size:
            row0, env = np.divmod(slots[rest], envs)
            out[rest] = self._next_stacks(((row0 - 1) % rows) * envs + env)
        return out

    # ------------------------------------------------------------------ sampling

    def _sampleable(self, slots: np.ndarray) -> np.ndarray:
        return self._flat["valid"][slots] & self._reachable(slots)

    def _available(self) -> int:
        return self._num_valid - self._num_unreachable()

    def _gather(self, slots: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
        """The n-step ``Transition`` fields for flat ``slots`` (same walk as ``UniformReplayBuffer``)."""
        flat = self._flat
        envs, rows = self._num_envs, self._rows
        gamma = np.float32(self._gamma)
        observation = self._observation_stacks(slots)
        action = flat["action"][slots]
        if n == 1:
            reward = flat["reward"][slots]
            discount = gamma * flat["discount"][slots]
            return observation, action, reward, discount, self._next_stacks(slots)

        row0, env = np.divmod(slots, envs)
        newest = (self._position - 1) % rows
        available = (newest - row0) % rows + 1
        reward = np.zeros(slots.shape, dtype=np.float32)
        discount = np.ones(slots.shape, dtype=np.float32)
        end = slots.copy()
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
        return observation, action, reward, discount, self._next_stacks(end)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to restore the buffer: stored rows, episode-start stacks, position, RNG state.

        ``n_step`` and ``gamma`` are recorded but not restored. The next ``add`` after a restore
        starts a new stored stack in every environment (exact, at the cost of one stack each).
        """
        with self._lock:
            state: dict[str, Any] = {
                key: getattr(self, "_" + key)[: self._filled].copy() for key in _ARRAY_KEYS
            }
            keys = np.array(sorted(self._side), dtype=np.int64)
            stacks = np.zeros((keys.size, self._stack, *self._frame_shape), dtype=self._obs_dtype)
            for i, key in enumerate(keys):
                stacks[i] = self._side[int(key)]
            state.update(
                kind=_KIND,
                version=_STATE_VERSION,
                rows=self._rows,
                num_envs=self._num_envs,
                position=self._position,
                filled=self._filled,
                n_step=self._n_step,
                gamma=self._gamma,
                side_slots=keys,
                side_stacks=stacks,
                rng_state=json.dumps(self._rng.bit_generator.state),
            )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict`` taken from a buffer with the same capacity, num_envs and specs."""

        def scalar(key: str) -> Any:
            if key not in state:
                raise ConfigError(f"replay buffer state has no {key!r}: not a {_KIND} state")
            return np.asarray(state[key]).item()

        if str(scalar("kind")) != _KIND:
            raise ConfigError(f"replay buffer state is a {scalar('kind')!r} state, not a {_KIND} state")
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
        for key in ("side_slots", "side_stacks"):
            if key not in state:
                raise ConfigError(f"replay buffer state has no {key!r} array")
        side_slots = np.asarray(state["side_slots"]).astype(np.int64)
        side_stacks = np.asarray(state["side_stacks"])
        if side_stacks.shape != (side_slots.size, self._stack, *self._frame_shape) or (
            side_stacks.dtype != self._obs_dtype
        ):
            raise ConfigError(
                f"replay buffer state: side_stacks is {side_stacks.dtype}{list(side_stacks.shape)}, expected "
                f"{self._obs_dtype}{[side_slots.size, self._stack, *self._frame_shape]}: the specs differ"
            )
        want = np.flatnonzero(arrays["start"].reshape(-1))
        if not np.array_equal(np.sort(side_slots), want):
            raise ConfigError("replay buffer state is corrupt: stored stacks do not match the start slots")
        rng_state = json.loads(str(scalar("rng_state")))
        with self._lock:
            for key, value in arrays.items():
                target = getattr(self, "_" + key)
                target[:filled] = value
                target[filled:] = 0
            self._side = {int(slot): stack.copy() for slot, stack in zip(side_slots, side_stacks)}
            self._filled, self._position = filled, position
            self._num_valid = int(np.count_nonzero(self._valid[:filled]))
            self._prev_ok[...] = False
            self._checked = False
            self._rng.bit_generator.state = rng_state
