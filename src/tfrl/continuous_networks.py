"""Keras builders of the continuous-control agents (SAC, TD3, DDPG): actors, state-action critics and the saved policy.

The actors work in the squashed space ``[-1, 1]^D``; ``tanh_policy_model`` appends ``ActionScale`` to give the
model that is saved (``policy.keras``), evaluated and exported: raw observations to actions in the environment's
Box bounds. Every custom layer is registered as serializable under the ``tfrl`` package, so the saved models load
in Keras safe mode once this module is imported (``tfrl.train.playback`` does). Weights are initialised from an
explicit ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from tfrl.errors import UnsupportedSpaceError
from tfrl.networks import Squeeze, mlp_torso
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["LOG_STD_MIN", "LOG_STD_MAX", "ActionScale", "ClipValues", "continuous_critic", "deterministic_actor",
           "squashed_gaussian_actor", "tanh_policy_model"]


def _initializer(seed: int | None, index: int) -> keras.initializers.Initializer:
    return keras.initializers.GlorotUniform(seed=None if seed is None else seed * 1000 + index)


LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
"""Bounds of the SAC actor's state-dependent log standard deviation (Stable-Baselines3's, also Haarnoja et al.'s
reference implementation)."""


@keras.saving.register_keras_serializable(package="tfrl")
class ClipValues(keras.layers.Layer):
    """Clip every value to ``[minimum, maximum]`` (the SAC actor's log standard deviation)."""

    def __init__(self, minimum: float, maximum: float, **kwargs):
        super().__init__(**kwargs)
        self.minimum, self.maximum = float(minimum), float(maximum)

    def call(self, inputs):
        return keras.ops.clip(inputs, self.minimum, self.maximum)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "minimum": self.minimum, "maximum": self.maximum}


@keras.saving.register_keras_serializable(package="tfrl")
class ActionScale(keras.layers.Layer):
    """Map actions in ``[-1, 1]`` onto a Box's ``[low, high]``: ``low + (a + 1) (high - low) / 2`` (per dimension),
    clipped to the bounds (float rounding can overshoot them by one step)."""

    def __init__(self, low, high, **kwargs):
        super().__init__(**kwargs)
        self.low = np.asarray(low, np.float32).reshape(-1)
        self.high = np.asarray(high, np.float32).reshape(-1)

    def call(self, inputs):
        x = keras.ops.cast(inputs, "float32")
        return keras.ops.clip(self.low + 0.5 * (x + 1.0) * (self.high - self.low), self.low, self.high)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "low": self.low.tolist(), "high": self.high.tolist()}


def _float_inputs(observation_spec: ArraySpec, name: str = "observation"):
    """A Keras input for ``observation_spec`` and the flattened float32 tensor of it."""
    dtype = observation_spec.dtype if np.issubdtype(observation_spec.dtype, np.number) else np.float32
    inputs = keras.Input(shape=observation_spec.shape, dtype=str(np.dtype(dtype)), name=name)
    x = keras.layers.Rescaling(1.0, dtype="float32", name="to_float32")(inputs) if dtype != np.float32 else inputs
    return inputs, keras.layers.Flatten(name="flatten")(x)


def _box_dim(action_spec: ArraySpec, who: str) -> int:
    shape = tuple(action_spec.shape)
    if not (np.issubdtype(action_spec.dtype, np.floating) and len(shape) == 1 and shape[0] >= 1):
        raise UnsupportedSpaceError(f"{who} needs a Box action spec of floating dtype and shape (D,); got shape "
                                    f"{action_spec.shape} and dtype {action_spec.dtype}")
    return int(action_spec.shape[0])


def _actor_torso(observation_spec: ArraySpec, action_spec: ArraySpec, hidden_sizes: Sequence[int], activation: str,
                 seed: int | None, who: str):
    """The action dimension, the observation input and the actor's MLP features (layers ``actor_dense{i}``)."""
    dim = _box_dim(action_spec, who)
    inputs, x = _float_inputs(observation_spec)
    return dim, inputs, mlp_torso(x, hidden_sizes, activation, seed, name="actor")


def squashed_gaussian_actor(
    observation_spec: ArraySpec,
    action_spec: ArraySpec,
    hidden_sizes: Sequence[int] = (256, 256),
    activation: str = "relu",
    seed: int | None = None,
    name: str = "actor",
) -> keras.Model:
    """SAC's actor: observations to ``{"mean": [B, D], "log_std": [B, D]}`` of the Gaussian before the tanh.

    An MLP torso (``actor_dense{i}``) with two linear heads; ``log_std`` is state-dependent and clipped to
    ``[LOG_STD_MIN, LOG_STD_MAX]``. Sample with ``tfrl.distributions.squashed_gaussian_sample``.
    """
    dim, inputs, x = _actor_torso(observation_spec, action_spec, hidden_sizes, activation, seed,
                                  "squashed_gaussian_actor")
    mean = keras.layers.Dense(dim, kernel_initializer=_initializer(seed, 910), name="mean")(x)
    log_std = keras.layers.Dense(dim, kernel_initializer=_initializer(seed, 911), name="log_std_head")(x)
    log_std = ClipValues(LOG_STD_MIN, LOG_STD_MAX, name="log_std")(log_std)
    return keras.Model(inputs, {"mean": mean, "log_std": log_std}, name=name)


def deterministic_actor(
    observation_spec: ArraySpec,
    action_spec: ArraySpec,
    hidden_sizes: Sequence[int] = (256, 256),
    activation: str = "relu",
    seed: int | None = None,
    name: str = "actor",
) -> keras.Model:
    """TD3's and DDPG's actor: observations to actions ``[B, D]`` in ``[-1, 1]`` (an MLP, then a tanh layer)."""
    dim, inputs, x = _actor_torso(observation_spec, action_spec, hidden_sizes, activation, seed, "deterministic_actor")
    action = keras.layers.Dense(dim, activation="tanh", kernel_initializer=_initializer(seed, 910), name="action")(x)
    return keras.Model(inputs, action, name=name)


def continuous_critic(
    observation_spec: ArraySpec,
    action_spec: ArraySpec,
    hidden_sizes: Sequence[int] = (256, 256),
    activation: str = "relu",
    seed: int | None = None,
    name: str = "critic",
) -> keras.Model:
    """A state-action value ``Q(s, a)``: ``[observation [B, ...], action [B, D]]`` to ``[B]``.

    The action is the squashed one, in ``[-1, 1]``; the observation is flattened and concatenated with it,
    then an MLP (``critic_dense{i}``) and one linear unit.
    """
    dim = _box_dim(action_spec, "continuous_critic")
    inputs, x = _float_inputs(observation_spec)
    action = keras.Input(shape=(dim,), dtype="float32", name="action")
    x = keras.layers.Concatenate(name="observation_action")([x, action])
    x = mlp_torso(x, hidden_sizes, activation, seed, name="critic")
    q = keras.layers.Dense(1, kernel_initializer=_initializer(seed, 920), name="q_head")(x)
    return keras.Model([inputs, action], Squeeze(axis=-1, name="q")(q), name=name)


def tanh_policy_model(actor: keras.Model, action_spec: BoundedArraySpec, squashed_mean: bool,
                      name: str = "policy") -> keras.Model:
    """The deterministic policy of a continuous actor in the environment's units: observations to actions.

    ``squashed_mean=True`` takes a ``squashed_gaussian_actor``'s ``tanh(mean)`` (SAC's evaluation action);
    ``False`` a ``deterministic_actor``'s output. ``ActionScale`` then maps ``[-1, 1]`` onto the Box bounds. The
    model shares the actor's layers, so it always holds the current weights.
    """
    output = actor.output
    if squashed_mean:
        output = keras.layers.Activation("tanh", name="tanh")(output["mean"])
    action = ActionScale(action_spec.minimum, action_spec.maximum, name="action_scale")(output)
    return keras.Model(actor.input, action, name=name)
