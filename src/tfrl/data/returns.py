"""Returns and targets as pure TensorFlow functions of time-major tensors.

Conventions: sequences are time-major, ``[T, B]`` (or ``[T]``, or ``[T, B, ...]``); ``r_t`` is the
reward of step ``t`` and ``d_t`` the discount of the step that produced ``r_t`` (0 where the
episode terminated at step ``t``, 1 otherwise). NumPy arrays are accepted; results are
``tf.Tensor`` of the rewards' float dtype (float32 for non-float input). Every function runs
eagerly and inside ``tf.function``.

A plain ``[T, B]`` sequence cannot tell truncation from an ongoing episode (both have
``d_t = 1``). When an auto-resetting rollout crosses a truncation, fold the bootstrap into the
step (``r_t += gamma * V(final observation)`` and ``d_t = 0``) before calling these functions;
the replay buffer's n-step ``Transition`` handles truncation itself.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfrl.errors import ConfigError

__all__ = ["discounted_returns", "n_step_returns", "td_target"]


def _float(x: Any, dtype: tf.DType | None = None) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    if dtype is None:
        dtype = x.dtype if x.dtype.is_floating else tf.float32
    return tf.cast(x, dtype)


def discounted_returns(
    rewards: Any,
    discounts: Any,
    gamma: float | Any,
    bootstrap_value: Any | None = None,
) -> tf.Tensor:
    """Discounted returns ``G_t = r_t + gamma * d_t * G_{t+1}`` with ``G_T = bootstrap_value``.

    Args:
        rewards: ``[T, B]`` rewards ``r_t``.
        discounts: ``[T, B]`` step discounts ``d_t`` (0 at a terminal step).
        gamma: discount factor.
        bootstrap_value: ``[B]`` value ``G_T`` of the state after the last step (zeros if None).

    Returns:
        ``[T, B]`` returns, computed by a reverse ``tf.scan``.
    """
    rewards = _float(rewards)
    discounts = _float(discounts, rewards.dtype)
    gamma = tf.cast(gamma, rewards.dtype)
    if bootstrap_value is None:
        bootstrap = tf.zeros(tf.shape(rewards)[1:], rewards.dtype)
    else:
        bootstrap = tf.broadcast_to(_float(bootstrap_value, rewards.dtype), tf.shape(rewards)[1:])

    def step(next_return: tf.Tensor, elems: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        reward, discount = elems
        return reward + gamma * discount * next_return

    return tf.scan(step, (rewards, discounts), initializer=bootstrap, reverse=True)


def n_step_returns(rewards: Any, discounts: Any, values: Any, gamma: float | Any, n: int) -> tf.Tensor:
    """n-step targets of every step of a sequence, truncated at the sequence's end.

    With ``m_t = min(n, T - t)`` steps available after ``t``::

        target_t = sum_{k<m_t} gamma**k * (prod_{j<k} d_{t+j}) * r_{t+k}
                   + gamma**m_t * (prod_{j<m_t} d_{t+j}) * values[t + m_t]

    so a terminal step (``d = 0``) cuts off all later rewards and the bootstrap, and the last
    ``n - 1`` steps bootstrap from ``values[T]``. ``n = 1`` gives ``r_t + gamma * d_t * values[t+1]``;
    ``n >= T`` gives ``discounted_returns(rewards, discounts, gamma, values[T])``.

    Args:
        rewards: ``[T, B]`` rewards ``r_t``.
        discounts: ``[T, B]`` step discounts ``d_t``.
        values: ``[T + 1, B]``: ``values[t]`` is ``V(s_t)``, ``values[T]`` the value of the state
            after the last step. ``values[0]`` is not used.
        gamma: discount factor.
        n: number of steps summed, a Python integer >= 1.

    Returns:
        ``[T, B]`` targets.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"n must be a Python integer >= 1, got {n!r}")
    rewards = _float(rewards)
    dtype = rewards.dtype
    discounts = _float(discounts, dtype)
    values = _float(values, dtype)
    gamma = tf.cast(gamma, dtype)
    length = tf.shape(rewards)[0]
    pad_shape = tf.concat([[n], tf.shape(rewards)[1:]], axis=0)
    padded_rewards = tf.concat([rewards, tf.zeros(pad_shape, dtype)], axis=0)
    padded_discounts = tf.concat([discounts, tf.ones(pad_shape, dtype)], axis=0)
    steps = tf.range(length)

    target = tf.zeros_like(rewards)
    scale = tf.ones_like(rewards)  # gamma**k * prod_{j<k} d_{t+j}, frozen once t + k reaches T
    for k in range(n):
        inside = tf.reshape(steps + k < length, [-1] + [1] * (rewards.shape.rank - 1))
        target += scale * padded_rewards[k : k + length]
        scale *= tf.where(inside, gamma * padded_discounts[k : k + length], tf.ones_like(rewards))
    bootstrap = tf.gather(values, tf.minimum(steps + n, length))
    return target + scale * bootstrap


def td_target(reward: Any, discount: Any, next_value: Any) -> tf.Tensor:
    """The one-step target ``reward + discount * next_value`` used by every value method.

    ``discount`` is the whole bootstrap multiplier, ``gamma**m * d`` for an m-step ``Transition``
    (0 after a termination), so the same line serves 1-step and n-step targets.
    """
    reward = _float(reward)
    return reward + _float(discount, reward.dtype) * _float(next_value, reward.dtype)
