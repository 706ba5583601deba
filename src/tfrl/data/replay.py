"""Uniform replay with n-step returns, stored in preallocated NumPy rings.

``UniformReplayBuffer`` keeps every transition whole: each slot of its ring (``tfrl.data.ring``)
holds the observation, the action, the reward and the *step discount* of the next time step (0 on
termination, 1 otherwise), the next observation, a ``last`` flag (the next time step ended an
episode) and a ``valid`` flag. ``sample`` draws slots uniformly among the valid ones and returns
n-step ``Transition`` batches (``tfrl.data.nstep`` gives the exact walk); ``as_dataset`` streams them
as a ``tf.data.Dataset``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tfrl.data.nstep import Transition
from tfrl.data.ring import BOOL_SLOT, FLOAT_SLOT, RingReplay, check_count, check_n_step

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = ["Transition", "UniformReplayBuffer"]


class UniformReplayBuffer(RingReplay):
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
        priority_alpha: exponent of proportional prioritized replay, in [0, 1] (``None``: uniform
            replay only); enables ``sample_prioritized`` and ``update_priorities``.
        priority_epsilon: added to ``|td_error|`` before the exponent, so every priority is > 0.

    ``add`` is O(1): one row of NumPy assignments, no Python loop over environments.
    ``add``, ``sample`` and the state methods take an internal lock, so a prefetching
    ``as_dataset`` pipeline may sample while the training loop adds.
    """

    _KIND = "UniformReplayBuffer"

    def _setup(self) -> None:
        observation = (tuple(self._observation_spec.shape), self._observation_spec.dtype)
        self._allocate(observation=observation, action=self._action_layout(), reward=FLOAT_SLOT,
                       discount=FLOAT_SLOT, next_observation=observation, last=BOOL_SLOT, valid=BOOL_SLOT)

    def _store(self, pos: int, values: dict[str, np.ndarray]) -> None:
        self._observation[pos] = values["observation"]
        self._next_observation[pos] = values["next_observation"]

    def _available(self) -> int:
        return self._num_valid

    def _sampleable(self, slots: np.ndarray) -> np.ndarray:
        return self._flat["valid"][slots]

    def _observations(self, slots: np.ndarray) -> np.ndarray:
        return self._flat["observation"][slots]

    def _next_observations(self, slots: np.ndarray) -> np.ndarray:
        return self._flat["next_observation"][slots]

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

        batch_size = check_count("batch_size", batch_size)
        n = check_n_step(self._n_step if num_steps is None else num_steps)
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
