"""Learning tests of the policy-gradient presets: the median over seeds 0, 1, 2 of the best
evaluation mean within the step budget reaches the threshold.

CartPole runs take seconds to a minute per seed and run in the default suite; Acrobot and
Pendulum take minutes and sit behind the ``slow`` marker (``make test-slow``).

Each default-suite budget is at least 1.5 x the steps the slowest of seeds 0-4 needed to reach the
threshold (benchmarks/learning_margins.py; the rule is applied per seed although the tests assert a
median), so that they pass on other CPUs, whose float results differ. Measured 2026-12-07 on an AMD
EPYC (lscpu: "AMD EPYC"), 2 cores, TensorFlow 2.21.0; steps for seeds 0-4 above each test.
"""

from __future__ import annotations

import statistics

import pytest

from tfrl.train import train

SEEDS = (0, 1, 2)


def median_best(tmp_path, algo: str, env_id: str, steps: int, target: float) -> tuple[float, list]:
    bests, results = [], []
    for seed in SEEDS:
        result = train(algo, env_id, runs_root=tmp_path, seed=seed, total_steps=steps, target_return=target,
                       stop_at_target=True, tensorboard=False, final_eval_episodes=0, verbose=False)
        best = max(e[2] for e in _evaluations(result.run_dir))
        bests.append(best)
        results.append((seed, result.first_solved_step, best))
    return statistics.median(bests), results


def _evaluations(run_dir):
    import json

    from tfrl.train.checkpoint import CheckpointManager

    state = json.loads((CheckpointManager(run_dir / "checkpoints").latest() / "state.json").read_text())
    return state["evaluations"]


# ppo-CartPole-v1.yaml: 28,703 / 20,568 / 24,673 / 8,351 / 4,272; 1.5 x 28,703 = 43,055 (lr annealed over the 100k).
def test_ppo_cartpole_reaches_475_within_100k_steps(tmp_path):
    median, results = median_best(tmp_path, "ppo", "CartPole-v1", 100_000, 475.0)
    assert median >= 475.0, results


# a2c-CartPole-v1.yaml: 20,010 / 20,022 / 120,033 / 100,019 / 60,033; 1.5 x 120,033 = 180,050.
# Behind slow since the value-based family's learning tests joined the default suite (which must stay under 20
# minutes): A2C's learning stays in the default suite through the compiled loop (test_compiled_learning.py), and the
# host on-policy loop through PPO's and REINFORCE's tests above and below.
@pytest.mark.slow
def test_a2c_cartpole_reaches_475_within_500k_steps(tmp_path):
    median, results = median_best(tmp_path, "a2c", "CartPole-v1", 500_000, 475.0)
    assert median >= 475.0, results


# reinforce-CartPole-v1.yaml: 30,600 / 40,516 / 30,322 / 30,390 / 41,061 to 450; 1.5 x 41,061 = 61,592.
def test_reinforce_cartpole_reaches_450_within_300k_steps(tmp_path):
    median, results = median_best(tmp_path, "reinforce", "CartPole-v1", 300_000, 450.0)
    assert median >= 450.0, results


@pytest.mark.slow
def test_ppo_acrobot_reaches_minus_100_within_300k_steps(tmp_path):
    median, results = median_best(tmp_path, "ppo", "Acrobot-v1", 300_000, -100.0)
    assert median >= -100.0, results


@pytest.mark.slow
def test_ppo_pendulum_reaches_minus_250_within_500k_steps(tmp_path):
    median, results = median_best(tmp_path, "ppo", "Pendulum-v1", 500_000, -250.0)
    assert median >= -250.0, results
