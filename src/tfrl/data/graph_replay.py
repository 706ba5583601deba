"""``GraphReplayBuffer``: uniform replay of 1-step transitions held in ``tf.Variable``s, for the compiled loops.

Written and sampled inside a ``tf.function`` (``tfrl.train.loops.compiled_off_policy``), saved to and restored from
one ``.npz`` file without pickles (a checkpoint's ``replay.npz``).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from tfrl.errors import ConfigError, RunDirError
from tfrl.fileio import atomic_path
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["GraphReplayBuffer"]

_FIELDS = ("observation", "action", "reward", "discount", "next_observation")


class GraphReplayBuffer:
    """Uniform replay of 1-step transitions in ``tf.Variable``s, written and sampled inside a ``tf.function``.

    Ring storage of ``capacity`` rows shared by all environments: ``observation``, ``action``,
    ``reward``, ``discount`` (the step's own: 0 when the episode terminated, 1 otherwise) and
    ``next_observation``. ``add`` takes one row per environment and stores only the valid ones (the
    rows whose acting time step was not LAST, i.e. not an auto-reset step), packed one after
    another from ``position``, so that every row below ``size`` is a real transition and sampling
    is one uniform draw in ``[0, size)``. Skipped rows are written to an extra scratch row (index
    ``capacity``) that is never read, which keeps every shape static for XLA.
    """

    def __init__(self, capacity: int, observation_spec: ArraySpec, action_spec: BoundedArraySpec, num_envs: int):
        if num_envs > capacity:
            raise ConfigError(f"buffer_size ({capacity}) must be >= num_envs ({num_envs}) for the compiled loop")
        self.capacity, self.num_envs = int(capacity), int(num_envs)
        rows = self.capacity + 1  # the last row takes the writes of skipped rows

        def variable(shape, dtype, name):
            return tf.Variable(tf.zeros([rows, *shape], dtype), trainable=False, name=f"replay_{name}")

        obs_shape, obs_dtype = tuple(observation_spec.shape), tf.as_dtype(observation_spec.dtype)
        self.observation = variable(obs_shape, obs_dtype, "observation")
        self.action = variable(tuple(action_spec.shape), tf.as_dtype(action_spec.dtype), "action")
        self.reward = variable((), tf.float32, "reward")
        self.discount = variable((), tf.float32, "discount")
        self.next_observation = variable(obs_shape, obs_dtype, "next_observation")
        self.position = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="replay_position")
        """Row that the next valid transition is written to."""
        self.size = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="replay_size")
        """Rows filled (at most ``capacity``)."""

    @property
    def fields(self) -> tuple[tf.Variable, ...]:
        """The storage variables, in the order ``add`` and ``sample`` use."""
        return self.observation, self.action, self.reward, self.discount, self.next_observation

    def add(self, observation, action, reward, discount, next_observation, valid) -> tf.Tensor:
        """Store the valid rows of a batch of ``N`` transitions; returns how many were stored (int64)."""
        valid = tf.convert_to_tensor(valid, tf.bool)
        count = tf.cast(valid, tf.int64)
        offsets = tf.cumsum(count, exclusive=True)
        rows = tf.where(valid, (self.position + offsets) % self.capacity, tf.constant(self.capacity, tf.int64))
        rows = rows[:, None]
        values = (observation, action, reward, discount, next_observation)
        for var, value in zip(self.fields, values):
            var.scatter_nd_update(rows, tf.cast(value, var.dtype))
        added = tf.reduce_sum(count)
        self.position.assign((self.position + added) % self.capacity)
        self.size.assign(tf.minimum(self.size + added, self.capacity))
        return added

    def sample_indices(self, key: tf.Tensor, batch_size: int) -> tf.Tensor:
        """``batch_size`` row indices drawn uniformly from ``[0, size)`` with the stateless ``key``."""
        return tf.random.stateless_uniform([batch_size], key, minval=tf.constant(0, tf.int64),
                                           maxval=tf.maximum(self.size.read_value(), 1), dtype=tf.int64)

    def sample(self, key: tf.Tensor, batch_size: int, gamma: float) -> tuple[tf.Tensor, ...]:
        """A uniform batch ``(observation, action, reward, discount, next_observation)``.

        The returned ``discount`` is the bootstrap multiplier ``gamma * d`` of a 1-step target.
        """
        rows = self.sample_indices(key, batch_size)
        observation, action, reward, discount, next_observation = (tf.gather(v, rows) for v in self.fields)
        return observation, action, reward, gamma * discount, next_observation

    def numpy(self) -> dict[str, np.ndarray]:
        """The filled rows ``[0, size)`` as NumPy arrays (for tests, inspection and ``save``)."""
        size = int(self.size.numpy())
        return {name: var[:size].numpy() for name, var in zip(_FIELDS, self.fields)}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the filled rows, ``position`` and ``size`` to one ``.npz`` file atomically (a checkpoint's
        ``replay.npz``)."""
        arrays = {**self.numpy(), "position": np.int64(self.position.numpy()), "size": np.int64(self.size.numpy()),
                  "capacity": np.int64(self.capacity)}
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore the buffer from a file ``save`` wrote (read without pickles); ``ConfigError`` if its capacity or
        specs differ from this buffer's."""
        if not os.path.exists(path):
            raise RunDirError(f"replay buffer file {os.fspath(path)!r} does not exist: check the checkpoint directory")
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in (*_FIELDS, "position", "size", "capacity") if name not in data.files]
            if missing:
                raise ConfigError(f"replay buffer file {os.fspath(path)!r} has no {missing[0]!r} array")
            capacity, size, position = (int(data[name]) for name in ("capacity", "size", "position"))
            if capacity != self.capacity or not 0 <= position < capacity or not 0 <= size <= capacity:
                raise ConfigError(f"replay buffer file {os.fspath(path)!r} holds capacity {capacity} (size {size}, "
                                  f"position {position}); this buffer has capacity {self.capacity}")
            for name, var in zip(_FIELDS, self.fields):  # one field at a time: no second copy of the whole buffer
                value = data[name]
                expected = (size, *var.shape[1:])
                if value.shape != expected or value.dtype != var.dtype.as_numpy_dtype:
                    raise ConfigError(f"replay buffer file: {name} is {value.dtype}{list(value.shape)}, expected "
                                      f"{var.dtype.name}{list(expected)}: the specs differ")
                var[:size].assign(value)
            self.position.assign(position)
            self.size.assign(size)
