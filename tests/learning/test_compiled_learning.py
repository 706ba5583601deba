"""Learning tests of the compiled loops: PPO, A2C and DQN on TF-native CartPole-v1 and PPO on Acrobot-v1 and
Pendulum-v1, evaluated on Gymnasium's environments.

Each budget is at least 1.5 x the steps the slowest of seeds 0-4 needed to reach the threshold
(benchmarks/learning_margins.py), so that a test passes on other CPUs, whose float results differ.
Measured 2026-12-07 on an AMD EPYC (lscpu: "AMD EPYC"), 2 cores, TensorFlow 2.21.0; steps to the
threshold for seeds 0-4 are in the comment above each test. The runs stop at the threshold, so a
budget costs time only for a seed that does not reach it.
"""

from __future__ import annotations

import pytest

from tfrl.errors import ConfigError
from tfrl.train import train


# ppo (preset ppo-CartPole-v1-tf.yaml): 41,005 / 102,169 / 61,393 / 81,791 / 102,192; 1.5 x 102,192 = 153,288.
#   Its learning rate decays to zero over total_steps, so the budget is the preset's 500k (PureJaxRL's).
# a2c (preset a2c-CartPole-v1-tf.yaml): 223,913 / 40,396 / 285,065 / 40,353 / 40,384; 1.5 x 285,065 = 427,598.
@pytest.mark.parametrize("algo, budget", [pytest.param("ppo", 500_000, id="ppo"),
                                          pytest.param("a2c", 500_000, id="a2c")])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_ppo_and_a2c_on_native_cartpole_reach_475(tmp_path, seed, algo, budget):
    result = train(algo, "CartPole-v1", runs_root=tmp_path, seed=seed, backend="tf", total_steps=budget,
                   target_return=475.0, stop_at_target=True, tensorboard=False, final_eval_episodes=0, verbose=False)
    assert result.first_solved_step is not None, result


# dqn (preset dqn-CartPole-v1-tf.yaml): 47,509 / 17,523 / 72,501 / 47,508 / 160,022; 1.5 x 160,022 = 240,033.
#   Epsilon decays over a fraction of total_steps: the budget is the preset's 320k (epsilon over 8,000 steps).
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_dqn_on_native_cartpole_reaches_475(tmp_path, seed):
    result = train("dqn", "CartPole-v1", runs_root=tmp_path, seed=seed, backend="tf", total_steps=320_000,
                   target_return=475.0, stop_at_target=True, tensorboard=False, final_eval_episodes=0, verbose=False)
    assert result.first_solved_step is not None, result


def test_compiled_loop_refuses_algorithms_it_does_not_run(tmp_path):
    with pytest.raises(ConfigError, match="backend 'tf'"):
        train("reinforce", "CartPole-v1", run_dir=tmp_path / "r", backend="tf", total_steps=100, verbose=False)
    assert not (tmp_path / "r").exists()


# Acrobot (preset ppo-Acrobot-v1-tf.yaml): 40,958 / 24,576 / 40,944 / 73,600 / 40,959; 1.5 x 73,600 = 110,400.
# Pendulum (preset ppo-Pendulum-v1-tf.yaml): 138,624 / 105,984 / 105,984 / 105,984 / 89,664; 1.5 x 138,624 = 207,936.
# Both anneal the learning rate over total_steps: the budgets are the presets' (300k and 500k).
@pytest.mark.parametrize("env_id, target, budget", [
    pytest.param("Acrobot-v1", -100.0, 300_000, id="Acrobot-v1--100.0"),
    pytest.param("Pendulum-v1", -250.0, 500_000, id="Pendulum-v1--250.0"),
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_ppo_on_native_acrobot_and_pendulum(tmp_path, env_id, target, budget, seed):
    result = train("ppo", env_id, runs_root=tmp_path, seed=seed, backend="tf", total_steps=budget,
                   target_return=target, stop_at_target=True, tensorboard=False, final_eval_episodes=0, verbose=False)
    assert result.first_solved_step is not None, result


def test_compiled_loop_refuses_normalization_before_creating_a_run(tmp_path):
    with pytest.raises(ConfigError, match="does not normalize"):
        train("ppo", "CartPole-v1", run_dir=tmp_path / "r", backend="tf", normalize_observations=True,
              total_steps=100, verbose=False)
    assert not (tmp_path / "r").exists()
