"""A lock per run directory: one process at a time trains a run directory.

``with RunLock(run_dir): ...`` takes an exclusive, non-blocking ``fcntl.flock`` on ``run_dir/.lock``
(created if missing, and the only thing the lock creates or changes in the directory) and keeps the
file open while the lock is held. The holder writes its process id into the file, for the message
another process gets: ``RunLockedError``, ``run R is being trained by process N; wait for it or stop it``.

The operating system releases the lock when the holder closes the file or ends in any way, SIGKILL
included, so a killed run never leaves a stale lock behind; the file itself stays (it is never deleted:
deleting a lock file would let two processes lock two different files). A process forked while the
lock is held (a worker of an ``async`` vector environment) shares it until that process ends too.

Where ``fcntl`` does not exist (Windows), ``RunLock`` locks nothing: it is then up to the user not to
train one run directory from two processes at once. On a file system that refuses locks it warns and
locks nothing either.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path
from types import TracebackType

from tfrl.errors import RunDirError

try:
    import fcntl
except ImportError:  # Windows: no flock; RunLock degrades to no locking
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCKING_SUPPORTED", "LOCK_FILE", "RunLock", "RunLockedError"]

LOCK_FILE = ".lock"
"""Name of the lock file inside a run directory."""

LOCKING_SUPPORTED = fcntl is not None
"""Whether ``RunLock`` locks on this platform (False on Windows)."""

_BUSY = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES}
"""``flock`` errors that mean: another open file holds the lock."""


class RunLockedError(RunDirError):
    """A run directory that another process is training."""


class RunLock:
    """An exclusive lock on the run directory ``run_dir``, held from ``acquire`` (or ``with``) to ``release``.

    ``acquire`` raises ``RunLockedError`` at once (it never waits) when another process, or another
    ``RunLock`` of this process, holds the lock, and ``RunDirError`` when ``run_dir/.lock`` cannot be
    opened (a missing or unwritable directory); where the file system refuses locks it warns on stderr and
    holds nothing. ``release`` may be called more than once.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        """The locked run directory."""
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        """The lock file, ``run_dir/.lock``."""
        return self.run_dir / LOCK_FILE

    @property
    def held(self) -> bool:
        """Whether this object holds the lock (always False where locking is not supported)."""
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock without waiting, write this process's id into the lock file, and return ``self``."""
        if fcntl is None or self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunDirError(f"cannot lock the run directory {str(self.run_dir)!r}: cannot open {self.path} "
                              f"({exc.strerror or exc}); pass an existing, writable run directory") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(fd)
            os.close(fd)
            if exc.errno not in _BUSY:  # a file system without locks (ENOLCK, EOPNOTSUPP): train unlocked
                print(f"warning: cannot lock {self.path} ({exc.strerror or exc}); nothing stops a second process "
                      f"from training {self.run_dir} at the same time", file=sys.stderr)
                return self
            raise RunLockedError(f"run {self.run_dir} is being trained by {holder}; wait for it or stop it") from None
        with contextlib.suppress(OSError):  # the id only serves the message; a full disk must not stop the run here
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Release the lock (closing the file releases it); the lock file stays."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"RunLock({str(self.run_dir)!r}, held={self.held})"


def _holder(fd: int) -> str:
    """``process N`` from the lock file's recorded id, or ``another process`` when it cannot be read."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return "another process"
    return f"process {int(text)}" if text.isdigit() else "another process"
