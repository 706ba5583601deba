"""Tests of tfrl.distributions against NumPy closed forms and sampling frequencies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from tfrl import distributions as D

LOGITS = np.array([1.0, 2.5, 0.0, -1.0], np.float32)  # argmax 1; gaps >= 1.5 to the runner-up


def softmax(x, axis=-1):
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def draws(temperature, n=4000, seed=0, logits=LOGITS):
    noise = np.random.default_rng(seed).random((n, logits.shape[-1]), dtype=np.float32)
    batch = np.broadcast_to(logits, (n, logits.shape[-1]))
    return D.categorical_sample(batch, noise, temperature).numpy()


def frequencies(samples, num=4):
    return np.bincount(samples, minlength=num) / len(samples)


# --------------------------------------------------------------------------- categorical


def test_categorical_log_prob_matches_log_softmax():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5)).astype(np.float32) * 3
    actions = rng.integers(0, 5, size=6)
    expected = np.log(softmax(logits.astype(np.float64)))[np.arange(6), actions]
    np.testing.assert_allclose(D.categorical_log_prob(logits, actions).numpy(), expected, rtol=1e-5, atol=1e-5)
    # by hand: logits [0, log 3] -> p = [1/4, 3/4]
    two = np.array([[0.0, math.log(3.0)]], np.float32)
    np.testing.assert_allclose(D.categorical_log_prob(two, [1]).numpy(), [math.log(0.75)], rtol=1e-6)
    np.testing.assert_allclose(D.categorical_log_prob(two, [0]).numpy(), [math.log(0.25)], rtol=1e-6)


def test_categorical_log_prob_time_major_and_masked_logits():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 4, 5)).astype(np.float32)  # [T, B, A]
    actions = rng.integers(0, 5, size=(3, 4))
    log_p = np.log(softmax(logits.astype(np.float64)))
    expected = np.take_along_axis(log_p, actions[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(D.categorical_log_prob(logits, actions).numpy(), expected, rtol=1e-5, atol=1e-5)
    masked = np.array([[0.0, -np.inf, 0.0]], np.float32)
    np.testing.assert_allclose(D.categorical_log_prob(masked, [2]).numpy(), [math.log(0.5)], rtol=1e-6)
    np.testing.assert_allclose(D.categorical_entropy(masked).numpy(), [math.log(2.0)], rtol=1e-6)


def test_categorical_entropy_closed_form():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(7, 4)).astype(np.float32) * 2
    p = softmax(logits.astype(np.float64))
    expected = -(p * np.log(p)).sum(-1)
    np.testing.assert_allclose(D.categorical_entropy(logits).numpy(), expected, rtol=1e-5)
    # uniform over 4 actions: log 4; a near-deterministic one: ~0
    np.testing.assert_allclose(D.categorical_entropy(np.zeros((1, 4), np.float32)).numpy(), [math.log(4)], rtol=1e-6)
    assert D.categorical_entropy(np.array([[0.0, 100.0]], np.float32)).numpy()[0] < 1e-30


def test_categorical_sample_is_gumbel_max_of_the_given_noise():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(50, 6)).astype(np.float32)
    noise = rng.random((50, 6), dtype=np.float32)
    for temperature in (1.0, 0.5, 3.0):
        expected = np.argmax(logits / temperature - np.log(-np.log(noise)), axis=-1)
        got = D.categorical_sample(logits, noise, temperature).numpy()
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == np.int64


def test_categorical_sample_survives_noise_of_exactly_zero_and_one():
    logits = np.zeros((2, 3), np.float32)
    noise = np.array([[0.0, 0.5, 0.2], [1.0, 1.0, 0.3]], np.float32)
    got = D.categorical_sample(logits, noise).numpy()
    # u = 0 is the smallest Gumbel noise, u = 1 the largest (clipped into (0, 1), not +-inf): first 1 wins ties
    assert got.tolist() == [1, 0]


def test_temperature_one_matches_softmax_frequencies():
    freq = frequencies(draws(1.0))
    # 4000 draws: the standard error of a frequency is at most 0.008
    np.testing.assert_allclose(freq, softmax(LOGITS.astype(np.float64)), atol=0.03)


def test_low_temperature_is_greedy():
    samples = draws(0.01)
    assert np.all(samples == np.argmax(LOGITS))


def test_high_temperature_is_nearly_uniform():
    freq = frequencies(draws(100.0))
    np.testing.assert_allclose(freq, 0.25, atol=0.03)
    # and distinct from temperature 1, where action 1 has p = 0.69
    assert freq[1] < 0.3


def test_same_noise_seed_same_samples():
    np.testing.assert_array_equal(draws(1.0, seed=5), draws(1.0, seed=5))
    assert not np.array_equal(draws(1.0, seed=5), draws(1.0, seed=6))


def test_categorical_mode_and_kl():
    logits = np.array([[0.1, 2.0, -1.0], [3.0, 3.0, 0.0]], np.float32)
    assert D.categorical_mode(logits).numpy().tolist() == [1, 0]  # first on ties
    rng = np.random.default_rng(4)
    lp, lq = rng.normal(size=(2, 5, 3))
    p, q = softmax(lp), softmax(lq)
    expected = (p * (np.log(p) - np.log(q))).sum(-1)
    np.testing.assert_allclose(D.kl_categorical(lp, lq).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(D.kl_categorical(lp, lp).numpy(), 0.0, atol=1e-7)


def test_categorical_functions_run_in_tf_function_with_xla():
    @tf.function(jit_compile=True)
    def f(logits, actions, noise):
        return (
            D.categorical_log_prob(logits, actions),
            D.categorical_entropy(logits),
            D.categorical_sample(logits, noise, 2.0),
        )

    logits = np.array([[0.0, 1.0, 2.0]], np.float32)
    log_p, entropy, sample = f(logits, np.array([2]), np.full((1, 3), 0.5, np.float32))
    p = softmax(logits.astype(np.float64))
    np.testing.assert_allclose(log_p.numpy(), np.log(p[:, 2]), rtol=1e-5)
    np.testing.assert_allclose(entropy.numpy(), -(p * np.log(p)).sum(-1), rtol=1e-5)
    assert sample.numpy().tolist() == [2]  # equal noise: the argmax


# --------------------------------------------------------------------------- Gaussian


def gaussian_log_prob_np(mu, log_std, a):
    sigma = np.exp(log_std)
    return -0.5 * (((a - mu) / sigma) ** 2 + 2 * np.log(sigma) + np.log(2 * np.pi)).sum(-1)


def test_gaussian_log_prob_closed_form():
    rng = np.random.default_rng(5)
    mu = rng.normal(size=(8, 3))
    log_std = rng.normal(size=(8, 3)) * 0.5
    a = rng.normal(size=(8, 3))
    got = D.gaussian_log_prob(mu.astype(np.float32), log_std.astype(np.float32), a.astype(np.float32)).numpy()
    np.testing.assert_allclose(got, gaussian_log_prob_np(mu, log_std, a), rtol=1e-5)
    # a [D] log_std broadcasts over the batch
    vec = log_std[0].astype(np.float32)
    got = D.gaussian_log_prob(mu.astype(np.float32), vec, a.astype(np.float32)).numpy()
    np.testing.assert_allclose(got, gaussian_log_prob_np(mu, log_std[0], a), rtol=1e-5)
    # by hand: the standard normal density at 0 in one dimension is 1/sqrt(2 pi)
    np.testing.assert_allclose(D.gaussian_log_prob([[0.0]], [[0.0]], [[0.0]]).numpy(), [-0.5 * math.log(2 * math.pi)])


def test_gaussian_entropy_closed_form():
    log_std = np.array([[0.0, -1.0], [0.5, 0.2]], np.float32)
    expected = (log_std + 0.5 * np.log(2 * np.pi * np.e)).sum(-1)
    np.testing.assert_allclose(D.gaussian_entropy(log_std).numpy(), expected, rtol=1e-6)
    assert D.gaussian_entropy(log_std).shape == (2,)
    # a 1-D standard normal: 0.5 * log(2 pi e) = 1.4189...
    np.testing.assert_allclose(D.gaussian_entropy([0.0]).numpy(), 1.4189385, rtol=1e-6)


def test_gaussian_sample_and_its_statistics():
    mu = np.array([[1.0, -2.0]], np.float32)
    log_std = np.log(np.array([[0.5, 2.0]], np.float32))
    noise = np.array([[1.0, -0.5]], np.float32)
    np.testing.assert_allclose(D.gaussian_sample(mu, log_std, noise).numpy(), [[1.5, -3.0]], rtol=1e-6)
    noise = np.random.default_rng(6).standard_normal((20000, 2), dtype=np.float32)
    samples = D.gaussian_sample(np.broadcast_to(mu, (20000, 2)), log_std, noise).numpy()
    np.testing.assert_allclose(samples.mean(0), mu[0], atol=0.05)
    np.testing.assert_allclose(samples.std(0), [0.5, 2.0], rtol=0.03)


def test_kl_gaussian_closed_form():
    rng = np.random.default_rng(7)
    mp, lp, mq, lq = rng.normal(size=(4, 5, 2)) * 0.5
    sp, sq = np.exp(lp), np.exp(lq)
    expected = (np.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5).sum(-1)
    np.testing.assert_allclose(D.kl_gaussian(mp, lp, mq, lq).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(D.kl_gaussian(mp, lp, mp, lp).numpy(), 0.0, atol=1e-7)
    assert np.all(D.kl_gaussian(mp, lp, mq, lq).numpy() > 0)


def test_gaussian_log_prob_gradient_in_tf_function():
    mean = tf.Variable([[0.5, -0.5]])

    @tf.function
    def grad(actions):
        with tf.GradientTape() as tape:
            log_p = D.gaussian_log_prob(mean, tf.zeros((1, 2)), actions)
        return tape.gradient(log_p, mean)

    # d/dmu log N(a; mu, 1) = a - mu
    np.testing.assert_allclose(grad(tf.constant([[1.0, 1.0]])).numpy(), [[0.5, 1.5]], rtol=1e-6)


@pytest.mark.parametrize("fn", [D.categorical_entropy, D.gaussian_entropy])
def test_entropy_dtype_follows_input(fn):
    assert fn(np.zeros((2, 3), np.float64)).dtype == tf.float64
