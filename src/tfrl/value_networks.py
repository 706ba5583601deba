"""Keras 3 networks of the distributional value agents (C51, QR-DQN, Rainbow): noisy layers, heads and Q views.

``value_network`` maps observations ``[B, *obs_shape]`` to ``[B, A, K]``: ``K`` numbers per action, the logits of
a categorical distribution on a fixed support for C51 (Bellemare et al., 2017), the quantile values for QR-DQN
(Dabney et al., 2018), or ``K = 1`` plain action values. The math:

* ``NoisyDense`` (Fortunato et al., 2018, section 3.2, factorised Gaussian noise):
  ``y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b`` with ``eps_w = f(eps_out) f(eps_in)^T``,
  ``eps_b = f(eps_out)``, ``f(e) = sign(e) sqrt(|e|)``, ``eps_in ~ N(0, I_p)``, ``eps_out ~ N(0, I_q)``;
  initialised ``mu ~ U[-1/sqrt(p), 1/sqrt(p)]`` and ``sigma = sigma0 / sqrt(p)`` (``p`` inputs, ``q`` units).
  Computed as ``x mu_w + mu_b + ((x * f(eps_in)) sigma_w) * f(eps_out) + sigma_b * f(eps_out)``, which is the
  same sum without forming the ``p x q`` noise matrix.
* ``DistributionalHead``: one linear layer of ``A K`` outputs reshaped to ``[A, K]``, or dueling per atom
  (Wang et al., 2016, as in Rainbow, Hessel et al., 2018): ``out[a, k] = V[k] + A[a, k] - mean_a' A[a', k]``.
* ``CategoricalQ``: ``Q(s, a) = sum_k softmax(logits[a])_k z_k`` on the support ``z = linspace(v_min, v_max, K)``;
  ``QuantileQ``: ``Q(s, a) = mean_k theta_k(s, a)``.

Noise is drawn only when a layer is called with ``training=True``: one draw per call shared by the whole batch,
from ``tf.random.stateless_normal`` keyed by ``[layer seed, counter]``, where ``counter`` is a non-trainable int64
weight that each noisy call increments. Noise is therefore reproducible from the seed, fresh at every call and
saved with the weights; it works eagerly, in ``tf.function`` and under XLA, but XLA's random number generator
gives other numbers for one key than TensorFlow's kernels, so a run repeats exactly only in one of the two. With ``training=False`` or ``None`` the
layers use their mean weights (evaluation, the saved policy, the export). Every custom layer is registered as
serializable under the ``tfrl`` package, so the models round-trip through ``.keras`` files in Keras safe mode once
this module is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from tfrl.networks import ENCODERS, check_image_spec
from tfrl.specs import ArraySpec

__all__ = ["VALUE_ENCODERS", "CategoricalQ", "DistributionalHead", "NoisyDense", "QuantileQ", "categorical_support",
           "q_values_model", "value_network"]


def _seed(seed: int | None, index: int) -> int | None:
    """A seed for sub-part ``index`` of a seeded whole, below 2**31 (mixed with ``SeedSequence`` rather than
    ``seed * 1000 + index`` so that seeds derived twice over, network -> layer -> weight, neither collide nor
    overflow)."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([int(seed) % 2**63, index]).generate_state(1)[0] >> 1)


def _signed_sqrt(x: tf.Tensor) -> tf.Tensor:
    return tf.sign(x) * tf.sqrt(tf.abs(x))


@keras.saving.register_keras_serializable(package="tfrl")
class NoisyDense(keras.layers.Layer):
    """A factorised Gaussian noisy linear layer (Fortunato et al., 2018): ``[..., p] -> [..., units]``.

    Weights ``mu_kernel``, ``sigma_kernel`` ``[p, units]``, ``mu_bias``, ``sigma_bias`` ``[units]`` (all trainable)
    and ``noise_counter`` (int64, non-trainable: the number of noisy calls so far). ``call(x, training=True)``
    increments the counter to ``n`` and uses the noise ``factorised_noise(n)``; otherwise the output is
    ``activation(x mu_kernel + mu_bias)``. ``seed=None`` draws a seed from NumPy's global generator (which
    ``keras.utils.set_random_seed`` seeds) and records it in the config, so a saved layer keeps its noise stream.
    """

    def __init__(self, units: int, sigma0: float = 0.5, activation=None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if int(units) < 1:
            raise ValueError(f"units must be >= 1, got {units}")
        if float(sigma0) < 0:
            raise ValueError(f"sigma0 must be >= 0, got {sigma0}")
        self.units, self.sigma0 = int(units), float(sigma0)
        self.activation = keras.activations.get(activation)
        self.seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
        self.noise_seed = _seed(self.seed, 2)

    def build(self, input_shape):
        p = int(input_shape[-1])
        bound, sigma = 1.0 / np.sqrt(p), self.sigma0 / np.sqrt(p)

        def uniform(index: int) -> keras.initializers.Initializer:
            return keras.initializers.RandomUniform(-bound, bound, seed=_seed(self.seed, index))

        self.mu_kernel = self.add_weight(shape=(p, self.units), initializer=uniform(0), name="mu_kernel")
        self.sigma_kernel = self.add_weight(
            shape=(p, self.units), initializer=keras.initializers.Constant(sigma), name="sigma_kernel"
        )
        self.mu_bias = self.add_weight(shape=(self.units,), initializer=uniform(1), name="mu_bias")
        self.sigma_bias = self.add_weight(
            shape=(self.units,), initializer=keras.initializers.Constant(sigma), name="sigma_bias"
        )
        self.noise_counter = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="noise_counter"
        )
        super().build(input_shape)

    def factorised_noise(self, step) -> tuple[tf.Tensor, tf.Tensor]:
        """``f(eps_in) [p]`` and ``f(eps_out) [units]`` of the noisy call that left the counter at ``step``."""
        p = self.mu_kernel.shape[0]
        key = tf.stack([tf.constant(self.noise_seed, tf.int64), tf.cast(step, tf.int64)])
        eps = _signed_sqrt(tf.random.stateless_normal([p + self.units], seed=key, alg="philox"))
        return eps[:p], eps[p:]

    def _advance_counter(self) -> tf.Tensor:
        counter = self.noise_counter.value
        if isinstance(counter, tf.Variable):
            # The assign op's own result: every read of it, hence the noise and the output, depends on the
            # increment, so graph mode and XLA cannot drop or reorder it.
            return tf.convert_to_tensor(counter.assign_add(1))
        return self.noise_counter.assign_add(1)  # a Keras stateless scope (symbolic tracing): record the update

    def call(self, inputs, training=None):
        x = keras.ops.cast(inputs, self.compute_dtype)
        y = keras.ops.matmul(x, self.mu_kernel) + self.mu_bias
        if training:
            eps_in, eps_out = self.factorised_noise(self._advance_counter())
            y = y + keras.ops.matmul(x * eps_in, self.sigma_kernel) * eps_out + self.sigma_bias * eps_out
        return self.activation(y) if self.activation is not None else y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "sigma0": self.sigma0,
                "activation": keras.activations.serialize(self.activation), "seed": self.seed}


def _dense(units: int, noisy: bool, sigma0: float, seed: int | None, activation=None, name: str | None = None):
    """``NoisyDense`` if ``noisy``, else a Glorot-uniform ``Dense`` (zero bias), seeded by ``seed``."""
    if noisy:
        return NoisyDense(units, sigma0=sigma0, activation=activation, seed=seed, name=name)
    return keras.layers.Dense(units, activation=activation, kernel_initializer=keras.initializers.GlorotUniform(seed),
                              name=name)


@keras.saving.register_keras_serializable(package="tfrl")
class DistributionalHead(keras.layers.Layer):
    """Features ``[B, F]`` to ``[B, num_actions, num_atoms]``: one linear layer (``logits``) reshaped, or with
    ``dueling=True`` a value stream ``value`` ``[B, 1, K]`` and an advantage stream ``advantage`` ``[B, A, K]``
    combined per atom as ``V + A - mean_a A``. The linear layers are ``NoisyDense`` when ``noisy``."""

    def __init__(self, num_actions: int, num_atoms: int = 1, dueling: bool = False, noisy: bool = False,
                 sigma0: float = 0.5, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if int(num_actions) < 1 or int(num_atoms) < 1:
            raise ValueError(f"num_actions and num_atoms must be >= 1, got {num_actions} and {num_atoms}")
        self.num_actions, self.num_atoms = int(num_actions), int(num_atoms)
        self.dueling, self.noisy, self.sigma0, self.seed = bool(dueling), bool(noisy), float(sigma0), seed
        size = self.num_actions * self.num_atoms
        if self.dueling:
            self.value = _dense(self.num_atoms, self.noisy, self.sigma0, _seed(seed, 1), name="value")
            self.advantage = _dense(size, self.noisy, self.sigma0, _seed(seed, 2), name="advantage")
        else:
            self.logits = _dense(size, self.noisy, self.sigma0, _seed(seed, 0), name="logits")

    def build(self, input_shape):
        for layer in self._streams():
            layer.build(input_shape)
        super().build(input_shape)

    def _streams(self) -> list[keras.layers.Layer]:
        return [self.value, self.advantage] if self.dueling else [self.logits]

    def call(self, features, training=None):
        shape = (-1, self.num_actions, self.num_atoms)
        if not self.dueling:
            return keras.ops.reshape(self.logits(features, training=training), shape)
        value = keras.ops.reshape(self.value(features, training=training), (-1, 1, self.num_atoms))
        advantage = keras.ops.reshape(self.advantage(features, training=training), shape)
        return value + advantage - keras.ops.mean(advantage, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_actions, self.num_atoms)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_actions": self.num_actions, "num_atoms": self.num_atoms,
                "dueling": self.dueling, "noisy": self.noisy, "sigma0": self.sigma0, "seed": self.seed}


# The Nature DQN convolutions (Mnih et al., 2015): (filters, kernel size, stride), then a 512-unit layer.
_NATURE_CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
_NATURE_UNITS = 512


def _conv_features(inputs, convs, seed: int | None) -> keras.KerasTensor:
    """``Rescaling(1/255)`` of the uint8 frames, the plain ReLU ``convs`` ((filters, kernel, stride) each, valid
    padding; layers ``torso_conv{i}``) and ``Flatten``."""
    x = keras.layers.Rescaling(1.0 / 255.0, dtype="float32", name="torso_rescale")(inputs)
    for i, (filters, kernel, stride) in enumerate(convs):
        x = keras.layers.Conv2D(
            filters, kernel, strides=stride, padding="valid", data_format="channels_last", activation="relu",
            kernel_initializer=keras.initializers.GlorotUniform(_seed(seed, i)), name=f"torso_conv{i}",
        )(x)
    return keras.layers.Flatten(name="torso_flatten")(x)


def _nature_torso(inputs, noisy: bool, sigma0: float, seed: int | None) -> keras.KerasTensor:
    # Not tfrl.networks.nature_cnn: its last layer is always a plain Dense 512, while Rainbow makes every fully
    # connected layer noisy. The convolutions are the same; layers torso_conv{i} and torso_dense.
    x = _conv_features(inputs, _NATURE_CONVS, seed)
    return _dense(_NATURE_UNITS, noisy, sigma0, _seed(seed, len(_NATURE_CONVS)), "relu", "torso_dense")(x)


# The data-efficient encoder of Kaiser et al. (2019) and of data-efficient Rainbow (van Hasselt et al. 2019, as
# Kaixhin/Rainbow's "data-efficient" architecture runs it): two convolutions, then the hidden_sizes layers.
_DATA_EFFICIENT_CONVS = ((32, 5, 5), (64, 5, 5))
VALUE_ENCODERS = (*ENCODERS, "data_efficient_cnn")
"""Encoders ``value_network`` accepts: ``networks.ENCODERS`` and the smaller ``data_efficient_cnn``."""


def _data_efficient_torso(inputs, hidden_sizes, noisy: bool, sigma0: float, seed: int | None) -> keras.KerasTensor:
    # Two 5x5 stride-5 convolutions (84x84 -> 16x16x32 -> 3x3x64, about 10x fewer operations than the Nature CNN),
    # then one (noisy) layer per hidden_sizes entry.
    x = _conv_features(inputs, _DATA_EFFICIENT_CONVS, seed)
    for i, size in enumerate(hidden_sizes):
        x = _dense(int(size), noisy, sigma0, _seed(seed, 10 + i), "relu", f"torso_dense{i}")(x)
    return x


def value_network(
    observation_spec: ArraySpec,
    num_actions: int,
    num_atoms: int = 1,
    hidden_sizes: Sequence[int] = (256, 256),
    dueling: bool = False,
    noisy: bool = False,
    sigma0: float = 0.5,
    activation: str = "relu",
    seed: int | None = None,
    name: str = "value_network",
    encoder: Literal["mlp", "nature_cnn", "data_efficient_cnn"] = "mlp",
) -> keras.Model:
    """A distributional value network: observations ``[B, *obs_shape]`` to ``[B, num_actions, num_atoms]``.

    ``encoder="mlp"``: observations cast to float32, flattened, then one layer per ``hidden_sizes`` entry
    (``torso_dense{i}``, ``activation``). ``encoder="nature_cnn"``: uint8 images ``(height, width, channels)``
    (else ``UnsupportedSpaceError``) through the Nature CNN (``torso_conv0..2``, ``torso_dense`` of 512 ReLU
    units); ``hidden_sizes`` and ``activation`` are then ignored. ``encoder="data_efficient_cnn"``: the same images
    through two convolutions (32 and 64 filters, 5x5, stride 5) and one ReLU layer per ``hidden_sizes`` entry. The head is a ``DistributionalHead`` named
    ``head``. With ``noisy=True`` every fully connected layer (torso and head, not the convolutions) is a
    ``NoisyDense`` with ``sigma0``; otherwise ``Dense`` with Glorot-uniform kernels. Every layer is seeded from
    ``seed``, so one seed gives one network.
    """
    if int(num_actions) < 1:
        raise ValueError(f"num_actions must be >= 1, got {num_actions}")
    if int(num_atoms) < 1:
        raise ValueError(f"num_atoms must be >= 1, got {num_atoms}")
    if encoder not in VALUE_ENCODERS:
        raise ValueError(f"encoder must be one of {VALUE_ENCODERS}, got {encoder!r}")
    if encoder != "mlp":
        check_image_spec(observation_spec, f"value_network with encoder={encoder!r}")
        inputs = keras.Input(shape=tuple(observation_spec.shape), dtype="uint8", name="observation")
        x = _nature_torso(inputs, noisy, sigma0, seed) if encoder == "nature_cnn" else \
            _data_efficient_torso(inputs, hidden_sizes, noisy, sigma0, seed)
    else:
        dtype = observation_spec.dtype if np.issubdtype(observation_spec.dtype, np.number) else np.float32
        inputs = keras.Input(shape=tuple(observation_spec.shape), dtype=str(np.dtype(dtype)), name="observation")
        x = keras.layers.Rescaling(1.0, dtype="float32", name="to_float32")(inputs) if dtype != np.float32 else inputs
        x = keras.layers.Flatten(name="torso_flatten")(x)
        for i, size in enumerate(hidden_sizes):
            x = _dense(int(size), noisy, sigma0, _seed(seed, i), activation, f"torso_dense{i}")(x)
    head = DistributionalHead(num_actions, num_atoms, dueling=dueling, noisy=noisy, sigma0=sigma0,
                              seed=_seed(seed, 900), name="head")
    return keras.Model(inputs, head(x), name=name)


def categorical_support(v_min: float, v_max: float, num_atoms: int) -> tf.Tensor:
    """C51's support ``z = linspace(v_min, v_max, num_atoms)`` as float32 ``[num_atoms]``."""
    if not float(v_min) < float(v_max):
        raise ValueError(f"v_min must be < v_max, got {v_min} and {v_max}")
    if int(num_atoms) < 2:
        raise ValueError(f"num_atoms must be >= 2 for a categorical support, got {num_atoms}")
    return tf.linspace(tf.constant(float(v_min), tf.float32), tf.constant(float(v_max), tf.float32), int(num_atoms))


@keras.saving.register_keras_serializable(package="tfrl")
class CategoricalQ(keras.layers.Layer):
    """C51 logits ``[B, A, K]`` to ``Q [B, A] = sum_k softmax(logits)_k z_k``, ``z = linspace(v_min, v_max, K)``."""

    def __init__(self, v_min: float, v_max: float, **kwargs):
        super().__init__(**kwargs)
        if not float(v_min) < float(v_max):
            raise ValueError(f"v_min must be < v_max, got {v_min} and {v_max}")
        self.v_min, self.v_max = float(v_min), float(v_max)

    def call(self, logits):
        support = categorical_support(self.v_min, self.v_max, logits.shape[-1])
        return keras.ops.sum(keras.ops.softmax(logits, axis=-1) * support, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "v_min": self.v_min, "v_max": self.v_max}


@keras.saving.register_keras_serializable(package="tfrl")
class QuantileQ(keras.layers.Layer):
    """QR-DQN quantiles ``[B, A, N]`` to ``Q [B, A]``: their mean (the expectation of the uniform mixture)."""

    def call(self, quantiles):
        return keras.ops.mean(quantiles, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])


def q_values_model(
    network: keras.Model,
    kind: Literal["categorical", "quantile"],
    v_min: float | None = None,
    v_max: float | None = None,
    name: str = "q_values",
) -> keras.Model:
    """The action values ``[B, A]`` of a ``value_network``: its inputs through its layers, then ``CategoricalQ``
    (``kind="categorical"``, needs ``v_min`` and ``v_max``) or ``QuantileQ`` (``kind="quantile"``, takes
    neither). The model shares ``network``'s layers, so it always holds the current weights."""
    if kind == "categorical":
        if v_min is None or v_max is None:
            raise ValueError("kind='categorical' needs v_min and v_max (the support's bounds)")
        q = CategoricalQ(v_min, v_max, name="categorical_q")(network.output)
    elif kind == "quantile":
        if v_min is not None or v_max is not None:
            raise ValueError("kind='quantile' takes no v_min or v_max (quantiles have no fixed support)")
        q = QuantileQ(name="quantile_q")(network.output)
    else:
        raise ValueError(f"kind must be 'categorical' or 'quantile', got {kind!r}")
    return keras.Model(network.input, q, name=name)
