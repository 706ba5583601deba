"""The training loop, drivers, checkpoints and the termination/truncation contract end to end."""

from __future__ import annotations

import json

import gymnasium
import numpy as np
import pytest

from tfrl import envs
from tfrl.agents.dqn import DQNAgent, DQNConfig
from tfrl.data import UniformReplayBuffer
from tfrl.logging import read_metrics
from tfrl.policies import RandomPolicy, ScriptedPolicy, cartpole_lean_policy
from tfrl.train import Driver, evaluate_policy, train
from tfrl.train.checkpoint import CheckpointManager


class OneStep(gymnasium.Env):
    """One state, two actions, reward 1, and the episode ends after one step: terminated or truncated."""

    def __init__(self, truncate: bool = False):
        self.observation_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = gymnasium.spaces.Discrete(2)
        self.truncate = truncate

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 1.0, not self.truncate, self.truncate, {}


@pytest.mark.parametrize("truncate, expected", [(False, 1.0), (True, 2.0)])
def test_dqn_bootstraps_through_truncation_not_termination(truncate, expected):
    """With gamma 0.5, Q = 1 when every episode terminates and Q = 1 / (1 - 0.5) = 2 when truncated."""
    env = envs.make(lambda: OneStep(truncate), num_envs=2, seed=0)
    config = DQNConfig(gamma=0.5, learning_rate=3e-3, hidden_sizes=(16,), target_update_interval=20, batch_size=32,
                       buffer_size=1000, max_grad_norm=None, double_dqn=True)
    agent = DQNAgent(config, env.observation_spec(), env.action_spec(), total_steps=1000, seed=0)
    buffer = UniformReplayBuffer(1000, env.observation_spec(), env.action_spec(), num_envs=2, gamma=0.5, seed=0)
    Driver(env, RandomPolicy(env.action_spec(), seed=0), [buffer.add]).run_steps(200)
    batch = buffer.sample(32)
    assert np.all(batch.discount == (0.5 if truncate else 0.0))
    for _ in range(8):
        agent.train(buffer.sample(32, num_batches=250))
    q = agent.q_network(np.zeros((1, 1), np.float32)).numpy()
    np.testing.assert_allclose(q, expected, atol=0.1)


def test_driver_counts_steps_and_episodes():
    env = envs.make("CartPole-v1", num_envs=3, seed=0)
    seen = []
    driver = Driver(env, ScriptedPolicy(cartpole_lean_policy), [lambda ts, a, nts: seen.append(int(np.sum(~ts.is_last())))])
    driver.run_steps(100)
    assert sum(seen) >= 100 and sum(seen) - seen[-1] < 100
    before = env.total_episodes
    driver.run_episodes(5)
    assert env.total_episodes - before >= 5


def test_evaluate_policy_counts_each_env_equally():
    env = envs.make("CartPole-v1", num_envs=4, seed=0)
    result = evaluate_policy(env, ScriptedPolicy(cartpole_lean_policy), 10, seed=1)
    assert result.returns.shape == (10,) and result.lengths.shape == (10,)
    np.testing.assert_array_equal(result.returns, result.lengths)  # CartPole pays 1 per step
    # the lean-toward policy balances for tens of steps, far from random (about 20) and from 500
    assert 25 < result.mean < 100
    again = evaluate_policy(envs.make("CartPole-v1", num_envs=4, seed=0), ScriptedPolicy(cartpole_lean_policy), 10, seed=1)
    np.testing.assert_array_equal(result.returns, again.returns)


def short_run(tmp_path, name, seed, **extra):
    settings = dict(total_steps=1200, num_envs=2, learning_starts=200, train_freq=40, gradient_steps=8,
                    hidden_sizes=(32, 32), eval_every=600, eval_episodes=2, final_eval_episodes=2,
                    checkpoint_every=600, log_every=100, tensorboard=False, stop_at_target=False)
    settings.update(extra)
    return train("dqn", "CartPole-v1", run_dir=tmp_path / name, seed=seed, verbose=False, **settings)


def test_one_seed_gives_identical_runs(tmp_path):
    a = short_run(tmp_path, "a", seed=7)
    b = short_run(tmp_path, "b", seed=7)
    c = short_run(tmp_path, "c", seed=8)
    ma, mb, mc = (read_metrics(r.run_dir / "metrics.csv") for r in (a, b, c))
    returns_a = ma["charts/episode_return"][~np.isnan(ma["charts/episode_return"])]
    returns_b = mb["charts/episode_return"][~np.isnan(mb["charts/episode_return"])]
    returns_c = mc["charts/episode_return"][~np.isnan(mc["charts/episode_return"])]
    np.testing.assert_array_equal(returns_a, returns_b)
    np.testing.assert_array_equal(ma["losses/td_loss"][~np.isnan(ma["losses/td_loss"])],
                                  mb["losses/td_loss"][~np.isnan(mb["losses/td_loss"])])
    np.testing.assert_array_equal(a.final_eval.returns, b.final_eval.returns)
    assert not np.array_equal(returns_a[: len(returns_c)], returns_c[: len(returns_a)])


def test_run_directory_contents_and_checkpoints(tmp_path):
    result = short_run(tmp_path, "r", seed=0, keep_checkpoints=2)
    run = result.run_dir
    names = [p.name for p in CheckpointManager(run / "checkpoints").all()]
    assert names == ["step-000001200", "step-000001201"][: len(names)] or names[-1].startswith("step-0000012")
    assert len(names) <= 2
    state = json.loads((CheckpointManager(run / "checkpoints").latest() / "state.json").read_text())
    assert state["step"] >= 1200 and "agent_host" in state
    assert (CheckpointManager(run / "checkpoints").latest() / "replay.npz").is_file()
    config = (run / "config.yaml").read_text()
    for key in ("versions:", "tensorflow:", "keras:", "gymnasium:", "seed: 0", "learning_rate:"):
        assert key in config
    metrics = read_metrics(run / "metrics.csv")
    for column in ("charts/episode_return", "charts/epsilon", "charts/steps_per_sec", "charts/memory_mb",
                   "losses/td_loss", "losses/q_values", "eval/return_mean"):
        assert column in metrics and np.isfinite(metrics[column]).any(), column


def test_checkpoint_manager_ignores_torn_and_keeps_newest(tmp_path):
    import tensorflow as tf

    manager = CheckpointManager(tmp_path, keep=2)
    v = tf.Variable(1.0)
    for step in (10, 20, 30):
        v.assign(float(step))
        manager.save(step, {"v": v}, {"note": step})
    assert [p.name for p in manager.all()] == ["step-000000020", "step-000000030"]
    (tmp_path / "step-000000040").mkdir()  # a checkpoint torn before its state.json was written
    (tmp_path / ".tmp-step-000000050-1").mkdir()
    assert manager.latest().name == "step-000000030"
    v.assign(0.0)
    state = CheckpointManager.restore(manager.latest(), {"v": v})
    assert state == {"note": 30, "step": 30} and float(v.numpy()) == 30.0


def test_new_run_directories_never_collide(tmp_path):
    from tfrl.runs.record import new_run_dir

    made = {new_run_dir(tmp_path, "dqn", "CartPole-v1") for _ in range(5)}
    assert len(made) == 5 and all(p.is_dir() for p in made)


def test_frame_stacks_go_into_the_frame_once_buffer():
    from types import SimpleNamespace

    from tfrl.data import FrameStackReplayBuffer
    from tfrl.specs import ArraySpec, BoundedArraySpec
    from tfrl.train.loops.host_off_policy import make_replay_buffer

    config = DQNConfig(buffer_size=1000, batch_size=32)
    action = BoundedArraySpec((), np.int64, 0, 3)
    images = SimpleNamespace(observation_spec=lambda: ArraySpec((84, 84, 4), np.uint8), action_spec=lambda: action,
                             num_envs=2)
    vectors = SimpleNamespace(observation_spec=lambda: ArraySpec((4,), np.float32), action_spec=lambda: action,
                              num_envs=2)
    assert isinstance(make_replay_buffer(config, images, seed=0), FrameStackReplayBuffer)
    assert isinstance(make_replay_buffer(config, vectors, seed=0), UniformReplayBuffer)


def test_max_minutes_stops_training_early(tmp_path):
    result = short_run(tmp_path, "timed", seed=0, total_steps=10**7, max_minutes=0.05)
    assert 0 < result.steps < 10**7 and result.wall_time < 60
    assert (result.run_dir / "policy.keras").is_file()
