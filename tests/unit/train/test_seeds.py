"""Several seeds at once: one run directory per seed; with backend 'tf' one compiled loop trains them all."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfrl.cli.main import main
from tfrl.errors import ConfigError
from tfrl.logging import read_metrics
from tfrl.train import train_seeds

SHORT = dict(total_steps=8192, num_envs=64, num_steps=32, batch_size=1024, update_epochs=2, eval_every=4096,
             log_every=2048, eval_episodes=2, final_eval_episodes=2, tensorboard=False, stop_at_target=False)


def test_compiled_seeds_train_together_into_ordinary_run_directories(tmp_path):
    results = train_seeds("ppo", "CartPole-v1", [3, 4], run_dir=tmp_path / "group", backend="tf", verbose=False,
                          **SHORT)
    assert [r.run_dir.name for r in results] == ["seed-3", "seed-4"]
    curves = []
    for result, seed in zip(results, (3, 4)):
        assert result.steps >= 8192
        assert f"seed: {seed}" in (result.run_dir / "config.yaml").read_text()
        assert (result.run_dir / "policy.keras").is_file()
        metrics = read_metrics(result.run_dir / "metrics.csv")
        returns = metrics["charts/episode_return"]
        curves.append(returns[~np.isnan(returns)])
        assert json.loads((result.run_dir / "final_eval.json").read_text())["final_eval_episodes"] == 2
    assert len(curves[0]) >= 3 and not np.array_equal(curves[0], curves[1])  # two independent seeds


def test_seeds_must_be_distinct(tmp_path):
    with pytest.raises(ConfigError, match="distinct"):
        train_seeds("ppo", "CartPole-v1", [1, 1], run_dir=tmp_path / "g", verbose=False)


def test_cli_seeds_and_seed_conflict(capsys, tmp_path):
    code = main(["train", "ppo", "CartPole-v1", "--seed", "1", "--seeds", "1", "2", "--run-dir", str(tmp_path / "g")])
    assert code == 2 and "either --seed or --seeds" in capsys.readouterr().err
