"""Several seeds of an off-policy agent in one compiled call: each seed is, bit for bit, the seed trained alone.

``CompiledOffPolicySeeds`` runs K agents (each with its own replay buffer, environments, random keys and
counters) in one ``tf.function``; ``train_seeds`` with backend 'tf' uses it for dqn, sac, td3 and ddpg.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tensorflow as tf

from tfrl.agents.dqn import DQNAgent, DQNConfig
from tfrl.agents.sac import SACAgent, SACConfig
from tfrl.envs.native import native_env
from tfrl.train import resume, train, train_seeds
from tfrl.train.loops.compiled_off_policy import CompiledOffPolicy, CompiledOffPolicySeeds
from tfrl.train.loops.compiled_on_policy import carry_arrays

N = 4
SAC_TINY = dict(hidden_sizes=(8,), batch_size=8, learning_starts=20, train_freq=8, gradient_steps=2, buffer_size=200,
                jit_compile=False)
DQN_TINY = dict(hidden_sizes=(8,), batch_size=8, learning_starts=20, train_freq=8, gradient_steps=2, buffer_size=200,
                target_update_interval=4, jit_compile=False)
# name: (native environment, agent class, config). CartPole with a short time limit resets often, so the seeds'
# environment steps (auto-reset rows are not counted) and training phases drift apart.
CASES = {
    "sac": (lambda: native_env("Pendulum-v1"), SACAgent, SACConfig(**SAC_TINY)),
    "dqn": (lambda: native_env("CartPole-v1", max_episode_steps=12), DQNAgent, DQNConfig(**DQN_TINY)),
}
# vector steps of seeds 0 and 1 in each call; 0: the seed sits the call out (inactive)
CALLS = [(3, 5), (4, 0), (6, 2), (0, 7)]


def make_agent(name, env, seed):
    _, agent_cls, config = CASES[name]
    return agent_cls(config, env.observation_spec(), env.action_spec(), total_steps=1_000, seed=seed, num_envs=N)


def agent_arrays(agent) -> list[np.ndarray]:
    """Every array of the agent's checkpointed state: networks, targets, optimizers, counters."""
    arrays = []
    for _, item in sorted(agent.checkpoint_items().items()):
        if isinstance(item, tf.Variable):
            arrays.append(item.numpy())
        elif hasattr(item, "get_weights"):
            arrays.extend(item.get_weights())
        else:  # an optimizer
            arrays.extend(v.numpy() for v in item.variables)
    return arrays


def snapshot(agent, buffer, carry):
    """Everything a seed's training changes: the agent, its replay buffer, its environments and counter."""
    return (agent_arrays(agent), buffer.numpy(), int(buffer.position.numpy()), int(buffer.size.numpy()),
            carry_arrays(carry))


def seed_snapshot(compiled: CompiledOffPolicySeeds, k: int):
    return snapshot(compiled.agents[k], compiled.buffers[k], compiled.carries[k])


def assert_same_snapshot(a, b):
    (wa, ba, pa, sa, ca), (wb, bb, pb, sb, cb) = a, b
    assert (pa, sa) == (pb, sb)
    assert sorted(ba) == sorted(bb)
    for name in ba:
        np.testing.assert_array_equal(ba[name], bb[name], err_msg=name)
    assert len(wa) == len(wb) and len(ca) == len(cb)
    for x, y in zip(wa + ca, wb + cb):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", ["sac", "dqn"])
def test_seeds_in_one_call_equal_each_seed_trained_alone_and_a_stopped_seed_does_not_move(name):
    make_env = CASES[name][0]
    env = make_env()
    together = CompiledOffPolicySeeds([make_agent(name, env, 0), make_agent(name, env, 1)], env, N, [0, 1],
                                      jit_compile=False)
    counters = [(0, 0, 0), (0, 0, 0)]
    returned = [[], []]
    for vector_steps in CALLS:
        before = [seed_snapshot(together, k) for k in (0, 1)]
        results = together.run([c[0] for c in counters], [c[1] for c in counters], [c[2] for c in counters],
                               [max(v, 1) for v in vector_steps], active=[v > 0 for v in vector_steps])
        for k, (result, v) in enumerate(zip(results, vector_steps)):
            if v > 0:
                assert result[0] > counters[k][0]
                counters[k] = result[:3]
                returned[k].append(result)
            else:  # stopped: its counters, buffer, environments and weights do not move
                step, periods, phases, metrics, updates, finished, _ = result
                assert (step, periods, phases) == counters[k] and metrics is None and updates == 0
                np.testing.assert_array_equal(finished, np.zeros(3, np.float32))
                assert_same_snapshot(seed_snapshot(together, k), before[k])
                assert counters[k][2] > 0  # it had trained: its optimizers hold state
    for k, seed in enumerate((0, 1)):
        alone_env = make_env()
        alone = CompiledOffPolicy(make_agent(name, alone_env, seed), alone_env, N, seed, jit_compile=False)
        step = periods = phases = 0
        for vector_steps, expected in zip([v[k] for v in CALLS if v[k] > 0], returned[k]):
            result = alone.run(step, periods, phases, vector_steps)
            step, periods, phases = result[:3]
            assert result[:5] == expected[:5] and result[6] == expected[6]  # counters, metrics, updates, charts
            np.testing.assert_array_equal(result[5], expected[5])  # finished episodes
        assert (step, periods, phases) == counters[k]
        assert_same_snapshot(seed_snapshot(together, k), snapshot(alone.agent, alone.buffer, alone.carry))
    assert counters[0][2] > 2 and counters[1][2] > 2  # both trained, several phases
    if name == "dqn":  # the resets make the seeds' steps differ from vector steps x N
        assert counters[0][0] < sum(v[0] for v in CALLS) * N
    first, second = seed_snapshot(together, 0), seed_snapshot(together, 1)
    assert not np.array_equal(first[1]["observation"][:8], second[1]["observation"][:8])  # two different seeds


# --------------------------------------------------------------------------- train_seeds with backend 'tf'

RUN = dict(backend="tf", num_envs=N, total_steps=600, eval_every=300, eval_episodes=1, log_every=100,
           final_eval_episodes=1, tensorboard=False, **SAC_TINY, learning_rate=1e-3)


def rows(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def without_timing(row):
    return {k: v for k, v in row.items() if k not in ("charts/steps_per_sec", "charts/memory_mb", "wall_time")}


@pytest.mark.slow  # about 20 s: three SAC runs end to end; the bit-identity of seeds in one call is tested above
def test_train_seeds_sac_on_native_pendulum_equals_each_seed_trained_alone(tmp_path, monkeypatch):
    import keras

    from tfrl.train.loops import compiled_off_policy

    calls = []
    run_seeds = compiled_off_policy.run_compiled_off_policy_seeds
    monkeypatch.setattr(compiled_off_policy, "run_compiled_off_policy_seeds",
                        lambda contexts, seeds: calls.append(list(seeds)) or run_seeds(contexts, seeds))
    results = train_seeds("sac", "Pendulum-v1", [0, 1], run_dir=tmp_path / "group", overrides=RUN, use_preset=False,
                          verbose=False)
    assert [r.run_dir.name for r in results] == ["seed-0", "seed-1"] and calls == [[0, 1]]  # trained together
    weights = []
    for seed, result in zip((0, 1), results):
        # Pendulum's episodes last 200 steps per environment: no reset in 150 vector steps, so 4 steps each
        assert result.steps == 600
        together_rows = rows(result.run_dir)
        assert sorted({int(r["step"]) for r in together_rows}) == [100, 200, 300, 400, 500, 600]
        assert [int(r["step"]) for r in together_rows if r.get("eval/return_mean")] == [300, 600]
        assert [int(r["step"]) for r in together_rows if r.get("eval/final_return_mean")] == [600]
        assert all(r["losses/critic_loss"] for r in together_rows if r.get("charts/episodes"))

        alone = train("sac", "Pendulum-v1", run_dir=tmp_path / f"alone-{seed}", overrides={**RUN, "seed": seed},
                      use_preset=False, verbose=False)
        assert alone.steps == result.steps
        assert [without_timing(r) for r in rows(alone.run_dir)] == [without_timing(r) for r in together_rows]
        model, model_alone = (keras.saving.load_model(d / "policy.keras") for d in (result.run_dir, alone.run_dir))
        assert len(model.get_weights()) == len(model_alone.get_weights())
        for a, b in zip(model.get_weights(), model_alone.get_weights()):
            np.testing.assert_array_equal(a, b)
        weights.append(model.get_weights())
    assert any(not np.array_equal(a, b) for a, b in zip(*weights))  # two seeds, two policies

    # a seed trained with the others resumes alone, as its run trained alone does (loop state and buffer saved)
    more = [resume(d, total_steps=700, verbose=False).run_dir for d in (results[1].run_dir, tmp_path / "alone-1")]
    assert [without_timing(r) for r in rows(more[0])] == [without_timing(r) for r in rows(more[1])]
    assert int(rows(more[0])[-1]["step"]) == 700
    for a, b in zip(*(keras.saving.load_model(d / "policy.keras").get_weights() for d in more)):
        np.testing.assert_array_equal(a, b)
