"""Tests of tfrl.agents.dqn: the pure math against hand-worked numbers, and the agent's training step.

In the spirit of TF-Agents' ``dqn_agent_test.testLoss``: every expected number is written out.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrl.agents import get_algorithm
from tfrl.agents.dqn import DQNAgent, DQNConfig, q_targets, td_loss, update_target
from tfrl.data import Transition
from tfrl.errors import ConfigError, UnsupportedSpaceError
from tfrl.networks import q_network
from tfrl.specs import ArraySpec, BoundedArraySpec

OBS = ArraySpec((4,), np.float32)
ACTIONS = BoundedArraySpec((), np.int64, 0, 1)
SMALL = dict(hidden_sizes=(16,), batch_size=8, buffer_size=64, jit_compile=False, learning_rate=1e-2)


# --------------------------------------------------------------------------- q_targets

REWARDS = np.array([1.0, 0.5, 2.0], np.float32)
# row 0: gamma 0.99; row 1: terminal (discount 0); row 2: a 3-step target, gamma**3
DISCOUNTS = np.array([0.99, 0.0, 0.99**3], np.float32)
NEXT_Q_TARGET = np.array([[1.0, 3.0, 2.0], [5.0, 1.0, 0.0], [-1.0, 4.0, 2.0]], np.float32)
NEXT_Q_ONLINE = np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 9.0], [0.0, 0.0, 1.0]], np.float32)


def test_q_targets_dqn_by_hand():
    y = q_targets(tf.constant(REWARDS), tf.constant(DISCOUNTS), tf.constant(NEXT_Q_TARGET))
    # max_a Q_target = [3, 5, 4]
    # y0 = 1 + 0.99 * 3 = 3.97; y1 = 0.5 (terminal); y2 = 2 + 0.970299 * 4 = 5.881196
    np.testing.assert_allclose(y.numpy(), [3.97, 0.5, 5.881196], rtol=1e-6)


def test_q_targets_double_dqn_by_hand():
    y = q_targets(tf.constant(REWARDS), tf.constant(DISCOUNTS), tf.constant(NEXT_Q_TARGET), tf.constant(NEXT_Q_ONLINE))
    # argmax_a Q_online = [0, 2, 2]; Q_target there = [1, 0, 2]
    # y0 = 1 + 0.99 * 1 = 1.99; y1 = 0.5 (terminal); y2 = 2 + 0.970299 * 2 = 3.940598
    np.testing.assert_allclose(y.numpy(), [1.99, 0.5, 3.940598], rtol=1e-6)


def test_q_targets_double_equals_dqn_when_networks_agree():
    y_double = q_targets(REWARDS, DISCOUNTS, NEXT_Q_TARGET, NEXT_Q_TARGET)
    y_plain = q_targets(REWARDS, DISCOUNTS, NEXT_Q_TARGET)
    np.testing.assert_allclose(y_double.numpy(), y_plain.numpy())


def test_q_targets_stop_gradient():
    next_q = tf.Variable(NEXT_Q_TARGET)
    online = tf.Variable(NEXT_Q_ONLINE)
    with tf.GradientTape(persistent=True) as tape:
        y = tf.reduce_sum(q_targets(tf.constant(REWARDS), tf.constant(DISCOUNTS), next_q, online))
    assert tape.gradient(y, next_q) is None
    assert tape.gradient(y, online) is None


# --------------------------------------------------------------------------- td_loss

Q_VALUES = np.array([[1.0, 2.0], [0.0, 5.0], [3.0, 3.0]], np.float32)
TAKEN = np.array([1, 0, 1], np.int64)  # chosen Q = [2, 0, 3]
TARGETS = np.array([2.5, -3.0, 3.0], np.float32)  # errors = [0.5, -3, 0]


def test_td_loss_huber_by_hand():
    loss = td_loss(tf.constant(Q_VALUES), tf.constant(TAKEN), tf.constant(TARGETS), "huber")
    # |0.5| < 1: 0.5 * 0.25 = 0.125; |-3| > 1: 3 - 0.5 = 2.5; 0: 0 -> mean 2.625 / 3
    assert float(loss) == pytest.approx(0.875, rel=1e-6)


def test_td_loss_mse_by_hand():
    loss = td_loss(tf.constant(Q_VALUES), tf.constant(TAKEN), tf.constant(TARGETS), "mse")
    # 0.25 + 9 + 0 = 9.25 -> / 3
    assert float(loss) == pytest.approx(9.25 / 3, rel=1e-6)


@pytest.mark.parametrize(
    "error, expected", [(0.0, 0.0), (0.2, 0.02), (-0.2, 0.02), (1.0, 0.5), (-2.0, 1.5), (4.0, 3.5)]
)
def test_td_loss_huber_single_items(error, expected):
    q = tf.constant([[0.0, 10.0]])
    loss = td_loss(q, tf.constant([0]), tf.constant([error]), "huber")
    assert float(loss) == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_td_loss_huber_gradient_is_clipped():
    q = tf.Variable(Q_VALUES)
    with tf.GradientTape() as tape:
        loss = td_loss(q, tf.constant(TAKEN), tf.constant(TARGETS), "huber")
    grad = tape.gradient(loss, q).numpy()
    # d/dQ(s,a): -error / B inside [-1, 1], -sign(error) / B outside; zero for untaken actions
    expected = np.array([[0.0, -0.5 / 3], [1.0 / 3, 0.0], [0.0, 0.0]], np.float32)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-7)


def test_td_loss_accepts_int32_and_int64_actions():
    a = td_loss(Q_VALUES, tf.constant(TAKEN, tf.int32), TARGETS, "mse")
    b = td_loss(Q_VALUES, tf.constant(TAKEN, tf.int64), TARGETS, "mse")
    assert float(a) == float(b)


# --------------------------------------------------------------------------- update_target


def test_update_target_hard():
    online = [tf.Variable([1.0, 2.0]), tf.Variable([[3.0]])]
    target = [tf.Variable([0.0, 10.0]), tf.Variable([[-1.0]])]
    update_target(online, target, 1.0)
    np.testing.assert_array_equal(target[0].numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(target[1].numpy(), [[3.0]])
    np.testing.assert_array_equal(online[0].numpy(), [1.0, 2.0])  # online untouched


def test_update_target_soft():
    online = [tf.Variable([1.0, 2.0]), tf.Variable([[3.0]])]
    target = [tf.Variable([0.0, 10.0]), tf.Variable([[-1.0]])]
    update_target(online, target, 0.1)
    # 0.1 * 1 + 0.9 * 0 = 0.1; 0.1 * 2 + 0.9 * 10 = 9.2; 0.1 * 3 + 0.9 * -1 = -0.6
    np.testing.assert_allclose(target[0].numpy(), [0.1, 9.2], rtol=1e-6)
    np.testing.assert_allclose(target[1].numpy(), [[-0.6]], rtol=1e-6)
    update_target(online, target, 0.1)
    # 0.1 * 1 + 0.9 * 0.1 = 0.19; 0.1 * 2 + 0.9 * 9.2 = 8.48
    np.testing.assert_allclose(target[0].numpy(), [0.19, 8.48], rtol=1e-6)


# --------------------------------------------------------------------------- agent helpers


def make_agent(seed=0, action_spec=ACTIONS, total_steps=1000, **overrides):
    config = DQNConfig(**{**SMALL, **overrides})
    return DQNAgent(config, OBS, action_spec, total_steps=total_steps, seed=seed)


def make_batch(G=1, B=8, seed=0, action_spec=ACTIONS, gamma=0.99) -> Transition:
    rng = np.random.default_rng(seed)
    lo, hi = int(action_spec.minimum), int(action_spec.maximum)
    return Transition(
        observation=rng.normal(size=(G, B, 4)).astype(np.float32),
        action=rng.integers(lo, hi, size=(G, B), endpoint=True).astype(action_spec.dtype),
        reward=(2.0 * rng.normal(size=(G, B))).astype(np.float32),
        discount=np.where(rng.random((G, B)) < 0.25, 0.0, gamma).astype(np.float32),
        next_observation=rng.normal(size=(G, B, 4)).astype(np.float32),
    )


def weights(model):
    return [w.copy() for w in model.get_weights()]


def assert_same(a, b, atol=0.0):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=0, atol=atol)


def differs(a, b):
    return any(not np.array_equal(x, y) for x, y in zip(a, b))


# --------------------------------------------------------------------------- agent


def test_registry_knows_dqn():
    info = get_algorithm("DQN")
    assert info.config is DQNConfig and info.agent is DQNAgent and info.host_loop == "off_policy" and info.compiled
    with pytest.raises(ConfigError, match="Did you mean dqn"):
        get_algorithm("dqm")


@pytest.mark.parametrize(
    "spec",
    [
        BoundedArraySpec((2,), np.float32, -1.0, 1.0),
        BoundedArraySpec((), np.float32, -1.0, 1.0),
        ArraySpec((), np.int64),
    ],
)
def test_agent_refuses_non_discrete_actions(spec):
    with pytest.raises(UnsupportedSpaceError, match="discrete") as info:
        DQNAgent(DQNConfig(**SMALL), OBS, spec, total_steps=100)
    assert "ppo" in str(info.value)


def test_agent_builds_matching_networks():
    agent = make_agent(action_spec=BoundedArraySpec((), np.int64, 0, 4))
    assert agent.num_actions == 5
    assert agent.q_network.output_shape == (None, 5)
    assert_same(weights(agent.q_network), weights(agent.target_network))
    assert agent.policy_model is agent.q_network
    assert set(agent.checkpoint_items()) == {"q_network", "target_network", "optimizer", "num_updates"}
    assert agent.eval_policy is agent.policy.greedy
    # epsilon decays over exploration_fraction * total_steps = 0.1 * 1000 steps
    assert agent.policy.epsilon(0) == 1.0 and agent.policy.epsilon(100) == pytest.approx(0.05)


def test_train_changes_online_and_holds_target_until_interval():
    agent = make_agent(target_update_interval=3, tau=1.0)
    online0, target0 = weights(agent.q_network), weights(agent.target_network)

    out = agent.train(make_batch(G=2, seed=1))
    assert int(agent.num_updates.numpy()) == 2
    assert differs(weights(agent.q_network), online0), "two gradient steps left the online network unchanged"
    assert_same(weights(agent.target_network), target0)  # 2 < 3 steps: target untouched
    assert set(out) == {"losses/td_loss", "losses/q_values", "losses/grad_norm"}
    assert all(np.isfinite(v) and isinstance(v, float) for v in out.values())
    assert out["losses/td_loss"] > 0 and out["losses/grad_norm"] > 0

    agent.train(make_batch(G=1, seed=2))  # the third step: hard update
    assert int(agent.num_updates.numpy()) == 3
    assert_same(weights(agent.target_network), weights(agent.q_network))
    target3 = weights(agent.target_network)

    agent.train(make_batch(G=2, seed=3))  # steps 4, 5: target frozen again
    assert int(agent.num_updates.numpy()) == 5
    assert_same(weights(agent.target_network), target3)
    assert differs(weights(agent.q_network), target3)

    agent.train(make_batch(G=1, seed=4))  # step 6
    assert_same(weights(agent.target_network), weights(agent.q_network))


def test_num_updates_counts_gradient_steps_per_call():
    agent = make_agent()
    for G, total in [(1, 1), (3, 4), (2, 6)]:
        agent.train(make_batch(G=G))
        assert int(agent.num_updates.numpy()) == total


def test_soft_target_update_in_agent():
    agent = make_agent(target_update_interval=1, tau=0.1)
    target0 = weights(agent.target_network)
    agent.train(make_batch(G=1))
    online1 = weights(agent.q_network)
    expected = [0.1 * o + 0.9 * t for o, t in zip(online1, target0)]
    assert_same(weights(agent.target_network), expected, atol=1e-7)
    assert differs(weights(agent.target_network), online1)


def _adam_first_step_bound(lr, clip, eps=1e-7, beta_2=0.999):
    # Keras Adam's first step moves each parameter by lr * g / (|g| + eps / sqrt(1 - beta_2)),
    # so with every |g| <= clip the move is at most lr * clip / (clip + eps / sqrt(1 - beta_2)).
    return lr * clip / (clip + eps / np.sqrt(1 - beta_2))


def test_grad_clipping_reports_raw_norm_and_shrinks_step():
    lr = 1e-2
    batch = make_batch(G=1, seed=5)
    clipped = make_agent(max_grad_norm=1e-6, learning_rate=lr)
    free = make_agent(max_grad_norm=None, learning_rate=lr)
    before = weights(clipped.q_network)
    out_c = clipped.train(batch)
    out_f = free.train(batch)
    # grad_norm is the norm before clipping: the same for both agents, far above 1e-6
    assert out_c["losses/grad_norm"] == pytest.approx(out_f["losses/grad_norm"], rel=1e-5)
    assert out_c["losses/grad_norm"] > 1e-3
    assert out_c["losses/td_loss"] == pytest.approx(out_f["losses/td_loss"], rel=1e-6)
    step_c = max(np.abs(a - b).max() for a, b in zip(weights(clipped.q_network), before))
    step_f = max(np.abs(a - b).max() for a, b in zip(weights(free.q_network), before))
    assert step_f == pytest.approx(lr, rel=0.05)  # Adam's first step: about lr for a large gradient
    assert 0 < step_c <= _adam_first_step_bound(lr, 1e-6) * 1.001  # about 0.24 * lr
    assert step_c < 0.3 * step_f
    # and training still runs on
    for seed in range(3):
        assert np.isfinite(clipped.train(make_batch(G=2, seed=seed))["losses/td_loss"])


@pytest.mark.parametrize(
    "double_dqn, loss, offset",
    [(True, "huber", 0), (False, "mse", 1), (True, "mse", 1), (False, "huber", 0)],
)
def test_one_gradient_step_equals_manual_computation(double_dqn, loss, offset):
    spec = BoundedArraySpec((), np.int64, offset, offset + 2)  # 3 actions
    lr, clip = 1e-3, 0.5
    agent = make_agent(action_spec=spec, double_dqn=double_dqn, loss=loss, learning_rate=lr,
                       max_grad_norm=clip, target_update_interval=100)
    # make the target network differ from the online one, so that Double DQN matters
    agent.target_network.set_weights(q_network(OBS, 3, hidden_sizes=(16,), seed=99).get_weights())
    batch = make_batch(G=1, B=16, seed=7, action_spec=spec)
    obs, act, rew, disc, nxt = (x[0] for x in batch)

    online = q_network(OBS, 3, hidden_sizes=(16,), seed=123)
    online.set_weights(agent.q_network.get_weights())
    target_weights = weights(agent.target_network)

    # the loss in NumPy, from the networks before the step
    q = np.asarray(online(obs))
    next_t = np.asarray(agent.target_network(nxt))
    next_o = np.asarray(online(nxt))
    best = next_o.argmax(-1) if double_dqn else next_t.argmax(-1)
    y = rew + disc * next_t[np.arange(16), best]
    err = y - q[np.arange(16), act - offset]
    per = np.where(np.abs(err) <= 1, 0.5 * err**2, np.abs(err) - 0.5) if loss == "huber" else err**2
    manual_loss = per.mean()
    assert np.any(np.abs(err) > 1) and np.any(np.abs(err) < 1)  # both Huber branches are used
    if double_dqn:
        assert np.any(next_o.argmax(-1) != next_t.argmax(-1))  # the two targets differ here

    # the same loss from the pure functions, and the step by hand
    with tf.GradientTape() as tape:
        q_tf = online(obs, training=True)
        targets = q_targets(rew, disc, tf.constant(next_t), tf.constant(next_o) if double_dqn else None)
        loss_tf = td_loss(q_tf, act - offset, targets, loss)
    assert float(loss_tf) == pytest.approx(manual_loss, rel=1e-5)
    grads = tape.gradient(loss_tf, online.trainable_variables)
    norm = float(tf.linalg.global_norm(grads))
    assert norm > clip  # clipping is active in this step
    clipped, _ = tf.clip_by_global_norm(grads, clip)
    adam = keras.optimizers.Adam(learning_rate=lr)
    adam.apply_gradients(zip(clipped, online.trainable_variables))

    out = agent.train(batch)
    assert out["losses/td_loss"] == pytest.approx(manual_loss, rel=1e-5, abs=1e-5)
    assert out["losses/q_values"] == pytest.approx(q.max(-1).mean(), rel=1e-5, abs=1e-5)
    assert out["losses/grad_norm"] == pytest.approx(norm, rel=1e-5)
    assert_same(weights(agent.q_network), weights(online), atol=1e-6)
    assert_same(weights(agent.target_network), target_weights)


def test_train_reports_mean_over_gradient_steps():
    # G identical batches with a tiny learning rate: the mean loss is close to the first loss
    agent = make_agent(learning_rate=1e-7)
    single = make_batch(G=1, seed=8)
    stacked = Transition(*(np.concatenate([x] * 3) for x in single))
    reference = make_agent(learning_rate=1e-7).train(single)
    out = agent.train(stacked)
    assert out["losses/td_loss"] == pytest.approx(reference["losses/td_loss"], rel=1e-4)
    assert int(agent.num_updates.numpy()) == 3


def test_jit_and_eager_give_the_same_step():
    batch = make_batch(G=2, seed=9)
    results = []
    for jit in (False, True):
        agent = make_agent(seed=4, jit_compile=jit, target_update_interval=1, tau=0.5)
        out = agent.train(batch)
        results.append((out, weights(agent.q_network), weights(agent.target_network)))
    (out_e, online_e, target_e), (out_j, online_j, target_j) = results
    assert_same(online_e, online_j, atol=1e-5)
    assert_same(target_e, target_j, atol=1e-5)
    for key in out_e:
        assert out_e[key] == pytest.approx(out_j[key], rel=1e-4, abs=1e-5)


def test_same_seed_same_training():
    runs = []
    for seed in (3, 3, 4):
        agent = make_agent(seed=seed)
        for s in range(2):
            agent.train(make_batch(G=2, seed=s))
        runs.append(weights(agent.q_network))
    assert_same(runs[0], runs[1])
    assert differs(runs[0], runs[2])


def test_dueling_agent_trains():
    agent = make_agent(dueling=True, target_update_interval=2)
    assert agent.q_network.get_layer("dueling_head") is not None
    before = weights(agent.q_network)
    out = agent.train(make_batch(G=2, seed=10))
    assert all(np.isfinite(v) for v in out.values())
    after = weights(agent.q_network)
    # every variable, including both streams of the dueling head, moved
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))
    assert_same(weights(agent.target_network), after)  # 2 steps = one target interval


def test_agent_eval_policy_is_greedy_on_the_online_network():
    spec = BoundedArraySpec((), np.int64, 1, 3)
    agent = make_agent(action_spec=spec)
    obs = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    expected = np.asarray(agent.q_network(obs)).argmax(-1) + 1
    np.testing.assert_array_equal(agent.eval_policy.action(obs), expected)


def test_host_state_round_trip_repeats_exploration():
    agent = make_agent(seed=5)
    obs = np.zeros((32, 4), np.float32)
    agent.policy.action(obs, step=0)  # advance the generator a little
    state = json.loads(json.dumps(agent.host_state()))  # JSON-friendly
    first = [agent.policy.action(obs, step=t) for t in (0, 50, 200)]
    agent.load_host_state(state)
    again = [agent.policy.action(obs, step=t) for t in (0, 50, 200)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    # a fresh agent with another seed repeats the draws once it has the state
    other = make_agent(seed=6)
    other.q_network.set_weights(agent.q_network.get_weights())
    other.load_host_state(state)
    np.testing.assert_array_equal(other.policy.action(obs, step=0), first[0])
    # without the state the draws differ
    fresh = make_agent(seed=6)
    assert not np.array_equal(fresh.policy.action(obs, step=0), first[0])
    # an empty state leaves the generator as it is
    before = agent.host_state()
    agent.load_host_state({})
    assert agent.host_state() == before
