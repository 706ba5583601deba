"""Policies: map a batch of observations to a batch of actions.

A policy is any object with ``action(observation) -> np.ndarray`` (``Policy`` below). Network
policies run one compiled ``tf.function`` call per batch, traced once for the observation spec
(any batch size), so a host loop makes exactly one TensorFlow call per vector step. Exploration
randomness comes from a seeded ``tf.random.Generator`` carried by the policy, so a seed fixes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import keras
import numpy as np
import tensorflow as tf

from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = [
    "Policy",
    "Schedule",
    "LinearSchedule",
    "ConstantSchedule",
    "GreedyPolicy",
    "EpsilonGreedyPolicy",
    "RandomPolicy",
    "ScriptedPolicy",
    "cartpole_lean_policy",
]


@runtime_checkable
class Policy(Protocol):
    """Anything that chooses actions for a batch of observations."""

    def action(self, observation: np.ndarray) -> np.ndarray:
        """Actions for ``observation`` (leading batch dimension)."""
        ...


class Schedule(Protocol):
    """A value as a function of the environment step."""

    def __call__(self, step: int) -> float: ...


class ConstantSchedule:
    """The same value at every step."""

    def __init__(self, value: float):
        self.value = float(value)

    def __call__(self, step: int) -> float:
        return self.value


class LinearSchedule:
    """Linear interpolation from ``start`` to ``end`` over ``duration`` steps, then ``end``."""

    def __init__(self, start: float, end: float, duration: int):
        if duration < 0:
            raise ValueError(f"duration must be >= 0, got {duration}")
        self.start, self.end, self.duration = float(start), float(end), int(duration)

    def __call__(self, step: int) -> float:
        if self.duration == 0 or step >= self.duration:
            return self.end
        frac = max(step, 0) / self.duration
        return self.start + frac * (self.end - self.start)


def _signature(spec: ArraySpec) -> tf.TensorSpec:
    return tf.TensorSpec(shape=(None, *spec.shape), dtype=tf.as_dtype(spec.dtype), name="observation")


class GreedyPolicy:
    """``argmax_a Q(s, a)`` of a Q network; ``action_dtype`` as the environment's action spec."""

    def __init__(
        self,
        q_network: keras.Model,
        observation_spec: ArraySpec,
        action_spec: BoundedArraySpec,
        jit_compile: bool = False,
    ):
        self.q_network = q_network
        self.action_spec = action_spec
        offset = int(action_spec.minimum)
        dtype = tf.as_dtype(action_spec.dtype)

        @tf.function(input_signature=[_signature(observation_spec)], jit_compile=jit_compile)
        def _greedy(observation):
            q = self.q_network(observation, training=False)
            return tf.cast(tf.argmax(q, axis=-1), dtype) + tf.cast(offset, dtype)

        # Calling the traced concrete function with a tensor skips tf.function's argument binding:
        # about 0.15 ms a call here instead of 0.4 ms.
        self._greedy = _greedy.get_concrete_function()
        self._observation_dtype = tf.as_dtype(observation_spec.dtype)

    def action(self, observation: np.ndarray) -> np.ndarray:
        """Greedy actions for a batch of observations."""
        return self._greedy(tf.convert_to_tensor(observation, self._observation_dtype)).numpy()


class EpsilonGreedyPolicy:
    """With probability epsilon a uniform random action, otherwise the greedy one.

    ``epsilon`` is a schedule of the environment step (``LinearSchedule`` is the usual one) or a
    constant. The coin flips and random actions are drawn on the host from a seeded NumPy
    generator (``rng``), and the network is called only when some environment acts greedily:
    while epsilon is 1 no TensorFlow call is made at all.
    """

    def __init__(
        self,
        q_network: keras.Model,
        observation_spec: ArraySpec,
        action_spec: BoundedArraySpec,
        epsilon: Schedule | float,
        seed: int | None = None,
        jit_compile: bool = False,
    ):
        self.epsilon = epsilon if callable(epsilon) else ConstantSchedule(epsilon)
        self.rng = np.random.default_rng(seed)
        self.greedy = GreedyPolicy(q_network, observation_spec, action_spec, jit_compile=jit_compile)
        self.action_spec = action_spec

    def action(self, observation: np.ndarray, step: int = 0) -> np.ndarray:
        """Epsilon-greedy actions, epsilon taken from the schedule at environment ``step``."""
        batch = len(observation)
        spec = self.action_spec
        explore = self.rng.random(batch) < self.epsilon(step)
        random = self.rng.integers(spec.minimum, spec.maximum, size=batch, endpoint=True).astype(spec.dtype)
        if explore.all():
            return random
        return np.where(explore, random, self.greedy.action(observation))


class RandomPolicy:
    """Uniform random actions over a bounded action spec (discrete or box), from a seeded NumPy RNG."""

    def __init__(self, action_spec: BoundedArraySpec, seed: int | None = None):
        self.action_spec = action_spec
        self.rng = np.random.default_rng(seed)

    def action(self, observation: np.ndarray) -> np.ndarray:
        """One uniform random action per observation in the batch."""
        batch = len(observation)
        spec = self.action_spec
        if np.issubdtype(spec.dtype, np.integer):
            draw = self.rng.integers(spec.minimum, spec.maximum, size=(batch, *spec.shape), endpoint=True)
        else:
            draw = self.rng.uniform(spec.minimum, spec.maximum, size=(batch, *spec.shape))
        return draw.astype(spec.dtype)


class ScriptedPolicy:
    """Wrap any callable from a batch of observations to a batch of actions."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], action_spec: ArraySpec | None = None):
        self.fn = fn
        self.action_spec = action_spec

    def action(self, observation: np.ndarray) -> np.ndarray:
        """The callable's actions, as an array of the action spec's dtype when one is given."""
        actions = np.asarray(self.fn(observation))
        return actions.astype(self.action_spec.dtype) if self.action_spec is not None else actions


def cartpole_lean_policy(observation: np.ndarray) -> np.ndarray:
    """CartPole's classic hand-written policy: push the cart toward the side the pole leans."""
    return (np.asarray(observation)[:, 2] > 0).astype(np.int64)
