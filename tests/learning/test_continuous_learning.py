"""Learning tests of SAC, TD3 and DDPG: the shipped presets on Pendulum-v1 (default suite), and the longer runs
behind the ``slow`` marker (``make test-slow``): compiled SAC on TF-native Pendulum and SAC on
LunarLanderContinuous-v3.

Each default-suite budget is at least 1.5 x the steps the slowest of seeds 0-4 needed to reach the threshold
(benchmarks/learning_margins.py), so that a test passes on other CPUs, whose float results differ. Measured
2026-12-07 on an AMD EPYC (lscpu: "AMD EPYC"), 2 cores, TensorFlow 2.21.0. The runs stop at the threshold
(evaluations every 1,000 steps, 10 episodes of the deterministic policy), so a budget costs time only for a
seed that does not reach it.
"""

from __future__ import annotations

import pytest

from tfrl.train import train


# Steps to the threshold, seeds 0-4, with the presets (benchmarks/learning_margins.py):
# sac  (sac-Pendulum-v1.yaml,  -200): 9,000 / 4,000 / 3,000 / 4,000 / 4,000; 1.5 x 9,000 = 13,500.
# td3  (td3-Pendulum-v1.yaml,  -200): 9,000 / 8,000 / 8,000 / 7,000 / 7,000; 1.5 x 9,000 = 13,500.
# ddpg (ddpg-Pendulum-v1.yaml, -250): 4,000 / 4,000 / 4,000 / 5,000 / 4,000; 1.5 x 5,000 = 7,500.
# The budget is 20k steps (the zoo's); none of these schedules depends on total_steps.
# SAC and TD3 for seeds 0, 1 and 2 (the seeds); DDPG, whose threshold the issue sets apart, for seed 0.
@pytest.mark.parametrize("algo, target, seed", [
    *(pytest.param(algo, -200.0, seed, id=f"{seed}-{algo}") for algo in ("sac", "td3") for seed in (0, 1, 2)),
    pytest.param("ddpg", -250.0, 0, id="0-ddpg"),
])
def test_sac_td3_ddpg_presets_on_pendulum(tmp_path, algo, target, seed):
    result = train(algo, "Pendulum-v1", runs_root=tmp_path, seed=seed, total_steps=20_000, target_return=target,
                   stop_at_target=True, tensorboard=False, final_eval_episodes=0, verbose=False)
    assert result.first_solved_step is not None and result.first_solved_step <= 20_000, result


# Compiled SAC (sac-Pendulum-v1-tf.yaml) on TF-native Pendulum, evaluated on Gymnasium's, steps to -200 for seeds
# 0-4: 6,000 / 4,000 / 4,000 / 4,000 / 4,000 (benchmarks/learning_margins.py --only compiled-sac-pendulum).
@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_sac_on_native_pendulum_reaches_minus_200(tmp_path, seed):
    result = train("sac", "Pendulum-v1", runs_root=tmp_path, seed=seed, backend="tf", total_steps=20_000,
                   target_return=-200.0, stop_at_target=True, tensorboard=False, final_eval_episodes=0, verbose=False)
    assert result.first_solved_step is not None, result


# SAC (sac-LunarLanderContinuous-v3.yaml) reaches 200 within 500k steps; the zoo reports 260 at 500k.
@pytest.mark.slow
def test_sac_on_lunar_lander_continuous_reaches_200_within_500k_steps(tmp_path):
    pytest.importorskip("Box2D", reason="needs the box2d extra: pip install 'tfrl[box2d]'")
    result = train("sac", "LunarLanderContinuous-v3", runs_root=tmp_path, seed=0, total_steps=500_000,
                   target_return=200.0, stop_at_target=True, tensorboard=False, final_eval_episodes=0, verbose=False)
    assert result.first_solved_step is not None, result
