"""Learning smoke test on a real ROM: DQN on Breakout beats a random policy within minutes.

The schedule is the preset's (Nature CNN, Adam 1e-4, Huber, Double DQN, replay, target copies)
shortened to 100,000 agent steps (400,000 frames): learning starts at 20,000 steps and epsilon falls
to 0.01 by 50,000. In the hour-long benchmark run with this schedule (benchmarks/atari.py) the
evaluation was 2.6 at 50k steps and 13.8 at 100k. The threshold is a mean score of at least 5 over
10 whole games at evaluation epsilon 0.05, and at least 3 points above a random policy's mean over 10
games measured by the test itself: a random policy scores 1.7 on average (Mnih et al. 2015), and the
assertion message prints both samples so the margin can be read in standard errors. Seen on
2026-11-22: random 0.5 +/- 0.7 over 10 games (a standard error of 0.22, so 5 is about 20 standard
errors above it) and DQN 14.4 +/- 2.9 after 100k steps, in 16.5 minutes on 2 cores shared with
another benchmark (alone it should take about 10: 100k steps at the 184 steps/s that benchmarks/atari.py measured).
"""

from __future__ import annotations

import numpy as np
import pytest

from tfrl import envs
from tfrl.policies import RandomPolicy
from tfrl.train import train
from tfrl.train.driver import evaluate_policy

GAME = "BreakoutNoFrameskip-v4"


@pytest.mark.slow
def test_dqn_on_breakout_beats_random_within_100k_steps(tmp_path):
    with envs.make(GAME, num_envs=5, seed=7, training=False) as env:
        random = evaluate_policy(env, RandomPolicy(env.action_spec(), seed=7), 10, seed=7)
    result = train("dqn", GAME, runs_root=tmp_path, seed=0, total_steps=100_000, learning_starts=20_000,
                   exploration_fraction=0.5, buffer_size=100_000, eval_every=50_000, eval_episodes=5,
                   final_eval_episodes=10, checkpoint_every=0, tensorboard=False, verbose=False)
    trained = result.final_eval
    print(f"random {random.mean:.1f} +/- {random.std:.1f}; DQN after 100k steps {trained.mean:.1f} +/- {trained.std:.1f}")
    assert random.mean < 3.0
    assert trained.mean >= 5.0 and trained.mean >= random.mean + 3.0, (random.returns, trained.returns)
    assert np.all(trained.lengths > 0)
