"""Checkpoints written atomically and verified on reading: a run stopped at any moment keeps its
last complete checkpoint, and a damaged one is detected and skipped.

A checkpoint is a directory ``checkpoints/step-000012345/`` holding

* ``tf/``: a ``tf.train.Checkpoint`` of the agent's trackable state (networks, optimizer,
  counters);
* ``state.json``: the loop's counters and host random generator states (JSON);
* ``replay.npz``: the replay buffer, for off-policy agents (optional; read with ``allow_pickle=False``);
* ``loop.pkl``: the running episodes (the sub-environments' state and the loop's current time
  step), where the environment can give them; with it a resumed run continues exactly where it
  stopped;
* ``manifest.json``: the size and SHA-256 of every other file and ``hmac``, an HMAC-SHA256 of those
  entries and the step, written last.

``loop.pkl`` is a pickle, and unpickling runs code, so it is read back only when tfrl on this machine
wrote it: the manifest's ``hmac`` is keyed by a secret kept outside every run directory,
``$TFRL_HOME/secret.key`` (default ``~/.config/tfrl/secret.key``: 32 random bytes, mode 0600, made on
first use). The checksums say a file is intact; the HMAC says who wrote the manifest, since anyone can
rewrite checksums. A ``loop.pkl`` whose checksum or HMAC does not verify (a run directory from another
machine, or one changed since) is never read: the resumed run starts new episodes and one warning
line says why. Everything else in a checkpoint is data (TensorFlow's checkpoint format, JSON, NumPy
arrays without pickles).

Everything is first written into a hidden ``.tmp-...`` directory, flushed to disk, then renamed
to its final name in one ``os.replace``; a directory without ``manifest.json`` is never used (it was
not completed, or an older tfrl wrote it). ``latest_intact`` checks the checksums and falls back to
the previous checkpoint when the newest is damaged. If writing fails (a full disk, say), the
temporary directory is removed, the previous checkpoints are untouched and ``CheckpointWriteError``
says so. The newest ``keep`` checkpoints are kept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from tfrl.errors import RunDirError, TfrlError
from tfrl.fileio import atomic_write_text, fsync_dir, fsync_file

__all__ = ["CheckpointManager", "CheckpointWriteError", "CorruptCheckpointError", "atomic_write_text",
           "read_loop_state", "secret_key", "secret_key_path", "verify"]

MANIFEST = "manifest.json"
LOOP_FILE = "loop.pkl"
KEY_BYTES = 32
_SIGNED = b"tfrl checkpoint manifest v1\n"
"""Prefix of the signed bytes, so that the key signs nothing but checkpoint manifests."""


class CheckpointWriteError(TfrlError, OSError):
    """A checkpoint could not be written (full disk, read-only directory); earlier ones are intact."""


class CorruptCheckpointError(RunDirError):
    """A checkpoint's files do not match its manifest (torn, truncated or changed on disk), or it has none."""


def secret_key_path() -> Path:
    """Where this machine's checkpoint key lives: ``$TFRL_HOME/secret.key``, else ``~/.config/tfrl/secret.key``."""
    home = os.environ.get("TFRL_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".config" / "tfrl") / "secret.key"


def secret_key() -> bytes:
    """This machine's 32-byte key for signing checkpoint manifests, made (mode 0600) on first use.

    Raises ``OSError`` when the key can neither be read nor created, ``TfrlError`` when the file is not a key.
    """
    path = secret_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = os.urandom(KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(key)
                    f.flush()
                    os.fsync(f.fileno())
            except BaseException:
                path.unlink(missing_ok=True)  # no half-written key left behind (a full disk, say)
                raise
            return key
    for _ in range(50):  # a key another process is writing right now is complete within microseconds
        key = path.read_bytes()
        if len(key) == KEY_BYTES:
            return key
        time.sleep(0.02)
    raise TfrlError(f"{path} is not a tfrl key ({len(key)} bytes, expected {KEY_BYTES}); delete it (tfrl makes a "
                    f"new one) or set TFRL_HOME to another directory")


def _signature(key: bytes, step: Any, files: Any) -> str:
    """HMAC-SHA256 of the canonical JSON (sorted keys) of a manifest's step and files."""
    canonical = json.dumps({"files": files, "step": step}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, _SIGNED + canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def _manifest(path: Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of checkpoint ``path``, or ``CorruptCheckpointError``."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise CorruptCheckpointError(
            f"checkpoint {path} has no {MANIFEST}: it was never completed, or was written by tfrl before manifests "
            f"existed; it is not trusted")
    try:
        manifest = json.loads(manifest_path.read_text())
        if not isinstance(manifest["files"], dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise CorruptCheckpointError(f"checkpoint {path}: {MANIFEST} is unreadable") from None
    return manifest


def verify(path: str | Path) -> None:
    """Raise ``CorruptCheckpointError`` naming the first problem if checkpoint ``path`` is damaged or has no
    manifest. (This checks integrity; who wrote ``loop.pkl`` is checked by ``read_loop_state``.)"""
    path = Path(path)
    files = _manifest(path)["files"]
    for name, entry in files.items():
        file = path / name
        try:
            size, digest = entry["size"], entry["sha256"]
        except (KeyError, TypeError):
            raise CorruptCheckpointError(f"checkpoint {path}: {MANIFEST} is unreadable") from None
        if not file.is_file():
            raise CorruptCheckpointError(f"checkpoint {path}: {name} is missing")
        if file.stat().st_size != size:
            raise CorruptCheckpointError(
                f"checkpoint {path}: {name} has {file.stat().st_size} bytes, the manifest says {size}")
        if _sha256(file) != digest:
            raise CorruptCheckpointError(f"checkpoint {path}: {name} does not match its checksum")


def read_loop_state(path: str | Path) -> tuple[bytes | None, str | None]:
    """``(bytes of loop.pkl, None)`` if tfrl on this machine wrote checkpoint ``path``'s ``loop.pkl`` and it is
    unchanged; else ``(None, reason)``, one line saying why it is not loaded. The file is not unpickled here."""
    path = Path(path)
    name = f"{path.parent.name}/{path.name}/{LOOP_FILE}"
    tail = "so it is not loaded; the resumed run starts new episodes"
    try:
        manifest = _manifest(path)
        blob = (path / LOOP_FILE).read_bytes()
    except (CorruptCheckpointError, OSError) as exc:
        return None, f"{name} cannot be checked ({exc}), {tail}"
    entry = manifest["files"].get(LOOP_FILE)
    if not isinstance(entry, dict) or hashlib.sha256(blob).hexdigest() != entry.get("sha256"):
        return None, f"{name} does not match its checksum in {MANIFEST}, {tail}"
    signature = manifest.get("hmac")
    if not isinstance(signature, str):
        return None, f"{name} is not signed (an older tfrl, or one without its key, wrote it), {tail}"
    try:
        key = secret_key()
    except (OSError, TfrlError) as exc:
        return None, f"{name} cannot be checked: this machine's key {secret_key_path()} cannot be read ({exc}), {tail}"
    expected = _signature(key, manifest.get("step"), manifest["files"])
    if not hmac.compare_digest(signature.encode("utf-8", "replace"), expected.encode("utf-8")):
        return None, f"{name} was not written by tfrl on this machine (or was changed since), {tail}"
    return blob, None


_NAME = re.compile(r"^step-(\d{9,})$")


class CheckpointManager:
    """Saves and finds checkpoints under ``directory``, keeping the newest ``keep``."""

    def __init__(self, directory: str | Path, keep: int = 3):
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.keep = keep
        self._warned_key = False

    def _key(self) -> bytes | None:
        """This machine's key, or None (with one warning per manager) where it cannot be read or made."""
        try:
            return secret_key()
        except (OSError, TfrlError) as exc:
            if not self._warned_key:
                self._warned_key = True
                print(f"warning: tfrl's key {secret_key_path()} cannot be read or created ({exc}); checkpoints leave "
                      f"out the episodes in progress ({LOOP_FILE}), so a resumed run starts new episodes; set "
                      f"TFRL_HOME to a writable directory", file=sys.stderr)
            return None

    def save(self, step: int, trackables: dict[str, Any], state: dict[str, Any], replay=None,
             loop_state: bytes | None = None) -> Path:
        """Write a checkpoint for ``step`` and return its directory.

        ``loop_state`` (bytes, optional) is stored as ``loop.pkl`` and the manifest is signed with this
        machine's key (``secret_key``); without a key, ``loop.pkl`` is left out. Raises
        ``CheckpointWriteError`` when the files cannot be written; the checkpoints already on disk are
        left as they were.
        """
        import tensorflow as tf

        key = self._key()
        if key is None:
            loop_state = None
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
            manifest: dict[str, Any] = {"step": int(step), "files": {
                str(file.relative_to(tmp)): {"size": file.stat().st_size, "sha256": _sha256(file)} for file in files}}
            if key is not None:
                manifest["hmac"] = _signature(key, manifest["step"], manifest["files"])
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

    def _named(self, *marks: str) -> list[Path]:
        """``step-*`` directories holding one of the files ``marks``, oldest first."""
        if not self.directory.is_dir():
            return []
        found = [p for p in self.directory.iterdir() if _NAME.match(p.name) and any((p / m).is_file() for m in marks)]
        return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))

    def all(self) -> list[Path]:
        """Complete checkpoints (renamed into place, with a manifest), oldest first; their checksums are not
        checked here."""
        return self._named(MANIFEST)

    def latest(self) -> Path | None:
        """The newest complete checkpoint, or None (see ``latest_intact`` for a verified one)."""
        found = self.all()
        return found[-1] if found else None

    def latest_intact(self) -> tuple[Path | None, list[str]]:
        """The newest checkpoint whose files match their manifest, and one message per newer damaged one
        (a checkpoint directory without a manifest among them)."""
        problems: list[str] = []
        for path in reversed(self._named(MANIFEST, "state.json")):
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

        ``loop.pkl`` is returned as bytes under the key ``"loop_state"`` only when ``read_loop_state``
        finds that tfrl on this machine wrote it; otherwise ``"loop_state_refused"`` holds the reason
        (one line). A checkpoint without a manifest raises ``CorruptCheckpointError``.
        """
        import tensorflow as tf

        path = Path(path)
        _manifest(path)
        state = json.loads((path / "state.json").read_text())
        if not isinstance(state, dict):
            raise CorruptCheckpointError(f"checkpoint {path}: state.json is not a JSON object")
        for name in ("loop_state", "loop_state_refused"):  # set below only, never from the file
            state.pop(name, None)
        tf.train.Checkpoint(**trackables).read(str(path / "tf" / "ckpt")).assert_consumed()
        if replay is not None and (path / "replay.npz").is_file():
            replay.load(path / "replay.npz")
        if (path / LOOP_FILE).is_file():
            blob, refused = read_loop_state(path)
            state["loop_state" if blob is not None else "loop_state_refused"] = blob if blob is not None else refused
        return state
