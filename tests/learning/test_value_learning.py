"""Learning tests of the value-based family: C51, QR-DQN and Rainbow with their CartPole-v1 presets, and DQN with
prioritized replay, reach 475 within 50k environment steps for seeds 0, 1 and 2.

Each budget is at least 1.5 x the steps the slowest of seeds 0-4 needed to reach the threshold
(benchmarks/learning_margins.py), so that a test passes on other CPUs, whose float results differ. The runs stop
at the threshold (greedy evaluations every 2,500 steps, 10 episodes), so the budget costs time only for a seed
that does not reach it.
"""

from __future__ import annotations

import pytest

from tfrl.train import train

# Steps to 475, seeds 0-4, measured 2026-12-08 on an AMD EPYC (lscpu: "AMD EPYC"), 2 cores shared with other jobs,
# TensorFlow 2.21.0 (benchmarks/learning_margins.py --only NAME):
# c51     (c51-CartPole-v1.yaml):     10,003 / 15,000 / 17,501 /  5,000 / 15,003; 1.5 x 17,501 = 26,252.
# qrdqn   (qrdqn-CartPole-v1.yaml):   17,501 / 20,003 / 20,003 / 17,500 /  7,503; 1.5 x 20,003 = 30,005.
# rainbow (rainbow-CartPole-v1.yaml):  7,501 / 15,001 / 17,501 / 30,002 / 10,003; 1.5 x 30,002 = 45,003.
# dqn-per (below):                     5,001 / 30,003 / 30,000 / 27,503 /  5,003; 1.5 x 30,003 = 45,005.
CASES = {
    "c51": {},
    "qrdqn": {},
    "rainbow": {},
    # DQN's CartPole preset (dqn-CartPole-v1.yaml) with proportional prioritized replay (alpha 0.6, beta 0.4 to 1)
    # and 3-step returns, epsilon over the same first 8,000 steps (0.16 x 50k = 0.1 x 80k). With 1-step returns
    # seed 0 needed 47,503 steps; with one gradient step per environment step instead, seed 3 needed 35,003.
    "dqn-per": {"prioritized_replay": True, "n_step": 3, "exploration_fraction": 0.16},
}


# C51, QR-DQN and Rainbow on seeds 0-2 (the issue's); DQN with prioritized replay on seed 0, and on seeds 1 and 2
# behind slow (the default suite must stay under 20 minutes).
@pytest.mark.parametrize("name, seed", [
    *((name, seed) for name in ("c51", "qrdqn", "rainbow") for seed in (0, 1, 2)),
    ("dqn-per", 0),
    *(pytest.param("dqn-per", seed, marks=pytest.mark.slow) for seed in (1, 2)),
], ids=lambda v: str(v))
def test_value_based_agents_on_cartpole_reach_475_within_50k(tmp_path, name, seed):
    algo = name.split("-")[0]
    result = train(algo, "CartPole-v1", runs_root=tmp_path, seed=seed, total_steps=50_000, target_return=475.0,
                   stop_at_target=True, tensorboard=False, final_eval_episodes=0, verbose=False, **CASES[name])
    assert result.first_solved_step is not None and result.first_solved_step <= 50_000, result
