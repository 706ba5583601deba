"""The on-policy loop end to end: bad input, normalization statistics in checkpoints and policy files, resume."""

from __future__ import annotations

import json

import gymnasium
import keras
import numpy as np
import pytest

from tfrl.cli.main import main
from tfrl.errors import UnsupportedSpaceError
from tfrl.train import evaluate_run, resume, train
from tfrl.train.checkpoint import CheckpointManager


class MatrixActions(gymnasium.Env):
    """An environment whose actions are 2x2 matrices: no policy head tfrl ships can produce them."""

    def __init__(self):
        self.observation_space = gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2, 2), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        return np.zeros(3, np.float32), 0.0, False, False, {}


@pytest.mark.parametrize("algo", ["ppo", "a2c", "reinforce"])
def test_unsupported_action_space_names_the_supported_ones(tmp_path, algo):
    with pytest.raises(UnsupportedSpaceError, match="Discrete actions and 1-D Box actions"):
        train(algo, MatrixActions, run_dir=tmp_path / algo, total_steps=100, verbose=False)


def test_batch_size_that_does_not_divide_the_rollout_is_refused_with_the_numbers(capsys):
    code = main(["train", "ppo", "CartPole-v1", "--set", "batch_size=100"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "batch_size 100" in err and "num_steps 32" in err and "num_envs 8" in err and "256" in err


def test_ppo_normalization_is_checkpointed_baked_into_the_policy_and_resumed(tmp_path):
    settings = dict(total_steps=2048, num_envs=4, num_steps=128, batch_size=128, update_epochs=2,
                    normalize_observations=True, normalize_rewards=True, eval_every=1024, eval_episodes=2,
                    final_eval_episodes=2, checkpoint_every=1024, tensorboard=False)
    result = train("ppo", "Pendulum-v1", run_dir=tmp_path / "run", seed=0, verbose=False, **settings)
    latest = CheckpointManager(result.run_dir / "checkpoints").latest()
    state = json.loads((latest / "state.json").read_text())
    assert state["obs_norm"]["count"] > 2048 and len(state["obs_norm"]["mean"]) == 3
    assert state["reward_norm"]["count"] > 0
    # Pendulum's observation is (cos, sin, angular velocity): the running mean of cos and sin lies in [-1, 1]
    assert all(-1.0 <= m <= 1.0 for m in state["obs_norm"]["mean"][:2])

    model = keras.saving.load_model(result.run_dir / "policy.keras", safe_mode=True)
    assert "observation_normalizer" in [layer.name for layer in model.layers]
    evaluation, _ = evaluate_run(result.run_dir, episodes=2)
    assert evaluation.returns.shape == (2,) and np.all(evaluation.lengths == 200)

    more = resume(result.run_dir, total_steps=3072, verbose=False)
    assert more.steps >= 3072
    resumed = json.loads((CheckpointManager(result.run_dir / "checkpoints").latest() / "state.json").read_text())
    assert resumed["obs_norm"]["count"] > state["obs_norm"]["count"]  # continued from the saved statistics


@pytest.mark.parametrize("algo, extra", [("a2c", {"num_steps": 8}), ("reinforce", {"episodes_per_update": 4})])
def test_a2c_and_reinforce_runs_write_a_playable_policy(tmp_path, algo, extra):
    result = train(algo, "CartPole-v1", run_dir=tmp_path / algo, seed=1, verbose=False, total_steps=1500,
                   num_envs=4, eval_every=750, eval_episodes=2, final_eval_episodes=3, tensorboard=False, **extra)
    assert result.steps >= 1500 and result.final_eval.returns.shape == (3,)
    evaluation, _ = evaluate_run(result.run_dir, episodes=3, seed=5)
    assert np.all(evaluation.returns >= 8)  # CartPole episodes last at least 8 steps
