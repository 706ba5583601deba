"""DQN on a real Atari ROM end to end: evaluation epsilon, game scores in the metrics and the curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tfrl.agents.dqn import DQNAgent, DQNConfig
from tfrl.errors import ConfigError
from tfrl.logging import MetricsLogger, read_metrics
from tfrl.policies import EpsilonGreedyPolicy, GreedyPolicy
from tfrl.specs import ArraySpec, BoundedArraySpec

OBS = ArraySpec((4,), np.float32)
ACT = BoundedArraySpec((), np.int64, 0, 1)


def test_eval_epsilon_is_validated():
    with pytest.raises(ConfigError, match="eval_epsilon must lie in"):
        DQNConfig(eval_epsilon=1.5)


def test_eval_policy_is_greedy_by_default_and_epsilon_greedy_when_asked():
    assert isinstance(DQNAgent(DQNConfig(), OBS, ACT, total_steps=100, seed=0).eval_policy, GreedyPolicy)
    agent = DQNAgent(DQNConfig(eval_epsilon=1.0), OBS, ACT, total_steps=100, seed=0)
    assert isinstance(agent.eval_policy, EpsilonGreedyPolicy)
    greedy = agent.policy.greedy.action(np.zeros((2000, 4), np.float32))
    actions = agent.eval_policy.action(np.zeros((2000, 4), np.float32))
    assert (greedy == greedy[0]).all()
    # epsilon 1 plays uniformly at random, whatever the greedy action is
    assert 0.45 < np.mean(actions == 0) < 0.55


def test_curve_plots_game_scores_when_the_run_logged_them(tmp_path: Path):
    from tfrl.plotting import plot_learning_curve

    with MetricsLogger(tmp_path / "run", tensorboard=False) as logger:
        for step in range(0, 10_000, 100):
            logger.log(step, {"charts/game_score": step / 500, "charts/episode_return": 1.0})
    out = plot_learning_curve(tmp_path / "run", tmp_path / "curve.png")
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert (np.abs(pixels - (31, 119, 180)).sum(axis=2) < 30).sum() > 100


def test_dqn_on_breakout_logs_raw_game_scores_and_evaluates_with_epsilon(tmp_path: Path):
    from tfrl.train import train
    from tfrl.train import evaluate_run

    result = train("dqn", "BreakoutNoFrameskip-v4", runs_root=tmp_path, seed=0, total_steps=1200, learning_starts=300,
                   buffer_size=2000, eval_every=0, final_eval_episodes=1, log_every=200, tensorboard=False,
                   verbose=False)
    metrics = read_metrics(result.run_dir)
    scores = metrics["charts/game_score"]
    assert np.isfinite(scores).any(), "a whole game of Breakout ends within 1200 steps of a random policy"
    # raw game scores are whole points and at least the (clipped, per-life) training returns
    assert np.all(scores[np.isfinite(scores)] >= 0)
    assert result.final_eval.lengths[0] > 0
    record_eps = __import__("yaml").safe_load((result.run_dir / "config.yaml").read_text())["agent"]["eval_epsilon"]
    assert record_eps == 0.05  # from the Breakout preset
    evaluation, _ = evaluate_run(result.run_dir, episodes=1)
    assert evaluation.lengths[0] > 0


def test_dqn_trains_on_the_envpool_backend(tmp_path: Path):
    pytest.importorskip("envpool")
    from tfrl.train import train

    result = train("dqn", "BreakoutNoFrameskip-v4", runs_root=tmp_path, seed=0, backend="envpool", num_envs=2,
                   total_steps=1600, learning_starts=300, buffer_size=2000, eval_every=0, final_eval_episodes=1,
                   log_every=400, tensorboard=False, verbose=False)
    assert result.steps >= 1600
    scores = read_metrics(result.run_dir)["charts/game_score"]
    assert np.isfinite(scores).any()
    assert result.final_eval.lengths[0] > 0
