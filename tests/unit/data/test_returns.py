"""Tests of tfrl.data.returns against hand-worked values and naive NumPy loops."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfrl.data import UniformReplayBuffer, discounted_returns, n_step_returns, td_target
from tfrl.errors import ConfigError
from tfrl.specs import ArraySpec


def naive_discounted(rewards, discounts, gamma, bootstrap):
    out = np.zeros_like(rewards, dtype=np.float64)
    g = np.asarray(bootstrap, np.float64)
    for t in reversed(range(len(rewards))):
        g = rewards[t] + gamma * discounts[t] * g
        out[t] = g
    return out


def naive_n_step(rewards, discounts, values, gamma, n):
    T, B = rewards.shape
    out = np.zeros((T, B))
    for t in range(T):
        for b in range(B):
            total, scale, m = 0.0, 1.0, min(n, T - t)
            for k in range(m):
                total += scale * rewards[t + k, b]
                scale *= gamma * discounts[t + k, b]
            out[t, b] = total + scale * values[t + m, b]
    return out


def random_sequence(seed, T=9, B=3):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(T, B)).astype(np.float32)
    discounts = (rng.random((T, B)) > 0.25).astype(np.float32)
    discounts[min(3, T - 1), 0] = 0.0  # a terminal inside the sequence
    values = rng.normal(size=(T + 1, B)).astype(np.float32)
    return rewards, discounts, values


def test_discounted_returns_hand_worked():
    # G2 = 4 + 0.5 * 8 = 8; G1 = 2 + 0.5 * 0 * 8 = 2 (terminal); G0 = 1 + 0.5 * 2 = 2
    got = discounted_returns([[1.0], [2.0], [4.0]], [[1.0], [0.0], [1.0]], 0.5, bootstrap_value=[8.0])
    assert isinstance(got, tf.Tensor) and got.dtype == tf.float32
    np.testing.assert_allclose(got.numpy(), [[2.0], [2.0], [8.0]])
    np.testing.assert_allclose(discounted_returns([[1.0], [2.0], [4.0]], [[1.0], [1.0], [1.0]], 0.5).numpy(),
                               [[3.0], [4.0], [4.0]])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_discounted_returns_matches_naive_loop(seed):
    rewards, discounts, values = random_sequence(seed)
    for bootstrap in (None, values[-1]):
        want = naive_discounted(rewards, discounts, 0.9, np.zeros(3) if bootstrap is None else bootstrap)
        got = discounted_returns(rewards, discounts, 0.9, bootstrap)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


def test_n_step_returns_hand_worked():
    # gamma 0.5, n 2; rewards 1, 2, 4, 8 with the episode terminating at step 1; values 10..14
    rewards = np.array([[1.0], [2.0], [4.0], [8.0]])
    discounts = np.array([[1.0], [0.0], [1.0], [1.0]])
    values = np.array([[10.0], [11.0], [12.0], [13.0], [14.0]])
    got = n_step_returns(rewards, discounts, values, 0.5, 2).numpy()
    want = [[1 + 0.5 * 2], [2.0], [4 + 0.5 * 8 + 0.25 * 14], [8 + 0.5 * 14]]
    np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9, 12])
def test_n_step_returns_matches_naive_loop(n):
    rewards, discounts, values = random_sequence(n)
    got = n_step_returns(rewards, discounts, values, 0.9, n)
    np.testing.assert_allclose(got.numpy(), naive_n_step(rewards, discounts, values, 0.9, n), rtol=1e-5, atol=1e-5)


def test_n_step_special_cases():
    rewards, discounts, values = random_sequence(4)
    one = n_step_returns(rewards, discounts, values, 0.9, 1)
    np.testing.assert_allclose(one.numpy(), td_target(rewards, 0.9 * discounts, values[1:]).numpy(), rtol=1e-6)
    full = n_step_returns(rewards, discounts, values, 0.9, len(rewards))
    np.testing.assert_allclose(full.numpy(), discounted_returns(rewards, discounts, 0.9, values[-1]).numpy(), rtol=1e-5)
    with pytest.raises(ConfigError, match="n must be a Python integer >= 1"):
        n_step_returns(rewards, discounts, values, 0.9, 0)


def test_td_target():
    got = td_target(np.array([1.0, 2.0]), np.array([0.99, 0.0]), np.array([10.0, 10.0]))
    assert isinstance(got, tf.Tensor)
    np.testing.assert_allclose(got.numpy(), [1.0 + 9.9, 2.0])


def test_functions_work_inside_tf_function_with_unknown_length():
    spec = tf.TensorSpec([None, None], tf.float32)

    @tf.function(input_signature=[spec, spec, spec])
    def targets(rewards, discounts, values):
        return (
            discounted_returns(rewards, discounts, 0.9, values[-1]),
            n_step_returns(rewards, discounts, values, 0.9, 3),
            td_target(rewards, 0.9 * discounts, values[1:]),
        )

    for T in (7, 2):  # one trace, two lengths (shorter than n too)
        rewards, discounts, values = random_sequence(T, T=T)
        full, nstep, td = targets(rewards, discounts, values)
        np.testing.assert_allclose(full.numpy(), naive_discounted(rewards, discounts, 0.9, values[-1]), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(nstep.numpy(), naive_n_step(rewards, discounts, values, 0.9, 3), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(td.numpy(), naive_n_step(rewards, discounts, values, 0.9, 1), rtol=1e-5, atol=1e-5)
    assert targets.experimental_get_tracing_count() == 1


def test_replay_n_step_targets_agree_with_n_step_returns():
    # One environment, terminations and reset rows, no truncation: the buffer's
    # reward + discount * V(next_observation) equals n_step_returns on the raw sequence.
    rng = np.random.default_rng(0)
    T, n, gamma = 30, 3, 0.8
    value_table = rng.normal(size=T + 1).astype(np.float32)  # V(observation id)
    rewards = rng.normal(size=T).astype(np.float32)
    discounts = np.ones(T, np.float32)
    valid = np.ones(T, bool)
    for t in (6, 17, 18, 25):
        if valid[t]:
            discounts[t] = 0.0  # terminates; the next row is the reset row
            if t + 1 < T:
                valid[t + 1], rewards[t + 1] = False, 0.0
    buffer = UniformReplayBuffer(100, ArraySpec((1,), np.float32), ArraySpec((), np.int64), n_step=n, gamma=gamma, seed=0)
    for t in range(T):  # observation id of row t is t, the next observation is t + 1
        buffer.add_batch(np.array([[t]], np.float32), np.array([t]), rewards[t:t + 1], discounts[t:t + 1],
                         np.array([[t + 1]], np.float32), discounts[t:t + 1] == 0.0, valid[t:t + 1])
    batch = buffer.sample(3000)
    ids, next_ids = batch.observation[:, 0].astype(int), batch.next_observation[:, 0].astype(int)
    assert set(ids) == set(np.flatnonzero(valid))
    from_buffer = td_target(batch.reward, batch.discount, value_table[next_ids]).numpy()
    want = n_step_returns(rewards[:, None], discounts[:, None], value_table[:, None], gamma, n).numpy()[ids, 0]
    np.testing.assert_allclose(from_buffer, want, rtol=1e-5, atol=1e-5)
