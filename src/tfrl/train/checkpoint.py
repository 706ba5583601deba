"""Checkpoints written atomically: a run stopped at any moment keeps its last complete checkpoint.

A checkpoint is a directory ``checkpoints/step-000012345/`` holding

* ``tf/``: a ``tf.train.Checkpoint`` of the agent's trackable state (networks, optimizer,
  counters, exploration random generator);
* ``state.json``: the loop's counters and host random states (JSON);
* ``replay.npz``: the replay buffer, for off-policy agents (optional).

Everything is first written into a hidden ``.tmp-...`` directory, flushed to disk, then renamed
to its final name in one ``os.replace``; a directory without ``state.json`` is never used.
The newest ``keep`` checkpoints are kept.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from tfrl.fileio import atomic_write_text, fsync_dir, fsync_file

__all__ = ["CheckpointManager", "atomic_write_text"]

_NAME = re.compile(r"^step-(\d{9,})$")


class CheckpointManager:
    """Saves and finds checkpoints under ``directory``, keeping the newest ``keep``."""

    def __init__(self, directory: str | Path, keep: int = 3):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.keep = keep

    def save(self, step: int, trackables: dict[str, Any], state: dict[str, Any], replay=None) -> Path:
        """Write a checkpoint for ``step`` and return its directory."""
        import tensorflow as tf

        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"step-{step:09d}"
        tmp = self.directory / f".tmp-step-{step:09d}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        tf.train.Checkpoint(**trackables).write(str(tmp / "tf" / "ckpt"))
        if replay is not None:
            replay.save(tmp / "replay.npz")
        with open(tmp / "state.json", "w") as f:
            json.dump({**state, "step": int(step)}, f, indent=1)
        for root, _, files in os.walk(tmp):
            for name in files:
                fsync_file(Path(root) / name)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(self.directory)
        self._prune()
        return final

    def _prune(self) -> None:
        for old in self.all()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        for stale in self.directory.glob(".tmp-step-*"):
            shutil.rmtree(stale, ignore_errors=True)

    def all(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.iterdir() if _NAME.match(p.name) and (p / "state.json").is_file()]
        return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))

    def latest(self) -> Path | None:
        """The newest complete checkpoint, or None."""
        found = self.all()
        return found[-1] if found else None

    @staticmethod
    def restore(path: str | Path, trackables: dict[str, Any], replay=None) -> dict[str, Any]:
        """Load a checkpoint into ``trackables`` (and ``replay``) and return its state dict."""
        import tensorflow as tf

        path = Path(path)
        state = json.loads((path / "state.json").read_text())
        tf.train.Checkpoint(**trackables).read(str(path / "tf" / "ckpt")).assert_consumed()
        if replay is not None and (path / "replay.npz").is_file():
            replay.load(path / "replay.npz")
        return state
