"""Learning tests of the compiled loops: PPO and DQN on TF-native CartPole-v1, evaluated on Gymnasium's CartPole-v1."""

from __future__ import annotations

import pytest

from tfrl.errors import ConfigError
from tfrl.train import train


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_ppo_and_a2c_on_native_cartpole_reach_475(tmp_path, seed, algo):
    result = train(algo, "CartPole-v1", runs_root=tmp_path, seed=seed, backend="tf", tensorboard=False,
                   final_eval_episodes=0, verbose=False)
    assert result.first_solved_step is not None, result  # the presets: 300k (ppo) and 500k (a2c) steps


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_dqn_on_native_cartpole_reaches_475(tmp_path, seed):
    result = train("dqn", "CartPole-v1", runs_root=tmp_path, seed=seed, backend="tf", tensorboard=False,
                   final_eval_episodes=0, verbose=False)
    assert result.first_solved_step is not None, result  # the preset's budget is 100k steps


def test_compiled_loop_refuses_algorithms_it_does_not_run(tmp_path):
    with pytest.raises(ConfigError, match="backend 'tf'"):
        train("reinforce", "CartPole-v1", run_dir=tmp_path / "r", backend="tf", total_steps=100, verbose=False)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("env_id, target", [("Acrobot-v1", -100.0), ("Pendulum-v1", -250.0)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_ppo_on_native_acrobot_and_pendulum(tmp_path, env_id, target, seed):
    result = train("ppo", env_id, runs_root=tmp_path, seed=seed, backend="tf", tensorboard=False,
                   final_eval_episodes=0, verbose=False, target_return=target)
    assert result.first_solved_step is not None, result  # presets: 300k (Acrobot) and 500k (Pendulum) steps


def test_compiled_loop_refuses_normalization_before_creating_a_run(tmp_path):
    with pytest.raises(ConfigError, match="does not normalize"):
        train("ppo", "CartPole-v1", run_dir=tmp_path / "r", backend="tf", normalize_observations=True,
              total_steps=100, verbose=False)
    assert not (tmp_path / "r").exists()
