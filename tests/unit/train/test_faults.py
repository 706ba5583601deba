"""Fault test with real processes: a deterministic ``tfrl train`` run is killed (SIGKILL at random
moments, SIGTERM and SIGINT) and resumed each time. No checkpoint may be torn, no metrics row lost
or duplicated, and the final weights must equal those of a run that was never interrupted."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tfrl.train.checkpoint import CheckpointManager, verify

STEPS = 6000
SETTINGS = ["--seed", "5", "--deterministic", "--steps", str(STEPS), "--set", "num_envs=1",
            "--set", "checkpoint_every=250", "--set", "log_every=100", "--set", "eval_every=0",
            "--set", "final_eval_episodes=2", "--set", "tensorboard=false", "--set", "stop_at_target=false",
            "--set", "learning_starts=300", "--set", "train_freq=4", "--set", "gradient_steps=1",
            "--set", "target_update_interval=100"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TFRL_PROGRESS": "0", "PYTHONUNBUFFERED": "1"}


def _tfrl(*args: str) -> subprocess.Popen:
    code = "import sys; from tfrl.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _logged_steps(run: Path) -> np.ndarray:
    path = run / "metrics.csv"
    if not path.is_file():
        return np.zeros(0)
    lines = [line for line in path.read_text().splitlines()[1:] if line]
    steps = []
    for line in lines:
        try:
            steps.append(float(line.split(",")[0]))
        except ValueError:
            pass
    return np.asarray(steps)


def _wait_for_progress(process: subprocess.Popen, run: Path, beyond: float, timeout: float = 240) -> bool:
    """Wait until the run logs a step past ``beyond``; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        steps = _logged_steps(run)
        if len(steps) and steps.max() > beyond:
            return True
        time.sleep(0.05)
    raise AssertionError(f"no progress past step {beyond} in {timeout} s")


def _weights(run: Path) -> list[np.ndarray]:
    import keras

    import tfrl.networks  # noqa: F401

    return keras.saving.load_model(run / "policy.keras", safe_mode=True).get_weights()


def _assert_no_torn_checkpoint(run: Path) -> None:
    for checkpoint in CheckpointManager(run / "checkpoints").all():
        verify(checkpoint)


def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    reference = tmp_path / "reference"
    straight = _tfrl("train", "dqn", "CartPole-v1", "--run-dir", str(reference), *SETTINGS)
    out, err = straight.communicate(timeout=600)
    assert straight.returncode == 0, err

    run = tmp_path / "interrupted"
    rng = random.Random(int(time.time()))
    plan = ["SIGKILL", "SIGTERM", "SIGKILL", "SIGINT", "SIGKILL"]
    process = _tfrl("train", "dqn", "CartPole-v1", "--run-dir", str(run), *SETTINGS)
    done, interruptions, logged = [], 0, 300.0
    for what in plan:
        # past what the previous process logged (a resumed process first drops the rows after its
        # checkpoint and logs them again), then a random moment within the next second
        if not _wait_for_progress(process, run, logged + 50):
            break
        time.sleep(rng.uniform(0.0, 1.0))
        if process.poll() is not None:
            break
        process.send_signal(getattr(signal, what))
        out, err = process.communicate(timeout=120)
        done.append((what, process.returncode))
        if what == "SIGKILL":
            assert process.returncode == -signal.SIGKILL
        else:  # a clean stop: checkpoint, message, conventional exit code
            assert process.returncode == 128 + getattr(signal, what), err
            assert f"{what}: stopped at step" in err and f"resume with: tfrl train --resume {run}" in err, err
            stopped_at = int(err.split("stopped at step ")[1].split(" ")[0].replace(",", ""))
            assert CheckpointManager(run / "checkpoints").latest().name == f"step-{stopped_at:09d}"
        interruptions += 1
        logged = max(logged, float(_logged_steps(run).max()))
        _assert_no_torn_checkpoint(run)
        process = _tfrl("train", "--resume", str(run))
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert interruptions >= 3, f"the run finished before it could be interrupted enough: {done}"

    _assert_no_torn_checkpoint(run)
    steps, expected = _logged_steps(run), _logged_steps(reference)
    np.testing.assert_array_equal(steps, expected)  # none lost, none twice, same order
    for a, b in zip(_weights(reference), _weights(run)):
        np.testing.assert_array_equal(a, b)


TF_SETTINGS = ["--backend", "tf", "--seed", "5", "--deterministic", "--steps", "10000", "--set", "num_envs=4",
               "--set", "checkpoint_every=1000", "--set", "log_every=250", "--set", "eval_every=0",
               "--set", "final_eval_episodes=2", "--set", "tensorboard=false", "--set", "stop_at_target=false",
               "--set", "learning_starts=500", "--set", "train_freq=8", "--set", "gradient_steps=2",
               "--set", "target_update_interval=100", "--set", "buffer_size=10000"]


@pytest.mark.slow  # real SIGKILLs stay in the default suite above; compiled resume, in test_reliability.py (ppo-tf, sac-tf)
def test_killed_compiled_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    """Backend 'tf': the native environments, the running episodes, the random keys' counter and the in-graph
    replay buffer are saved, so SIGKILL between checkpoints and a resume end where a straight run ends."""
    reference, run = tmp_path / "reference", tmp_path / "interrupted"
    straight = _tfrl("train", "dqn", "CartPole-v1", "--run-dir", str(reference), *TF_SETTINGS)
    process = _tfrl("train", "dqn", "CartPole-v1", "--run-dir", str(run), *TF_SETTINGS)
    assert _wait_for_progress(process, run, 1600), process.communicate()[1]
    time.sleep(random.Random(int(time.time())).uniform(0.0, 0.1))  # a random moment well before the end
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, "the run finished before it was killed"
    latest = CheckpointManager(run / "checkpoints").latest()
    assert latest is not None and int(latest.name.split("-")[1]) < 10000
    _assert_no_torn_checkpoint(run)
    resumed = _tfrl("train", "--resume", str(run))
    for process in (straight, resumed):
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    assert _metrics_rows(run) == _metrics_rows(reference)  # every row, the first after the resume included
    for a, b in zip(_weights(reference), _weights(run)):
        np.testing.assert_array_equal(a, b)


def _metrics_rows(run: Path) -> list[dict[str, str]]:
    """metrics.csv without the columns that measure the machine."""
    timing = {"wall_time", "charts/steps_per_sec", "charts/memory_mb"}
    with open(run / "metrics.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k not in timing} for row in csv.DictReader(f)]
