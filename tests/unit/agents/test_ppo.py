"""Tests of tfrl.agents.ppo: ``ppo_loss`` and ``masked_mean`` against hand-worked numbers, then the agent:
config and action-space errors, the seeded ``act`` call, and the compiled update on real rollouts.

In the spirit of TF-Agents' ``dqn_agent_test.testLoss``: every expected number is written out.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from tfrl import distributions, envs
from tfrl.agents.ppo import PPOAgent, PPOConfig, masked_mean, ppo_loss
from tfrl.data.rollout import RolloutBatch, RolloutBuffer
from tfrl.errors import ConfigError, UnsupportedSpaceError
from tfrl.specs import ArraySpec, BoundedArraySpec

OBS = ArraySpec((4,), np.float32)
THREE_ACTIONS_FROM_ONE = BoundedArraySpec((), np.int64, 1, 3)  # env actions 1, 2, 3; raw indices 0, 1, 2
BOX = BoundedArraySpec((2,), np.float32, -1.0, 1.0)
SMALL = dict(hidden_sizes=(16,), jit_compile=False)


def _observations(batch=6, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, 4)).astype(np.float32)


def _weights(agent):
    return [v.numpy().copy() for v in agent.core.model.trainable_variables]


# --------------------------------------------------------------------------- masked_mean


def test_masked_mean_basics():
    x = tf.constant([1.0, 2.0, 3.0, 10.0])
    assert float(masked_mean(x, tf.constant([1.0, 0.0, 1.0, 0.0]))) == pytest.approx(2.0)  # (1 + 3) / 2
    assert float(masked_mean(x, tf.ones(4))) == pytest.approx(4.0)  # 16 / 4
    assert float(masked_mean(x, tf.constant([0.0, 0.0, 0.0, 1.0]))) == pytest.approx(10.0)
    assert float(masked_mean(x, tf.zeros(4))) == 0.0  # no entries: 0, not NaN


# --------------------------------------------------------------------------- ppo_loss by hand

CLIP = 0.2
# ratios r = exp(new - old):
#   0: r = 1.1 inside [0.8, 1.2], A = +2   -> both branches -2.2
#   1: r = 1.5 above,  A = +1              -> surrogate -1.5, clipped -1.2: max = -1.2 (clipped)
#   2: r = 0.5 below,  A = -1              -> surrogate +0.5, clipped +0.8: max = +0.8 (clipped)
#   3: r = 0.5 below,  A = +2              -> surrogate -1.0, clipped -1.6: max = -1.0 (unclipped)
RATIOS = np.array([1.1, 1.5, 0.5, 0.5])
OLD_LOGP = np.array([-1.0, -0.5, -2.0, -0.3], np.float32)
NEW_LOGP = (OLD_LOGP + np.log(RATIOS)).astype(np.float32)
ADV = np.array([2.0, 1.0, -1.0, 2.0], np.float32)
NEW_V = np.array([1.0, 2.0, 0.0, -1.0], np.float32)
OLD_V = np.array([0.5, 2.5, 0.3, -1.0], np.float32)
RET = np.array([1.5, 1.0, 1.0, 1.0], np.float32)
ENT = np.array([0.5, 1.0, 1.5, 2.0], np.float32)
MASK = np.ones(4, np.float32)

POLICY_LOSS = (-2.2 - 1.2 + 0.8 - 1.0) / 4  # -0.9
# plain: squared errors 0.25, 1, 1, 4 -> mean 1.5625 -> * 0.5
VALUE_LOSS = 0.5 * (0.25 + 1.0 + 1.0 + 4.0) / 4  # 0.78125
# clipped: V_clip = old + clip(new - old, -0.2, 0.2) = [0.7, 2.3, 0.1, -1.0]
#   (V_clip - R)^2 = [0.64, 1.69, 0.81, 4.0]; max with the plain errors: [0.64, 1.69, 1.0, 4.0]
VALUE_LOSS_CLIPPED = 0.5 * (0.64 + 1.69 + 1.0 + 4.0) / 4  # 0.91625
ENTROPY = (0.5 + 1.0 + 1.5 + 2.0) / 4  # 1.25
# (r - 1) - log r: 0.1 - log 1.1, 0.5 - log 1.5, -0.5 + log 2 (twice)
APPROX_KL = ((0.1 - math.log(1.1)) + (0.5 - math.log(1.5)) + 2 * (-0.5 + math.log(2.0))) / 4  # 0.1213798
CLIP_FRACTION = 3 / 4  # ratios 1.5, 0.5, 0.5 lie outside [0.8, 1.2]


def _loss(clip_value_loss=False, value_coef=0.5, entropy_coef=0.01, extra=None, **overrides):
    args = dict(new_log_prob=NEW_LOGP, old_log_prob=OLD_LOGP, advantages=ADV, new_value=NEW_V, old_value=OLD_V,
                returns=RET, entropy=ENT, mask=MASK)
    args.update(overrides)
    if extra is not None:  # append one more (masked-out) entry to every array that is not a variable
        args = {k: v if isinstance(v, tf.Variable) else np.append(v, extra[k]).astype(np.float32)
                for k, v in args.items()}
    tensors = {k: v if isinstance(v, tf.Variable) else tf.constant(v) for k, v in args.items()}
    return ppo_loss(**tensors, clip_coef=CLIP, value_coef=value_coef, entropy_coef=entropy_coef,
                    clip_value_loss=clip_value_loss)


def test_ppo_loss_by_hand():
    out = {k: float(v) for k, v in _loss().items()}
    assert out["policy_loss"] == pytest.approx(POLICY_LOSS, rel=1e-5)
    assert out["value_loss"] == pytest.approx(VALUE_LOSS, rel=1e-5)
    assert out["entropy"] == pytest.approx(ENTROPY, rel=1e-6)
    assert out["approx_kl"] == pytest.approx(APPROX_KL, rel=1e-4)
    assert out["clip_fraction"] == pytest.approx(CLIP_FRACTION)
    # loss = -0.9 + 0.5 * 0.78125 - 0.01 * 1.25 = -0.521875
    assert out["loss"] == pytest.approx(-0.521875, rel=1e-5)


def test_ppo_loss_clipped_value_by_hand():
    out = {k: float(v) for k, v in _loss(clip_value_loss=True, value_coef=2.0, entropy_coef=0.1).items()}
    assert out["value_loss"] == pytest.approx(VALUE_LOSS_CLIPPED, rel=1e-5)
    assert out["policy_loss"] == pytest.approx(POLICY_LOSS, rel=1e-5)  # the policy part does not change
    # loss = -0.9 + 2 * 0.91625 - 0.1 * 1.25 = 0.8075
    assert out["loss"] == pytest.approx(0.8075, rel=1e-5)


def test_ppo_loss_gradients_vanish_on_the_clipped_branches():
    new_logp, new_v = tf.Variable(NEW_LOGP), tf.Variable(NEW_V)
    with tf.GradientTape(persistent=True) as tape:
        plain = _loss(new_log_prob=new_logp, new_value=new_v)
        clipped = _loss(new_log_prob=new_logp, new_value=new_v, clip_value_loss=True)
    # d policy_loss / d new_logp_i = -A_i * r_i / 4 where the unclipped branch is taken, 0 where clipped
    np.testing.assert_allclose(tape.gradient(plain["policy_loss"], new_logp).numpy(),
                               [-2 * 1.1 / 4, 0.0, 0.0, -2 * 0.5 / 4], rtol=1e-5, atol=1e-7)
    # plain value loss: (V - R) / 4 = [-0.125, 0.25, -0.25, -0.5]
    np.testing.assert_allclose(tape.gradient(plain["value_loss"], new_v).numpy(), [-0.125, 0.25, -0.25, -0.5],
                               rtol=1e-5)
    # clipped value loss: entries 0 and 1 take the saturated clipped value (no gradient); 2 and 3 the plain one
    np.testing.assert_allclose(tape.gradient(clipped["value_loss"], new_v).numpy(), [0.0, 0.0, -0.25, -0.5],
                               rtol=1e-5, atol=1e-7)


MASKED_EXTRA = dict(new_log_prob=2.0, old_log_prob=-1.0, advantages=50.0, new_value=100.0, old_value=-100.0,
                    returns=7.0, entropy=9.0, mask=0.0)  # a fifth entry: ratio e^3, wild values, mask 0


@pytest.mark.parametrize("clip_value_loss", [False, True])
def test_ppo_loss_ignores_masked_entries(clip_value_loss):
    base = {k: float(v) for k, v in _loss(clip_value_loss).items()}
    masked = {k: float(v) for k, v in _loss(clip_value_loss, extra=MASKED_EXTRA).items()}
    assert masked == pytest.approx(base, rel=1e-6)
    # and the masked entry gets no gradient
    new_logp = tf.Variable(np.append(NEW_LOGP, MASKED_EXTRA["new_log_prob"]).astype(np.float32))
    new_v = tf.Variable(np.append(NEW_V, MASKED_EXTRA["new_value"]).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        loss = _loss(clip_value_loss, extra=MASKED_EXTRA, new_log_prob=new_logp, new_value=new_v)["loss"]
    grad_logp, grad_v = tape.gradient(loss, new_logp).numpy(), tape.gradient(loss, new_v).numpy()
    assert grad_logp[4] == 0.0 and grad_v[4] == 0.0
    assert grad_logp[0] != 0.0 and grad_v[3] != 0.0


# --------------------------------------------------------------------------- constructor errors


def test_batch_size_must_divide_the_rollout():
    config = PPOConfig(num_steps=10, batch_size=7, **SMALL)
    with pytest.raises(ConfigError) as info:
        PPOAgent(config, OBS, THREE_ACTIONS_FROM_ONE, total_steps=1000, seed=0, num_envs=3)
    message = str(info.value)
    for piece in ("batch_size 7", "num_steps 10", "num_envs 3", "30"):
        assert piece in message


@pytest.mark.parametrize(
    "spec",
    [
        BoundedArraySpec((2, 2), np.float32, -1.0, 1.0),  # a 2-D Box
        BoundedArraySpec((2,), np.float32, -np.inf, np.inf),  # unbounded Box
        BoundedArraySpec((2,), np.float32, -1.0, np.inf),  # half-bounded Box
        BoundedArraySpec((2,), np.int64, 0, 3),  # MultiDiscrete-like 1-D integer spec
        ArraySpec((2,), np.float32),  # no bounds at all
    ],
)
def test_unsupported_action_space_is_refused(spec):
    with pytest.raises(UnsupportedSpaceError, match=r"PPO supports Discrete actions and 1-D Box actions"):
        PPOAgent(PPOConfig(num_steps=4, batch_size=4, **SMALL), OBS, spec, total_steps=100, seed=0)


# --------------------------------------------------------------------------- act


def test_act_discrete_offsets_the_raw_index_and_reports_its_log_prob():
    agent = PPOAgent(PPOConfig(num_steps=4, batch_size=4, **SMALL), OBS, THREE_ACTIONS_FROM_ONE, 100, seed=0)
    obs = _observations(64)
    env_action, raw, log_prob, value = agent.act(obs)
    assert env_action.shape == raw.shape == log_prob.shape == value.shape == (64,)
    assert env_action.dtype == np.int64 and raw.dtype == np.int64
    assert log_prob.dtype == np.float32 and value.dtype == np.float32
    assert set(np.unique(raw)) == {0, 1, 2}  # a nearly uniform initial policy hits all three in 64 draws
    np.testing.assert_array_equal(env_action, raw + 1)
    outputs = agent.core.model(obs)
    expected = distributions.categorical_log_prob(outputs["logits"], raw).numpy()
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(value, outputs["value"].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(agent.value(obs), outputs["value"].numpy(), rtol=1e-5, atol=1e-6)


def test_act_continuous_clips_env_actions_and_keeps_raw_ones():
    config = PPOConfig(num_steps=4, batch_size=4, log_std_init=2.0, **SMALL)  # sigma = e^2 ~ 7.4
    agent = PPOAgent(config, OBS, BOX, 100, seed=0)
    obs = _observations(32)
    env_action, raw, log_prob, value = agent.act(obs)
    assert env_action.shape == raw.shape == (32, 2) and log_prob.shape == value.shape == (32,)
    assert env_action.dtype == np.float32 and raw.dtype == np.float32
    assert np.mean(np.abs(raw) > 1.0) > 0.5  # most raw samples fall outside [-1, 1] ...
    np.testing.assert_array_equal(env_action, np.clip(raw, -1.0, 1.0))  # ... and are clipped for the env
    outputs = agent.core.model(obs)
    expected = distributions.gaussian_log_prob(outputs["mean"], outputs["log_std"], raw).numpy()
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5, atol=1e-5)  # of the raw, unclipped sample
    clipped = distributions.gaussian_log_prob(outputs["mean"], outputs["log_std"], env_action).numpy()
    assert not np.allclose(log_prob, clipped)


@pytest.mark.parametrize("spec", [THREE_ACTIONS_FROM_ONE, BOX], ids=["discrete", "box"])
def test_act_same_seed_same_actions_and_host_state_round_trip(spec):
    config = PPOConfig(num_steps=4, batch_size=4, **SMALL)
    a, b, c = (PPOAgent(config, OBS, spec, 100, seed=s) for s in (3, 3, 4))
    obs = _observations(20)
    for _ in range(3):
        np.testing.assert_array_equal(a.act(obs)[1], b.act(obs)[1])
    assert not np.array_equal(a.act(obs)[1], c.act(obs)[1])

    state = json.loads(json.dumps(a.host_state()))  # JSON-friendly
    first = [a.act(obs)[1] for _ in range(2)]
    permutation = a.shuffle_rng.permutation(50)
    assert not np.array_equal(first[0], first[1])
    a.load_host_state(state)
    again = [a.act(obs)[1] for _ in range(2)]
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.shuffle_rng.permutation(50), permutation)


# --------------------------------------------------------------------------- train on real rollouts

NUM_ENVS, NUM_STEPS = 4, 32


def _collect(agent, env, num_steps, seed=0) -> RolloutBatch:
    buffer = RolloutBuffer(num_steps, env.num_envs, env.observation_spec(), agent.stored_action_spec)
    time_step = env.reset(seed=seed)
    for _ in range(num_steps):
        env_action, action, log_prob, value = agent.act(time_step.observation)
        next_time_step = env.step(env_action)
        buffer.add(time_step, action, next_time_step, log_prob=log_prob, value=value)
        time_step = next_time_step
    buffer.finish(time_step, agent.value(time_step.observation))
    return RolloutBatch(*(np.array(a) for a in buffer.as_batch()))  # copies


def _cartpole_config(**overrides):
    # 32 x 4 = 128 transitions in 4 minibatches of 32
    base = dict(num_steps=NUM_STEPS, batch_size=32, update_epochs=2, hidden_sizes=(16,), jit_compile=False)
    return PPOConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def cartpole():
    env = envs.make("CartPole-v1", num_envs=NUM_ENVS, seed=0)
    agent = PPOAgent(_cartpole_config(), env.observation_spec(), env.action_spec(), 10_000, seed=0,
                     num_envs=NUM_ENVS)
    batch = _collect(agent, env, NUM_STEPS)
    spec = (env.observation_spec(), env.action_spec())
    env.close()
    return agent, batch, spec


def _agent(spec, **overrides):
    return PPOAgent(_cartpole_config(**overrides), *spec, 10_000, seed=0, num_envs=NUM_ENVS)


def test_train_changes_weights_and_reports_finite_metrics(cartpole):
    agent, batch, _ = cartpole
    before = _weights(agent)
    updates = int(agent.num_updates.numpy())
    metrics = agent.train(batch)
    after = _weights(agent)
    assert all(not np.array_equal(x, y) for x, y in zip(before, after))  # every variable moved
    expected_keys = {"losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/approx_kl",
                     "losses/clip_fraction", "losses/explained_variance", "losses/epochs", "charts/learning_rate"}
    assert set(metrics) == expected_keys
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["losses/epochs"] == 2.0
    assert 0.0 <= metrics["losses/clip_fraction"] <= 1.0
    assert metrics["losses/approx_kl"] >= 0.0
    assert metrics["losses/entropy"] == pytest.approx(math.log(2), rel=0.05)  # a near-uniform 2-action policy
    assert int(agent.num_updates.numpy()) == updates + 2 * 4  # update_epochs x num_minibatches


def test_target_kl_stops_the_epochs_early(cartpole):
    _, batch, spec = cartpole
    agent = _agent(spec, update_epochs=3, target_kl=1e-9)
    metrics = agent.train(batch)
    assert metrics["losses/epochs"] == 1.0
    assert int(agent.num_updates.numpy()) == 4  # one epoch of 4 minibatches
    free = _agent(spec, update_epochs=3)
    assert free.train(batch)["losses/epochs"] == 3.0
    assert int(free.num_updates.numpy()) == 12


def test_anneal_lr_halves_the_learning_rate_at_half_progress(cartpole):
    _, batch, spec = cartpole
    agent = _agent(spec, learning_rate=1e-3, anneal_lr=True)
    metrics = agent.train(batch, progress=0.5)
    assert metrics["charts/learning_rate"] == pytest.approx(5e-4, rel=1e-6)
    assert float(agent.optimizer.learning_rate.numpy()) == pytest.approx(5e-4, rel=1e-6)
    fixed = _agent(spec, learning_rate=1e-3, anneal_lr=False)
    assert fixed.train(batch, progress=0.5)["charts/learning_rate"] == pytest.approx(1e-3, rel=1e-6)


def test_jit_compile_and_eager_graphs_give_the_same_update(cartpole):
    _, batch, spec = cartpole
    # a large step size, so that the updates (~1e-2 per parameter) dwarf the tolerance
    eager = _agent(spec, learning_rate=1e-2, jit_compile=False)
    jitted = _agent(spec, learning_rate=1e-2, jit_compile=True)
    initial = _weights(eager)
    for x, y in zip(initial, _weights(jitted)):
        np.testing.assert_array_equal(x, y)
    m_eager, m_jit = eager.train(batch), jitted.train(batch)
    moved = max(float(np.max(np.abs(x - y))) for x, y in zip(initial, _weights(eager)))
    assert moved > 1e-3
    for x, y in zip(_weights(eager), _weights(jitted)):
        np.testing.assert_allclose(x, y, atol=1e-4)
    assert m_eager == pytest.approx(m_jit, rel=1e-3, abs=1e-4)


def test_continuous_train_on_pendulum_changes_log_std():
    env = envs.make("Pendulum-v1", num_envs=2, seed=0)
    config = PPOConfig(num_steps=16, batch_size=16, update_epochs=2, hidden_sizes=(16,), jit_compile=False,
                       learning_rate=1e-2, log_std_init=-0.5)
    agent = PPOAgent(config, env.observation_spec(), env.action_spec(), 1000, seed=0, num_envs=2)
    batch = _collect(agent, env, 16)
    env.close()
    assert batch.action.shape == (16, 2, 1) and batch.action.dtype == np.float32
    log_std = agent.core.model.get_layer("log_std")
    before = log_std.get_weights()[0].copy()
    np.testing.assert_allclose(before, [-0.5])
    metrics = agent.train(batch)
    assert all(math.isfinite(v) for v in metrics.values())
    assert not np.allclose(log_std.get_weights()[0], before)
    assert int(agent.num_updates.numpy()) == 2 * 2


class _SilentContext:
    """The parts of ``LoopContext`` that ``run_host_on_policy`` calls, doing nothing."""

    resume_vars = None

    def __init__(self, agent, run, env, state):
        self.agent, self.run, self.env, self.state = agent, run, env, state

    def record_episodes(self, records):
        pass

    def check_time_step(self, time_step):
        pass

    def check_metrics(self, metrics):
        pass

    def after_steps(self, before, scalars, resumable=None):
        return False

    def close(self, save=True):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(save=exc[0] is None)


def test_anneal_lr_over_a_run_starts_at_lr_and_never_reaches_zero():
    from types import SimpleNamespace

    from tfrl.train.loops import LoopState
    from tfrl.train.loops.host_on_policy import run_host_on_policy

    env = envs.make("CartPole-v1", num_envs=4, seed=0)
    config = PPOConfig(num_steps=8, batch_size=32, update_epochs=1, hidden_sizes=(8,), jit_compile=False,
                       learning_rate=1e-3, anneal_lr=True)
    agent = PPOAgent(config, env.observation_spec(), env.action_spec(), 96, seed=0, num_envs=4)
    rates = []
    train = agent.train

    def recording_train(batch, progress=0.0):
        metrics = train(batch, progress)
        rates.append(metrics["charts/learning_rate"])
        return metrics

    agent.train = recording_train
    run = SimpleNamespace(total_steps=96, seed=0)  # 3 rollouts of 8 x 4 (a few more if episodes end)
    run_host_on_policy(_SilentContext(agent, run, env, LoopState()))
    env.close()
    assert len(rates) >= 3
    assert rates[0] == pytest.approx(1e-3, rel=1e-6)  # the first update at the full learning rate
    assert min(rates) > 0.0  # no update is taken with a zero step size
