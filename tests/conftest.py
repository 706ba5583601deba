"""Shared test settings: quiet TensorFlow, no progress bars, and tfrl's checkpoint key in a temporary
``TFRL_HOME`` (set here, before any test module is imported, so that subprocesses inherit it), so the
suite never writes into the real home directory."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")
os.environ["TFRL_HOME"] = tempfile.mkdtemp(prefix="tfrl-home-")
atexit.register(shutil.rmtree, os.environ["TFRL_HOME"], True)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """One tiny DQN run on CartPole-v1 (300 steps): config.yaml, metrics.csv, a checkpoint and policy.keras.

    Shared by the tests of bad inputs, which damage copies of it, never the run itself.
    """
    from tfrl.train import train

    result = train("dqn", "CartPole-v1", runs_root=tmp_path_factory.mktemp("runs"), total_steps=300,
                   learning_starts=100, eval_every=0, final_eval_episodes=1, tensorboard=False, verbose=False,
                   num_envs=1)
    return result.run_dir
