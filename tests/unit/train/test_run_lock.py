"""One process at a time trains a run directory: ``RunLock`` against other processes (also killed ones),
and two real ``tfrl train --resume`` of one run, where the second is refused and the first finishes with
an intact ``metrics.csv``."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import tfrl.runs.lock
from tfrl.cli.main import main
from tfrl.errors import ConfigError, RunDirError, TfrlError
from tfrl.runs.lock import RunLock, RunLockedError

pytestmark = pytest.mark.skipif(not tfrl.runs.lock.LOCKING_SUPPORTED, reason="no fcntl: RunLock locks nothing")

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TFRL_PROGRESS": "0", "PYTHONUNBUFFERED": "1"}

HOLD = """
import sys, time
from tfrl.runs.lock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""
"""A process that takes the lock of ``argv[1]``, says so, and holds it for ``argv[2]`` seconds."""

HOLD_WITHOUT_PID = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1] + "/.lock", os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.ftruncate(fd, 0)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""
"""The same, with an empty lock file (a holder caught before it wrote its id)."""

FAST_DQN = dict(total_steps=1500, learning_starts=200, checkpoint_every=500, buffer_size=5000, num_envs=1,
                eval_every=0, final_eval_episodes=1, tensorboard=False, verbose=False, log_every=250,
                hidden_sizes=[32, 32], train_freq=50, gradient_steps=10)


def _hold(run_dir: Path, seconds: float = 120, script: str = HOLD) -> subprocess.Popen:
    """Start a process that holds ``run_dir``'s lock; return once it holds it."""
    process = subprocess.Popen([sys.executable, "-c", script, str(run_dir), str(seconds)], env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    if line != "locked":
        process.kill()
        raise AssertionError(f"the holder did not lock: {line!r} {process.communicate()[1]}")
    return process


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate()


def _message(run_dir: Path, holder: str) -> str:
    return f"run {run_dir} is being trained by {holder}; wait for it or stop it"


# ---------------------------------------------------------------- RunLock

def test_another_process_is_refused_with_the_holders_pid_until_it_is_killed(tmp_path):
    holder = _hold(tmp_path)
    try:
        with pytest.raises(RunLockedError) as info:
            RunLock(tmp_path).acquire()
        assert str(info.value) == _message(tmp_path, f"process {holder.pid}")
        assert isinstance(info.value, RunDirError) and isinstance(info.value, TfrlError)
        assert "\n" not in str(info.value)
        holder.send_signal(signal.SIGKILL)  # no chance to clean up: the kernel releases the lock
        holder.wait(timeout=30)
        assert holder.returncode == -signal.SIGKILL
    finally:
        _stop(holder)
    with RunLock(tmp_path) as lock:
        assert lock.held
        assert (tmp_path / ".lock").read_text().strip() == str(os.getpid())
    assert not lock.held


def test_the_lock_is_released_when_the_holder_exits(tmp_path):
    holder = _hold(tmp_path, seconds=0)  # exits without releasing it
    assert holder.wait(timeout=30) == 0
    _stop(holder)
    with RunLock(tmp_path) as lock:
        assert lock.held


def test_an_unreadable_holder_id_says_another_process(tmp_path):
    holder = _hold(tmp_path, script=HOLD_WITHOUT_PID)
    try:
        with pytest.raises(RunLockedError) as info:
            RunLock(tmp_path).acquire()
        assert str(info.value) == _message(tmp_path, "another process")
    finally:
        _stop(holder)


def test_the_lock_file_is_the_only_thing_created_or_changed(tmp_path):
    (tmp_path / "config.yaml").write_text("algo: dqn\n")
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    with RunLock(tmp_path):
        assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "config.yaml"]
    assert (tmp_path / ".lock").is_file()  # never deleted, so that every process locks the same file
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir() if p.name != ".lock"} == before
    assert (tmp_path / "config.yaml").read_text() == "algo: dqn\n"


def test_one_lock_per_directory_also_within_a_process(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with RunLock(tmp_path / "a"), RunLock(tmp_path / "b"):
        with pytest.raises(RunLockedError, match=f"process {os.getpid()}"):
            RunLock(tmp_path / "a").acquire()
    with RunLock(tmp_path / "a"):
        pass


def test_a_missing_directory_is_a_run_dir_error_not_a_lock(tmp_path):
    with pytest.raises(RunDirError, match="cannot lock the run directory") as info:
        RunLock(tmp_path / "missing").acquire()
    assert not isinstance(info.value, RunLockedError)
    assert not (tmp_path / "missing").exists()


def test_without_fcntl_nothing_is_locked(tmp_path, monkeypatch):
    monkeypatch.setattr(tfrl.runs.lock, "fcntl", None)
    with RunLock(tmp_path) as first, RunLock(tmp_path) as second:
        assert not first.held and not second.held
    assert list(tmp_path.iterdir()) == []


def test_a_file_system_without_locks_warns_and_trains_unlocked(tmp_path, monkeypatch, capsys):
    import errno
    import fcntl

    class NoLocks:
        LOCK_EX, LOCK_NB = fcntl.LOCK_EX, fcntl.LOCK_NB

        @staticmethod
        def flock(fd: int, operation: int) -> None:
            raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(tfrl.runs.lock, "fcntl", NoLocks)
    with RunLock(tmp_path) as lock:
        assert not lock.held
    assert f"warning: cannot lock {tmp_path / '.lock'}" in capsys.readouterr().err


# ---------------------------------------------------------------- train and train_seeds

def test_train_refuses_a_run_directory_that_another_process_trains(tmp_path):
    from tfrl.train import train

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("algo: dqn\n")
    holder = _hold(run)
    try:
        # a directory with a run in it is refused first for that: it says how to continue the run, and
        # 'tfrl train --resume' then names the process that trains it
        with pytest.raises(ConfigError, match="already holds a run; use --resume"):
            train("dqn", "CartPole-v1", run_dir=run, **FAST_DQN)
        assert (run / "config.yaml").read_text() == "algo: dqn\n"
        with pytest.raises(RunLockedError, match=f"being trained by process {holder.pid}"):
            from tfrl.train import resume

            resume(run, total_steps=9000)
        assert (run / "config.yaml").read_text() == "algo: dqn\n"

        # a new directory another process has locked but not yet written config.yaml into (two trainings
        # started into one --run-dir at once): refused by the lock, before anything is written or removed
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        _stop(holder)
        holder = _hold(fresh)
        with pytest.raises(RunLockedError, match=f"being trained by process {holder.pid}"):
            train("dqn", "CartPole-v1", run_dir=fresh, **FAST_DQN)
        assert sorted(p.name for p in fresh.iterdir()) == [".lock"]
    finally:
        _stop(holder)


def test_train_seeds_refuses_before_any_seed_trains(tmp_path):
    from tfrl.train import train_seeds

    (tmp_path / "seed-1").mkdir()
    holder = _hold(tmp_path / "seed-1")
    try:
        with pytest.raises(RunLockedError, match=f"being trained by process {holder.pid}"):
            train_seeds("dqn", "CartPole-v1", [0, 1], run_dir=tmp_path, **FAST_DQN)
        assert not (tmp_path / "seed-0" / "metrics.csv").exists()
        assert sorted(p.name for p in (tmp_path / "seed-1").iterdir()) == [".lock"]
    finally:
        _stop(holder)


# ---------------------------------------------------------------- two resumes of one run

def _logged_steps(run: Path) -> list[int]:
    with open(run / "metrics.csv") as f:
        return [int(float(row["step"])) for row in csv.DictReader(f) if row.get("charts/steps_per_sec")]


def _total_steps(run: Path) -> int:
    return yaml.safe_load((run / "config.yaml").read_text())["run"]["total_steps"]


def _wait_until_locked_by(process: subprocess.Popen, run: Path, timeout: float = 60) -> None:
    """Wait until ``process`` holds ``run``'s lock: its id is in the lock file, written only once locked.
    (Trying the lock from here instead could take it for an instant and make ``process`` the refused one.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the first resume ended before locking: {process.communicate()[1]}")
        lock_file = run / ".lock"
        if lock_file.is_file() and lock_file.read_text().strip() == str(process.pid):
            return
        time.sleep(0.02)
    raise AssertionError(f"the first resume did not lock {run} in {timeout} s")


def test_a_second_resume_of_a_run_is_refused_and_the_first_finishes_cleanly(tmp_path, capsys):
    from tfrl.train import train

    run = tmp_path / "run"
    train("dqn", "CartPole-v1", run_dir=run, **FAST_DQN)
    capsys.readouterr()
    first = subprocess.Popen([sys.executable, "-m", "tfrl.cli.main", "train", "--resume", str(run), "--steps", "6000"],
                             env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_locked_by(first, run)
        code = main(["train", "--resume", str(run), "--steps", "9000"])
        _, err = capsys.readouterr()
        assert code == 2
        assert err.splitlines() == [f"tfrl: error: {_message(run, f'process {first.pid}')}"], err
        assert _total_steps(run) != 9000  # the refused resume wrote nothing
        out, err = first.communicate(timeout=600)
    finally:
        _stop(first)
    assert first.returncode == 0, err
    assert f"run directory: {run}" in out
    assert _total_steps(run) == 6000
    steps = _logged_steps(run)
    assert all(a < b for a, b in zip(steps, steps[1:])), steps  # no row repeated, none going backwards
    assert steps[-1] >= 6000, steps
