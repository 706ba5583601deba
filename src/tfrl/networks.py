"""Keras 3 network builders: MLP and Nature-CNN torsos, Q networks (plain or dueling) and actor-critic networks.

Every builder returns a ``keras.Model`` that takes a batch of observations (any numeric dtype;
cast to float32 inside) and is saved and loaded as a ``.keras`` file with Keras safe mode,
because every custom layer here is registered as serializable under the ``tfrl`` package.
Weights are initialised from an explicit ``seed`` so that one seed gives one network. The actors and critics
of SAC, TD3 and DDPG are in ``tfrl.continuous_networks``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras
import numpy as np

from tfrl.errors import UnsupportedSpaceError
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = [
    "ENCODERS", "DuelingHead", "ObservationNormalizer", "Squeeze", "StateIndependentLogStd", "actor_critic",
    "check_image_spec", "mlp_torso", "nature_cnn", "q_network", "with_observation_normalizer",
]

ENCODERS = ("mlp", "nature_cnn")
"""Names of the observation encoders (torsos) the builders accept."""


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


# The Nature DQN encoder (Mnih et al., 2015): (filters, kernel size, stride) of each convolution, then Dense 512.
_NATURE_CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
_NATURE_UNITS = 512
# The smallest square image the three convolutions reduce to at least 1x1 (36 -> 8 -> 3 -> 1).
_NATURE_MIN_SIZE = 36


def check_image_spec(observation_spec: ArraySpec, who: str = "encoder='nature_cnn'") -> None:
    """Raise ``UnsupportedSpaceError`` unless ``observation_spec`` is a channels-last uint8 image.

    The Nature CNN expects ``uint8`` observations of shape ``(height, width, channels)`` such as the
    ``(84, 84, 4)`` stack of Atari frames, with height and width at least 36.
    """
    shape, dtype = tuple(observation_spec.shape), np.dtype(observation_spec.dtype)
    ok = (
        len(shape) == 3
        and dtype == np.uint8
        and shape[0] >= _NATURE_MIN_SIZE
        and shape[1] >= _NATURE_MIN_SIZE
        and shape[2] >= 1
    )
    if not ok:
        hint = ""
        if len(shape) == 3 and shape[0] < _NATURE_MIN_SIZE <= min(shape[1], shape[2]):
            hint = " (this looks channels-first: move the channel axis last)"
        raise UnsupportedSpaceError(
            f"{who} needs uint8 image observations of shape (height, width, channels), channels last, with height "
            f"and width >= {_NATURE_MIN_SIZE}, e.g. (84, 84, 4) for 4 stacked 84x84 grayscale Atari frames; got "
            f"shape {shape} and dtype {dtype}{hint}. Use encoder='mlp' for vector observations."
        )


def nature_cnn(
    inputs: keras.KerasTensor,
    seed: int | None = None,
    name: str = "nature_cnn",
    *,
    initializer: Literal["glorot_uniform", "orthogonal"] = "glorot_uniform",
    seed_offset: int = 0,
) -> keras.KerasTensor:
    """The Nature DQN encoder (Mnih et al., 2015) on uint8 images ``[B, H, W, C]`` (channels last).

    ``Rescaling(1/255)`` (layer ``{name}_rescale``, output float32 in [0, 1]), then
    ``Conv2D(32, 8, stride 4)``, ``Conv2D(64, 4, stride 2)``, ``Conv2D(64, 3, stride 1)`` (layers
    ``{name}_conv0..2``, ReLU, valid padding), ``Flatten`` and ``Dense(512, ReLU)`` (``{name}_dense``).
    For an ``(84, 84, 4)`` input the stages are 20x20x32, 9x9x64, 7x7x64 and 512 features.

    ``initializer`` is ``"glorot_uniform"`` (as ``q_network``'s MLP torso) or ``"orthogonal"`` with gain
    ``sqrt(2)`` and zero biases (as ``actor_critic``'s torsos). Layer ``i`` (0 to 3) is seeded from
    ``seed`` and ``seed_offset + i``, so one seed gives one encoder.
    """
    if initializer == "glorot_uniform":
        def init(index: int) -> keras.initializers.Initializer:
            return _initializer(seed, seed_offset + index)
    elif initializer == "orthogonal":
        def init(index: int) -> keras.initializers.Initializer:
            return _orthogonal(np.sqrt(2.0), seed, seed_offset + index)
    else:
        raise ValueError(f"initializer must be 'glorot_uniform' or 'orthogonal', got {initializer!r}")
    x = keras.layers.Rescaling(1.0 / 255.0, dtype="float32", name=f"{name}_rescale")(inputs)
    for i, (filters, kernel, stride) in enumerate(_NATURE_CONVS):
        x = keras.layers.Conv2D(
            filters, kernel, strides=stride, padding="valid", data_format="channels_last", activation="relu",
            kernel_initializer=init(i), bias_initializer="zeros", name=f"{name}_conv{i}",
        )(x)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    return keras.layers.Dense(
        _NATURE_UNITS, activation="relu", kernel_initializer=init(len(_NATURE_CONVS)), bias_initializer="zeros",
        name=f"{name}_dense",
    )(x)


def _check_encoder(encoder: str) -> None:
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")


def q_network(
    observation_spec: ArraySpec,
    num_actions: int,
    hidden_sizes: Sequence[int] = (256, 256),
    dueling: bool = False,
    activation: str = "relu",
    seed: int | None = None,
    name: str = "q_network",
    encoder: Literal["mlp", "nature_cnn"] = "mlp",
) -> keras.Model:
    """A Q network: observations ``[B, *obs_shape]`` to action values ``[B, num_actions]``.

    With ``dueling=True`` the last layer is a ``DuelingHead``; otherwise a linear layer.
    With ``encoder="nature_cnn"`` the torso is ``nature_cnn`` (Glorot-uniform initialised) on uint8
    images ``(height, width, channels)`` such as ``(84, 84, 4)``, and ``hidden_sizes`` and
    ``activation`` are ignored; any other observation spec raises ``UnsupportedSpaceError``.
    """
    if num_actions < 1:
        raise ValueError(f"num_actions must be >= 1, got {num_actions}")
    _check_encoder(encoder)
    if encoder == "nature_cnn":
        check_image_spec(observation_spec)
        inputs = keras.Input(shape=tuple(observation_spec.shape), dtype="uint8", name="observation")
        return _q_model(inputs, nature_cnn(inputs, seed), num_actions, dueling, seed, name)
    dtype = observation_spec.dtype if np.issubdtype(observation_spec.dtype, np.number) else np.float32
    inputs = keras.Input(shape=observation_spec.shape, dtype=str(np.dtype(dtype)), name="observation")
    x = keras.layers.Rescaling(1.0, dtype="float32", name="to_float32")(inputs) if dtype != np.float32 else inputs
    x = mlp_torso(x, hidden_sizes, activation, seed)
    return _q_model(inputs, x, num_actions, dueling, seed, name)


def _q_model(inputs, x, num_actions: int, dueling: bool, seed: int | None, name: str) -> keras.Model:
    if dueling:
        q = DuelingHead(num_actions, seed=seed, name="dueling_head")(x)
    else:
        q = keras.layers.Dense(num_actions, kernel_initializer=_initializer(seed, 900), name="q_values")(x)
    return keras.Model(inputs, q, name=name)


# --------------------------------------------------------------------------- actor-critic

# Per-layer seed offsets: one seed gives one network, and no two layers share an initialiser seed.
_ACTOR_SEED, _CRITIC_SEED, _POLICY_HEAD_SEED, _VALUE_HEAD_SEED = 0, 100, 900, 901


def _orthogonal(gain: float, seed: int | None, index: int) -> keras.initializers.Initializer:
    return keras.initializers.Orthogonal(gain=gain, seed=None if seed is None else seed * 1000 + index)


@keras.saving.register_keras_serializable(package="tfrl")
class Squeeze(keras.layers.Layer):
    """Remove a dimension of size 1 (default the last): ``[B, 1] -> [B]`` for a value head."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        return keras.ops.squeeze(inputs, axis=self.axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        del shape[self.axis]
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


@keras.saving.register_keras_serializable(package="tfrl")
class StateIndependentLogStd(keras.layers.Layer):
    """A trainable log standard deviation vector ``[D]``, broadcast to ``[B, D]`` for a batch of inputs.

    The Gaussian policy's spread does not depend on the state (as in PPO for MuJoCo); the layer takes
    any batched tensor only to read its batch size.
    """

    def __init__(self, action_dim: int, initial_value: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.action_dim = int(action_dim)
        self.initial_value = float(initial_value)

    def build(self, input_shape):
        self.log_std = self.add_weight(
            shape=(self.action_dim,),
            initializer=keras.initializers.Constant(self.initial_value),
            trainable=True,
            name="log_std",
        )
        super().build(input_shape)

    def call(self, inputs):
        batch = keras.ops.shape(inputs)[0]
        return keras.ops.broadcast_to(self.log_std, (batch, self.action_dim))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.action_dim)

    def get_config(self) -> dict:
        return {**super().get_config(), "action_dim": self.action_dim, "initial_value": self.initial_value}


def _orthogonal_mlp(
    x: keras.KerasTensor, hidden_sizes: Sequence[int], activation: str, seed: int | None, offset: int, name: str
) -> keras.KerasTensor:
    for i, size in enumerate(hidden_sizes):
        x = keras.layers.Dense(
            int(size),
            activation=activation,
            kernel_initializer=_orthogonal(np.sqrt(2.0), seed, offset + i),
            bias_initializer="zeros",
            name=f"{name}_dense{i}",
        )(x)
    return x


def actor_critic(
    observation_spec: ArraySpec,
    action_spec: ArraySpec,
    hidden_sizes: Sequence[int] = (64, 64),
    shared: bool = False,
    activation: str = "tanh",
    log_std_init: float = 0.0,
    seed: int | None = None,
    name: str = "actor_critic",
    encoder: Literal["mlp", "nature_cnn"] = "mlp",
) -> keras.Model:
    """An actor-critic network: observations ``[B, *obs_shape]`` to a dict of policy outputs and values.

    - Discrete action spec (scalar integer ``BoundedArraySpec`` of ``A`` values):
      ``{"logits": [B, A], "value": [B]}``.
    - Box action spec (floating dtype, shape ``(D,)``):
      ``{"mean": [B, D], "log_std": [B, D], "value": [B]}``, where ``log_std`` is a state-independent
      trainable vector (``StateIndependentLogStd``) starting at ``log_std_init``.

    Observations are cast to float32 and flattened. With ``shared=False`` (the default) the actor and
    the critic have separate MLP torsos (layers ``actor_dense{i}`` and ``critic_dense{i}``); with
    ``shared=True`` both heads sit on one torso (``torso_dense{i}``).

    Initialisation follows "The 37 implementation details of PPO" (Huang et al., 2022): orthogonal
    kernels with gain ``sqrt(2)`` for hidden layers, ``0.01`` for the policy head (``logits`` or
    ``mean``: a nearly uniform / zero-mean initial policy), ``1.0`` for the value head, zero biases.
    Every layer draws from its own seed derived from ``seed``.

    With ``encoder="nature_cnn"`` the observations must be uint8 images ``(height, width, channels)``
    such as ``(84, 84, 4)`` (else ``UnsupportedSpaceError``); actor and critic then share one
    ``nature_cnn`` torso (layers ``torso_conv{i}``, ``torso_dense``, orthogonal ``sqrt(2)``), whatever
    ``shared`` says, and ``hidden_sizes`` and ``activation`` are ignored. The heads are as above.
    """
    _check_encoder(encoder)
    if isinstance(action_spec, BoundedArraySpec) and action_spec.is_discrete:
        discrete, action_size = True, action_spec.num_values
    elif np.issubdtype(action_spec.dtype, np.floating) and len(action_spec.shape) == 1 and action_spec.shape[0] >= 1:
        discrete, action_size = False, action_spec.shape[0]
    else:
        raise UnsupportedSpaceError(
            f"actor_critic supports a discrete action spec (scalar integer BoundedArraySpec) or a Box action "
            f"spec (floating dtype, shape (D,)); got shape {action_spec.shape} and dtype {action_spec.dtype}"
        )
    if encoder == "nature_cnn":
        check_image_spec(observation_spec)
        inputs = keras.Input(shape=tuple(observation_spec.shape), dtype="uint8", name="observation")
        x = actor_features = critic_features = nature_cnn(
            inputs, seed, name="torso", initializer="orthogonal", seed_offset=_ACTOR_SEED
        )
        return _actor_critic_model(
            inputs, x, actor_features, critic_features, discrete, action_size, log_std_init, seed, name
        )
    dtype = observation_spec.dtype if np.issubdtype(observation_spec.dtype, np.number) else np.float32
    inputs = keras.Input(shape=observation_spec.shape, dtype=str(np.dtype(dtype)), name="observation")
    x = keras.layers.Rescaling(1.0, dtype="float32", name="to_float32")(inputs) if dtype != np.float32 else inputs
    x = keras.layers.Flatten(name="flatten")(x)
    if shared:
        actor_features = critic_features = _orthogonal_mlp(x, hidden_sizes, activation, seed, _ACTOR_SEED, "torso")
    else:
        actor_features = _orthogonal_mlp(x, hidden_sizes, activation, seed, _ACTOR_SEED, "actor")
        critic_features = _orthogonal_mlp(x, hidden_sizes, activation, seed, _CRITIC_SEED, "critic")
    return _actor_critic_model(
        inputs, x, actor_features, critic_features, discrete, action_size, log_std_init, seed, name
    )


def _actor_critic_model(
    inputs, x, actor_features, critic_features, discrete: bool, action_size: int, log_std_init: float,
    seed: int | None, name: str,
) -> keras.Model:
    """The policy and value heads on top of the torso features (``x`` only gives the batch size to log_std)."""
    policy_head = keras.layers.Dense(
        action_size,
        kernel_initializer=_orthogonal(0.01, seed, _POLICY_HEAD_SEED),
        bias_initializer="zeros",
        name="logits" if discrete else "mean",
    )(actor_features)
    value = keras.layers.Dense(
        1, kernel_initializer=_orthogonal(1.0, seed, _VALUE_HEAD_SEED), bias_initializer="zeros", name="value_head"
    )(critic_features)
    value = Squeeze(axis=-1, name="value")(value)
    if discrete:
        outputs = {"logits": policy_head, "value": value}
    else:
        log_std = StateIndependentLogStd(action_size, log_std_init, name="log_std")(x)
        outputs = {"mean": policy_head, "log_std": log_std, "value": value}
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="tfrl")
class ObservationNormalizer(keras.layers.Layer):
    """Fixed standardization ``clip((x - mean) / sqrt(var + eps), -clip, clip)`` stored in the model.

    Used to bake the running statistics of ``tfrl.envs.normalize.NormalizeObservation`` into a saved
    policy, so that the policy file plays on raw observations.
    """

    def __init__(self, mean, variance, clip: float = 10.0, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.mean = np.asarray(mean, np.float32)
        self.variance = np.asarray(variance, np.float32)
        self.clip, self.epsilon = float(clip), float(epsilon)

    def call(self, observation):
        x = keras.ops.cast(observation, "float32")
        scaled = (x - self.mean) / keras.ops.sqrt(self.variance + self.epsilon)
        return keras.ops.clip(scaled, -self.clip, self.clip)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean.tolist(), "variance": self.variance.tolist(),
                "clip": self.clip, "epsilon": self.epsilon}


def with_observation_normalizer(
    model: keras.Model, observation_spec: ArraySpec, mean, variance, clip: float = 10.0, epsilon: float = 1e-8
) -> keras.Model:
    """A model that standardizes raw observations with fixed statistics and then applies ``model``."""
    dtype = observation_spec.dtype if np.issubdtype(observation_spec.dtype, np.number) else np.float32
    inputs = keras.Input(shape=observation_spec.shape, dtype=str(np.dtype(dtype)), name="raw_observation")
    normalized = ObservationNormalizer(mean, variance, clip, epsilon, name="observation_normalizer")(inputs)
    return keras.Model(inputs, model(normalized), name=f"{model.name}_normalized")
