"""Tests of tfrl.agents.sac_math and the squashed Gaussian of tfrl.distributions, against hand-worked numbers.

Every expected number is written out in a comment, in the spirit of ``tests/unit/agents/test_dqn.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from tfrl import distributions as D
from tfrl.agents.sac_math import (
    ddpg_target,
    default_target_entropy,
    deterministic_actor_loss,
    polyak_update,
    sac_actor_loss,
    sac_critic_loss,
    smoothed_target_action,
    soft_q_target,
    td3_target,
    temperature_loss,
)

f32 = np.float32

# --------------------------------------------------------------------------- soft_q_target

# row 0: ordinary; row 1: terminated (discount 0); row 2: truncated (discount 1, bootstraps)
REWARD = np.array([1.0, 0.5, -1.0], f32)
STEP_DISCOUNT = np.array([1.0, 0.0, 1.0], f32)
NEXT_Q1 = np.array([2.0, 5.0, 3.0], f32)
NEXT_Q2 = np.array([1.5, 4.0, 4.0], f32)
NEXT_LOGP = np.array([-1.0, 2.0, 0.5], f32)
# min(Q1', Q2') = [1.5, 4.0, 3.0]; minus alpha * logp' (alpha 0.2) = [1.5 + 0.2, 4.0 - 0.4, 3.0 - 0.1] = [1.7, 3.6, 2.9]
# y0 = 1 + 0.9 * 1.7 = 2.53; y1 = 0.5 (terminated: no bootstrap); y2 = -1 + 0.9 * 2.9 = 1.61 (truncated bootstraps)
SOFT_Y = [2.53, 0.5, 1.61]


def test_soft_q_target_by_hand_with_gamma():
    y = soft_q_target(REWARD, STEP_DISCOUNT, NEXT_Q1, NEXT_Q2, NEXT_LOGP, alpha=0.2, gamma=0.9)
    np.testing.assert_allclose(y.numpy(), SOFT_Y, rtol=1e-6)


def test_soft_q_target_with_gamma_folded_into_discount_like_the_replay_buffer():
    # tfrl's buffers hand over discount = gamma * d = [0.9, 0, 0.9]; gamma defaults to 1
    y = soft_q_target(REWARD, 0.9 * STEP_DISCOUNT, NEXT_Q1, NEXT_Q2, NEXT_LOGP, alpha=tf.constant(0.2))
    np.testing.assert_allclose(y.numpy(), SOFT_Y, rtol=1e-6)


def test_targets_carry_no_gradient():
    q1 = tf.Variable(NEXT_Q1)
    with tf.GradientTape() as tape:
        y = soft_q_target(REWARD, STEP_DISCOUNT, q1, NEXT_Q2, NEXT_LOGP, alpha=0.2, gamma=0.9)
        total = tf.reduce_sum(y)
    assert tape.gradient(total, q1) is None


# --------------------------------------------------------------------------- SAC losses


def test_sac_critic_loss_by_hand():
    target = tf.Variable([1.0, 2.0])
    q1 = tf.Variable([2.0, 2.0])  # errors [1, 0] -> MSE 0.5
    q2 = tf.Variable([1.0, 4.0])  # errors [0, 2] -> MSE 2.0
    with tf.GradientTape() as tape:
        loss = sac_critic_loss(q1, q2, target)
    # 0.5 * 0.5 + 0.5 * 2.0 = 1.25
    assert loss.numpy() == pytest.approx(1.25, rel=1e-6)
    g_q1, g_q2, g_target = tape.gradient(loss, [q1, q2, target])
    # d/dq1 of 0.5 * mean((q1 - y)^2) = (q1 - y) / B = [0.5, 0]; for q2: [0, 1]
    np.testing.assert_allclose(g_q1.numpy(), [0.5, 0.0])
    np.testing.assert_allclose(g_q2.numpy(), [0.0, 1.0])
    assert g_target is None


def test_sac_actor_loss_by_hand():
    log_alpha = tf.Variable(math.log(0.5))
    with tf.GradientTape() as tape:
        loss = sac_actor_loss([1.0, 3.0], [2.0, 2.5], [-1.0, 0.5], tf.exp(log_alpha))
    # min Q = [1, 2.5]; alpha * logp = [-0.5, 0.25]; [-0.5 - 1, 0.25 - 2.5] = [-1.5, -2.25]; mean -1.875
    assert loss.numpy() == pytest.approx(-1.875, rel=1e-6)
    assert tape.gradient(loss, log_alpha) is None  # alpha is a constant for the actor


def test_temperature_loss_by_hand():
    log_alpha = tf.Variable(0.3)
    logp = tf.Variable([-1.0, 0.5, -2.0])
    with tf.GradientTape(persistent=True) as tape:
        loss = temperature_loss(log_alpha, logp, target_entropy=-1.0)
    # logp + target = [-2, -0.5, -3], mean -11/6; loss = -0.3 * (-11/6) = 0.55; d/dlog_alpha = 11/6
    assert loss.numpy() == pytest.approx(0.55, rel=1e-6)
    assert tape.gradient(loss, log_alpha).numpy() == pytest.approx(11.0 / 6.0, rel=1e-6)
    assert tape.gradient(loss, logp) is None


@pytest.mark.parametrize("logp, alpha_rises", [([2.0, 3.0], True), ([-2.0, -3.0], False)])
def test_temperature_step_raises_alpha_when_entropy_is_below_target(logp, alpha_rises):
    # target entropy -1. logp [2, 3]: entropy -logp = [-2, -3] < -1, alpha must rise;
    # logp [-2, -3]: entropy [2, 3] > -1, alpha must fall.
    log_alpha = tf.Variable(0.0)
    with tf.GradientTape() as tape:
        loss = temperature_loss(log_alpha, tf.constant(logp), default_target_entropy(1))
    log_alpha.assign_sub(0.1 * tape.gradient(loss, log_alpha))  # one SGD step
    alpha = math.exp(log_alpha.numpy())
    assert (alpha > 1.0) if alpha_rises else (alpha < 1.0)


def test_default_target_entropy():
    assert default_target_entropy(6) == -6.0
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="action_dim"):
            default_target_entropy(bad)


# --------------------------------------------------------------------------- TD3 and DDPG


def test_td3_and_ddpg_targets_by_hand():
    reward, discount = [1.0, 2.0], [0.99, 0.0]  # row 1 terminated
    # min([3, 1], [2, 5]) = [2, 1]: y = [1 + 0.99 * 2, 2] = [2.98, 2]
    np.testing.assert_allclose(td3_target(reward, discount, [3.0, 1.0], [2.0, 5.0]).numpy(), [2.98, 2.0], rtol=1e-6)
    # a bare step discount [1, 0] and gamma 0.99 give the same
    np.testing.assert_allclose(td3_target(reward, [1.0, 0.0], [3.0, 1.0], [2.0, 5.0], gamma=0.99).numpy(),
                               [2.98, 2.0], rtol=1e-6)
    # one critic: y = [1 + 0.99 * 3, 2] = [3.97, 2]
    np.testing.assert_allclose(ddpg_target(reward, discount, [3.0, 1.0]).numpy(), [3.97, 2.0], rtol=1e-6)
    assert deterministic_actor_loss([1.0, 2.0, 6.0]).numpy() == pytest.approx(-3.0)


def test_smoothed_target_action_clips_noise_then_action():
    action = np.array([[0.9, -0.2], [0.0, -0.95]], f32)
    noise = np.array([[0.3, -0.7], [-0.1, 0.6]], f32)
    # noise clipped to 0.5: [[0.3, -0.5], [-0.1, 0.5]]; sum [[1.2, -0.7], [-0.1, -0.45]]; clipped to [-1, 1]
    out = smoothed_target_action(action, noise, 0.5, -1.0, 1.0)
    np.testing.assert_allclose(out.numpy(), [[1.0, -0.7], [-0.1, -0.45]], rtol=1e-6)
    # per-dimension bounds: dim 0 in [-0.5, 0.5], dim 1 in [-0.6, 2] -> [[0.5, -0.6], [-0.1, -0.45]]
    out = smoothed_target_action(action, noise, 0.5, [-0.5, -0.6], [0.5, 2.0])
    np.testing.assert_allclose(out.numpy(), [[0.5, -0.6], [-0.1, -0.45]], rtol=1e-6)


# --------------------------------------------------------------------------- polyak_update


def test_polyak_update_by_hand_eager_and_in_tf_function():
    target, source = tf.Variable([1.0, -2.0]), tf.Variable([3.0, 2.0])
    polyak_update([target], [source], 0.005)
    # 0.005 * 3 + 0.995 * 1 = 1.01; 0.005 * 2 + 0.995 * (-2) = -1.98
    np.testing.assert_allclose(target.numpy(), [1.01, -1.98], rtol=1e-6)

    target2 = tf.Variable([[1.0]])
    step = tf.function(lambda tau: polyak_update([target, target2], [source, tf.constant([[5.0]])], tau))
    step(tf.constant(1.0))  # tau = 1 copies
    np.testing.assert_allclose(target.numpy(), [3.0, 2.0])
    np.testing.assert_allclose(target2.numpy(), [[5.0]])

    polyak_update([target], [tf.Variable([0.0, 0.0])], 1.0)
    np.testing.assert_array_equal(target.numpy(), [0.0, 0.0])
    with pytest.raises(ValueError, match="1 target variables but 2 source"):
        polyak_update([target], [source, source], 0.5)


# --------------------------------------------------------------------------- squashed Gaussian


def _direct_log_prob(mean, std, u):
    """log N(u; mean, std) - log|d tanh(u)/du|, computed naively in float64."""
    log_normal = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    return log_normal - np.log(1.0 - np.tanh(u) ** 2)


def test_squashed_gaussian_log_prob_matches_direct_change_of_variables_1d():
    mean, std = 0.3, 0.8
    noise = np.array([[-1.5], [0.2], [2.0]], f32)
    a, logp = D.squashed_gaussian_sample(np.full((3, 1), mean, f32), np.full((3, 1), math.log(std), f32), noise)
    u = mean + std * noise.astype(np.float64)[:, 0]
    np.testing.assert_allclose(a.numpy()[:, 0], np.tanh(u), rtol=1e-6)
    np.testing.assert_allclose(logp.numpy(), _direct_log_prob(mean, std, u), rtol=1e-5, atol=1e-5)
    from_u = D.squashed_gaussian_log_prob(np.full((3, 1), mean, f32), math.log(std), u[:, None].astype(f32))
    np.testing.assert_allclose(from_u.numpy(), logp.numpy(), rtol=1e-5, atol=1e-5)


def test_squashed_gaussian_density_integrates_to_one_1d():
    mean, log_std = 0.3, math.log(0.8)
    a = np.linspace(-1.0 + 1e-7, 1.0 - 1e-7, 200_001)
    u = np.arctanh(a)
    logp = D.squashed_gaussian_log_prob(tf.constant(np.full((a.size, 1), mean)), log_std, u[:, None]).numpy()
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    assert trapezoid(np.exp(logp), a) == pytest.approx(1.0, abs=1e-4)


def test_squashed_gaussian_sums_over_dimensions():
    mean = np.array([[0.1, -0.4]], f32)
    log_std = np.array([[-0.5, 0.2]], f32)
    noise = np.array([[0.7, -1.1]], f32)
    _, both = D.squashed_gaussian_sample(mean, log_std, noise)
    parts = [D.squashed_gaussian_sample(mean[:, d:d + 1], log_std[:, d:d + 1], noise[:, d:d + 1])[1] for d in (0, 1)]
    assert both.numpy()[0] == pytest.approx((parts[0] + parts[1]).numpy()[0], abs=1e-6)


def test_squashed_gaussian_extreme_pre_tanh_stays_finite():
    mean = tf.Variable([[20.0], [-20.0]])
    with tf.GradientTape() as tape:
        a, logp = D.squashed_gaussian_sample(mean, [0.0], tf.zeros((2, 1)))
    # |u| = 20, noise 0: log N = -0.5 log(2 pi); -log(1 - tanh^2) = -2 (log 2 - 20 - softplus(-40)) = 40 - 2 log 2
    expected = -0.5 * math.log(2 * math.pi) + 40.0 - 2.0 * math.log(2.0)  # 37.6947...
    np.testing.assert_allclose(logp.numpy(), [expected, expected], rtol=1e-6)
    np.testing.assert_array_equal(a.numpy(), [[1.0], [-1.0]])
    assert np.all(np.isfinite(tape.gradient(logp, mean).numpy()))
    np.testing.assert_allclose(D.squashed_gaussian_log_prob([[0.0]], [0.0], [[20.0]]).numpy(),
                               [expected - 0.5 * 400.0], rtol=1e-6)


def test_scale_and_unscale_action():
    low, high = np.array([-2.0, 0.0], f32), np.array([2.0, 10.0], f32)
    a = np.array([[-1.0, 1.0], [0.0, 0.0], [0.5, -0.5]], f32)
    # low + (a + 1) / 2 * (high - low): [[-2, 10], [0, 5], [1, 2.5]]
    scaled = D.scale_action(a, low, high)
    np.testing.assert_allclose(scaled.numpy(), [[-2.0, 10.0], [0.0, 5.0], [1.0, 2.5]], rtol=1e-6)
    np.testing.assert_allclose(D.unscale_action(scaled, low, high).numpy(), a, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(D.squashed_gaussian_mode([[0.0, 100.0]]).numpy(), [[0.0, 1.0]])


# --------------------------------------------------------------------------- compiled


def test_losses_under_xla_match_eager():
    def losses(mean, log_std, noise, q1, q2, log_alpha):
        _, logp = D.squashed_gaussian_sample(mean, log_std, noise)
        alpha = tf.exp(log_alpha)
        y = soft_q_target(tf.ones(3), tf.constant([0.99, 0.0, 0.99]), q1, q2, logp, alpha)
        return (sac_critic_loss(q1, q2, y), sac_actor_loss(q1, q2, logp, alpha),
                temperature_loss(log_alpha, logp, -2.0))

    rng = np.random.default_rng(0)
    args = [rng.normal(size=(3, 2)).astype(f32), np.full((3, 2), -0.5, f32), rng.normal(size=(3, 2)).astype(f32),
            rng.normal(size=3).astype(f32), rng.normal(size=3).astype(f32), tf.constant(0.1)]
    eager = losses(*args)
    compiled = tf.function(losses, jit_compile=True)(*args)
    for e, c in zip(eager, compiled):
        assert c.numpy() == pytest.approx(e.numpy(), rel=1e-5, abs=1e-6)
