"""Action distributions as pure TensorFlow functions of tensors (they run inside ``tf.function`` and XLA).

Two families, each described by the tensors an actor network outputs:

- *Categorical* over ``A`` actions, given unnormalised ``logits`` ``[..., A]``:
  ``p(a) = softmax(logits)_a``.
- *Diagonal Gaussian* over ``D`` dimensions, given ``mean`` ``[..., D]`` and ``log_std`` ``[..., D]``
  (``sigma = exp(log_std)``); densities and entropies are summed over the ``D`` dimensions.
- *Squashed (tanh) Gaussian*, the SAC policy: ``a = tanh(u)`` with ``u`` diagonal Gaussian, so
  ``a`` lies in ``(-1, 1)^D``; ``scale_action`` maps it onto a Box's bounds.

Sampling takes its randomness as an argument (``uniform_noise`` or ``normal_noise``, drawn by the caller,
usually from a seeded NumPy generator on the host): the graph holds no random-generator state, a seed
fixes every action, and a policy call costs no generator ops.

Action indices here are zero-based (``0 .. A-1``); a policy adds the action spec's ``minimum``.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

__all__ = [
    "categorical_log_prob",
    "categorical_entropy",
    "categorical_sample",
    "categorical_mode",
    "kl_categorical",
    "gaussian_log_prob",
    "gaussian_entropy",
    "gaussian_sample",
    "kl_gaussian",
    "squashed_gaussian_sample",
    "squashed_gaussian_log_prob",
    "squashed_gaussian_mode",
    "scale_action",
    "unscale_action",
]

_LOG_2PI = math.log(2.0 * math.pi)
_HALF_LOG_2PIE = 0.5 * math.log(2.0 * math.pi * math.e)


# --------------------------------------------------------------------------- categorical


def categorical_log_prob(logits: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """``log p(a) = logits_a - logsumexp(logits)``: logits ``[..., A]``, integer actions ``[...]`` -> ``[...]``.

    Gathers the log-softmax rather than multiplying by a one-hot, so masked logits of ``-inf`` on
    other actions give finite log-probabilities, not NaN.
    """
    logits = tf.convert_to_tensor(logits)
    actions = tf.cast(tf.convert_to_tensor(actions), tf.int32)
    log_p = tf.nn.log_softmax(logits, axis=-1)
    picked = tf.gather(log_p, actions[..., None], batch_dims=actions.shape.rank)
    return tf.squeeze(picked, axis=-1)


def categorical_entropy(logits: tf.Tensor) -> tf.Tensor:
    """``H = -sum_a p(a) log p(a)``: logits ``[..., A]`` -> ``[...]`` (nats; terms with ``p(a) = 0`` are 0)."""
    logits = tf.convert_to_tensor(logits)
    log_p = tf.nn.log_softmax(logits, axis=-1)
    return -tf.reduce_sum(tf.math.multiply_no_nan(log_p, tf.exp(log_p)), axis=-1)


def categorical_sample(
    logits: tf.Tensor,
    uniform_noise: tf.Tensor,
    temperature: float | tf.Tensor = 1.0,
    output_type: tf.DType = tf.int64,
) -> tf.Tensor:
    """Sample from ``softmax(logits / temperature)`` with the Gumbel-max trick.

    ``a = argmax_i (logits_i / temperature + g_i)`` with Gumbel noise ``g_i = -log(-log u_i)`` is
    distributed as ``softmax(logits / temperature)`` when ``u_i ~ Uniform(0, 1)`` independently.
    ``uniform_noise`` has the shape of ``logits``; it is clipped into the open interval so that a 0 or
    a 1 (a float32 rounding of a draw near 1) gives no infinite noise. ``temperature > 0``: towards 0
    the sample approaches the argmax, large temperatures approach the uniform distribution.
    Returns zero-based indices ``[...]`` of ``output_type``.
    """
    logits = tf.convert_to_tensor(logits)
    u = tf.cast(tf.convert_to_tensor(uniform_noise), logits.dtype)
    finfo = np.finfo(logits.dtype.as_numpy_dtype)
    u = tf.clip_by_value(u, finfo.tiny, 1.0 - finfo.epsneg)  # the open interval (0, 1) in this dtype
    gumbel = -tf.math.log(-tf.math.log(u))
    scaled = logits / tf.cast(temperature, logits.dtype)
    return tf.argmax(scaled + gumbel, axis=-1, output_type=output_type)


def categorical_mode(logits: tf.Tensor, output_type: tf.DType = tf.int64) -> tf.Tensor:
    """The most probable action ``argmax_a logits_a`` (first one on ties): ``[..., A]`` -> ``[...]``."""
    return tf.argmax(tf.convert_to_tensor(logits), axis=-1, output_type=output_type)


def kl_categorical(logits_p: tf.Tensor, logits_q: tf.Tensor) -> tf.Tensor:
    """``KL(p || q) = sum_a p(a) (log p(a) - log q(a))`` between two categoricals: ``[..., A]`` -> ``[...]``."""
    log_p = tf.nn.log_softmax(tf.convert_to_tensor(logits_p), axis=-1)
    log_q = tf.nn.log_softmax(tf.convert_to_tensor(logits_q), axis=-1)
    return tf.reduce_sum(tf.math.multiply_no_nan(log_p - log_q, tf.exp(log_p)), axis=-1)


# --------------------------------------------------------------------------- diagonal Gaussian


def gaussian_log_prob(mean: tf.Tensor, log_std: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """Log-density of a diagonal Gaussian, summed over the last (action) dimension.

    ``log p(a) = -0.5 * sum_d [((a_d - mu_d) / sigma_d)^2 + 2 log sigma_d + log(2 pi)]``.
    ``mean``, ``log_std`` and ``actions`` broadcast against each other (``log_std`` may be ``[D]``);
    the result has the broadcast shape without its last dimension.
    """
    mean = tf.convert_to_tensor(mean)
    log_std = tf.cast(tf.convert_to_tensor(log_std), mean.dtype)
    actions = tf.cast(tf.convert_to_tensor(actions), mean.dtype)
    z = (actions - mean) * tf.exp(-log_std)
    return -0.5 * tf.reduce_sum(tf.square(z) + 2.0 * log_std + _LOG_2PI, axis=-1)


def gaussian_entropy(log_std: tf.Tensor) -> tf.Tensor:
    """Entropy of a diagonal Gaussian, ``H = sum_d (log sigma_d + 0.5 * log(2 pi e))``: ``[..., D]`` -> ``[...]``.

    It does not depend on the mean. With the network's ``log_std`` output (``[B, D]``, already
    broadcast to the batch) the result is ``[B]``; a bare ``[D]`` vector gives a scalar.
    """
    log_std = tf.convert_to_tensor(log_std)
    return tf.reduce_sum(log_std + _HALF_LOG_2PIE, axis=-1)


def gaussian_sample(mean: tf.Tensor, log_std: tf.Tensor, normal_noise: tf.Tensor) -> tf.Tensor:
    """Reparameterised sample ``mean + exp(log_std) * normal_noise`` (standard normal, shaped as ``mean``)."""
    mean = tf.convert_to_tensor(mean)
    log_std = tf.cast(tf.convert_to_tensor(log_std), mean.dtype)
    return mean + tf.exp(log_std) * tf.cast(tf.convert_to_tensor(normal_noise), mean.dtype)


def kl_gaussian(mean_p: tf.Tensor, log_std_p: tf.Tensor, mean_q: tf.Tensor, log_std_q: tf.Tensor) -> tf.Tensor:
    """``KL(p || q)`` between diagonal Gaussians, summed over the last dimension.

    ``sum_d [log sigma_q - log sigma_p + (sigma_p^2 + (mu_p - mu_q)^2) / (2 sigma_q^2) - 1/2]``.
    """
    mean_p = tf.convert_to_tensor(mean_p)
    dtype = mean_p.dtype
    log_std_p = tf.cast(tf.convert_to_tensor(log_std_p), dtype)
    mean_q = tf.cast(tf.convert_to_tensor(mean_q), dtype)
    log_std_q = tf.cast(tf.convert_to_tensor(log_std_q), dtype)
    var_ratio = tf.exp(2.0 * (log_std_p - log_std_q))
    mean_term = tf.square((mean_p - mean_q) * tf.exp(-log_std_q))
    return tf.reduce_sum(log_std_q - log_std_p + 0.5 * (var_ratio + mean_term) - 0.5, axis=-1)


# --------------------------------------------------------------------------- squashed (tanh) Gaussian


def _tanh_log_det(pre_tanh: tf.Tensor) -> tf.Tensor:
    """``sum_d log(1 - tanh(u_d)^2)`` in the stable form ``2 (log 2 - u - softplus(-2u))``: ``[..., D]`` -> ``[...]``.

    ``1 - tanh(u)^2 = sech(u)^2 = (2 / (e^u + e^-u))^2``, whose log is ``2 (log 2 - u - log(1 + e^-2u))``;
    it stays finite for any finite ``u`` where ``log(1 - tanh(u)^2)`` becomes ``log 0`` near ``|u| = 9``.
    """
    return tf.reduce_sum(2.0 * (math.log(2.0) - pre_tanh - tf.nn.softplus(-2.0 * pre_tanh)), axis=-1)


def squashed_gaussian_sample(
    mean: tf.Tensor, log_std: tf.Tensor, normal_noise: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Reparameterised tanh-Gaussian sample and its log-density: ``(a [..., D], log p(a) [...])``.

    ``u = mean + exp(log_std) * normal_noise``, ``a = tanh(u)`` and, by the change of variables
    (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications", arXiv:1812.05905, appendix C),
    ``log p(a) = log N(u; mean, sigma) - sum_d log(1 - tanh(u_d)^2)``, the correction in the stable
    form ``2 (log 2 - u - softplus(-2u))``. The Gaussian term uses ``normal_noise`` directly
    (``(u - mean) / sigma`` is the noise), so it is exact even where ``u`` is large. Gradients flow to
    ``mean`` and ``log_std`` through both outputs.
    """
    mean = tf.convert_to_tensor(mean)
    log_std = tf.cast(tf.convert_to_tensor(log_std), mean.dtype)
    noise = tf.cast(tf.convert_to_tensor(normal_noise), mean.dtype)
    pre_tanh = mean + tf.exp(log_std) * noise
    gaussian = -0.5 * tf.reduce_sum(tf.square(noise) + 2.0 * log_std + _LOG_2PI, axis=-1)
    return tf.tanh(pre_tanh), gaussian - _tanh_log_det(pre_tanh)


def squashed_gaussian_log_prob(mean: tf.Tensor, log_std: tf.Tensor, pre_tanh: tf.Tensor) -> tf.Tensor:
    """Log-density of ``a = tanh(u)`` given the pre-tanh value ``u`` ``[..., D]`` -> ``[...]``.

    ``log N(u; mean, sigma) - sum_d log(1 - tanh(u_d)^2)`` (see ``squashed_gaussian_sample``). Takes ``u``
    rather than ``a`` because ``atanh(a)`` is infinite where float rounding has made ``|a| = 1``.
    """
    mean = tf.convert_to_tensor(mean)
    pre_tanh = tf.cast(tf.convert_to_tensor(pre_tanh), mean.dtype)
    return gaussian_log_prob(mean, log_std, pre_tanh) - _tanh_log_det(pre_tanh)


def squashed_gaussian_mode(mean: tf.Tensor) -> tf.Tensor:
    """The deterministic (evaluation) action ``tanh(mean)`` in ``(-1, 1)``, as SAC implementations use."""
    return tf.tanh(tf.convert_to_tensor(mean))


def scale_action(action: tf.Tensor, low: tf.Tensor, high: tf.Tensor) -> tf.Tensor:
    """Map an action in ``[-1, 1]`` onto ``[low, high]``: ``low + (a + 1) * (high - low) / 2`` (elementwise), clipped to
    ``[low, high]``, since float rounding can put ``a = 1`` one step above ``high`` (``-0.1 + 2 * 0.3 / 2`` is
    ``0.20000002`` in float32)."""
    action = tf.convert_to_tensor(action)
    low = tf.cast(tf.convert_to_tensor(low), action.dtype)
    high = tf.cast(tf.convert_to_tensor(high), action.dtype)
    return tf.clip_by_value(low + 0.5 * (action + 1.0) * (high - low), low, high)


def unscale_action(action: tf.Tensor, low: tf.Tensor, high: tf.Tensor) -> tf.Tensor:
    """Inverse of ``scale_action``: map ``[low, high]`` onto ``[-1, 1]``, ``2 (x - low) / (high - low) - 1``."""
    action = tf.convert_to_tensor(action)
    low = tf.cast(tf.convert_to_tensor(low), action.dtype)
    high = tf.cast(tf.convert_to_tensor(high), action.dtype)
    return 2.0 * (action - low) / (high - low) - 1.0
