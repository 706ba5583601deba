"""The math of continuous-control off-policy agents (SAC, TD3, DDPG) as pure TensorFlow functions.

Tensors in, tensors out: no Keras model, no variable created, no random op (noise is an argument), so
every function runs eagerly, inside ``tf.function`` and under XLA. Batches are rank 1, ``[B]``: a
critic's ``[B, 1]`` output is squeezed by the caller (``[B, 1]`` against ``[B]`` would broadcast to
``[B, B]``).

``discount`` is the replay buffer's bootstrap multiplier, as in ``tfrl.agents.dqn``: 0 after a
termination, so a terminated transition never bootstraps and a truncated one does. tfrl's buffers
already fold ``gamma**m`` into it (``tfrl.data.nstep``), so the targets' ``gamma`` defaults to 1; pass
``gamma`` explicitly only with a bare 0/1 step discount. Every target is ``stop_gradient``-ed.

* SAC (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications", arXiv:1812.05905):
  ``soft_q_target`` ``y = r + gamma * discount * (min(Q1', Q2') - alpha * log pi(a'|s'))``;
  ``sac_critic_loss`` ``0.5 * MSE(Q1, y) + 0.5 * MSE(Q2, y)``;
  ``sac_actor_loss`` ``mean(alpha * log pi(a|s) - min(Q1, Q2))``;
  ``temperature_loss`` ``-mean(log_alpha * stop_gradient(log pi + target_entropy))`` with
  ``default_target_entropy(D) = -D`` (automatic entropy tuning, section 5 of the paper).
* TD3 (Fujimoto et al. 2018, arXiv:1802.09477): ``td3_target`` ``y = r + gamma * discount * min(Q1', Q2')``
  at the ``smoothed_target_action`` ``clip(mu'(s') + clip(eps, -c, c), low, high)``.
* DDPG (Lillicrap et al. 2016, arXiv:1509.02971): ``ddpg_target`` with one critic,
  ``deterministic_actor_loss`` ``-mean(Q(s, mu(s)))`` (TD3's actor loss too).
* ``polyak_update``: ``target <- tau * source + (1 - tau) * target`` for all three.

The tanh-Gaussian policy itself (sample, log-density, action scaling) is in ``tfrl.distributions``.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

__all__ = [
    "soft_q_target",
    "sac_critic_loss",
    "sac_actor_loss",
    "temperature_loss",
    "default_target_entropy",
    "td3_target",
    "smoothed_target_action",
    "ddpg_target",
    "deterministic_actor_loss",
    "polyak_update",
]

FloatLike = float | tf.Tensor


def _bootstrap(reward: tf.Tensor, discount: tf.Tensor, next_value: tf.Tensor, gamma: FloatLike) -> tf.Tensor:
    """``stop_gradient(r + gamma * discount * next_value)`` in ``reward``'s dtype."""
    reward = tf.convert_to_tensor(reward)
    dtype = reward.dtype
    discount = tf.cast(tf.convert_to_tensor(discount), dtype)
    next_value = tf.cast(next_value, dtype)
    return tf.stop_gradient(reward + tf.cast(gamma, dtype) * discount * next_value)


# --------------------------------------------------------------------------- SAC


def soft_q_target(
    reward: tf.Tensor,
    discount: tf.Tensor,
    next_q1: tf.Tensor,
    next_q2: tf.Tensor,
    next_log_prob: tf.Tensor,
    alpha: FloatLike,
    gamma: FloatLike = 1.0,
) -> tf.Tensor:
    """SAC's soft TD target ``r + gamma * discount * (min(Q1', Q2') - alpha * log pi(a'|s'))``, ``[B]``.

    ``next_q1``/``next_q2`` are the target critics at ``(s', a')`` with ``a' ~ pi(.|s')`` and
    ``next_log_prob = log pi(a'|s')`` (Haarnoja et al. 2018, arXiv:1812.05905, eq. 3 with clipped double Q).
    ``discount`` is 0 for a terminated transition (no bootstrap), nonzero for a truncated one.
    """
    next_q1 = tf.convert_to_tensor(next_q1)
    soft_value = tf.minimum(next_q1, tf.cast(next_q2, next_q1.dtype)) - tf.cast(alpha, next_q1.dtype) * tf.cast(
        next_log_prob, next_q1.dtype
    )
    return _bootstrap(reward, discount, soft_value, gamma)


def sac_critic_loss(q1: tf.Tensor, q2: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Twin-critic loss ``0.5 * mean((Q1 - y)^2) + 0.5 * mean((Q2 - y)^2)``, a scalar.

    Stable-Baselines3's convention (``0.5 * sum`` of the two MSEs); CleanRL omits the 0.5, which only
    doubles the effective learning rate of the critics. ``target`` is treated as a constant.
    """
    q1 = tf.convert_to_tensor(q1)
    target = tf.stop_gradient(tf.cast(target, q1.dtype))
    q2 = tf.cast(q2, q1.dtype)
    return 0.5 * tf.reduce_mean(tf.square(q1 - target)) + 0.5 * tf.reduce_mean(tf.square(q2 - target))


def sac_actor_loss(q1_pi: tf.Tensor, q2_pi: tf.Tensor, log_prob: tf.Tensor, alpha: FloatLike) -> tf.Tensor:
    """SAC's policy loss ``mean(alpha * log pi(a|s) - min(Q1(s, a), Q2(s, a)))`` at ``a ~ pi(.|s)`` (reparameterised).

    ``alpha`` is held constant (``stop_gradient``), so passing ``exp(log_alpha)`` gives the temperature
    no gradient from the actor; the critics' weights should simply not be in the actor's optimizer.
    """
    q1_pi = tf.convert_to_tensor(q1_pi)
    dtype = q1_pi.dtype
    alpha = tf.stop_gradient(tf.cast(alpha, dtype))
    min_q = tf.minimum(q1_pi, tf.cast(q2_pi, dtype))
    return tf.reduce_mean(alpha * tf.cast(log_prob, dtype) - min_q)


def temperature_loss(log_alpha: tf.Tensor, log_prob: tf.Tensor, target_entropy: FloatLike) -> tf.Tensor:
    """Automatic entropy tuning ``-mean(log_alpha * stop_gradient(log pi + target_entropy))``, a scalar.

    The form of Stable-Baselines3 and CleanRL: it multiplies ``log_alpha`` (the optimised variable),
    not ``alpha`` as in the paper's eq. 18 (Haarnoja et al. 2018, arXiv:1812.05905); the gradient has
    the same sign. Its gradient is ``-mean(log pi + target_entropy)``: when the policy's entropy
    ``-log pi`` is below the target, the gradient is negative and a descent step raises ``alpha``.
    """
    log_alpha = tf.convert_to_tensor(log_alpha)
    dtype = log_alpha.dtype
    gap = tf.stop_gradient(tf.cast(log_prob, dtype) + tf.cast(target_entropy, dtype))
    return -tf.reduce_mean(log_alpha * gap)


def default_target_entropy(action_dim: int) -> float:
    """The heuristic target entropy ``-dim(A)`` of Haarnoja et al. 2018 (arXiv:1812.05905), as a float."""
    if isinstance(action_dim, bool) or not isinstance(action_dim, int) or action_dim < 1:
        raise ValueError(f"action_dim must be a positive int, got {action_dim!r}")
    return -float(action_dim)


# --------------------------------------------------------------------------- TD3 and DDPG


def td3_target(
    reward: tf.Tensor, discount: tf.Tensor, next_q1: tf.Tensor, next_q2: tf.Tensor, gamma: FloatLike = 1.0
) -> tf.Tensor:
    """TD3's clipped double-Q target ``r + gamma * discount * min(Q1', Q2')``, ``[B]`` (Fujimoto et al. 2018).

    ``next_q1``/``next_q2`` are the target critics at the smoothed target action (``smoothed_target_action``).
    """
    next_q1 = tf.convert_to_tensor(next_q1)
    return _bootstrap(reward, discount, tf.minimum(next_q1, tf.cast(next_q2, next_q1.dtype)), gamma)


def smoothed_target_action(
    target_action: tf.Tensor, noise: tf.Tensor, noise_clip: FloatLike, low: tf.Tensor, high: tf.Tensor
) -> tf.Tensor:
    """TD3's target policy smoothing ``clip(mu'(s') + clip(noise, -c, c), low, high)`` (Fujimoto et al. 2018).

    ``noise`` is drawn by the caller, already scaled (``policy_noise * N(0, 1)``, 0.2 in the paper, with
    ``c = noise_clip = 0.5``); ``low``/``high`` are the action bounds in the same units as ``target_action``
    (``[-1, 1]`` for a tanh actor before ``scale_action``), broadcast against it.
    """
    target_action = tf.convert_to_tensor(target_action)
    dtype = target_action.dtype
    clip = tf.cast(noise_clip, dtype)
    smoothed = target_action + tf.clip_by_value(tf.cast(noise, dtype), -clip, clip)
    return tf.clip_by_value(smoothed, tf.cast(low, dtype), tf.cast(high, dtype))


def ddpg_target(reward: tf.Tensor, discount: tf.Tensor, next_q: tf.Tensor, gamma: FloatLike = 1.0) -> tf.Tensor:
    """DDPG's target ``r + gamma * discount * Q'(s', mu'(s'))`` with a single target critic (Lillicrap et al. 2016)."""
    return _bootstrap(reward, discount, tf.convert_to_tensor(next_q), gamma)


def deterministic_actor_loss(q: tf.Tensor) -> tf.Tensor:
    """The deterministic policy gradient loss ``-mean(Q(s, mu(s)))`` of DDPG and TD3 (TD3 uses its first critic)."""
    return -tf.reduce_mean(tf.convert_to_tensor(q))


# --------------------------------------------------------------------------- target networks


def polyak_update(
    target_variables: Sequence[tf.Variable], source_variables: Sequence[tf.Variable], tau: FloatLike
) -> None:
    """In place, ``target <- tau * source + (1 - tau) * target`` for each pair (``tau = 1`` copies exactly).

    Works eagerly and inside ``tf.function`` (the assignments are ops of the traced graph); ``tau`` may be
    a Python float or a scalar tensor. Raises ``ValueError`` if the two lists differ in length.
    """
    target_variables = list(target_variables)
    source_variables = list(source_variables)
    if len(target_variables) != len(source_variables):
        raise ValueError(
            f"polyak_update: {len(target_variables)} target variables but {len(source_variables)} source variables"
        )
    for target, source in zip(target_variables, source_variables):
        if isinstance(tau, (int, float)) and float(tau) == 1.0:
            target.assign(source)
        else:
            t = tf.cast(tau, target.dtype)
            target.assign(t * tf.cast(source, target.dtype) + (1.0 - t) * target)
