"""The policies of the continuous-control agents (SAC, TD3, DDPG): exploring samples and the deterministic action.

The actors output in ``[-1, 1]`` (``tfrl.continuous_networks.squashed_gaussian_actor`` and ``deterministic_actor``);
these policies scale to the action spec's bounds, so the environment receives actions in its own units. As in
``tfrl.policies``, each makes one compiled call per batch, and exploration noise is drawn on the host from a seeded
NumPy generator (``rng``) and passed in.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfrl import distributions
from tfrl.errors import UnsupportedSpaceError
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["SquashedGaussianPolicy", "NoisyActorPolicy", "DeterministicPolicy"]


def _signature(spec: ArraySpec) -> tf.TensorSpec:
    return tf.TensorSpec(shape=(None, *spec.shape), dtype=tf.as_dtype(spec.dtype), name="observation")


def _scaled(action_spec: BoundedArraySpec, who: str) -> tuple[tf.Tensor, tf.Tensor, tf.DType]:
    """The bounds as float32 tensors and the action dtype, or ``UnsupportedSpaceError`` for anything but a flat Box."""
    if not (isinstance(action_spec, BoundedArraySpec) and np.issubdtype(action_spec.dtype, np.floating)
            and len(action_spec.shape) == 1):
        raise UnsupportedSpaceError(f"{who} needs a Box action spec (BoundedArraySpec of floating dtype and shape "
                                    f"(D,)); got shape {action_spec.shape} and dtype {action_spec.dtype}")
    return (tf.constant(action_spec.minimum, tf.float32), tf.constant(action_spec.maximum, tf.float32),
            tf.as_dtype(action_spec.dtype))


class SquashedGaussianPolicy:
    """SAC's exploring policy: ``scale(tanh(mean + exp(log_std) * noise))`` of a ``squashed_gaussian_actor``.

    The standard normal noise comes from ``np.random.default_rng(seed)`` on the host (``rng``), so one seed
    gives one sequence of actions.
    """

    def __init__(self, actor: keras.Model, observation_spec: ArraySpec, action_spec: BoundedArraySpec,
                 seed: int | None = None, jit_compile: bool = False):
        low, high, dtype = _scaled(action_spec, "SquashedGaussianPolicy")
        self.action_spec, self.rng, self.action_dim = action_spec, np.random.default_rng(seed), action_spec.shape[0]

        @tf.function(input_signature=[_signature(observation_spec),
                                      tf.TensorSpec((None, self.action_dim), tf.float32, name="normal_noise")],
                     jit_compile=jit_compile)
        def _sample(observation, normal_noise):
            outputs = actor(observation, training=False)
            squashed, _ = distributions.squashed_gaussian_sample(outputs["mean"], outputs["log_std"], normal_noise)
            return tf.cast(distributions.scale_action(squashed, low, high), dtype)

        self._sample = _sample.get_concrete_function()
        self._observation_dtype = tf.as_dtype(observation_spec.dtype)

    def action(self, observation: np.ndarray, step: int = 0) -> np.ndarray:
        """One sampled action per observation, in the action spec's bounds (``step`` is unused)."""
        noise = self.rng.standard_normal((len(observation), self.action_dim), dtype=np.float32)
        return self._sample(tf.convert_to_tensor(observation, self._observation_dtype),
                            tf.convert_to_tensor(noise)).numpy()


class NoisyActorPolicy:
    """TD3's and DDPG's exploring policy: ``scale(clip(mu(s) + noise_std * N(0, 1), -1, 1))``.

    ``mu`` is a ``deterministic_actor`` (output in ``[-1, 1]``), so ``noise_std`` is relative to half the Box's
    width (0.1 is Fujimoto et al.'s and Stable-Baselines3's exploration noise). The Gaussian noise comes from
    ``np.random.default_rng(seed)`` on the host (``rng``).
    """

    def __init__(self, actor: keras.Model, observation_spec: ArraySpec, action_spec: BoundedArraySpec,
                 noise_std: float, seed: int | None = None, jit_compile: bool = False):
        low, high, dtype = _scaled(action_spec, "NoisyActorPolicy")
        self.action_spec, self.rng, self.action_dim = action_spec, np.random.default_rng(seed), action_spec.shape[0]
        self.noise_std = float(noise_std)

        @tf.function(input_signature=[_signature(observation_spec),
                                      tf.TensorSpec((None, self.action_dim), tf.float32, name="noise")],
                     jit_compile=jit_compile)
        def _act(observation, noise):
            action = tf.clip_by_value(actor(observation, training=False) + noise, -1.0, 1.0)
            return tf.cast(distributions.scale_action(action, low, high), dtype)

        self._act = _act.get_concrete_function()
        self._observation_dtype = tf.as_dtype(observation_spec.dtype)

    def action(self, observation: np.ndarray, step: int = 0) -> np.ndarray:
        """One noisy action per observation, in the action spec's bounds (``step`` is unused)."""
        noise = self.noise_std * self.rng.standard_normal((len(observation), self.action_dim), dtype=np.float32)
        return self._act(tf.convert_to_tensor(observation, self._observation_dtype),
                         tf.convert_to_tensor(noise)).numpy()


class DeterministicPolicy:
    """A model's action clipped to the action spec's bounds: the evaluation policy of SAC, TD3 and DDPG.

    ``model`` maps raw observations to actions in the environment's units (``tfrl.continuous_networks.tanh_policy_model``,
    the run's ``policy.keras``).
    """

    def __init__(self, model: keras.Model, observation_spec: ArraySpec, action_spec: BoundedArraySpec,
                 jit_compile: bool = False):
        low, high, dtype = _scaled(action_spec, "DeterministicPolicy")
        self.model, self.action_spec = model, action_spec

        @tf.function(input_signature=[_signature(observation_spec)], jit_compile=jit_compile)
        def _act(observation):
            return tf.cast(tf.clip_by_value(tf.cast(model(observation, training=False), tf.float32), low, high), dtype)

        self._act = _act.get_concrete_function()
        self._observation_dtype = tf.as_dtype(observation_spec.dtype)

    def action(self, observation: np.ndarray, step: int = 0) -> np.ndarray:
        """The deterministic action for each observation in the batch."""
        return self._act(tf.convert_to_tensor(observation, self._observation_dtype)).numpy()
