"""Returns and targets as pure TensorFlow functions of time-major tensors.

Conventions: sequences are time-major, ``[T, B]`` (or ``[T]``, or ``[T, B, ...]``); ``r_t`` is the
reward of step ``t`` and ``d_t`` the discount of the step that produced ``r_t`` (0 where the
episode terminated at step ``t``, 1 otherwise). NumPy arrays are accepted; results are
``tf.Tensor`` of the rewards' float dtype (float32 for non-float input). Every function runs
eagerly and inside ``tf.function``.

A plain ``[T, B]`` sequence cannot tell truncation from an ongoing episode (both have
``d_t = 1``). When an auto-resetting rollout crosses a truncation, fold the bootstrap into the
step (``r_t += gamma * V(final observation)`` and ``d_t = 0``) before calling
``discounted_returns`` or ``n_step_returns``; the replay buffer's n-step ``Transition`` handles
truncation itself.

The on-policy functions ``gae`` and ``bootstrapped_returns`` take the rollout layout of
``tfrl.data.rollout`` instead, with an explicit ``last_t`` flag (step ``t`` ended its episode):
``values`` is ``[T + 1, B]`` and ``values[t + 1]`` is the value of the observation that follows
step ``t``, which for a LAST step is the episode's final observation. So the recursion stops at
every episode end, and a truncated end (``last_t = 1``, ``d_t = 1``) still bootstraps from
``values[t + 1]``. Under auto-reset the row after a LAST step (``valid`` False in the rollout) is
not a transition: its outputs are meaningless and callers mask them out.

``episode_returns`` and ``discount_and_normalize`` are the REINFORCE returns of whole episodes, and
``normalize`` standardizes advantages over a mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfrl.data.lazy import RETURN_FUNCTIONS
from tfrl.errors import ConfigError

__all__ = list(RETURN_FUNCTIONS)  # the names tfrl.data loads from here on first access


def _float(x: Any, dtype: tf.DType | None = None) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    if dtype is None:
        dtype = x.dtype if x.dtype.is_floating else tf.float32
    return tf.cast(x, dtype)


def _check_values(values: tf.Tensor, rewards: tf.Tensor, name: str) -> tf.Tensor:
    """``values``, required to have one more row than ``rewards`` (checked statically when both
    lengths are known, else by an assertion that runs before ``values`` is used)."""
    steps = rewards.shape[0] if rewards.shape.rank else None
    rows = values.shape[0] if values.shape.rank else None
    if steps is not None and rows is not None:
        if rows != steps + 1:
            raise ConfigError(
                f"{name}: values has {rows} rows for {steps} rewards; pass T + 1 values "
                "(the last one the value of the observation after the rollout)"
            )
        return values
    check = tf.debugging.assert_equal(
        tf.shape(values)[0], tf.shape(rewards)[0] + 1, message=f"{name}: values needs T + 1 rows for T rewards"
    )
    with tf.control_dependencies([check]):
        return tf.identity(values)


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


# ---------------------------------------------------------------------- on-policy returns


def _rollout_inputs(name: str, rewards: Any, values: Any, discounts: Any, lasts: Any,
                    gamma: float | Any) -> tuple[tf.Tensor, ...]:
    """``(rewards, values, discounts, lasts, gamma)`` of a rollout as tensors of the rewards' float dtype,
    with ``values`` checked to have ``T + 1`` rows (``name``: the function, for the message)."""
    rewards = _float(rewards)
    dtype = rewards.dtype
    values = _check_values(_float(values, dtype), rewards, name)
    return rewards, values, _float(discounts, dtype), _float(lasts, dtype), tf.cast(gamma, dtype)


def gae(
    rewards: Any,
    values: Any,
    discounts: Any,
    lasts: Any,
    gamma: float | Any,
    lam: float | Any,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Generalized advantage estimation (Schulman et al. 2016) over an auto-resetting rollout.

    ::

        delta_t = r_t + gamma * d_t * V_{t+1} - V_t
        A_t     = delta_t + gamma * lam * d_t * (1 - last_t) * A_{t+1},   A_T = 0
        returns = A + V[:T]

    The recursion stops at every episode end (``last_t = 1``); a truncated end still bootstraps
    from the final observation's value through ``d_t = 1`` in ``delta_t``, a terminated one
    (``d_t = 0``) does not. ``lam = 1`` gives ``bootstrapped_returns`` as the returns, ``lam = 0``
    the one-step TD error as the advantages. Rows whose time step was LAST (the auto-reset rows,
    ``valid`` False) get meaningless values: mask them out.

    Args:
        rewards: ``[T, B]`` rewards ``r_t`` (of the time step after row ``t``).
        values: ``[T + 1, B]``: ``V_t`` of every observation row; ``values[t + 1]`` is the value of
            the observation that follows row ``t`` (the final observation when ``last_t``), and
            ``values[T]`` the value of the observation after the rollout.
        discounts: ``[T, B]`` step discounts ``d_t`` (0 where the episode terminated, 1 otherwise).
        lasts: ``[T, B]`` bool or 0/1: step ``t`` ended its episode (terminated or truncated).
        gamma: discount factor.
        lam: GAE ``lambda`` in ``[0, 1]``.

    Returns:
        ``(advantages, returns)``, both ``[T, B]``, computed by a reverse ``tf.scan``.
    """
    rewards, values, discounts, lasts, gamma = _rollout_inputs("gae", rewards, values, discounts, lasts, gamma)
    lam = tf.cast(lam, rewards.dtype)
    current, following = values[:-1], values[1:]  # any other length than T + 1 fails the arithmetic
    deltas = rewards + gamma * discounts * following - current
    carries = gamma * lam * discounts * (1.0 - lasts)

    def step(next_advantage: tf.Tensor, elems: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        delta, carry = elems
        return delta + carry * next_advantage

    initial = tf.zeros(tf.shape(rewards)[1:], rewards.dtype)
    advantages = tf.scan(step, (deltas, carries), initializer=initial, reverse=True)
    return advantages, advantages + current


def bootstrapped_returns(
    rewards: Any,
    values: Any,
    discounts: Any,
    lasts: Any,
    gamma: float | Any,
) -> tf.Tensor:
    """The A2C n-step returns of an auto-resetting rollout, bootstrapped from the critic.

    ::

        R_t = r_t + gamma * d_t * ((1 - last_t) * R_{t+1} + last_t * V_{t+1}),   R_T = V_T

    Each step sums the discounted rewards up to its episode's end or the rollout's end, then
    bootstraps from the critic at the end of the rollout (``values[T]``) and at a truncation
    (the final observation's value ``values[t + 1]``), never at a termination (``d_t = 0``).
    Equals ``gae(..., lam=1)``'s returns. Rows whose time step was LAST (auto-reset rows) get
    meaningless values: mask them out.

    Args:
        rewards: ``[T, B]`` rewards ``r_t``.
        values: ``[T + 1, B]`` values of every observation row (see ``gae``).
        discounts: ``[T, B]`` step discounts ``d_t``.
        lasts: ``[T, B]`` bool or 0/1: step ``t`` ended its episode.
        gamma: discount factor.

    Returns:
        ``[T, B]`` returns, computed by a reverse ``tf.scan``.
    """
    rewards, values, discounts, lasts, gamma = _rollout_inputs(
        "bootstrapped_returns", rewards, values, discounts, lasts, gamma
    )

    def step(next_return: tf.Tensor, elems: tuple[tf.Tensor, ...]) -> tf.Tensor:
        reward, discount, last, next_value = elems
        return reward + gamma * discount * ((1.0 - last) * next_return + last * next_value)

    return tf.scan(
        step,
        (rewards, discounts, lasts, values[1:]),
        initializer=values[-1],
        reverse=True,
    )


def episode_returns(rewards: Any, gamma: float | Any) -> tf.Tensor:
    """Discounted rewards-to-go of one whole episode: ``G_t = r_t + gamma * G_{t+1}``, ``G_T = 0``.

    Args:
        rewards: ``[T]`` rewards of the episode's steps.
        gamma: discount factor.

    Returns:
        ``[T]`` returns.
    """
    rewards = _float(rewards)
    gamma = tf.cast(gamma, rewards.dtype)

    def step(next_return: tf.Tensor, reward: tf.Tensor) -> tf.Tensor:
        return reward + gamma * next_return

    return tf.scan(step, rewards, initializer=tf.zeros(tf.shape(rewards)[1:], rewards.dtype), reverse=True)


def discount_and_normalize(
    episodes_rewards: Sequence[Any],
    gamma: float,
    eps: float = 1e-8,
) -> list[np.ndarray]:
    """REINFORCE returns as in the TensorFlow tutorials: discount, then normalize across episodes.

    Each episode's rewards become rewards-to-go ``G_t = r_t + gamma * G_{t+1}``; then every ``G`` of
    every episode is standardized together, ``(G - mean) / (std + eps)``, with the mean and the
    (population) standard deviation over all steps of all episodes. Host-side NumPy, since episodes
    have different lengths; the inputs are not modified.

    Args:
        episodes_rewards: one 1-D array of rewards per episode.
        gamma: discount factor.
        eps: added to the standard deviation (so equal returns give zeros, not NaN).

    Returns:
        One float32 array per episode, of the episode's length.
    """
    discounted: list[np.ndarray] = []
    for index, rewards in enumerate(episodes_rewards):
        rewards = np.asarray(rewards, dtype=np.float64)
        if rewards.ndim != 1:
            raise ConfigError(
                f"discount_and_normalize: episode {index} has rewards of shape {rewards.shape}, expected 1-D"
            )
        returns = np.empty_like(rewards)
        running = 0.0
        for t in range(rewards.shape[0] - 1, -1, -1):
            running = rewards[t] + gamma * running
            returns[t] = running
        discounted.append(returns)
    if not discounted:
        return []
    flat = np.concatenate(discounted)
    if flat.size == 0:
        return [g.astype(np.float32) for g in discounted]
    mean, std = flat.mean(), flat.std()
    return [((g - mean) / (std + eps)).astype(np.float32) for g in discounted]


def normalize(x: Any, mask: Any | None = None, eps: float = 1e-8) -> tf.Tensor:
    """Standardize ``x`` over the entries where ``mask`` is true: ``(x - mean) / (std + eps)``.

    ``mean`` and the (population) ``std`` are taken over the masked entries only (every entry
    when ``mask`` is None); entries outside the mask are set to 0. Used for advantage
    normalization, with the rollout's ``valid`` as mask.

    Args:
        x: a tensor of any shape.
        mask: bool or 0/1 of ``x``'s shape, or None.
        eps: added to the standard deviation.

    Returns:
        A tensor of ``x``'s shape and float dtype.
    """
    x = _float(x)
    if mask is None:
        mean = tf.reduce_mean(x)
        std = tf.sqrt(tf.reduce_mean(tf.square(x - mean)))
        return (x - mean) / (std + tf.cast(eps, x.dtype))
    keep = tf.cast(mask, tf.bool)
    weights = tf.cast(keep, x.dtype)
    count = tf.maximum(tf.reduce_sum(weights), tf.ones([], x.dtype))
    safe = tf.where(keep, x, tf.zeros_like(x))  # garbage (even NaN) outside the mask stays out
    mean = tf.reduce_sum(safe) / count
    std = tf.sqrt(tf.reduce_sum(weights * tf.square(safe - mean)) / count)
    return tf.where(keep, (safe - mean) / (std + tf.cast(eps, x.dtype)), tf.zeros_like(x))
