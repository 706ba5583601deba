"""Schedules: the pure functions, and the host and compiled loops agreeing on them step for step.

The compiled loops call the same schedule functions as the host loops (``tfrl.schedules`` and the
agents' ``epsilon`` and ``learning_rate_at``). Here both loops run a short training run on the same
TF-native environment, where episodes end at the same steps whatever the actions (MountainCar never
reaches its goal in a few random steps; Pendulum only truncates), so both see the same step sequence,
and every step's epsilon, learning rate, training phases and gradient steps are compared.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from tfrl import schedules
from tfrl.agents.dqn import DQNAgent, DQNConfig
from tfrl.agents.ppo import PPOAgent, PPOConfig
from tfrl.envs.native import make_native, native_env
from tfrl.train.loops import LoopState
from tfrl.train.loops.compiled_off_policy import CompiledOffPolicy
from tfrl.train.loops.compiled_on_policy import CompiledOnPolicy
from tfrl.train.loops.host_off_policy import make_replay_buffer, run_host_off_policy
from tfrl.train.loops.host_on_policy import run_host_on_policy


# --------------------------------------------------------------------------- the functions


def test_linear_by_hand_and_the_same_on_tensors():
    assert schedules.linear(0, 1.0, 0.1, 10) == 1.0
    assert schedules.linear(5, 1.0, 0.1, 10) == pytest.approx(0.55)
    assert schedules.linear(10, 1.0, 0.1, 10) == 0.1 and schedules.linear(99, 1.0, 0.1, 10) == 0.1
    assert schedules.linear(3, 1.0, 0.1, 0) == 0.1
    steps = np.arange(0, 30)
    graph = tf.function(lambda s: schedules.linear(s, 1.0, 0.1, 10))(tf.constant(steps, tf.int64)).numpy()
    np.testing.assert_allclose(graph, [schedules.linear(int(s), 1.0, 0.1, 10) for s in steps], rtol=1e-6)


def test_remaining_fraction_by_hand_and_on_tensors():
    assert [schedules.remaining_fraction(p) for p in (0.0, 0.25, 1.0, 1.5)] == [1.0, 0.75, 0.0, 0.0]
    np.testing.assert_allclose(schedules.remaining_fraction(tf.constant([0.0, 0.25, 1.5])).numpy(), [1.0, 0.75, 0.0])


def test_periods_due_by_hand_and_the_same_on_tensors():
    # learning_starts 10, train_freq 4: nothing before step 10; the first phase covers one period
    assert schedules.periods_due(9, 0, 10, 4) == 0
    assert schedules.periods_due(10, 0, 10, 4) == 1  # 2 periods passed during warm-up: not made up for
    assert schedules.periods_due(11, 2, 10, 4) == 0
    assert schedules.periods_due(12, 2, 10, 4) == 1
    assert schedules.periods_due(20, 3, 10, 4) == 2  # a vector step of 8 environments crosses two periods
    fn = tf.function(lambda s, p: schedules.periods_due(s, p, 10, 4))
    for step in range(0, 40):
        for done in range(0, step // 4 + 1):
            expected = schedules.periods_due(step, done, 10, 4)
            assert int(fn(tf.constant(step, tf.int64), tf.constant(done, tf.int64))) == expected, (step, done)


def test_every():
    assert [schedules.every(n, 3) for n in range(1, 7)] == [False, False, True, False, False, True]
    assert bool(schedules.every(tf.constant(6, tf.int64), 3))


# --------------------------------------------------------------------------- the loops


class RecordingContext:
    """What a host loop needs of ``LoopContext``, recording the schedule after every batch of steps."""

    resume_vars = None

    def __init__(self, agent, run, env, replay=None):
        self.agent, self.run, self.env, self.replay, self.state = agent, run, env, replay, LoopState()
        self.rows: list[tuple] = []

    def after_steps(self, before, scalars, resumable=None):
        row = scalars()
        self.rows.append((self.state.step, self.state.train_phases, int(self.agent.num_updates.numpy()),
                          row.get("charts/epsilon"), row.get("charts/learning_rate")))
        return False

    def record_episodes(self, records):
        pass

    def check_time_step(self, time_step):
        pass

    def check_metrics(self, metrics):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def test_host_and_compiled_dqn_loops_agree_on_epsilon_and_training_phases_at_every_step():
    total, num_envs = 160, 2
    config = DQNConfig(hidden_sizes=(16,), batch_size=8, buffer_size=1000, learning_starts=30, train_freq=3,
                       gradient_steps=2, target_update_interval=5, exploration_fraction=0.5, jit_compile=False)
    host_env = make_native("MountainCar-v0", num_envs=num_envs, seed=0)
    spec = (host_env.observation_spec(), host_env.action_spec())
    host_agent = DQNAgent(config, *spec, total_steps=total, seed=0, num_envs=num_envs)
    context = RecordingContext(host_agent, SimpleNamespace(total_steps=total, seed=0), host_env,
                               make_replay_buffer(config, host_env, seed=0))
    run_host_off_policy(context)
    host_env.close()

    compiled_agent = DQNAgent(config, *spec, total_steps=total, seed=0, num_envs=num_envs)
    compiled = CompiledOffPolicy(compiled_agent, native_env("MountainCar-v0"), num_envs, seed=0, jit_compile=False)
    step = periods = phases = 0
    compiled_rows = []
    while step < total:
        step, periods, phases, _, _, _, charts = compiled.run(step, periods, phases, 1)
        compiled_rows.append((step, phases, int(compiled_agent.num_updates.numpy()), charts["charts/epsilon"]))

    assert [r[0] for r in context.rows] == [r[0] for r in compiled_rows]  # the same step sequence
    for host, graph in zip(context.rows, compiled_rows):
        assert host[1:3] == graph[1:3], (host, graph)  # training phases and gradient steps
        assert host[3] == pytest.approx(graph[3], abs=1e-6), (host, graph)  # epsilon
    assert compiled_rows[-1][1] > 10 and compiled_rows[-1][2] > 20  # it trained, many times
    first_step, first_epsilon = compiled_rows[0][0], compiled_rows[0][3]  # decays over 0.5 * 160 = 80 steps
    assert first_epsilon == pytest.approx(1.0 - 0.95 * first_step / 80) and compiled_rows[-1][3] == pytest.approx(0.05)


def test_host_and_compiled_ppo_loops_agree_on_the_learning_rate_at_every_update():
    total, num_envs = 1_200, 2
    config = PPOConfig(num_steps=50, batch_size=50, update_epochs=1, hidden_sizes=(8,), learning_rate=1e-3,
                       anneal_lr=True, jit_compile=False)
    host_env = make_native("Pendulum-v1", num_envs=num_envs, seed=0)
    spec = (host_env.observation_spec(), host_env.action_spec())
    host_agent = PPOAgent(config, *spec, total_steps=total, seed=0, num_envs=num_envs)
    context = RecordingContext(host_agent, SimpleNamespace(total_steps=total, seed=0), host_env)
    run_host_on_policy(context)
    host_env.close()

    compiled_agent = PPOAgent(config, *spec, total_steps=total, seed=0, num_envs=num_envs)
    compiled = CompiledOnPolicy([compiled_agent], native_env("Pendulum-v1"), num_envs, [0], total, jit_compile=False)
    step, phases, compiled_rows = 0, 0, []
    while step < total:
        [(metrics, stats)] = compiled.run([step], 1)
        step, phases = step + int(stats[0]), phases + 1
        compiled_rows.append((step, phases, int(compiled_agent.num_updates.numpy()), metrics["charts/learning_rate"]))

    assert [r[0] for r in context.rows] == [r[0] for r in compiled_rows]  # 100 steps a rollout, less resets
    for host, graph in zip(context.rows, compiled_rows):
        assert host[1:3] == graph[1:3], (host, graph)  # updates and gradient steps
        assert host[4] == pytest.approx(graph[3], rel=1e-6), (host, graph)  # learning rate
    assert context.rows[0][4] == pytest.approx(1e-3) and 0 < context.rows[-1][4] < 1e-4
