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
* action, reward, step discount, ``last`` and ``valid`` exactly as ``UniformReplayBuffer`` (the ring,
  its checks, sampling and checkpoints are ``tfrl.data.ring``'s).

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

A checkpoint (``state_dict``) holds the stored rows and the episode-start stacks; the next ``add``
after a restore starts a new stored stack in every environment (exact, at the cost of one stack each).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tfrl.data.ring import BOOL_SLOT, FLOAT_SLOT, RingReplay, state_scalar
from tfrl.errors import ConfigError

__all__ = ["FrameStackReplayBuffer"]


class FrameStackReplayBuffer(RingReplay):
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
        priority_alpha: exponent of proportional prioritized replay, in [0, 1] (``None``: uniform
            replay only); enables ``sample_prioritized`` and ``update_priorities``.
        priority_epsilon: added to ``|td_error|`` before the exponent, so every priority is > 0.

    ``sample`` returns the same ``Transition`` as ``UniformReplayBuffer`` would for the same
    stream: full ``K``-frame observation and next observation, n-step reward and discount.
    """

    _KIND = "FrameStackReplayBuffer"

    def _setup(self) -> None:
        obs_shape = tuple(self._observation_spec.shape)
        if len(obs_shape) < 1 or obs_shape[-1] < 1:
            raise ConfigError(
                f"FrameStackReplayBuffer needs an observation spec whose last axis stacks K >= 1 frames, "
                f"got shape {obs_shape}"
            )
        self._stack = obs_shape[-1]
        self._frame_shape = obs_shape[:-1]
        self._obs_dtype = np.dtype(self._observation_spec.dtype)
        self._allocate(frame=(self._frame_shape, self._obs_dtype), action=self._action_layout(), reward=FLOAT_SLOT,
                       discount=FLOAT_SLOT, last=BOOL_SLOT, valid=BOOL_SLOT, start=BOOL_SLOT)
        # Full first stacks of start slots, frames first: slot -> [K, *frame_shape].
        self._side: dict[int, np.ndarray] = {}
        # Next observation of the previous add, per env, and whether a valid slot may continue it.
        self._prev_next = np.zeros((self._num_envs, *obs_shape), dtype=self._obs_dtype)
        self._prev_ok = np.zeros(self._num_envs, dtype=bool)

    # ------------------------------------------------------------------ properties

    @property
    def nbytes(self) -> int:
        """Bytes held by the ring arrays and the side store of episode-start stacks."""
        ring = sum(getattr(self, "_" + key).nbytes for key in self._flat)
        return ring + sum(stack.nbytes for stack in self._side.values())

    def _repr_extra(self) -> str:
        return f"frames={self._stack}, "

    # ------------------------------------------------------------------ writing

    def _write(self, values: dict[str, np.ndarray]) -> None:
        """Check the frame-stack invariant on the valid slots of a checked row, then store it."""
        obs = values["observation"].astype(self._obs_dtype, copy=False)
        nxt = values["next_observation"].astype(self._obs_dtype, copy=False)
        shifted = (nxt[..., :-1] == obs[..., 1:]).reshape(self._num_envs, -1).all(axis=1)
        broken = np.flatnonzero(values["valid"] & ~shifted)
        if broken.size:
            raise ConfigError(
                f"FrameStackReplayBuffer: next_observation of env {int(broken[0])} is not its observation "
                f"shifted by one frame (next[..., :-1] != obs[..., 1:]); the observations must be stacks of "
                f"the last {self._stack} frames on the last axis"
            )
        super()._write({**values, "observation": obs, "next_observation": nxt})

    def _store(self, pos: int, values: dict[str, np.ndarray]) -> None:
        envs = self._num_envs
        obs, nxt, valid_row = values["observation"], values["next_observation"], values["valid"]
        continues = self._prev_ok & (obs == self._prev_next).reshape(envs, -1).all(axis=1)
        start = valid_row & ~continues
        for e in np.flatnonzero(self._start[pos]):  # the stacks of the row overwritten
            self._side.pop(pos * envs + int(e), None)
        self._frame[pos] = nxt[..., -1]
        self._start[pos] = start
        for e in np.flatnonzero(start):
            self._side[pos * envs + int(e)] = np.moveaxis(obs[e], -1, 0).copy()
        self._prev_next[...] = nxt
        self._prev_ok[...] = valid_row

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

    def _next_observations(self, slots: np.ndarray) -> np.ndarray:
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

    def _observations(self, slots: np.ndarray) -> np.ndarray:
        """``observation`` of ``slots``: the stored stack at a start slot, else the previous next observation."""
        envs, rows = self._num_envs, self._rows
        out = np.empty((slots.shape[0], *self._frame_shape, self._stack), dtype=self._obs_dtype)
        start = self._flat["start"][slots]
        for i in np.flatnonzero(start):
            out[i] = np.moveaxis(self._side[int(slots[i])], 0, -1)
        rest = np.flatnonzero(~start)
        if rest.size:
            row0, env = np.divmod(slots[rest], envs)
            out[rest] = self._next_observations(((row0 - 1) % rows) * envs + env)
        return out

    # ------------------------------------------------------------------ sampling

    def _sampleable(self, slots: np.ndarray) -> np.ndarray:
        return self._flat["valid"][slots] & self._reachable(slots)

    def _available(self) -> int:
        return self._num_valid - self._num_unreachable()

    # ------------------------------------------------------------------ checkpoints

    def _check_kind(self, state: dict[str, Any]) -> None:
        """Refuse a state that is not a ``FrameStackReplayBuffer``'s."""
        kind = state_scalar(state, "kind", self._KIND)
        if str(kind) != self._KIND:
            raise ConfigError(f"replay buffer state is a {kind!r} state, not a {self._KIND} state")

    def _extra_state(self) -> dict[str, Any]:
        """The buffer's kind and the episode-start stacks, by slot."""
        keys = np.array(sorted(self._side), dtype=np.int64)
        stacks = np.zeros((keys.size, self._stack, *self._frame_shape), dtype=self._obs_dtype)
        for i, key in enumerate(keys):
            stacks[i] = self._side[int(key)]
        return {"kind": self._KIND, "side_slots": keys, "side_stacks": stacks}

    def _check_extra_state(self, state: dict[str, Any], read: Callable[[str], np.ndarray]) -> dict[int, np.ndarray]:
        """The side store of ``state``, which must hold one stack per start slot of its ring (``read``)."""
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
        want = np.flatnonzero(read("start").reshape(-1))
        if not np.array_equal(np.sort(side_slots), want):
            raise ConfigError("replay buffer state is corrupt: stored stacks do not match the start slots")
        return {int(slot): stack.copy() for slot, stack in zip(side_slots, side_stacks)}

    def _restore_extra(self, extra: dict[int, np.ndarray]) -> None:
        self._side = extra
        self._prev_ok[...] = False

    def _clear_extra(self) -> None:
        self._restore_extra({})
