"""Checkpoints written atomically and verified on reading: a run stopped at any moment keeps its
last complete checkpoint, and a damaged one is detected and skipped.

A checkpoint is a directory ``checkpoints/step-000012345/`` holding

* ``tf/``: a ``tf.train.Checkpoint`` of the agent's trackable state (networks, optimizer,
  counters);
* ``state.json``: the loop's counters and host random generator states (JSON);
* ``replay.npz``: the replay buffer, for off-policy agents (optional);
* ``loop.pkl``: the running episodes (the sub-environments' state and the loop's current time
  step), where the environment can give them; with it a resumed run continues exactly where it
  stopped. It is a pickle: it is only read back from a checkpoint whose checksums match;
* ``manifest.json``: the size and SHA-256 of every other file, written last.

Everything is first written into a hidden ``.tmp-...`` directory, flushed to disk, then renamed
to its final name in one ``os.replace``; a directory without ``manifest.json`` (or, for
checkpoints of older versions, ``state.json``) is never used. ``latest_intact`` checks the
checksums and falls back to the previous checkpoint when the newest is damaged. If writing fails
(a full disk, say), the temporary directory is removed, the previous checkpoints are untouched and
``CheckpointWriteError`` says so. The newest ``keep`` checkpoints are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from tfrl.errors import RunDirError, TfrlError
from tfrl.fileio import atomic_write_text, fsync_dir, fsync_file

__all__ = ["CheckpointManager", "CheckpointWriteError", "CorruptCheckpointError", "atomic_write_text", "verify"]

MANIFEST = "manifest.json"
LOOP_FILE = "loop.pkl"


class CheckpointWriteError(TfrlError, OSError):
    """A checkpoint could not be written (full disk, read-only directory); earlier ones are intact."""


class CorruptCheckpointError(RunDirError):
    """A checkpoint's files do not match its manifest (torn, truncated or changed on disk)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def verify(path: str | Path) -> None:
    """Raise ``CorruptCheckpointError`` naming the first problem if checkpoint ``path`` is damaged."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        if (path / "state.json").is_file():
            return  # written before manifests existed: nothing to check against
        raise CorruptCheckpointError(f"checkpoint {path} has no {MANIFEST}: it was never completed")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (ValueError, KeyError, TypeError):
        raise CorruptCheckpointError(f"checkpoint {path}: {MANIFEST} is unreadable") from None
    for name, entry in files.items():
        file = path / name
        if not file.is_file():
            raise CorruptCheckpointError(f"checkpoint {path}: {name} is missing")
        if file.stat().st_size != entry["size"]:
            raise CorruptCheckpointError(
                f"checkpoint {path}: {name} has {file.stat().st_size} bytes, the manifest says {entry['size']}")
        if _sha256(file) != entry["sha256"]:
            raise CorruptCheckpointError(f"checkpoint {path}: {name} does not match its checksum")

_NAME = re.compile(r"^step-(\d{9,})$")


class CheckpointManager:
    """Saves and finds checkpoints under ``directory``, keeping the newest ``keep``."""

    def __init__(self, directory: str | Path, keep: int = 3):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.keep = keep

    def save(self, step: int, trackables: dict[str, Any], state: dict[str, Any], replay=None,
             loop_state: bytes | None = None) -> Path:
        """Write a checkpoint for ``step`` and return its directory.

        ``loop_state`` (bytes, optional) is stored as ``loop.pkl``. Raises ``CheckpointWriteError``
        when the files cannot be written; the checkpoints already on disk are left as they were.
        """
        import tensorflow as tf

        final = self.directory / f"step-{step:09d}"
        tmp = self.directory / f".tmp-step-{step:09d}-{os.getpid()}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir()
            tf.train.Checkpoint(**trackables).write(str(tmp / "tf" / "ckpt"))
            if replay is not None:
                replay.save(tmp / "replay.npz")
            if loop_state is not None:
                (tmp / LOOP_FILE).write_bytes(loop_state)
            with open(tmp / "state.json", "w") as f:
                json.dump({**state, "step": int(step)}, f, indent=1)
            files = _files(tmp)
            for file in files:
                fsync_file(file)
            manifest = {"step": int(step), "files": {
                str(file.relative_to(tmp)): {"size": file.stat().st_size, "sha256": _sha256(file)} for file in files}}
            with open(tmp / MANIFEST, "w") as f:
                json.dump(manifest, f, indent=1)
            fsync_file(tmp / MANIFEST)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            fsync_dir(self.directory)
        except Exception as exc:  # tf.errors.* for a full disk inside TensorFlow's writer, OSError elsewhere
            shutil.rmtree(tmp, ignore_errors=True)
            previous = self.latest()
            reason = getattr(exc, "strerror", None) or getattr(exc, "message", None) or str(exc)
            raise CheckpointWriteError(
                f"could not write the checkpoint of step {step} in {self.directory} ({type(exc).__name__}: "
                f"{reason}); " + (f"the previous checkpoint {previous} is intact" if previous is not None
                                   else "no earlier checkpoint exists") +
                "; free some disk space (or fix the directory's permissions) and resume the run"
            ) from None
        self._prune()
        return final

    def _prune(self) -> None:
        for old in self.all()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        for stale in self.directory.glob(".tmp-step-*"):
            shutil.rmtree(stale, ignore_errors=True)

    def all(self) -> list[Path]:
        """Complete checkpoints (renamed into place), oldest first; their checksums are not checked here."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.iterdir()
                 if _NAME.match(p.name) and ((p / MANIFEST).is_file() or (p / "state.json").is_file())]
        return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))

    def latest(self) -> Path | None:
        """The newest complete checkpoint, or None (see ``latest_intact`` for a verified one)."""
        found = self.all()
        return found[-1] if found else None

    def latest_intact(self) -> tuple[Path | None, list[str]]:
        """The newest checkpoint whose files match their manifest, and one message per newer damaged one."""
        problems: list[str] = []
        for path in reversed(self.all()):
            try:
                verify(path)
            except CorruptCheckpointError as exc:
                problems.append(str(exc))
                continue
            return path, problems
        return None, problems

    @staticmethod
    def restore(path: str | Path, trackables: dict[str, Any], replay=None) -> dict[str, Any]:
        """Load a checkpoint into ``trackables`` (and ``replay``) and return its state dict.

        The loop state (``loop.pkl``) is returned as bytes under the key ``"loop_state"`` when present.
        """
        import tensorflow as tf

        path = Path(path)
        state = json.loads((path / "state.json").read_text())
        tf.train.Checkpoint(**trackables).read(str(path / "tf" / "ckpt")).assert_consumed()
        if replay is not None and (path / "replay.npz").is_file():
            replay.load(path / "replay.npz")
        if (path / LOOP_FILE).is_file():
            state["loop_state"] = (path / LOOP_FILE).read_bytes()
        return state
