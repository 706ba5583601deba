"""A user's own Gymnasium environment: trained, evaluated and resumed from its run directory."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

from tfrl.errors import RunDirError
from tfrl.train import evaluate_run, resume, train


class Corridor(gymnasium.Env):
    """Positions 0..5; action 1 moves right, 0 left; reaching 5 pays 1 and terminates; 30-step limit."""

    def __init__(self):
        self.observation_space = gymnasium.spaces.Box(0.0, 1.0, (6,), np.float32)
        self.action_space = gymnasium.spaces.Discrete(2)
        self.position, self.t = 0, 0

    def _obs(self):
        obs = np.zeros(6, np.float32)
        obs[self.position] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.t = 0, 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        self.position = min(5, self.position + 1) if int(action) == 1 else max(0, self.position - 1)
        done = self.position == 5
        return self._obs(), float(done), done, self.t >= 30 and not done, {}


SETTINGS = dict(total_steps=3000, num_envs=2, learning_starts=200, train_freq=50, gradient_steps=25,
                hidden_sizes=(32,), learning_rate=3e-3, gamma=0.9, target_update_interval=50, eval_every=1000,
                eval_episodes=4, final_eval_episodes=4, checkpoint_every=1000, tensorboard=False,
                exploration_fraction=0.3)


def test_user_class_trains_evaluates_and_resumes(tmp_path):
    result = train("dqn", Corridor, run_dir=tmp_path / "run", seed=0, verbose=False, **SETTINGS)
    assert "env_class: " in (result.run_dir / "config.yaml").read_text()
    assert result.final_eval.mean == pytest.approx(1.0)  # reaches the goal every time
    assert np.all(result.final_eval.lengths == 5)  # by the shortest path
    # config.yaml names Corridor by its module, this test file, which no installed package provides: a run
    # directory is data, so rebuilding it from there is refused unless the run is trusted (or env= is given)
    with pytest.raises(RunDirError, match=r"test_user_env is not part of an installed package; pass env= with the "
                                          r"environment, or trust=True / --trust-run if you trust this run directory"):
        evaluate_run(result.run_dir, episodes=3)
    returns, _ = evaluate_run(result.run_dir, episodes=3, trust=True)
    assert returns.mean == pytest.approx(1.0)
    more = resume(result.run_dir, total_steps=3500, verbose=False, trust=True)
    assert more.steps >= 3500


def test_factory_run_needs_env_to_be_rebuilt(tmp_path):
    result = train("dqn", lambda: Corridor(), run_dir=tmp_path / "run", seed=0, verbose=False,
                   **{**SETTINGS, "total_steps": 400, "final_eval_episodes": 0})
    with pytest.raises(RunDirError, match="factory"):
        evaluate_run(result.run_dir, episodes=2)
    returns, _ = evaluate_run(result.run_dir, episodes=2, env=lambda: Corridor())
    assert returns.returns.shape == (2,)
