"""Tests of tfrl.agents.a2c and tfrl.agents.reinforce: the losses against hand-worked numbers, the
A2C update on real rollouts and on a hand-made one (bootstrapped targets read off the value loss), and
the REINFORCE update on hand-made episodes (padding to a power of two must not matter).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from tfrl import distributions, envs
from tfrl.agents.a2c import A2CAgent, A2CConfig, a2c_loss
from tfrl.agents.reinforce import ReinforceAgent, ReinforceConfig, reinforce_loss
from tfrl.data.returns import discount_and_normalize, episode_returns
from tfrl.data.rollout import RolloutBatch, RolloutBuffer
from tfrl.specs import ArraySpec, BoundedArraySpec
from tfrl.train.loops.host_on_policy import EpisodeBatch

OBS = ArraySpec((4,), np.float32)
TWO_ACTIONS = BoundedArraySpec((), np.int64, 0, 1)


def _weights(agent):
    return [v.numpy().copy() for v in agent.core.model.trainable_variables]


# --------------------------------------------------------------------------- a2c_loss by hand

LOG_PROB = np.array([-0.5, -1.0, -2.0, -0.1], np.float32)
ADVANTAGES = np.array([1.0, -2.0, 0.5, 100.0], np.float32)
VALUES = np.array([1.0, 2.0, 3.0, 50.0], np.float32)
RETURNS = np.array([2.0, 0.0, 3.0, -50.0], np.float32)
ENTROPY = np.array([0.6, 0.8, 1.0, 5.0], np.float32)
MASK = np.array([1.0, 1.0, 1.0, 0.0], np.float32)  # the fourth entry is padding / an auto-reset row


def test_a2c_loss_by_hand():
    out = {k: float(v) for k, v in a2c_loss(*map(tf.constant, (LOG_PROB, ADVANTAGES, VALUES, RETURNS, ENTROPY, MASK)),
                                            value_coef=0.5, entropy_coef=0.01).items()}
    # policy: -((-0.5)(1) + (-1)(-2) + (-2)(0.5)) / 3 = -(0.5) / 3
    assert out["policy_loss"] == pytest.approx(-0.5 / 3, rel=1e-6)
    # value: ((1 - 2)^2 + (2 - 0)^2 + 0) / 3 = 5 / 3 (no 1/2 factor)
    assert out["value_loss"] == pytest.approx(5 / 3, rel=1e-6)
    assert out["entropy"] == pytest.approx(0.8, rel=1e-6)  # (0.6 + 0.8 + 1.0) / 3
    # -1/6 + 0.5 * 5/3 - 0.01 * 0.8 = 0.6586667
    assert out["loss"] == pytest.approx(-1 / 6 + 5 / 6 - 0.008, rel=1e-6)


def test_a2c_loss_gradients_stop_at_the_advantages_and_skip_masked_entries():
    log_prob, advantages, values = tf.Variable(LOG_PROB), tf.Variable(ADVANTAGES), tf.Variable(VALUES)
    with tf.GradientTape(persistent=True) as tape:
        loss = a2c_loss(log_prob, advantages, values, tf.constant(RETURNS), tf.constant(ENTROPY), tf.constant(MASK),
                        value_coef=0.5, entropy_coef=0.01)["loss"]
    assert tape.gradient(loss, advantages) is None  # held constant
    # d/d log_prob = -A * mask / 3
    np.testing.assert_allclose(tape.gradient(loss, log_prob).numpy(), [-1 / 3, 2 / 3, -0.5 / 3, 0.0], rtol=1e-6)
    # d/dV = 0.5 * 2 (V - R) * mask / 3
    np.testing.assert_allclose(tape.gradient(loss, values).numpy(), [-1 / 3, 2 / 3, 0.0, 0.0], rtol=1e-6)


# --------------------------------------------------------------------------- reinforce_loss by hand


def test_reinforce_loss_by_hand():
    log_prob = tf.Variable([-0.2, -1.5, -0.7, -3.0])
    weights = tf.Variable([1.0, -0.5, 2.0, 9.0])
    entropy = tf.constant([0.5, 0.6, 0.7, 4.0])
    mask = tf.constant([1.0, 1.0, 1.0, 0.0])
    with tf.GradientTape(persistent=True) as tape:
        out = reinforce_loss(log_prob, weights, entropy, mask, entropy_coef=0.1)
    # policy: -((-0.2)(1) + (-1.5)(-0.5) + (-0.7)(2)) / 3 = -(-0.85) / 3
    assert float(out["policy_loss"]) == pytest.approx(0.85 / 3, rel=1e-6)
    assert float(out["entropy"]) == pytest.approx(0.6, rel=1e-6)
    assert float(out["loss"]) == pytest.approx(0.85 / 3 - 0.06, rel=1e-6)
    assert tape.gradient(out["loss"], weights) is None
    np.testing.assert_allclose(tape.gradient(out["loss"], log_prob).numpy(), [-1 / 3, 0.5 / 3, -2 / 3, 0.0],
                               rtol=1e-6)


# --------------------------------------------------------------------------- A2C agent


def _collect(agent, env, num_steps, seed=0) -> RolloutBatch:
    buffer = RolloutBuffer(num_steps, env.num_envs, env.observation_spec(), agent.stored_action_spec)
    time_step = env.reset(seed=seed)
    for _ in range(num_steps):
        env_action, action, log_prob, value = agent.act(time_step.observation)
        next_time_step = env.step(env_action)
        buffer.add(time_step, action, next_time_step, log_prob=log_prob, value=value)
        time_step = next_time_step
    buffer.finish(time_step, agent.value(time_step.observation))
    return RolloutBatch(*(np.array(a) for a in buffer.as_batch()))


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam"])
def test_a2c_train_changes_weights(optimizer):
    env = envs.make("CartPole-v1", num_envs=4, seed=0)
    config = A2CConfig(num_steps=8, optimizer=optimizer, hidden_sizes=(16,), jit_compile=False, entropy_coef=0.01)
    agent = A2CAgent(config, env.observation_spec(), env.action_spec(), 1000, seed=0, num_envs=4)
    expected_class = {"rmsprop": "RMSprop", "adam": "Adam"}[optimizer]
    assert type(agent.optimizer).__name__ == expected_class
    batch = _collect(agent, env, 8)
    env.close()
    before = _weights(agent)
    metrics = agent.train(batch)
    assert all(not np.array_equal(x, y) for x, y in zip(before, _weights(agent)))
    assert set(metrics) == {"losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/grad_norm"}
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["losses/entropy"] == pytest.approx(math.log(2), rel=0.05)
    assert metrics["losses/grad_norm"] > 0.0
    assert int(agent.num_updates.numpy()) == 1


def _hand_rollout() -> RolloutBatch:
    """T = 2 steps of N = 3 envs, every number chosen by hand.

    env 0: two ordinary steps, rewards 1, 1; bootstraps from V(obs after the rollout) = 4
           R_1 = 1 + 0.99 * 4 = 4.96; R_0 = 1 + 0.99 * 4.96 = 5.9104
    env 1: terminates at row 0 (reward 1, discount 0): R_0 = 1; row 1 is the auto-reset row (not valid)
    env 2: truncated at row 0 (reward 0.5, discount 1), final observation valued 3: R_0 = 0.5 + 0.99 * 3 = 3.47;
           row 1 starts a new episode, reward 2, bootstraps from V = -1: R_1 = 2 - 0.99 = 1.01
    """
    rng = np.random.default_rng(0)
    return RolloutBatch(
        observation=rng.normal(size=(3, 3, 4)).astype(np.float32),
        action=np.array([[0, 1, 0], [1, 0, 1]], np.int64),
        reward=np.array([[1.0, 1.0, 0.5], [1.0, 0.0, 2.0]], np.float32),
        discount=np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]], np.float32),
        last=np.array([[False, True, True], [False, False, False]]),
        valid=np.array([[True, True, True], [True, False, True]]),
        first=np.array([[True, True, True], [False, False, True]]),
        log_prob=np.full((2, 3), -math.log(2), np.float32),
        # row 0 (and env 1's row 1) must not matter for lambda = 1 returns: junk values
        value=np.array([[17.0, -8.0, 0.25], [-3.0, 11.0, 3.0], [4.0, 123.0, -1.0]], np.float32),
    )


def test_a2c_value_targets_are_bootstrapped_returns():
    config = A2CConfig(num_steps=2, gamma=0.99, gae_lambda=1.0, hidden_sizes=(8,), jit_compile=False)
    agent = A2CAgent(config, OBS, TWO_ACTIONS, 100, seed=0, num_envs=3)
    head = agent.core.model.get_layer("value_head")
    head.kernel.assign(tf.zeros_like(head.kernel))
    head.bias.assign([1.0])  # the critic says V(s) = 1 everywhere
    metrics = agent.train(_hand_rollout())
    # valid rows' (1 - R)^2: (1 - 5.9104)^2, (1 - 4.96)^2, (1 - 1)^2, (1 - 3.47)^2, (1 - 1.01)^2
    expected = (4.9104**2 + 3.96**2 + 0.0 + 2.47**2 + 0.01**2) / 5  # = 9.178926
    assert metrics["losses/value_loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("normalize_advantages", [False, True])
def test_a2c_policy_loss_weights_log_probs_by_rollout_advantages(normalize_advantages):
    config = A2CConfig(num_steps=2, gamma=0.99, gae_lambda=1.0, hidden_sizes=(8,), jit_compile=False,
                       normalize_advantages=normalize_advantages, entropy_coef=0.1)
    agent = A2CAgent(config, OBS, TWO_ACTIONS, 100, seed=0, num_envs=3)
    batch = _hand_rollout()
    # A = R - value[t] with the rollout's (not the current critic's) values, valid rows in row-major order:
    # env 0: 5.9104 - 17 = -11.0896, 4.96 + 3 = 7.96; env 1: 1 + 8 = 9; env 2: 3.47 - 0.25 = 3.22, 1.01 - 3 = -1.99
    advantages = np.array([-11.0896, 9.0, 3.22, 7.96, -1.99])
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    valid = batch.valid.reshape(-1)
    outputs = agent.core.model(batch.observation[:-1].reshape(6, 4))
    log_prob = distributions.categorical_log_prob(outputs["logits"], batch.action.reshape(-1)).numpy()[valid]
    entropy = distributions.categorical_entropy(outputs["logits"]).numpy()[valid]
    metrics = agent.train(batch)
    # (normalized advantages sum to 0 against nearly equal log-probs: a small number, float32 cancellation)
    assert metrics["losses/policy_loss"] == pytest.approx(-np.mean(log_prob * advantages), rel=1e-5, abs=1e-7)
    assert metrics["losses/entropy"] == pytest.approx(np.mean(entropy), rel=1e-6)


def test_a2c_one_step_target_is_reward_plus_discounted_next_value():
    # T = 1: the target is r + gamma * d * V(next), read off the value loss with V(s) = 0
    config = A2CConfig(num_steps=1, gamma=0.9, gae_lambda=1.0, hidden_sizes=(8,), jit_compile=False)
    agent = A2CAgent(config, OBS, TWO_ACTIONS, 100, seed=0, num_envs=2)
    head = agent.core.model.get_layer("value_head")
    head.kernel.assign(tf.zeros_like(head.kernel))
    head.bias.assign([0.0])
    batch = RolloutBatch(
        observation=np.ones((2, 2, 4), np.float32), action=np.zeros((1, 2), np.int64),
        reward=np.array([[1.0, 2.0]], np.float32), discount=np.array([[1.0, 0.0]], np.float32),
        last=np.array([[False, True]]), valid=np.ones((1, 2), bool), first=np.ones((1, 2), bool),
        log_prob=np.zeros((1, 2), np.float32), value=np.array([[0.0, 0.0], [5.0, 5.0]], np.float32),
    )
    # env 0: R = 1 + 0.9 * 1 * 5 = 5.5; env 1 terminated: R = 2 -> (5.5^2 + 2^2) / 2 = 17.125
    assert agent.train(batch)["losses/value_loss"] == pytest.approx(17.125, rel=1e-6)


# --------------------------------------------------------------------------- REINFORCE agent


def _episodes(lengths, seed=0) -> EpisodeBatch:
    rng = np.random.default_rng(seed)
    return EpisodeBatch(
        observations=[rng.normal(size=(n, 4)).astype(np.float32) for n in lengths],
        actions=[rng.integers(0, 2, size=n).astype(np.int64) for n in lengths],
        rewards=[rng.uniform(-1, 2, size=n).astype(np.float32) for n in lengths],
        truncated=[False] * len(lengths),
    )


def _expected_reinforce_metrics(agent, batch, config):
    """The update's losses and gradient norm computed without any padding."""
    obs, act = np.concatenate(batch.observations), np.concatenate(batch.actions)
    model = agent.core.model
    with tf.GradientTape() as tape:
        outputs = model(obs)
        log_prob = distributions.categorical_log_prob(outputs["logits"], act)
        entropy = tf.reduce_mean(distributions.categorical_entropy(outputs["logits"]))
        if config.baseline:
            returns = np.concatenate([episode_returns(r, config.gamma).numpy() for r in batch.rewards])
            advantages = returns - outputs["value"].numpy()
            weights = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            value_loss = 0.5 * tf.reduce_mean(tf.square(outputs["value"] - returns))
        else:
            weights = np.concatenate(discount_and_normalize(batch.rewards, config.gamma))
            value_loss = tf.constant(0.0)
        policy_loss = -tf.reduce_mean(log_prob * weights)
        loss = policy_loss - config.entropy_coef * entropy + config.value_coef * value_loss
    grads = [g for g in tape.gradient(loss, model.trainable_variables) if g is not None]
    return {"losses/policy_loss": float(policy_loss), "losses/value_loss": float(value_loss),
            "losses/entropy": float(entropy), "losses/grad_norm": float(tf.linalg.global_norm(grads))}


@pytest.mark.parametrize("baseline", [False, True], ids=["plain", "baseline"])
@pytest.mark.parametrize("lengths", [(5, 3, 7), (21, 22, 22)], ids=["15-padded-to-64", "65-padded-to-128"])
def test_reinforce_train_matches_the_unpadded_computation(baseline, lengths):
    config = ReinforceConfig(gamma=0.9, baseline=baseline, entropy_coef=0.05, hidden_sizes=(8,), jit_compile=False,
                             learning_rate=1e-2)
    agent = ReinforceAgent(config, OBS, TWO_ACTIONS, 1000, seed=0)
    batch = _episodes(lengths)
    expected = _expected_reinforce_metrics(agent, batch, config)
    before = _weights(agent)
    metrics = agent.train(batch)
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    assert metrics["charts/batch_episode_return"] == pytest.approx(np.mean([r.sum() for r in batch.rewards]), rel=1e-6)
    after = _weights(agent)
    names = [v.path for v in agent.core.model.trainable_variables]
    changed = {n for n, x, y in zip(names, before, after) if not np.array_equal(x, y)}
    actor = {n for n in names if "critic" not in n and "value" not in n}
    assert actor <= changed  # every actor variable moved
    if baseline:
        assert changed == set(names)  # the critic is fitted too
        assert metrics["losses/value_loss"] > 0.0
    else:
        assert changed == actor  # without a baseline nothing trains the critic
        assert metrics["losses/value_loss"] == 0.0
    assert int(agent.num_updates.numpy()) == 1


def test_reinforce_jit_compile_matches_eager():
    batch = _episodes((9, 4, 12))
    results = []
    for jit_compile in (False, True):
        config = ReinforceConfig(gamma=0.9, baseline=True, hidden_sizes=(8,), jit_compile=jit_compile)
        agent = ReinforceAgent(config, OBS, TWO_ACTIONS, 1000, seed=0)
        results.append((agent.train(batch), _weights(agent)))
    (m_eager, w_eager), (m_jit, w_jit) = results
    assert m_eager == pytest.approx(m_jit, rel=1e-4, abs=1e-6)
    for x, y in zip(w_eager, w_jit):
        np.testing.assert_allclose(x, y, atol=1e-6)
