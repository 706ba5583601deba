"""The compiled DQN loop: its in-graph replay buffer against naive Python references, the host loop's
training schedule, determinism, and what it refuses."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tensorflow as tf

from tfrl.agents.dqn import DQNAgent, DQNConfig
from tfrl.envs.native import native_env
from tfrl.errors import ConfigError
from tfrl.specs import ArraySpec, BoundedArraySpec, StepType
from tfrl.train import resume, train
from tfrl.data.graph_replay import GraphReplayBuffer
from tfrl.train.loops.compiled_off_policy import CompiledOffPolicy

SMALL = dict(hidden_sizes=(16,), batch_size=4, jit_compile=False, learning_rate=1e-2)
N = 4


def make_env():
    # A short time limit, so that a short run has truncations as well as terminations.
    return native_env("CartPole-v1", max_episode_steps=12)


def make_compiled(seed=0, num_envs=N, total_steps=10_000, **overrides):
    env = make_env()
    config = DQNConfig(**{**SMALL, "learning_starts": 10**9, "buffer_size": 1000, **overrides})
    agent = DQNAgent(config, env.observation_spec(), env.action_spec(), total_steps=total_steps, seed=seed,
                     num_envs=num_envs)
    return CompiledOffPolicy(agent, env, num_envs, seed, jit_compile=config.jit_compile)


def weights(model):
    return [w.copy() for w in model.get_weights()]


def reference_transitions(seed, actions, vector_steps):
    """Replay the native environments eagerly with the stored actions; the valid transitions in
    storage order, and how many rows were skipped (the auto-reset steps after a LAST step)."""
    env = make_env()
    state, time_step = env.reset(seed, N)
    actions = iter(actions)
    rows, skipped, lasts = [], 0, {"terminated": 0, "truncated": 0}
    for _ in range(vector_steps):
        valid = time_step.step_type.numpy() != int(StepType.LAST)
        action = np.array([next(actions) if v else 0 for v in valid], np.int64)
        state, next_step = env.step(state, tf.constant(action))
        for i in range(N):
            if not valid[i]:
                skipped += 1
                continue
            rows.append((time_step.observation.numpy()[i], action[i], next_step.reward.numpy()[i],
                         next_step.discount.numpy()[i], next_step.observation.numpy()[i]))
            if next_step.step_type.numpy()[i] == int(StepType.LAST):
                lasts["terminated" if next_step.discount.numpy()[i] == 0 else "truncated"] += 1
        time_step = next_step
    return rows, skipped, lasts


def assert_rows_equal(stored, rows):
    names = ("observation", "action", "reward", "discount", "next_observation")
    for k, name in enumerate(names):
        np.testing.assert_array_equal(stored[name], np.stack([r[k] for r in rows]), err_msg=name)


# --------------------------------------------------------------------------- the buffer on its own


def test_buffer_add_packs_valid_rows_and_wraps_like_a_python_ring():
    capacity = 7
    buffer = GraphReplayBuffer(capacity, ArraySpec((2,), np.float32), BoundedArraySpec((), np.int64, 0, 2), 3)
    ring, position, count = [None] * capacity, 0, 0
    rng = np.random.default_rng(0)
    for t in range(9):
        obs = rng.normal(size=(3, 2)).astype(np.float32)
        action = rng.integers(0, 3, size=3)
        reward = rng.normal(size=3).astype(np.float32)
        discount = rng.integers(0, 2, size=3).astype(np.float32)
        next_obs = rng.normal(size=(3, 2)).astype(np.float32)
        valid = rng.random(3) < 0.7
        added = buffer.add(obs, action, reward, discount, next_obs, valid)
        assert int(added) == valid.sum()
        for i in np.flatnonzero(valid):
            ring[position] = (obs[i], action[i], reward[i], discount[i], next_obs[i])
            position, count = (position + 1) % capacity, count + 1
        assert int(buffer.position.numpy()) == position
        assert int(buffer.size.numpy()) == min(count, capacity)
    assert count > capacity  # the ring wrapped around
    assert_rows_equal(buffer.numpy(), ring)


def test_sampling_draws_only_filled_rows_uniformly():
    buffer = GraphReplayBuffer(50, ArraySpec((1,), np.float32), BoundedArraySpec((), np.int64, 0, 1), 4)
    for t in range(5):  # 17 valid rows of 20
        valid = np.array([True, t % 2 == 0, True, t != 3])
        obs = np.arange(4 * t, 4 * t + 4, dtype=np.float32)[:, None]
        buffer.add(obs, np.zeros(4, np.int64), np.ones(4, np.float32), np.array([1, 0, 1, 1], np.float32),
                   obs + 100, valid)
    assert int(buffer.size.numpy()) == 17
    draws = np.concatenate([buffer.sample_indices(tf.constant([7, k], tf.int64), 64).numpy() for k in range(50)])
    assert draws.min() == 0 and draws.max() == 16
    counts = np.bincount(draws, minlength=17)
    assert counts.min() > 0.7 * len(draws) / 17 and counts.max() < 1.3 * len(draws) / 17
    obs, action, reward, discount, next_obs = buffer.sample(tf.constant([7, 0], tf.int64), 64, gamma=0.9)
    stored = buffer.numpy()
    rows = buffer.sample_indices(tf.constant([7, 0], tf.int64), 64).numpy()
    np.testing.assert_array_equal(obs.numpy(), stored["observation"][rows])
    np.testing.assert_array_equal(next_obs.numpy(), obs.numpy() + 100)
    np.testing.assert_allclose(discount.numpy(), 0.9 * stored["discount"][rows])  # gamma * d
    assert set(np.unique(discount.numpy())) <= {0.0, np.float32(0.9)}


def test_buffer_smaller_than_the_environments_is_refused():
    with pytest.raises(ConfigError, match="num_envs"):
        GraphReplayBuffer(3, ArraySpec((1,), np.float32), BoundedArraySpec((), np.int64, 0, 1), 4)


# --------------------------------------------------------------------------- the buffer in the loop


def test_loop_stores_every_transition_and_skips_reset_rows():
    compiled = make_compiled(seed=3)
    vector_steps = 40
    step, _, _, metrics, updates, _, _ = compiled.run(0, 0, 0, vector_steps)
    stored = compiled.buffer.numpy()
    rows, skipped, lasts = reference_transitions(3, stored["action"], vector_steps)
    assert skipped > 0 and lasts["terminated"] > 0 and lasts["truncated"] > 0
    assert step == len(rows) == vector_steps * N - skipped  # environment steps count transitions only
    assert_rows_equal(stored, rows)
    assert metrics is None and updates == 0  # learning_starts not reached
    assert set(np.unique(stored["action"])) == {0, 1}


def test_loop_ring_wraps_around():
    vector_steps = 40
    full = make_compiled(seed=3)
    full.run(0, 0, 0, vector_steps)
    actions = full.buffer.numpy()["action"]
    rows, _, _ = reference_transitions(3, actions, vector_steps)
    capacity = 24
    small = make_compiled(seed=3, buffer_size=capacity)
    small.run(0, 0, 0, vector_steps)
    ring = [None] * capacity
    for i, row in enumerate(rows):
        ring[i % capacity] = row
    assert len(rows) > 2 * capacity
    assert int(small.buffer.position.numpy()) == len(rows) % capacity
    assert_rows_equal(small.buffer.numpy(), ring)


# --------------------------------------------------------------------------- schedule and training


def test_training_follows_the_host_loop_schedule_and_changes_the_weights():
    learning_starts, train_freq, gradient_steps = 30, 8, 3
    compiled = make_compiled(seed=1, learning_starts=learning_starts, train_freq=train_freq,
                             gradient_steps=gradient_steps, target_update_interval=5)
    agent = compiled.agent
    online0, target0 = weights(agent.q_network), weights(agent.target_network)
    step, periods, phases, expected_updates, trained = 0, 0, 0, 0, False
    for _ in range(25):
        new_step, new_periods, new_phases, _, updates, _, _ = compiled.run(step, periods, phases, 1)
        # the host loop's rule, written out, after the environment steps of one vector step:
        due = new_step // train_freq - periods if new_step >= learning_starts else 0
        if periods == 0 and due > 0:
            due = 1
        assert updates == max(due, 0) * gradient_steps, (step, new_step, periods)
        assert new_periods == (new_step // train_freq if due > 0 else periods)
        assert new_phases == phases + (due > 0)
        if updates and not trained:
            assert np.any([np.any(a != b) for a, b in zip(weights(agent.q_network), online0)]), "no weight changed"
            trained = True
        expected_updates += updates
        step, periods, phases = new_step, new_periods, new_phases
    assert trained
    assert int(agent.num_updates.numpy()) == expected_updates > 5
    # target copied at the last multiple of target_update_interval: differs from its initial weights
    assert np.any([np.any(a != b) for a, b in zip(weights(agent.target_network), target0)])


def test_same_seed_same_run_and_another_seed_differs():
    def run(seed):
        compiled = make_compiled(seed=seed, learning_starts=20, train_freq=4, gradient_steps=2)
        step, _, _, metrics, _, stats, _ = compiled.run(0, 0, 0, 30)
        return step, metrics, stats, compiled.buffer.numpy(), weights(compiled.agent.q_network)

    a, b, c = run(5), run(5), run(6)
    assert a[0] == b[0] and a[1] == b[1]
    np.testing.assert_array_equal(a[2], b[2])
    for name in a[3]:
        np.testing.assert_array_equal(a[3][name], b[3][name])
    for wa, wb in zip(a[4], b[4]):
        np.testing.assert_array_equal(wa, wb)
    assert a[3]["observation"].shape != c[3]["observation"].shape or np.any(a[3]["observation"] != c[3]["observation"])


def test_n_step_targets_are_refused():
    with pytest.raises(ConfigError, match="1-step targets"):
        make_compiled(n_step=3)


def test_train_and_resume_with_backend_tf(tmp_path):
    settings = dict(backend="tf", num_envs=8, total_steps=400, learning_starts=100, train_freq=8, gradient_steps=2,
                    eval_every=200, eval_episodes=2, log_every=200, checkpoint_every=200, final_eval_episodes=0,
                    tensorboard=False, verbose=False, **SMALL)
    result = train("dqn", "CartPole-v1", run_dir=tmp_path / "r", use_preset=False, **settings)
    assert 400 <= result.steps < 400 + 8
    with open(tmp_path / "r" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    logged = [r for r in rows if r.get("losses/td_loss")]
    assert logged and all(float(r["charts/epsilon"]) <= 1.0 for r in logged)
    # the in-graph buffer is saved with each checkpoint and restored on resume
    saved = np.load(tmp_path / "r" / "checkpoints" / f"step-{result.steps:09d}" / "replay.npz", allow_pickle=False)
    assert int(saved["size"]) == result.steps and saved["observation"].shape == (result.steps, 4)
    resumed = resume(tmp_path / "r", total_steps=600, verbose=False)
    assert 600 <= resumed.steps < 600 + 8


@pytest.mark.parametrize("algo, extra", [("c51", {"num_atoms": 11, "v_min": 0.0, "v_max": 20.0}),
                                         ("qrdqn", {"num_quantiles": 8}),
                                         ("rainbow", {"num_atoms": 11, "n_step": 1, "prioritized_replay": False})])
def test_distributional_agents_train_in_the_compiled_loop(tmp_path, algo, extra):
    """C51, QR-DQN and Rainbow (1-step, uniform replay: what the compiled loop has) act, store and learn in the graph,
    with XLA as their default, and log their own loss."""
    settings = dict(backend="tf", num_envs=8, total_steps=400, learning_starts=100, train_freq=8, gradient_steps=2,
                    eval_every=0, log_every=200, final_eval_episodes=2, tensorboard=False, verbose=False,
                    hidden_sizes=(16,), batch_size=8, **extra)
    result = train(algo, "CartPole-v1", run_dir=tmp_path / "r", use_preset=False, **settings)
    assert 400 <= result.steps < 408 and result.final_eval is not None
    with open(tmp_path / "r" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("losses/q_values")]
    loss = "losses/quantile_loss" if algo == "qrdqn" else "losses/categorical_loss"
    assert rows and all(np.isfinite(float(r[loss])) and float(r[loss]) > 0 for r in rows)
