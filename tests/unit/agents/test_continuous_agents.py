"""Tests of the continuous-control agents (tfrl.agents.sac, td3, ddpg), their policies and the compiled loop.

The pure math is tested in ``test_sac_math.py``; here each agent's gradient step is checked against a naive NumPy
reference written from the papers' equations: the networks' weights read before (and after) the step, the same
stateless noise (``tf.random.stateless_normal`` keyed by ``[seed * 1_000_003 + stream, num_updates]``, stream 0 for
the next action, 1 for SAC's policy sample), the forward passes, the targets, the losses and, for SAC, the first
Adam step with gradients backpropagated by hand. The Box bounds are never symmetric, so a scaling bug shows.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrl.agents.ddpg import DDPGConfig
from tfrl.agents.sac import SACAgent, SACConfig
from tfrl.agents.td3 import TD3Agent, TD3Config
from tfrl.data import Transition
from tfrl.envs.native import native_env
from tfrl.errors import UnsupportedSpaceError
from tfrl.continuous_policies import DeterministicPolicy, NoisyActorPolicy, SquashedGaussianPolicy
from tfrl.specs import ArraySpec, BoundedArraySpec
from tfrl.train.loops.compiled_off_policy import CompiledOffPolicy

OBS = ArraySpec((3,), np.float32)
LOW, HIGH = np.array([-2.0, 0.5]), np.array([3.0, 1.5])
ACTIONS = BoundedArraySpec((2,), np.float32, LOW, HIGH)
SMALL = dict(hidden_sizes=(4,), jit_compile=False, batch_size=3, buffer_size=64, learning_rate=1e-2)
LR = SMALL["learning_rate"]
KEY_STRIDE = 1_000_003  # tfrl.agents.off_policy.update_key: [seed * 1_000_003 + stream, num_updates]


def make_sac(seed=0, **overrides) -> SACAgent:
    return SACAgent(SACConfig(**{**SMALL, **overrides}), OBS, ACTIONS, total_steps=100, seed=seed)


def make_td3(seed=0, config=TD3Config, **overrides) -> TD3Agent:
    return TD3Agent(config(**{**SMALL, **overrides}), OBS, ACTIONS, total_steps=100, seed=seed)


def make_batch(G=1, B=3, seed=0) -> Transition:
    """``G`` batches of ``B`` transitions with actions in the environment's units (some outside the bounds)."""
    rng = np.random.default_rng(seed)
    return Transition(
        observation=rng.normal(size=(G, B, 3)).astype(np.float32),
        action=rng.uniform(LOW - 0.5, HIGH + 0.5, size=(G, B, 2)).astype(np.float32),
        reward=rng.normal(size=(G, B)).astype(np.float32),
        discount=np.where(rng.random((G, B)) < 0.3, 0.0, 0.99).astype(np.float32),
        next_observation=rng.normal(size=(G, B, 3)).astype(np.float32),
    )


# row 0: inside the Box, discount gamma (bootstraps; a truncation looks the same); row 1: on the bounds, terminated;
# row 2: outside the Box (an environment may clip), truncated
BATCH = Transition(
    observation=np.array([[[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-1.2, 0.8, 0.1]]], np.float32),
    action=np.array([[[0.7, 0.9], [-2.0, 1.5], [3.5, 0.2]]], np.float32),
    reward=np.array([[1.0, -0.5, 2.0]], np.float32),
    discount=np.array([[0.99, 0.0, 0.99]], np.float32),
    next_observation=np.array([[[0.2, 0.4, -1.5], [-0.9, 1.1, 0.6], [1.3, -0.2, 0.9]]], np.float32),
)
# 2 (a - low) / (high - low) - 1, clipped to [-1, 1]:
# row 0: 2 * 2.7 / 5 - 1 = 0.08, 2 * 0.4 / 1 - 1 = -0.2; row 1: -1, 1; row 2: 2 * 5.5 / 5 - 1 = 1.2 -> 1, -1.6 -> -1
UNSCALED = np.array([[0.08, -0.2], [-1.0, 1.0], [1.0, -1.0]])


def row(batch: Transition, g: int = 0) -> tuple[np.ndarray, ...]:
    """The ``g``-th batch ``(s, a, r, discount, s')`` in float64."""
    return tuple(np.asarray(x[g], np.float64) for x in batch)


def tensors(batch: Transition, g: int = 0) -> tuple[tf.Tensor, ...]:
    """The ``g``-th batch as the tensors ``gradient_step`` takes."""
    return tuple(tf.constant(x[g]) for x in batch)


# --------------------------------------------------------------------------- the naive NumPy reference


def layer_weights(model: keras.Model) -> dict[str, list[np.ndarray]]:
    """Each layer's weights by layer name, as float64 copies."""
    return {layer.name: [np.array(w, np.float64) for w in layer.get_weights()] for layer in model.layers
            if layer.get_weights()}


def all_weights(model: keras.Model) -> list[np.ndarray]:
    return [w.copy() for w in model.get_weights()]


def differs(a, b) -> bool:
    return any(not np.array_equal(x, y) for x, y in zip(a, b))


def assert_same(a, b, atol=0.0):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=0, atol=atol)


def relu(x):
    return np.maximum(x, 0.0)


def noise(seed: int, num_updates: int, stream: int, shape) -> np.ndarray:
    """The standard normal draw of a gradient step's stream, keyed as ``update_key`` documents."""
    key = tf.constant([seed * KEY_STRIDE + stream, num_updates], tf.int64)
    return tf.random.stateless_normal(shape, key).numpy().astype(np.float64)


def sac_actor_np(w, obs):
    """The squashed Gaussian actor: ``(mean, log_std, cache)`` before the tanh."""
    pre = obs @ w["actor_dense0"][0] + w["actor_dense0"][1]
    h = relu(pre)
    mean = h @ w["mean"][0] + w["mean"][1]
    log_std_pre = h @ w["log_std_head"][0] + w["log_std_head"][1]
    return mean, np.clip(log_std_pre, -20.0, 2.0), (pre, h, log_std_pre)


def td3_actor_np(w, obs):
    """The deterministic actor ``tanh(MLP(s))`` in [-1, 1]."""
    h = relu(obs @ w["actor_dense0"][0] + w["actor_dense0"][1])
    return np.tanh(h @ w["action"][0] + w["action"][1])


def critic_np(w, obs, action):
    """``Q(s, a)`` ``[B]`` and the cache of the backward pass."""
    x = np.concatenate([obs, action], axis=-1)
    pre = x @ w["critic_dense0"][0] + w["critic_dense0"][1]
    h = relu(pre)
    return (h @ w["q_head"][0] + w["q_head"][1])[:, 0], (x, pre, h)


def critic_backward(w, cache, dq):
    """Gradients of ``sum(dq * Q)`` with respect to the critic's weights (by layer) and to its input ``x``."""
    x, pre, h = cache
    dh = dq[:, None] @ w["q_head"][0].T * (pre > 0)
    grads = {"critic_dense0": [x.T @ dh, dh.sum(0)], "q_head": [h.T @ dq[:, None], np.array([dq.sum()])]}
    return grads, dh @ w["critic_dense0"][0].T


def squashed_sample_np(mean, log_std, eps):
    """``a = tanh(mean + exp(log_std) eps)`` and ``log pi(a) = log N(u) - sum log(1 - tanh(u)^2)``, naively."""
    u = mean + np.exp(log_std) * eps
    a = np.tanh(u)
    log_prob = np.sum(-0.5 * eps**2 - log_std - 0.5 * math.log(2 * math.pi) - np.log(1.0 - a**2), axis=-1)
    return a, log_prob


def scale_np(a, low, high):
    return low + (a + 1.0) * (high - low) / 2.0


def unscale_np(action):
    return np.clip(2.0 * (action - LOW) / (HIGH - LOW) - 1.0, -1.0, 1.0)


def adam_first_step(w, g, lr=LR, beta_2=0.999, eps=1e-7):
    """Keras Adam's first update: ``m = 0.1 g``, ``v = 0.001 g^2``, ``w - lr sqrt(1 - b2) / (1 - b1) m / (sqrt(v) +
    eps)``, that is ``w - lr sqrt(1 - b2) g / (sqrt(1 - b2) |g| + eps)``."""
    return w - lr * math.sqrt(1 - beta_2) * g / (math.sqrt(1 - beta_2) * np.abs(g) + eps)


def sac_reference(seed, before, after, batch, num_updates, alpha, log_alpha, learned_alpha=True):
    """One SAC gradient step by hand: the metrics, and the gradients of the critics, actor and ``log_alpha``."""
    s, a, r, d, s2 = batch
    B, D = a.shape
    eps_next = noise(seed, num_updates, 0, (B, D))
    eps_pi = noise(seed, num_updates, 1, (B, D))
    t1, t2 = before["targets"]
    c1, c2 = before["critics"]

    # 1. critics: y = r + discount * (min(Q1', Q2')(s', a') - alpha log pi(a'|s')), a' ~ pi(.|s')
    mean, log_std, _ = sac_actor_np(before["actor"], s2)
    a2, logp2 = squashed_sample_np(mean, log_std, eps_next)
    y = r + d * (np.minimum(critic_np(t1, s2, a2)[0], critic_np(t2, s2, a2)[0]) - alpha * logp2)
    unscaled = unscale_np(a)
    q1, cache1 = critic_np(c1, s, unscaled)
    q2, cache2 = critic_np(c2, s, unscaled)
    critic_loss = 0.5 * np.mean((q1 - y) ** 2) + 0.5 * np.mean((q2 - y) ** 2)
    critic_grads = [critic_backward(c1, cache1, (q1 - y) / B)[0], critic_backward(c2, cache2, (q2 - y) / B)[0]]

    # 2. actor, against the critics as the critic step left them: mean(alpha log pi(a~|s) - min(Q1, Q2)(s, a~))
    mean, log_std, (pre, h, log_std_pre) = sac_actor_np(before["actor"], s)
    a_pi, logp = squashed_sample_np(mean, log_std, eps_pi)
    n1, n2 = after["critics"]
    q1_pi, cache1 = critic_np(n1, s, a_pi)
    q2_pi, cache2 = critic_np(n2, s, a_pi)
    first = (q1_pi <= q2_pi).astype(np.float64)  # where tf.minimum sends the gradient
    actor_loss = np.mean(alpha * logp - np.minimum(q1_pi, q2_pi))
    # backward: dL/da from the critics, then through tanh, the reparameterisation and the MLP
    da = (critic_backward(n1, cache1, -first / B)[1] + critic_backward(n2, cache2, -(1 - first) / B)[1])[:, 3:]
    du = da * (1.0 - a_pi**2) + alpha / B * 2.0 * a_pi  # d log pi / du = 2 tanh(u): the log-det term
    dlog_std = (du * np.exp(log_std) * eps_pi - alpha / B) * ((log_std_pre >= -20.0) & (log_std_pre <= 2.0))
    w = before["actor"]
    dh = (du @ w["mean"][0].T + dlog_std @ w["log_std_head"][0].T) * (pre > 0)
    actor_grads = {"actor_dense0": [s.T @ dh, dh.sum(0)], "mean": [h.T @ du, du.sum(0)],
                   "log_std_head": [h.T @ dlog_std, dlog_std.sum(0)]}

    # 3. temperature: -mean(log_alpha (log pi + target_entropy)), target entropy -D
    alpha_loss = -np.mean(log_alpha * (logp - D)) if learned_alpha else 0.0
    metrics = {"losses/critic_loss": critic_loss, "losses/actor_loss": actor_loss, "losses/alpha_loss": alpha_loss,
               "charts/alpha": alpha, "losses/q_values": q1.mean(), "charts/entropy": -logp.mean()}
    return SimpleNamespace(metrics=metrics, target=y, critic_grads=critic_grads, actor_grads=actor_grads,
                           alpha_grad=-np.mean(logp - D), next_action=a2)


def snapshot(agent) -> dict:
    return {"actor": layer_weights(agent.actor), "critics": [layer_weights(c) for c in agent.critics],
            "targets": [layer_weights(c) for c in agent.target_critics],
            "target_actor": layer_weights(agent.target_actor) if hasattr(agent, "target_actor") else None}


class Spy:
    """Stands in for a critic in an eager ``gradient_step``: records the inputs of every call."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __call__(self, inputs, training=None):
        self.calls.append([np.array(x) for x in inputs])
        return self.model(inputs, training=training)

    @property
    def trainable_variables(self):
        return self.model.trainable_variables


def spied_step(agent, batch: Transition):
    """One eager ``gradient_step`` with every critic spied on; the metrics, the spies of the critics and targets."""
    critics, targets = list(agent.critics), list(agent.target_critics)
    agent.critics, agent.target_critics = [Spy(c) for c in critics], [Spy(c) for c in targets]
    try:
        metrics = [float(m) for m in agent.gradient_step(*tensors(batch))]
        return dict(zip(agent.metric_names, metrics)), agent.critics, agent.target_critics
    finally:
        agent.critics, agent.target_critics = critics, targets


# --------------------------------------------------------------------------- SAC: one gradient step by hand

SAC_SEED = 2


@pytest.fixture(scope="module")
def sac_step():
    """One SAC gradient step through ``train`` with a learned temperature (alpha 0.5), tau 0.5 at every step."""
    agent = make_sac(seed=SAC_SEED, alpha_init=0.5, tau=0.5, target_update_interval=1)
    before = snapshot(agent)
    log_alpha0 = float(agent.log_alpha.numpy())
    metrics = agent.train(BATCH)
    after = snapshot(agent)
    reference = sac_reference(SAC_SEED, before, after, row(BATCH), 0, alpha=0.5, log_alpha=math.log(0.5))
    return SimpleNamespace(agent=agent, before=before, after=after, metrics=metrics, reference=reference,
                           log_alpha0=log_alpha0, log_alpha1=float(agent.log_alpha.numpy()))


def test_sac_metrics_equal_the_numpy_reference(sac_step):
    ref = sac_step.reference.metrics
    assert list(sac_step.metrics) == list(SACAgent.metric_names)
    for name, value in ref.items():
        assert sac_step.metrics[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    # the reference is not degenerate: the losses are far from zero
    assert abs(ref["losses/alpha_loss"]) > 0.1 and abs(ref["losses/actor_loss"]) > 0.01
    assert ref["losses/critic_loss"] > 0.1
    assert sac_step.metrics["charts/alpha"] == pytest.approx(0.5, rel=1e-6)


def test_sac_critic_loss_is_taken_at_the_unscaled_action(sac_step):
    # the reference with the raw environment actions given to the critics is far off: the check discriminates
    s, a, *_ = row(BATCH)
    raw = [critic_np(c, s, a)[0] for c in sac_step.before["critics"]]
    y = sac_step.reference.target
    raw_loss = 0.5 * np.mean((raw[0] - y) ** 2) + 0.5 * np.mean((raw[1] - y) ** 2)
    assert sac_step.metrics["losses/critic_loss"] == pytest.approx(
        sac_step.reference.metrics["losses/critic_loss"], rel=1e-5)
    assert abs(raw_loss - sac_step.metrics["losses/critic_loss"]) > 1e-3

    # and the critics' input, seen directly in an eager step: the action mapped onto [-1, 1] and clipped
    _, critics, targets = spied_step(sac_step.agent, BATCH)
    for spy in critics:
        observation, action = spy.calls[0]  # the critic-loss call; then the actor's call at the policy sample
        np.testing.assert_array_equal(observation, BATCH.observation[0])
        np.testing.assert_allclose(action, UNSCALED, rtol=0, atol=1e-6)
        assert np.all(np.abs(spy.calls[1][1]) <= 1.0)
    for spy in targets:
        assert len(spy.calls) == 1 and np.all(np.abs(spy.calls[0][1]) <= 1.0)


def test_sac_step_moves_each_network_by_one_adam_step_of_the_hand_gradients(sac_step):
    ref, before, after = sac_step.reference, sac_step.before, sac_step.after
    for i in range(2):
        for layer, grads in ref.critic_grads[i].items():
            for w0, g, w1 in zip(before["critics"][i][layer], grads, after["critics"][i][layer]):
                np.testing.assert_allclose(w1, adam_first_step(w0, g), rtol=0, atol=LR * 1e-3,
                                           err_msg=f"critic{i + 1} {layer}")
    for layer, grads in ref.actor_grads.items():
        for w0, g, w1 in zip(before["actor"][layer], grads, after["actor"][layer]):
            np.testing.assert_allclose(w1, adam_first_step(w0, g), rtol=0, atol=LR * 1e-3, err_msg=f"actor {layer}")
    # the temperature: the gradient of -mean(log_alpha (log pi - D)) is -mean(log pi - D)
    assert sac_step.log_alpha1 == pytest.approx(adam_first_step(math.log(0.5), ref.alpha_grad), abs=1e-6)


def test_sac_step_changes_actor_critics_and_temperature(sac_step):
    before, after = sac_step.before, sac_step.after
    for name in ("actor_dense0", "mean", "log_std_head"):
        assert differs(before["actor"][name], after["actor"][name]), name
    for i in range(2):
        for name in ("critic_dense0", "q_head"):
            assert differs(before["critics"][i][name], after["critics"][i][name]), (i, name)
    assert sac_step.log_alpha0 == pytest.approx(math.log(0.5))
    assert sac_step.log_alpha1 != sac_step.log_alpha0
    assert int(sac_step.agent.num_updates.numpy()) >= 1


def test_sac_polyak_update_of_the_target_critics(sac_step):
    # tau 0.5 at every step: target <- 0.5 * online(after the step) + 0.5 * target(before)
    before, after = sac_step.before, sac_step.after
    for i in range(2):
        assert before["targets"][i].keys() == after["critics"][i].keys()
        for name in before["targets"][i]:
            for old, new_online, new_target in zip(before["targets"][i][name], after["critics"][i][name],
                                                   after["targets"][i][name]):
                np.testing.assert_allclose(new_target, 0.5 * new_online + 0.5 * old, rtol=0, atol=1e-7)


def test_sac_target_update_interval_holds_the_targets():
    agent = make_sac(seed=1, tau=0.5, target_update_interval=2)
    target0 = [all_weights(t) for t in agent.target_critics]
    agent.train(make_batch(seed=1))
    for t, w in zip(agent.target_critics, target0):
        assert_same(all_weights(t), w)  # step 1 of 2: untouched
    agent.train(make_batch(seed=2))
    for t, c, w in zip(agent.target_critics, agent.critics, target0):  # step 2: Polyak, half way to the online critic
        assert_same(all_weights(t), [0.5 * o + 0.5 * old for o, old in zip(all_weights(c), w)], atol=1e-7)
        assert differs(all_weights(t), w) and differs(all_weights(t), all_weights(c))


def test_sac_with_fixed_alpha_keeps_log_alpha_and_uses_alpha_in_the_losses():
    agent = make_sac(seed=3, alpha=0.2)
    before = snapshot(agent)
    out = agent.train(BATCH)
    assert float(agent.log_alpha.numpy()) == 0.0  # log(alpha_init = 1), never trained
    assert out["charts/alpha"] == pytest.approx(0.2, rel=1e-7) and out["losses/alpha_loss"] == 0.0
    reference = sac_reference(3, before, snapshot(agent), row(BATCH), 0, alpha=0.2, log_alpha=0.0,
                              learned_alpha=False)
    for name, value in reference.metrics.items():
        assert out[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    after = snapshot(agent)
    assert all(differs(before["actor"][name], after["actor"][name]) for name in before["actor"])
    assert all(differs(before["critics"][i][name], after["critics"][i][name])
               for i in range(2) for name in before["critics"][i])


# --------------------------------------------------------------------------- terminated against truncated


@pytest.mark.parametrize("algo", ["sac", "td3", "ddpg"])
def test_terminated_transition_does_not_bootstrap_and_truncated_does(algo):
    """Online critics set to Q = 0 and target critics to Q' = c: the critic loss shows the target exactly."""
    c, reward, gamma = 2.0, 1.5, 0.9
    agent = {"sac": lambda: make_sac(seed=5), "td3": lambda: make_td3(seed=5),
             "ddpg": lambda: make_td3(seed=5, config=DDPGConfig)}[algo]()

    def set_heads():
        for critic in agent.critics:
            layer = critic.get_layer("q_head")
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
        for target in agent.target_critics:
            layer = target.get_layer("q_head")
            kernel, _ = layer.get_weights()
            layer.set_weights([np.zeros_like(kernel), np.array([c], np.float32)])

    def one_row(discount):
        rng = np.random.default_rng(7)
        return Transition(rng.normal(size=(1, 1, 3)).astype(np.float32), np.array([[[0.5, 1.0]]], np.float32),
                          np.array([[reward]], np.float32), np.array([[discount]], np.float32),
                          rng.normal(size=(1, 1, 3)).astype(np.float32))

    half = 0.5 if algo == "ddpg" else 1.0  # one critic: 0.5 * (Q - y)^2; two: 0.5 * (Q1 - y)^2 + 0.5 * (Q2 - y)^2
    set_heads()
    terminated = agent.train(one_row(0.0))
    assert terminated["losses/q_values"] == 0.0
    assert terminated["losses/critic_loss"] == half * reward**2  # y == r exactly: 2.25

    set_heads()
    batch = one_row(gamma)  # a truncation: the buffer's discount is gamma, and the target bootstraps
    if algo == "sac":
        mean, log_std, _ = sac_actor_np(layer_weights(agent.actor), row(batch)[4])
        _, log_prob = squashed_sample_np(mean, log_std, noise(5, int(agent.num_updates.numpy()), 0, (1, 2)))
        y = reward + gamma * (c - float(tf.exp(agent.log_alpha)) * log_prob[0])
    else:
        y = reward + gamma * c  # 3.3
    truncated = agent.train(batch)
    assert truncated["losses/critic_loss"] == pytest.approx(half * y**2, rel=1e-5)
    assert abs(y - reward) > 0.5


# --------------------------------------------------------------------------- TD3 and DDPG

TD3_SEED = 4


@pytest.fixture(scope="module")
def td3_step():
    """One eager TD3 step with every critic spied on: smoothing noise 0.6 clipped to 0.5, the actor at every step,
    tau 0.5, and a target actor pushed near the bounds so that the clip to [-1, 1] acts."""
    agent = make_td3(seed=TD3_SEED, policy_delay=1, tau=0.5, target_policy_noise=0.6, target_noise_clip=0.5)
    layer = agent.target_actor.get_layer("action")
    kernel, _ = layer.get_weights()
    layer.set_weights([kernel, np.array([1.5, -1.5], np.float32)])
    before = snapshot(agent)
    metrics, critics, targets = spied_step(agent, BATCH)
    return SimpleNamespace(agent=agent, before=before, after=snapshot(agent), metrics=metrics, critics=critics,
                           targets=targets)


def td3_reference_next_action(before, next_observation, noise_std, noise_clip, num_updates):
    mu = td3_actor_np(before["target_actor"], next_observation)
    eps = noise_std * noise(TD3_SEED, num_updates, 0, mu.shape)
    return np.clip(mu + np.clip(eps, -noise_clip, noise_clip), -1.0, 1.0), mu, eps


def test_td3_smoothed_target_action_equals_the_reference(td3_step):
    s2 = row(BATCH)[4]
    expected, mu, eps = td3_reference_next_action(td3_step.before, s2, 0.6, 0.5, 0)
    assert np.any(np.abs(eps) > 0.5) and np.any(np.abs(eps) < 0.5)  # the noise clip acts on some entries
    assert np.any(np.abs(mu + np.clip(eps, -0.5, 0.5)) > 1.0)  # and the action clip on some
    for spy in td3_step.targets:
        assert len(spy.calls) == 1
        observation, action = spy.calls[0]
        np.testing.assert_array_equal(observation, BATCH.next_observation[0])
        np.testing.assert_allclose(action, expected, rtol=0, atol=1e-6)
    for spy in td3_step.critics:  # the critic-loss call takes the action unscaled onto [-1, 1]
        np.testing.assert_allclose(spy.calls[0][1], UNSCALED, rtol=0, atol=1e-6)


def test_td3_losses_and_target_networks_equal_the_reference(td3_step):
    before, after = td3_step.before, td3_step.after
    s, _, r, d, s2 = row(BATCH)
    next_action, _, _ = td3_reference_next_action(before, s2, 0.6, 0.5, 0)
    y = r + d * np.minimum(*(critic_np(t, s2, next_action)[0] for t in before["targets"]))
    q = [critic_np(c, s, UNSCALED)[0] for c in before["critics"]]
    critic_loss = 0.5 * np.mean((q[0] - y) ** 2) + 0.5 * np.mean((q[1] - y) ** 2)
    # the actor: -mean Q1(s, mu(s)) with the first critic as its step left it
    actor_loss = -np.mean(critic_np(after["critics"][0], s, td3_actor_np(before["actor"], s))[0])
    m = td3_step.metrics
    assert m["losses/critic_loss"] == pytest.approx(critic_loss, rel=1e-5)
    assert m["losses/actor_loss"] == pytest.approx(actor_loss, rel=1e-5)
    assert m["losses/q_values"] == pytest.approx(q[0].mean(), rel=1e-5)
    # Polyak with tau 0.5 of the target actor (which started apart from the actor) and of the target critics
    for name, olds in before["target_actor"].items():
        for old, online, new in zip(olds, after["actor"][name], after["target_actor"][name]):
            np.testing.assert_allclose(new, 0.5 * online + 0.5 * old, rtol=0, atol=1e-7)
    for i in range(2):
        for name, olds in before["targets"][i].items():
            for old, online, new in zip(olds, after["critics"][i][name], after["targets"][i][name]):
                np.testing.assert_allclose(new, 0.5 * online + 0.5 * old, rtol=0, atol=1e-7)


def test_td3_actor_and_targets_wait_policy_delay_steps_the_critics_do_not():
    agent = make_td3(seed=1, policy_delay=3, tau=0.5)

    def nets():
        return {"actor": all_weights(agent.actor), "target_actor": all_weights(agent.target_actor),
                "critics": [all_weights(c) for c in agent.critics],
                "targets": [all_weights(c) for c in agent.target_critics]}

    start = previous = nets()
    for step in (1, 2, 3):
        out = agent.train(make_batch(seed=step))
        now = nets()
        assert set(out) == set(TD3Agent.metric_names) and int(agent.num_updates.numpy()) == step
        for i in range(2):
            assert differs(now["critics"][i], previous["critics"][i]), (step, i)  # the critics learn at every step
        if step < 3:
            assert_same(now["actor"], start["actor"])
            assert_same(now["target_actor"], start["target_actor"])
            for i in range(2):
                assert_same(now["targets"][i], start["targets"][i])
            assert out["losses/actor_loss"] == 0.0  # no actor step yet
        else:
            assert differs(now["actor"], start["actor"])
            assert differs(now["target_actor"], start["target_actor"])
            assert all(differs(now["targets"][i], start["targets"][i]) for i in range(2))
            assert out["losses/actor_loss"] != 0.0
        previous = now


def test_ddpg_has_one_critic_no_smoothing_and_moves_the_actor_at_every_step():
    agent = make_td3(seed=6, config=DDPGConfig, tau=0.5)
    assert len(agent.critics) == 1 and len(agent.target_critics) == 1
    assert agent.metric_names == TD3Agent.metric_names
    before = snapshot(agent)
    metrics, _, targets = spied_step(agent, BATCH)
    s, _, r, d, s2 = row(BATCH)
    mu = td3_actor_np(before["target_actor"], s2)
    np.testing.assert_allclose(targets[0].calls[0][1], mu, rtol=0, atol=1e-6)  # the target action, no noise
    y = r + d * critic_np(before["targets"][0], s2, mu)[0]
    q = critic_np(before["critics"][0], s, UNSCALED)[0]
    assert metrics["losses/critic_loss"] == pytest.approx(0.5 * np.mean((q - y) ** 2), rel=1e-5)
    after = snapshot(agent)
    actor_loss = -np.mean(critic_np(after["critics"][0], s, td3_actor_np(before["actor"], s))[0])
    assert metrics["losses/actor_loss"] == pytest.approx(actor_loss, rel=1e-5)
    previous = [all_weights(agent.actor), all_weights(agent.target_actor), all_weights(agent.target_critics[0])]
    for step in (2, 3):  # through train: the actor and the targets move at every step
        agent.train(make_batch(seed=step))
        now = [all_weights(agent.actor), all_weights(agent.target_actor), all_weights(agent.target_critics[0])]
        assert all(differs(x, y) for x, y in zip(now, previous)), step
        previous = now


# --------------------------------------------------------------------------- train: G steps, determinism


def test_train_runs_g_steps_and_averages_them_and_one_seed_gives_one_result():
    batches = make_batch(G=3, seed=11)
    stacked = make_sac(seed=3)
    out = stacked.train(batches)
    assert int(stacked.num_updates.numpy()) == 3
    assert list(out) == list(SACAgent.metric_names)
    # the same seed fed the 3 batches one at a time: the same weights, and `out` is the mean of the 3 steps
    single = make_sac(seed=3)
    steps = [single.train(Transition(*(x[g:g + 1] for x in batches))) for g in range(3)]
    assert int(single.num_updates.numpy()) == 3
    for name in SACAgent.metric_names:
        assert out[name] == pytest.approx(np.mean([m[name] for m in steps]), rel=1e-6, abs=1e-7), name
    assert len({m["losses/critic_loss"] for m in steps}) == 3  # three different steps were averaged
    for model in ("actor", "critics", "target_critics"):
        a, b = getattr(stacked, model), getattr(single, model)
        for x, y in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            assert_same(all_weights(x), all_weights(y))
    assert float(stacked.log_alpha.numpy()) == float(single.log_alpha.numpy())
    # another seed: other weights after the same batches
    other = make_sac(seed=4)
    other.train(batches)
    assert differs(all_weights(other.actor), all_weights(stacked.actor))
    assert differs(all_weights(other.critics[0]), all_weights(stacked.critics[0]))


# --------------------------------------------------------------------------- policies

EXTREME = np.array([[1e4, -1e4, 1e4], [-1e4, 1e4, -1e4], [1e6, 1e6, -1e6], [0.0, 0.0, 0.0], [3.0, -2.0, 0.5]],
                   np.float32)


def test_squashed_gaussian_policy_samples_in_the_bounds_and_one_seed_repeats(sac_step):
    actor = sac_step.agent.actor
    policies = [SquashedGaussianPolicy(actor, OBS, ACTIONS, seed=s) for s in (7, 7, 8)]
    draws = [[p.action(EXTREME) for _ in range(2)] for p in policies]
    rng = np.random.default_rng(7)
    mean, log_std, _ = sac_actor_np(layer_weights(actor), EXTREME.astype(np.float64))
    for k, actions in enumerate(draws[0]):
        assert actions.dtype == np.float32 and actions.shape == (5, 2)
        assert np.all(actions >= LOW.astype(np.float32)) and np.all(actions <= HIGH.astype(np.float32))
        eps = rng.standard_normal((5, 2), dtype=np.float32)
        expected = scale_np(np.tanh(mean + np.exp(log_std) * eps), LOW, HIGH)
        np.testing.assert_allclose(actions, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(actions, draws[1][k])  # the same seed
    assert np.any(draws[0][0] == LOW.astype(np.float32)) or np.any(draws[0][0] == HIGH.astype(np.float32))
    assert not np.array_equal(draws[0][0][3:], draws[2][0][3:])  # another seed (the rows not saturated)
    agent_actions = sac_step.agent.policy.action(EXTREME)
    assert np.all(agent_actions >= LOW.astype(np.float32)) and np.all(agent_actions <= HIGH.astype(np.float32))


def test_noisy_actor_policy_clips_to_the_bounds_and_one_seed_repeats(td3_step):
    actor = td3_step.agent.actor
    policies = [NoisyActorPolicy(actor, OBS, ACTIONS, noise_std=0.5, seed=s) for s in (7, 7, 8)]
    draws = [[p.action(EXTREME) for _ in range(2)] for p in policies]
    rng = np.random.default_rng(7)
    mu = td3_actor_np(layer_weights(actor), EXTREME.astype(np.float64))
    for k, actions in enumerate(draws[0]):
        assert actions.dtype == np.float32
        assert np.all(actions >= LOW.astype(np.float32)) and np.all(actions <= HIGH.astype(np.float32))
        eps = 0.5 * rng.standard_normal((5, 2), dtype=np.float32)
        expected = scale_np(np.clip(mu + eps, -1.0, 1.0), LOW, HIGH)
        np.testing.assert_allclose(actions, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(actions, draws[1][k])
    assert not np.array_equal(draws[0][0], draws[2][0])


def test_exploring_policies_stay_in_bounds_that_do_not_add_up_exactly_in_float32(sac_step, td3_step):
    # low + (a + 1) * (high - low) / 2 at a = 1 is -0.1 + 0.3 = 0.20000002 > 0.2 in float32: without a clip after
    # the scaling, a saturated actor sends the environment an action 1 ulp outside its Box
    spec = BoundedArraySpec((2,), np.float32, np.array([-0.1, -1.7]), np.array([0.2, 0.3]))
    sac = SquashedGaussianPolicy(sac_step.agent.actor, OBS, spec, seed=0).action(EXTREME)
    td3 = NoisyActorPolicy(td3_step.agent.actor, OBS, spec, noise_std=2.0, seed=0).action(EXTREME)
    outside = {name: actions[(actions < spec.minimum) | (actions > spec.maximum)].tolist()
               for name, actions in (("SquashedGaussianPolicy", sac), ("NoisyActorPolicy", td3))}
    assert not any(outside.values()), (
        f"actions outside the Box [{spec.minimum.tolist()}, {spec.maximum.tolist()}]: {outside} (float32 rounding "
        f"in distributions.scale_action; clip to [low, high] after scaling)")


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_deterministic_policy_and_saved_policy_model(algo, sac_step, td3_step, tmp_path):
    agent = (sac_step if algo == "sac" else td3_step).agent
    obs = np.concatenate([EXTREME, np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)])
    w = layer_weights(agent.actor)
    squashed = np.tanh(sac_actor_np(w, obs.astype(np.float64))[0]) if algo == "sac" else td3_actor_np(w, obs)
    expected = scale_np(squashed, LOW, HIGH)  # scale(tanh(mean)) for SAC, scale(mu(s)) for TD3
    actions = DeterministicPolicy(agent.policy_model, OBS, ACTIONS).action(obs)
    np.testing.assert_allclose(actions, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(agent.eval_policy.action(obs), expected, rtol=1e-5, atol=1e-5)
    assert np.all(actions >= LOW.astype(np.float32)) and np.all(actions <= HIGH.astype(np.float32))

    path = tmp_path / "policy.keras"
    agent.policy_model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(np.asarray(loaded(obs)), np.asarray(agent.policy_model(obs)))
    np.testing.assert_array_equal(DeterministicPolicy(loaded, OBS, ACTIONS).action(obs), actions)


# --------------------------------------------------------------------------- refusals

AGENTS = [(SACAgent, SACConfig, "SAC"), (TD3Agent, TD3Config, "TD3"), (TD3Agent, DDPGConfig, "DDPG")]


@pytest.mark.parametrize("agent_cls, config_cls, name", AGENTS)
@pytest.mark.parametrize("spec, says", [
    (BoundedArraySpec((), np.int64, minimum=0, maximum=1), r"needs continuous actions .*; use dqn, c51, qrdqn, rainbow, ppo"),
    (BoundedArraySpec((1,), np.float32, minimum=-np.inf, maximum=1.0),
     r"needs a Box of actions with finite bounds .*; set finite low and high"),
    (BoundedArraySpec((2, 2), np.float32, minimum=-1.0, maximum=1.0), r"needs a flat Box .*; reshape them"),
])
def test_agents_refuse_discrete_unbounded_and_unflat_actions(agent_cls, config_cls, name, spec, says):
    with pytest.raises(UnsupportedSpaceError, match=f"^{name} {says}"):
        agent_cls(config_cls(**SMALL), OBS, spec, total_steps=10)


# --------------------------------------------------------------------------- the compiled loop on native Pendulum

N = 4
LOOP = dict(hidden_sizes=(8,), jit_compile=False, batch_size=8, buffer_size=100, learning_starts=8, train_freq=4,
            gradient_steps=2, learning_rate=1e-3)


def make_loop(agent_cls, config_cls, seed):
    env = native_env("Pendulum-v1")
    agent = agent_cls(config_cls(**LOOP), env.observation_spec(), env.action_spec(), total_steps=100, seed=seed,
                      num_envs=N)
    return CompiledOffPolicy(agent, env, N, seed, jit_compile=False)


def uniform_reference(seed, counter):
    """The compiled loop's warm-up draw: ``low + U * (high - low)`` keyed by ``[seed * 1_000_003 + 2, counter]``."""
    unit = tf.random.stateless_uniform([N, 1], tf.constant([seed * KEY_STRIDE + 2, counter], tf.int64)).numpy()
    return np.float32(-2.0) + unit * np.float32(4.0)


def explore_reference(agent, observation, seed, counter):
    """The exploring action of ``explore_graph`` after the warm-up, from the actor's weights and stream 4."""
    eps = tf.random.stateless_normal([N, 1], tf.constant([seed * KEY_STRIDE + 4, counter], tf.int64)).numpy()
    w, observation = layer_weights(agent.actor), observation.astype(np.float64)
    if isinstance(agent, SACAgent):
        mean, log_std, _ = sac_actor_np(w, observation)
        squashed = squashed_sample_np(mean, log_std, eps.astype(np.float64))[0]
    else:
        squashed = np.clip(td3_actor_np(w, observation) + agent.config.exploration_noise * eps, -1.0, 1.0)
    return scale_np(squashed, -2.0, 2.0)


@pytest.mark.parametrize("agent_cls, config_cls, repeat", [(SACAgent, SACConfig, False), (TD3Agent, TD3Config, True)])
def test_compiled_loop_on_native_pendulum(agent_cls, config_cls, repeat):
    seed = 5
    compiled = make_loop(agent_cls, config_cls, seed)
    agent = compiled.agent
    # vector steps 1-2 (steps 0 and 4 < learning_starts 8): uniform actions; at step 8 the first phase, 2 updates
    step, periods, phases, metrics, updates, _, _ = compiled.run(0, 0, 0, 2)
    assert (step, periods, phases, updates) == (8, 2, 1, 2)
    assert list(metrics) == list(agent.metric_names) and all(np.isfinite(v) for v in metrics.values())
    stored = compiled.buffer.numpy()
    np.testing.assert_array_equal(stored["action"], np.concatenate([uniform_reference(seed, 0),
                                                                    uniform_reference(seed, 1)]))
    # vector step 3 acts with the agent's exploration at the carried counter (2 steps + 2 updates = 4)
    counter = int(compiled.carry.counter.numpy())
    assert counter == 4
    expected = explore_reference(agent, stored["next_observation"][4:8], seed, counter)
    step, periods, phases, metrics, updates, _, _ = compiled.run(step, periods, phases, 1)
    assert (step, periods, phases, updates) == (12, 3, 2, 2)
    stored = compiled.buffer.numpy()
    np.testing.assert_allclose(stored["action"][8:12], expected, rtol=1e-5, atol=1e-5)
    assert not np.allclose(stored["action"][8:12], uniform_reference(seed, counter))
    step, periods, phases, metrics, updates, _, _ = compiled.run(step, periods, phases, 2)
    assert (step, periods, phases, updates) == (20, 5, 4, 4)
    assert int(agent.num_updates.numpy()) == 8  # 4 phases of gradient_steps 2
    assert list(metrics) == list(agent.metric_names)

    stored = compiled.buffer.numpy()
    assert stored["action"].dtype == np.float32 and stored["action"].shape == (20, 1)
    assert np.all(np.abs(stored["action"]) <= 2.0)
    assert stored["observation"].shape == (20, 3)
    np.testing.assert_array_equal(stored["discount"], np.ones(20, np.float32))  # Pendulum never terminates
    np.testing.assert_array_equal(stored["observation"][4:], stored["next_observation"][:-4])  # no reset in 5 steps

    if not repeat:  # (the second trace of the loop takes seconds: one algorithm shows it)
        return
    # the same seed in one call of 5 vector steps: the same buffer and the same weights
    again = make_loop(agent_cls, config_cls, seed)
    assert again.run(0, 0, 0, 5)[:3] == (20, 5, 4)
    for name, values in again.buffer.numpy().items():
        np.testing.assert_array_equal(values, stored[name], err_msg=name)
    assert_same(all_weights(again.agent.actor), all_weights(agent.actor))


def test_sac_linear_learning_rate_decays_to_zero_over_the_runs_gradient_steps():
    """``learning_rate_decay: linear`` (the zoo's lin_7.3e-4): lr0 * (1 - k / N) after k of the run's N updates."""
    from tfrl.agents.sac import SACAgent, SACConfig
    from tfrl.specs import ArraySpec, BoundedArraySpec

    obs, actions = ArraySpec((3,), np.float32), BoundedArraySpec((1,), np.float32, -2.0, 2.0)
    config = SACConfig(learning_rate=1e-3, learning_rate_decay="linear", learning_starts=100, train_freq=4,
                       gradient_steps=2, hidden_sizes=(8,))
    agent = SACAgent(config, obs, actions, total_steps=900, seed=0)  # N = (900 - 100) * 2 // 4 = 400 updates
    for optimizer in (agent.actor_optimizer, agent.critic_optimizer, agent.alpha_optimizer):
        rates = []
        for k in (0, 100, 400, 500):
            optimizer.iterations.assign(k)  # the checkpointed step count the schedule reads
            rates.append(float(optimizer.learning_rate))
        np.testing.assert_allclose(rates, [1e-3, 7.5e-4, 0.0, 0.0], atol=1e-9)
    constant = SACAgent(SACConfig(hidden_sizes=(8,)), obs, actions, total_steps=900, seed=0)
    np.testing.assert_allclose(float(constant.actor_optimizer.learning_rate), 3e-4, rtol=1e-6)
