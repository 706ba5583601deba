"""Keras 3 network builders: MLP torso and Q networks (plain or dueling).

Every builder returns a ``keras.Model`` that takes a batch of observations (any numeric dtype;
cast to float32 inside) and is saved and loaded as a ``.keras`` file with Keras safe mode,
because every custom layer here is registered as serializable under the ``tfrl`` package.
Weights are initialised from an explicit ``seed`` so that one seed gives one network.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from tfrl.specs import ArraySpec

__all__ = ["DuelingHead", "mlp_torso", "q_network"]


def _initializer(seed: int | None, index: int) -> keras.initializers.Initializer:
    return keras.initializers.GlorotUniform(seed=None if seed is None else seed * 1000 + index)


@keras.saving.register_keras_serializable(package="tfrl")
class DuelingHead(keras.layers.Layer):
    """Dueling head (Wang et al., 2016): ``Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')``.

    Two linear streams on top of a shared torso: a scalar state value and one advantage per
    action. Subtracting the mean advantage makes the split identifiable.
    """

    def __init__(self, num_actions: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.num_actions = int(num_actions)
        self.seed = seed
        self.value = keras.layers.Dense(1, kernel_initializer=_initializer(seed, 901), name="value")
        self.advantage = keras.layers.Dense(
            self.num_actions, kernel_initializer=_initializer(seed, 902), name="advantage"
        )

    def build(self, input_shape):
        self.value.build(input_shape)
        self.advantage.build(input_shape)
        super().build(input_shape)

    def call(self, features):
        value = self.value(features)
        advantage = self.advantage(features)
        return value + advantage - keras.ops.mean(advantage, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_actions)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_actions": self.num_actions, "seed": self.seed}


def mlp_torso(
    inputs: keras.KerasTensor,
    hidden_sizes: Sequence[int],
    activation: str = "relu",
    seed: int | None = None,
    name: str = "torso",
) -> keras.KerasTensor:
    """Flatten ``inputs`` (cast to float32) and apply ``Dense(h, activation)`` for each ``h``."""
    x = keras.layers.Flatten(name=f"{name}_flatten")(inputs)
    for i, size in enumerate(hidden_sizes):
        x = keras.layers.Dense(
            int(size), activation=activation, kernel_initializer=_initializer(seed, i), name=f"{name}_dense{i}"
        )(x)
    return x


def q_network(
    observation_spec: ArraySpec,
    num_actions: int,
    hidden_sizes: Sequence[int] = (256, 256),
    dueling: bool = False,
    activation: str = "relu",
    seed: int | None = None,
    name: str = "q_network",
) -> keras.Model:
    """A Q network: observations ``[B, *obs_shape]`` to action values ``[B, num_actions]``.

    With ``dueling=True`` the last layer is a ``DuelingHead``; otherwise a linear layer.
    """
    if num_actions < 1:
        raise ValueError(f"num_actions must be >= 1, got {num_actions}")
    dtype = observation_spec.dtype if np.issubdtype(observation_spec.dtype, np.number) else np.float32
    inputs = keras.Input(shape=observation_spec.shape, dtype=str(np.dtype(dtype)), name="observation")
    x = keras.layers.Rescaling(1.0, dtype="float32", name="to_float32")(inputs) if dtype != np.float32 else inputs
    x = mlp_torso(x, hidden_sizes, activation, seed)
    if dueling:
        q = DuelingHead(num_actions, seed=seed, name="dueling_head")(x)
    else:
        q = keras.layers.Dense(num_actions, kernel_initializer=_initializer(seed, 900), name="q_values")(x)
    return keras.Model(inputs, q, name=name)
