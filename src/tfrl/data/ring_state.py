"""The checkpoint side of the replay ring: its state as arrays, and its ``.npz`` file.

``RingState`` is the part of ``tfrl.data.ring.RingReplay`` that turns the ring into a state (``state_dict``,
``save``) and back (``load_state_dict``, ``load``). Saving writes the filled rows straight from the ring
and loading reads them from the file straight into it (``tfrl.data.npz``), so a buffer of any size is
checkpointed and resumed within its own memory. Subclasses add what they store beyond the ring through
the hooks ``_check_kind``, ``_extra_state``, ``_check_extra_state``, ``_restore_extra`` and ``_clear_extra``.

A prioritized buffer's state adds its priorities (``priorities``, float64 ``[capacity]``, the leaves of
its sum tree, whose inner nodes are rebuilt on load bit for bit) and ``max_priority``; a uniform
buffer's state has neither, and each kind refuses the other's.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from tfrl.data import npz
from tfrl.data.sum_tree import SumTree
from tfrl.errors import ConfigError, RunDirError, TfrlError
from tfrl.fileio import atomic_path

__all__ = ["STATE_VERSION", "RingState", "state_scalar"]

STATE_VERSION = 1
"""Version of the ``state_dict`` layout."""


def state_scalar(state: dict[str, Any], key: str, kind: str) -> Any:
    """The scalar ``state[key]`` of a ``kind`` buffer's state, which must have it."""
    if key not in state:
        raise ConfigError(f"replay buffer state has no {key!r}: not a {kind} state")
    return np.asarray(state[key]).item()


class RingState:
    """State and files of a ``RingReplay`` (which provides ``_flat``, ``_lock``, ``_rows``, ``_num_envs``,
    ``_position``, ``_filled``, ``_n_step``, ``_gamma``, ``_rng``, ``_tree``, ``_max_priority`` and ``_KIND``)."""

    _tree: SumTree | None
    _max_priority: float

    # ------------------------------------------------------------------ checkpoints

    def _state(self, copy: bool) -> dict[str, Any]:
        """``state_dict`` (under the lock); ``copy=False`` gives views of the ring instead of copies."""
        state: dict[str, Any] = {}
        for key in self._flat:
            rows = getattr(self, "_" + key)[: self._filled]
            state[key] = rows.copy() if copy else rows
        state.update(self._extra_state())
        if self._tree is not None:
            state.update(priorities=self._tree.leaves, max_priority=self._max_priority)
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

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to restore the buffer: stored rows (filled part), position, fill, RNG state,
        and a prioritized buffer's priorities (``priorities``, float64 ``[capacity]``) and ``max_priority``.

        Values are NumPy arrays, ints and a JSON string (the sampling generator's state).
        ``n_step`` and ``gamma`` are sampling settings and are recorded but not restored.
        """
        with self._lock:
            return self._state(copy=True)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict`` taken from a buffer with the same capacity, num_envs and specs."""
        arrays = {key: np.asarray(state[key]) for key in self._flat if key in state}

        def fill(key: str, out: np.ndarray) -> None:
            out[...] = arrays[key]

        self._restore(state, {key: (value.shape, value.dtype) for key, value in arrays.items()},
                      arrays.__getitem__, fill)

    def _restore(self, state: dict[str, Any], layouts: dict[str, tuple[tuple[int, ...], np.dtype]],
                 read: Callable[[str], np.ndarray], fill: Callable[[str, np.ndarray], None]) -> None:
        """Check a state, then write it into the ring in place, one array at a time.

        ``state`` holds the scalars and what ``_extra_state`` wrote; ``layouts`` the shape and dtype of
        each ring array it holds (its filled rows); ``read(key)`` returns such an array and
        ``fill(key, out)`` writes it into ``out``, the filled rows of the ring. Everything but what
        ``fill`` reads is checked before the ring is touched; if ``fill`` fails (a file damaged in its
        data), the buffer is left empty and the error raised.
        """

        def scalar(key: str) -> Any:
            return state_scalar(state, key, self._KIND)

        self._check_kind(state)
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
        for key in self._flat:
            if key not in layouts:
                raise ConfigError(f"replay buffer state has no {key!r} array")
            shape, dtype = layouts[key]
            target = getattr(self, "_" + key)
            if tuple(shape) != (filled, *target.shape[1:]) or dtype != target.dtype:
                raise ConfigError(
                    f"replay buffer state: {key} is {dtype}{list(shape)}, expected "
                    f"{target.dtype}{[filled, *target.shape[1:]]}: the specs differ"
                )
        priorities = self._check_priorities(state, filled)
        extra = self._check_extra_state(state, read)
        rng_state = json.loads(str(scalar("rng_state")))
        with self._lock:
            written = self._filled  # rows 0 .. written - 1 may hold data; the rest are zero
            try:
                for key in self._flat:
                    target = getattr(self, "_" + key)
                    fill(key, target[:filled])
                    target[filled:written] = 0  # only rows written before: zero pages stay untouched
            except BaseException:
                for key in self._flat:
                    getattr(self, "_" + key)[: max(filled, written)] = 0
                self._filled = self._position = self._num_valid = 0
                self._clear_extra()
                self._restore_priorities(None)
                raise
            self._restore_extra(extra)
            self._restore_priorities(priorities)
            self._filled, self._position = filled, position
            self._num_valid = int(np.count_nonzero(self._valid[:filled]))
            self._checked = False
            self._rng.bit_generator.state = rng_state

    def _check_priorities(self, state: dict[str, Any], filled: int) -> tuple[np.ndarray, float] | None:
        """The priorities and largest priority of ``state`` if this buffer is prioritized, after checking
        that the state is of the same kind (prioritized or uniform) and its priorities fit the ring."""
        if ("priorities" in state) != (self._tree is not None):
            saved, this = ("prioritized", "uniform") if "priorities" in state else ("uniform", "prioritized")
            fix = "with priority_alpha" if saved == "prioritized" else "without priority_alpha"
            raise ConfigError(f"replay buffer state is a {saved} buffer's, this buffer is {this}: "
                              f"build the buffer {fix} to load it")
        if self._tree is None:
            return None
        leaves = np.asarray(state["priorities"])
        capacity = self._rows * self._num_envs
        if leaves.shape != (capacity,) or leaves.dtype != np.float64:
            raise ConfigError(f"replay buffer state: priorities are {leaves.dtype}{list(leaves.shape)}, "
                              f"expected float64[{capacity}]")
        largest = float(state_scalar(state, "max_priority", self._KIND))
        if not (np.all(np.isfinite(leaves)) and leaves.min() >= 0.0 and not leaves[filled * self._num_envs:].any()
                and np.isfinite(largest) and largest > 0.0):
            raise ConfigError("replay buffer state is corrupt: priorities must be finite, >= 0 and 0 beyond "
                              "the filled rows, and max_priority finite and > 0")
        return leaves, largest

    def _restore_priorities(self, priorities: tuple[np.ndarray, float] | None) -> None:
        """Set the sum tree's leaves and the largest priority (None: all 0 and 1; called under the lock)."""
        if self._tree is not None:
            leaves, largest = priorities if priorities is not None else (np.zeros(self._tree.capacity), 1.0)
            self._tree.set_leaves(leaves)
            self._max_priority = largest

    def _check_kind(self, state: dict[str, Any]) -> None:
        """Refuse the state of another kind of buffer (checked first)."""

    def _extra_state(self) -> dict[str, Any]:
        """What a subclass adds to ``state_dict`` (called under the lock)."""
        return {}

    def _check_extra_state(self, state: dict[str, Any], read: Callable[[str], np.ndarray]) -> Any:
        """Check what ``_extra_state`` wrote into ``state`` and return what ``_restore_extra`` needs;
        ``read(key)`` gives the ring array ``key`` of the state (its filled rows)."""
        return None

    def _restore_extra(self, extra: Any) -> None:
        """Restore what ``_check_extra_state`` returned (called under the lock)."""

    def _clear_extra(self) -> None:
        """Forget what ``_restore_extra`` restored: the buffer was emptied (called under the lock)."""

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``state_dict()`` to one ``.npz`` file atomically (temporary file, fsync, rename).

        The filled rows are written straight from the ring (under the lock, without a copy), so saving a
        large buffer needs no second copy of it in memory.
        """
        with self._lock, atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **{key: np.asarray(value) for key, value in self._state(copy=False).items()})

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore the buffer from a file written by ``save``.

        Each ring array is read from the file straight into the ring, a few megabytes at a time, so
        loading needs no memory beyond the buffer's own. A file whose arrays do not fit this buffer
        raises ``ConfigError`` and leaves the buffer as it was; a file damaged in its data raises
        ``RunDirError`` and leaves the buffer empty.
        """
        path = os.fspath(path)
        if not os.path.exists(path):
            raise RunDirError(f"replay buffer file {path!r} does not exist: check the checkpoint directory")
        try:
            with zipfile.ZipFile(path) as archive:
                arrays = {name[: -len(".npy")] for name in archive.namelist() if name.endswith(".npy")}
                state = {key: npz.read_array(archive, key) for key in arrays - set(self._flat)}
                layouts = {key: npz.array_layout(archive, key) for key in arrays & set(self._flat)}
                self._restore(state, layouts, lambda key: npz.read_array(archive, key),
                              lambda key, out: npz.read_array_into(archive, key, out))
        except TfrlError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
            raise RunDirError(f"replay buffer file {path!r} is damaged ({exc}); it cannot be loaded") from None

