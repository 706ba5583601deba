"""Reliability in-process: verified checkpoints, exact resume after a crash, NaN guards, full disks,
unwritable run directories, unsafe policy files and signals turned into a clean stop."""

from __future__ import annotations

import csv
import errno
import json
import os
import signal
import time
from pathlib import Path

import gymnasium
import numpy as np
import pytest

from tfrl.errors import RunDirError, UnsafeModelError
from tfrl.train import resume, train
from tfrl.train.checkpoint import CheckpointManager, CheckpointWriteError, CorruptCheckpointError, verify
from tfrl.train.guards import StopSignals, TrainingDivergedError

TINY = dict(eval_every=0, final_eval_episodes=1, tensorboard=False, verbose=False, log_every=250)
DQN = dict(TINY, total_steps=1600, learning_starts=200, checkpoint_every=400, buffer_size=5000, num_envs=1)


class Crash(Exception):
    """Stands for the process dying between two checkpoints."""


def _weights(run_dir: Path) -> list[np.ndarray]:
    import keras

    import tfrl.networks  # noqa: F401
    import tfrl.value_networks  # noqa: F401

    return keras.saving.load_model(run_dir / "policy.keras", safe_mode=True).get_weights()


def _crash_at(step_to_crash: int):
    def hook(step: int, mean: float) -> None:
        if step >= step_to_crash:
            raise Crash(step)
    return hook


# ---------------------------------------------------------------- checkpoints: manifest and fallback

def _two_checkpoints(tmp_path: Path) -> Path:
    return train("dqn", "CartPole-v1", runs_root=tmp_path, seed=0, **DQN).run_dir


def test_checkpoints_carry_a_manifest_that_detects_damage(tmp_path):
    run = _two_checkpoints(tmp_path)
    manager = CheckpointManager(run / "checkpoints")
    newest = manager.latest()
    verify(newest)
    manifest = json.loads((newest / "manifest.json").read_text())
    assert {"state.json", "replay.npz", "loop.pkl"} <= set(manifest["files"])
    data = next(newest.glob("tf/ckpt.data-*"))
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(CorruptCheckpointError, match="does not match its checksum"):
        verify(newest)
    (newest / "replay.npz").write_bytes(b"torn")
    with pytest.raises(CorruptCheckpointError, match="replay.npz has 4 bytes"):
        verify(newest)
    intact, problems = manager.latest_intact()
    assert intact == manager.all()[-2] and len(problems) == 1


def test_resume_skips_a_corrupt_newest_checkpoint_and_says_so(tmp_path, capsys):
    run = train("dqn", "CartPole-v1", runs_root=tmp_path, seed=0, **{**DQN, "total_steps": 1200})
    newest = CheckpointManager(run.run_dir / "checkpoints").latest()
    (newest / "state.json").write_text("{")
    result = resume(run.run_dir, total_steps=1600, verbose=True)
    err = capsys.readouterr().err
    assert f"checkpoint {newest}" in err and "skipping it" in err and "resuming from the previous checkpoint" in err
    assert result.steps == 1600


def test_resume_with_every_checkpoint_damaged_is_a_clear_error(tmp_path):
    run = _two_checkpoints(tmp_path)
    for checkpoint in CheckpointManager(run / "checkpoints").all():
        (checkpoint / "manifest.json").write_text("not json")
    with pytest.raises(RunDirError, match="no intact checkpoint to resume from .*manifest.json is unreadable"):
        resume(run)


def test_an_unfinished_checkpoint_directory_is_never_used(tmp_path):
    manager = CheckpointManager(tmp_path)
    (tmp_path / "step-000000999").mkdir(parents=True)  # renamed into place without its files: impossible, but
    assert manager.all() == [] and manager.latest_intact() == (None, [])


# ---------------------------------------------------------------- exact resume after a crash

TIMING = {"wall_time", "charts/steps_per_sec", "charts/memory_mb", "charts/first_call_seconds"}
"""Columns that measure the machine, not the run."""


def _rows(run_dir: Path) -> list[dict[str, str]]:
    """metrics.csv without its timing columns."""
    with open(run_dir / "metrics.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


PPO_TINY = dict(TINY, total_steps=2048, num_steps=128, num_envs=2, checkpoint_every=512)
SAC_TINY = dict(TINY, total_steps=900, learning_starts=200, train_freq=50, gradient_steps=5, batch_size=32,
                buffer_size=5000, hidden_sizes=(16,), checkpoint_every=300, jit_compile=False)
"""SAC on Pendulum-v1: the exploration generator, the replay buffer, the temperature and its optimizer, and the
gradient steps' noise (keyed by the update counter) all resume."""
RAINBOW_TINY = dict(DQN, hidden_sizes=(16,), num_atoms=11, batch_size=16, jit_compile=False)
"""Rainbow: the replay buffer's priorities and max priority, its n-step walk, and the noisy layers' counters resume
(sampling by priority makes the weights depend on every priority restored)."""


@pytest.mark.parametrize("algo, settings", [
    ("dqn", DQN),
    # a checkpoint between two log rows: the episodes finished since the last row go into it
    ("ppo", dict(PPO_TINY, log_every=700)),
    ("reinforce", dict(TINY, total_steps=1500, checkpoint_every=500)),
    # the compiled on-policy loop: native environments, running episodes and random keys (without XLA, which
    # only costs compile time here; the compiled DQN loop is killed for real in test_faults.py)
    ("ppo", dict(PPO_TINY, backend="tf", num_envs=4, num_steps=64, checkpoint_every=768, jit_compile=False)),
    ("sac", SAC_TINY),
    # the compiled off-policy loop with SAC: the in-graph buffer and the stateless keys of its exploration
    ("sac", dict(SAC_TINY, backend="tf", num_envs=2)),
    ("rainbow", RAINBOW_TINY),
], ids=["dqn", "ppo", "reinforce", "ppo-tf", "sac", "sac-tf", "rainbow"])
def test_a_crashed_run_resumed_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, algo, settings):
    settings = {**settings, "eval_every": 300, "eval_episodes": 1}
    env_id = "Pendulum-v1" if algo == "sac" else "CartPole-v1"
    straight = train(algo, env_id, runs_root=tmp_path / "a", seed=3, deterministic=True, **settings)
    with pytest.raises(Crash):
        train(algo, env_id, run_dir=tmp_path / "b", seed=3, deterministic=True,
              on_eval=_crash_at(settings["total_steps"] * 2 // 3), **settings)
    checkpoints = CheckpointManager(tmp_path / "b" / "checkpoints").all()
    assert checkpoints and int(checkpoints[-1].name.split("-")[1]) < settings["total_steps"]
    resumed = resume(tmp_path / "b", verbose=False)
    assert resumed.steps == straight.steps
    for a, b in zip(_weights(straight.run_dir), _weights(tmp_path / "b")):
        np.testing.assert_array_equal(a, b)
    # the metrics rows of the lost stretch were dropped and written again, once, with the same values (the
    # first row after the checkpoint included: it averages the episodes finished before and after it)
    resumed_rows, reference = _rows(tmp_path / "b"), _rows(straight.run_dir)
    assert [row["step"] for row in resumed_rows] == [row["step"] for row in reference]
    assert resumed_rows == reference


def test_deterministic_mode_refuses_the_async_backend(tmp_path):
    from tfrl.errors import ConfigError

    with pytest.raises(ConfigError, match="deterministic mode needs backend 'sync'"):
        train("dqn", "CartPole-v1", runs_root=tmp_path, deterministic=True, backend="async", **{**DQN, "num_envs": 2})


# ---------------------------------------------------------------- NaN and Inf

class NanAt(gymnasium.Env):
    """A CartPole-like toy whose observation turns NaN at a given step of its first episode."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def __init__(self, nan_step: int = 700, reward: float = 1.0):
        self.nan_step, self.reward, self.t = nan_step, reward, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(3, np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(3, np.nan if self.t == self.nan_step else 0.1, np.float32)
        return obs, self.reward, False, self.t % 50 == 0, {}


def test_a_nan_observation_stops_the_run_naming_step_and_last_checkpoint(tmp_path):
    with pytest.raises(TrainingDivergedError) as info:
        train("dqn", NanAt, run_dir=tmp_path / "run", seed=0, **{**DQN, "total_steps": 2000})
    message = str(info.value)
    match = __import__("re").search(r"training stopped at step (\d+): the observation of environment 0 is \[nan nan nan\]",
                                    message)
    assert match and 680 <= int(match.group(1)) <= 700, message
    last_good = CheckpointManager(tmp_path / "run" / "checkpoints").latest()
    assert last_good.name == "step-000000400" and f"the last good checkpoint is {last_good}" in message
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step-000000400"]  # none after


def test_an_exploding_loss_stops_the_run(tmp_path):
    with pytest.raises(TrainingDivergedError, match=r"losses/\w+ is (inf|nan)"):
        train("dqn", lambda: NanAt(nan_step=10**9, reward=1e30), run_dir=tmp_path / "run", seed=0, loss="mse",
              **DQN)


# ---------------------------------------------------------------- full disk, unwritable places

def test_a_full_disk_leaves_the_previous_checkpoint_intact_and_says_so(tmp_path, monkeypatch):
    from tfrl.data import UniformReplayBuffer

    real_save, calls = UniformReplayBuffer.save, []

    def save(self, path):
        calls.append(path)
        if len(calls) == 2:
            real_save(self, path)  # a part of the file reaches the disk, then it is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(self, path)

    monkeypatch.setattr(UniformReplayBuffer, "save", save)
    with pytest.raises(CheckpointWriteError) as info:
        train("dqn", "CartPole-v1", run_dir=tmp_path / "run", seed=0, **DQN)
    checkpoints = tmp_path / "run" / "checkpoints"
    first = checkpoints / "step-000000400"
    assert str(info.value).startswith("could not write the checkpoint of step 800")
    assert "No space left on device" in str(info.value) and f"the previous checkpoint {first} is intact" in str(info.value)
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-000000400"]  # no half-written directory
    verify(first)


def test_an_unwritable_run_directory_is_refused_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(RunDirError, match="cannot write the run directory .*choose a writable place"):
        train("dqn", "CartPole-v1", run_dir=blocker / "run", **DQN)


# ---------------------------------------------------------------- safe loading

def test_a_policy_file_with_python_code_is_refused_unless_trusted(tmp_path):
    import keras

    from tfrl.train import evaluate_run, load_saved_policy

    run = train("dqn", "CartPole-v1", runs_root=tmp_path, seed=0, **{**DQN, "total_steps": 400})
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x[:, :2] * 2.0, output_shape=(2,))(inputs)
    keras.Model(inputs, outputs).save(run.run_dir / "policy.keras")
    with pytest.raises(UnsafeModelError, match="contains Python code .* --no-safe-mode"):
        load_saved_policy(run.run_dir)
    result, _ = evaluate_run(run.run_dir, episodes=2, safe_mode=False)
    assert len(result.returns) == 2


# ---------------------------------------------------------------- signals

def test_stop_signals_turn_the_first_signal_into_a_request(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        assert stop.name is None
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before


def test_the_same_signal_twice_interrupts_at_once():
    # Python's own SIGINT handler underneath (another library, such as Ray, may have replaced it)
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with StopSignals() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.name == "SIGINT"
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)  # the handler runs here at the latest
    finally:
        signal.signal(signal.SIGINT, outer)


def test_a_signal_during_training_checkpoints_and_returns_interrupted(tmp_path):
    def send_sigint(step, mean):
        if step >= 800:
            os.kill(os.getpid(), signal.SIGINT)

    result = train("dqn", "CartPole-v1", run_dir=tmp_path / "run", seed=0, on_eval=send_sigint,
                   **{**DQN, "eval_every": 400, "eval_episodes": 1})
    assert result.interrupted == "SIGINT" and result.steps == 800 and result.final_eval is None
    assert CheckpointManager(tmp_path / "run" / "checkpoints").latest().name == "step-000000800"
    assert not (tmp_path / "run" / "policy.keras").exists()
    assert resume(tmp_path / "run", verbose=False).steps == 1600


def test_a_full_disk_outside_checkpoints_is_one_line_at_the_command_line(monkeypatch, capsys):
    from tfrl.cli import main as cli

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "runs/x/metrics.csv")

    monkeypatch.setattr(cli, "_cmd_envs", full)
    assert cli.main(["envs"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tfrl: error: No space left on device writing runs/x/metrics.csv;")
