"""Tests of C51, QR-DQN and Rainbow (tfrl.agents.c51, qrdqn, rainbow): the projection and both losses against
numbers worked out by hand, and the agents' training step against a NumPy reference.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfrl.agents import get_algorithm
from tfrl.agents.c51 import C51Agent, C51Config, categorical_loss, categorical_projection, categorical_q
from tfrl.agents.dqn import DQNAgent, DQNConfig
from tfrl.agents.qrdqn import QRDQNAgent, QRDQNConfig, quantile_huber_loss, quantile_midpoints, quantile_targets
from tfrl.agents.rainbow import RainbowConfig
from tfrl.data import Transition
from tfrl.errors import ConfigError
from tfrl.specs import ArraySpec, BoundedArraySpec

OBS = ArraySpec((4,), np.float32)
ACTIONS = BoundedArraySpec((), np.int64, 0, 1)
SMALL = dict(hidden_sizes=(16,), batch_size=8, buffer_size=64, jit_compile=False, learning_rate=1e-2)


# --------------------------------------------------------------------------- the categorical projection

SUPPORT = tf.constant([0.0, 1.0, 2.0])  # v_min 0, v_max 2, three atoms, dz = 1


@pytest.mark.parametrize("probs, reward, discount, expected", [
    # Tz = [0.5, 1.5, 2.5 -> 2]; only atom 0 has mass: 0.5 at 0.5 splits evenly between z0 and z1
    ([1.0, 0.0, 0.0], 0.5, 1.0, [0.5, 0.5, 0.0]),
    # terminated (discount 0): every atom lands on r = 1, so all mass goes to z1
    ([0.2, 0.3, 0.5], 1.0, 0.0, [0.0, 1.0, 0.0]),
    # Tz = [0, 0.5, 1]: 0.2 -> z0; 0.3 at 0.5 -> 0.15 z0 + 0.15 z1; 0.5 -> z1
    ([0.2, 0.3, 0.5], 0.0, 0.5, [0.35, 0.65, 0.0]),
    # Tz = [-1 -> 0, 0, 1]: clipped below
    ([0.2, 0.3, 0.5], -1.0, 1.0, [0.5, 0.5, 0.0]),
    # Tz = [1, 2, 3 -> 2]: atoms landing exactly on the support keep all their mass
    ([0.2, 0.3, 0.5], 1.0, 1.0, [0.0, 0.2, 0.8]),
])
def test_categorical_projection_by_hand(probs, reward, discount, expected):
    m = categorical_projection(tf.constant([probs]), tf.constant([reward]), tf.constant([discount]), SUPPORT)
    np.testing.assert_allclose(m.numpy()[0], expected, atol=1e-6)


def test_categorical_projection_keeps_mass_and_mean_inside_the_support():
    rng = np.random.default_rng(0)
    support = tf.linspace(-10.0, 10.0, 51)
    probs = rng.dirichlet(np.ones(51), size=64).astype(np.float32)
    probs[:, np.abs(np.linspace(-10, 10, 51)) > 7] = 0.0  # mass only where r + discount * z stays inside [-10, 10]
    probs /= probs.sum(axis=1, keepdims=True)
    rewards = rng.uniform(-2, 2, size=64).astype(np.float32)
    discounts = rng.choice([0.0, 0.99, 0.99**3], size=64).astype(np.float32)
    m = categorical_projection(tf.constant(probs), tf.constant(rewards), tf.constant(discounts), support).numpy()
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-5)
    # inside the support the projection keeps the mean: E[m] = r + discount * E[p] (no mass is clipped here)
    z = support.numpy()
    np.testing.assert_allclose(m @ z, rewards + discounts * (probs @ z), atol=1e-4)


def test_categorical_loss_and_q_by_hand():
    # uniform logits: log p = -ln 3 for each atom, so the cross-entropy to any target is ln 3
    loss = categorical_loss(tf.zeros([1, 3]), tf.constant([[0.5, 0.5, 0.0]]))
    np.testing.assert_allclose(loss.numpy(), [np.log(3.0)], rtol=1e-6)
    # logits [0, ln 2, ln 3]: p = [1/6, 2/6, 3/6], Q = 0 * 1/6 + 1 * 2/6 + 2 * 3/6 = 4/3
    q = categorical_q(tf.constant([[0.0, np.log(2.0), np.log(3.0)]]), SUPPORT)
    np.testing.assert_allclose(q.numpy(), [4.0 / 3.0], rtol=1e-6)


# --------------------------------------------------------------------------- the quantile Huber loss

def test_quantile_midpoints():
    np.testing.assert_allclose(quantile_midpoints(4).numpy(), [0.125, 0.375, 0.625, 0.875])


@pytest.mark.parametrize("quantiles, targets, kappa, expected", [
    # taus [0.25, 0.75]; u = [0.5, -0.5]: 0.25 * 0.125 + |0.75 - 1| * 0.125 = 0.0625
    ([0.0, 1.0], [0.5], 1.0, 0.0625),
    # u_0j = [2, -3]: (0.25 * 1.5 + 0.75 * 2.5) / 2 = 1.125; u_1j the same: (0.75 * 1.5 + 0.25 * 2.5) / 2 = 0.875
    ([0.0, 0.0], [2.0, -3.0], 1.0, 2.0),
    # kappa 0, the plain quantile loss: (0.25 * 2 + 0.75 * 3) / 2 + (0.75 * 2 + 0.25 * 3) / 2 = 1.375 + 1.125
    ([0.0, 0.0], [2.0, -3.0], 0.0, 2.5),
    # kappa 2: L/k = [0.5 * 4 / 2, 2 * (3 - 1) / 2] = [1, 2]: (0.25 + 1.5) / 2 + (0.75 + 0.5) / 2 = 1.5
    ([0.0, 0.0], [2.0, -3.0], 2.0, 1.5),
])
def test_quantile_huber_loss_by_hand(quantiles, targets, kappa, expected):
    loss = quantile_huber_loss(tf.constant([quantiles]), tf.constant([targets]), kappa)
    np.testing.assert_allclose(loss.numpy(), [expected], rtol=1e-6)


def test_quantile_targets_do_not_bootstrap_after_termination():
    targets = quantile_targets(tf.constant([1.0, 1.0]), tf.constant([0.0, 0.5]), tf.constant([[4.0, 8.0]] * 2))
    np.testing.assert_allclose(targets.numpy(), [[1.0, 1.0], [3.0, 5.0]])


# --------------------------------------------------------------------------- the agents

def _batch(seed: int = 0, size: int = 8) -> Transition:
    rng = np.random.default_rng(seed)
    return Transition(
        observation=rng.normal(size=(size, 4)).astype(np.float32),
        action=rng.integers(0, 2, size=size).astype(np.int64),
        reward=rng.normal(size=size).astype(np.float32),
        # terminated (0), truncated or running (gamma), and a 3-step multiplier
        discount=np.resize(np.array([0.0, 0.99, 0.99**3], np.float32), size),
        next_observation=rng.normal(size=(size, 4)).astype(np.float32),
    )


def _numpy_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("double", [False, True])
def test_c51_loss_items_match_a_numpy_reference(double):
    config = C51Config(**SMALL, num_atoms=5, v_min=-2.0, v_max=2.0, double_dqn=double)
    agent = C51Agent(config, OBS, ACTIONS, total_steps=1000, seed=3)
    agent.target_network.set_weights([w + 0.1 for w in agent.q_network.get_weights()])
    b = _batch()
    logits = agent.q_network(b.observation).numpy()
    next_target = agent.target_network(b.next_observation).numpy()
    next_online = agent.q_network(b.next_observation).numpy()
    z = np.linspace(-2.0, 2.0, 5)
    chooser = next_online if double else next_target
    best = (_numpy_softmax(chooser) @ z).argmax(axis=1)
    p_next = _numpy_softmax(next_target[np.arange(8), best])
    expected = []
    for i in range(8):  # the paper's Algorithm 1, with the floor/ceil split
        m = np.zeros(5)
        for j in range(5):
            tz = np.clip(b.reward[i] + b.discount[i] * z[j], -2.0, 2.0)
            pos = (tz + 2.0) / 1.0
            lo, hi = int(np.floor(pos)), int(np.ceil(pos))
            if lo == hi:
                m[lo] += p_next[i, j]
            else:
                m[lo] += p_next[i, j] * (hi - pos)
                m[hi] += p_next[i, j] * (pos - lo)
        log_p = np.log(_numpy_softmax(logits[i, b.action[i]]))
        expected.append(-(m * log_p).sum())
    items, priorities = agent.loss_items(
        tf.constant(logits), tf.constant(b.action), tf.constant(b.reward), tf.constant(b.discount),
        tf.constant(next_target), tf.constant(next_online) if double else None)
    np.testing.assert_allclose(items.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(priorities.numpy(), expected, rtol=1e-5)


def test_qrdqn_loss_items_match_a_numpy_reference():
    config = QRDQNConfig(**SMALL, num_quantiles=3, kappa=1.0)
    agent = QRDQNAgent(config, OBS, ACTIONS, total_steps=1000, seed=4)
    b = _batch(1)
    theta = agent.q_network(b.observation).numpy()
    next_target = agent.target_network(b.next_observation).numpy()
    best = next_target.mean(axis=2).argmax(axis=1)
    taus = np.array([1, 3, 5]) / 6.0
    expected = []
    for i in range(8):
        target = b.reward[i] + b.discount[i] * next_target[i, best[i]]
        total = 0.0
        for q in range(3):
            u = target - theta[i, b.action[i], q]
            huber = np.where(np.abs(u) <= 1.0, 0.5 * u**2, np.abs(u) - 0.5)
            total += np.mean(np.abs(taus[q] - (u < 0)) * huber)
        expected.append(total)
    items, _ = agent.loss_items(tf.constant(theta), tf.constant(b.action), tf.constant(b.reward),
                                tf.constant(b.discount), tf.constant(next_target), None)
    np.testing.assert_allclose(items.numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("agent_class, config", [
    (DQNAgent, DQNConfig(**SMALL)),
    (C51Agent, C51Config(**SMALL, num_atoms=11)),
    (QRDQNAgent, QRDQNConfig(**SMALL, num_quantiles=8)),
    (C51Agent, RainbowConfig(**SMALL, num_atoms=11)),
], ids=["dqn", "c51", "qrdqn", "rainbow"])
def test_importance_weights_scale_each_transitions_loss(agent_class, config):
    agent = agent_class(config, OBS, ACTIONS, total_steps=1000, seed=0)
    b = _batch(2)
    weights = np.linspace(0.1, 1.0, 8).astype(np.float32)
    args = [tf.constant(x) for x in b]

    @tf.function
    def losses():
        outputs = agent.q_network(args[0], training=False)
        next_target = agent.target_network(args[4], training=False)
        next_online = agent.q_network(args[4], training=False) if config.double_dqn else None
        return agent.loss_items(outputs, args[1], args[2], args[3], next_target, next_online)[0]

    if not config.noisy:  # a noisy network draws new noise in the training step; compare the means instead
        items = losses().numpy()
    before = [w.numpy() for w in agent.q_network.trainable_variables]
    metrics, priorities = agent.train_prioritized(Transition(*(x[None] for x in b)), weights[None])
    after = [w.numpy() for w in agent.q_network.trainable_variables]
    assert any(not np.array_equal(x, y) for x, y in zip(before, after)), "a gradient step changed no weight"
    assert priorities.shape == (1, 8) and np.all(priorities >= 0)
    if not config.noisy:
        np.testing.assert_allclose(metrics[agent.metric_names[0]], np.mean(weights * items), rtol=1e-5)
        if agent_class is not DQNAgent:  # C51 and QR-DQN: the priority is the transition's loss (DQN's is |TD error|)
            np.testing.assert_allclose(priorities[0], items, rtol=1e-5)


def test_zero_importance_weights_leave_the_weights_unchanged():
    agent = C51Agent(C51Config(**SMALL, num_atoms=11), OBS, ACTIONS, total_steps=1000, seed=0)
    before = [w.numpy() for w in agent.q_network.trainable_variables]
    agent.train_prioritized(Transition(*(x[None] for x in _batch())), np.zeros((1, 8), np.float32))
    after = [w.numpy() for w in agent.q_network.trainable_variables]
    for x, y in zip(before, after):
        np.testing.assert_array_equal(x, y)


def test_noisy_agents_explore_with_noise_and_evaluate_with_the_mean_weights():
    agent = C51Agent(RainbowConfig(**SMALL, num_atoms=11), OBS, ACTIONS, total_steps=1000, seed=0)
    obs = np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32)
    explore = [agent.policy.action(obs, 10_000) for _ in range(4)]
    evaluate = [agent.eval_policy.action(obs) for _ in range(2)]
    assert any(not np.array_equal(explore[0], e) for e in explore[1:]), "the noise never changed an action"
    np.testing.assert_array_equal(evaluate[0], evaluate[1])
    # the saved policy maps observations to Q-values
    assert agent.policy_model(obs).shape == (256, 2)


def test_rainbow_defaults_turn_every_component_on():
    config = RainbowConfig()
    assert (config.n_step, config.double_dqn, config.dueling, config.noisy, config.prioritized_replay) == \
        (3, True, True, True, True)
    assert config.exploration_initial_eps == config.exploration_final_eps == 0.0
    assert get_algorithm("rainbow").agent is C51Agent


@pytest.mark.parametrize("algo, settings, message", [
    ("c51", dict(v_min=1.0, v_max=1.0), "v_max must be > v_min"),
    ("c51", dict(num_atoms=1), "num_atoms must be >= 2"),
    ("c51", dict(loss="mse"), "loss does not apply"),
    ("qrdqn", dict(kappa=-1.0), "kappa must be >= 0"),
    ("rainbow", dict(priority_alpha=1.5), "priority_alpha must lie in [0, 1]"),
])
def test_bad_distributional_settings_name_the_problem(algo, settings, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        get_algorithm(algo).config(**settings)
