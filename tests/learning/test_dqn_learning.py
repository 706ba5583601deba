"""Learning tests: the shipped DQN presets reach their thresholds within the issue's step budgets.

CartPole-v1 takes seconds per seed and runs in the default suite; MountainCar-v0 and Acrobot-v1
take minutes and sit behind the ``slow`` marker (``make test-slow``).
"""

from __future__ import annotations

import pytest

from tfrl.train import train


def solve(tmp_path, env_id: str, seed: int, steps: int, target: float):
    return train("dqn", env_id, runs_root=tmp_path, seed=seed, total_steps=steps, target_return=target,
                 stop_at_target=True, tensorboard=False, final_eval_episodes=20, verbose=False)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cartpole_preset_reaches_475_within_50k_steps(tmp_path, seed):
    result = solve(tmp_path, "CartPole-v1", seed, 50_000, 475.0)
    assert result.first_solved_step is not None and result.first_solved_step <= 50_000, result
    # the policy saved when the target was reached keeps its level on 20 unseen episodes
    assert result.final_eval.mean >= 475.0, result.final_eval


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mountaincar_preset_reaches_minus_110_within_120k_steps(tmp_path, seed):
    result = solve(tmp_path, "MountainCar-v0", seed, 120_000, -110.0)
    assert result.first_solved_step is not None, result


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_acrobot_preset_reaches_minus_100_within_100k_steps(tmp_path, seed):
    result = solve(tmp_path, "Acrobot-v1", seed, 100_000, -100.0)
    assert result.first_solved_step is not None, result
