"""Errors raised for bad input: each message names the problem and the fix.

The command line prints the message of any ``TfrlError`` on one line and exits with code 2.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "TfrlError",
    "UnknownEnvironmentError",
    "UnsupportedSpaceError",
    "UnsafeModelError",
    "ConfigError",
    "RunDirError",
    "MissingDependencyError",
    "closest",
    "unknown_name",
    "check_output_path",
    "os_error_message",
]


class TfrlError(Exception):
    """Base class of errors caused by the user's input rather than a bug in tfrl."""


class UnknownEnvironmentError(TfrlError, ValueError):
    """An environment id that no installed package registers."""


class UnsupportedSpaceError(TfrlError, ValueError):
    """An observation or action space that an environment adapter or agent cannot handle."""


class ConfigError(TfrlError, ValueError):
    """An unknown hyperparameter, a value of the wrong type or out of range, or a bad preset file."""


class RunDirError(TfrlError, FileNotFoundError):
    """A run directory that is missing, incomplete or corrupt."""


class MissingDependencyError(TfrlError, ImportError):
    """An environment (or a feature) that needs a package which is not installed."""


class UnsafeModelError(TfrlError, ValueError):
    """A saved model that would run arbitrary Python code when loaded (refused by Keras safe mode)."""


def closest(word: str, choices: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The ``n`` choices closest to ``word`` (case-insensitive), best first."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=cutoff)
    return [lowered[h] for h in hits]


def unknown_name(what: str, name: object, choices: Iterable[str], *, context: str = "", label: str = "Valid keys",
                 listing: str | None = None) -> str:
    """The one message for a name that is not among ``choices``: the closest ones, then the valid ones.

    ``unknown_name("algorithm", "dqm", ["dqn", "ppo"], label="Known algorithms")`` gives
    ``"unknown algorithm 'dqm'. Did you mean dqn? Known algorithms: dqn, ppo."``. ``context`` follows the
    name (``" in config file a.yaml"``); ``listing`` replaces the list where the choices are too many to
    print (``"Run 'tfrl envs' to list the installed ids."``).
    """
    choices = list(choices)
    hint = closest(str(name), choices)
    did = f" Did you mean {', '.join(hint)}?" if hint else ""
    tail = listing if listing is not None else f"{label}: {', '.join(sorted(choices))}."
    return f"unknown {what} {name!r}{context}.{did} {tail}"


_TMP_MARGIN = 32
"""Bytes that a temporary name adds to a file or directory name while tfrl writes it atomically
(``.NAME.<pid>.<hex>.tmp.SUFFIX`` in ``tfrl.fileio``, ``.NAME.<random>`` for a SavedModel directory)."""


def _limit(path: Path, name: str, default: int) -> int:
    """``os.pathconf`` value ``name`` of the nearest existing ancestor of ``path`` (``default`` if none answers)."""
    for parent in path.absolute().parents:
        try:
            return int(os.pathconf(parent, name))
        except (OSError, ValueError):
            continue
    return default


def check_output_path(path: str | os.PathLike[str], what: str = "--out", directory: bool = False,
                      example: str = "out") -> Path:
    """``path`` as a ``Path`` if tfrl can create a file (``directory=False``) or a directory there, else a
    ``ConfigError`` naming the problem and the fix.

    Refused: an empty path; a directory where a file is expected; an existing file where a directory is
    expected; a path through an existing file (``f.txt/out.png``); a name (with the room tfrl's temporary
    names take) or a whole path longer than the file system allows. ``what`` names the argument in the
    message and ``example`` is a file name to suggest.
    """
    text = os.fspath(path)
    kind = "directory" if directory else "file"
    if not str(text).strip():
        raise ConfigError(f"{what} is empty; name a {kind} (for example {what} {example})")
    path = Path(text)
    name_max, path_max = _limit(path, "PC_NAME_MAX", 255), _limit(path, "PC_PATH_MAX", 4096)
    sizes = [len(os.fsencode(part)) for part in path.parts]
    long = [size for size in sizes[:-1] if size > name_max] or (sizes and sizes[-1] + _TMP_MARGIN > name_max)
    if long or len(os.fsencode(str(path.absolute()))) + _TMP_MARGIN > path_max:
        room = f"names of at most {name_max - _TMP_MARGIN} bytes" if long else f"at most {path_max - _TMP_MARGIN} bytes"
        raise ConfigError(f"cannot write {_short(text)!r}: File name too long ({room}); choose a shorter {what}")
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"cannot write {text!r}: {str(parent)!r} is a file, not a directory; "
                              f"choose another {what}")
    if directory and path.exists() and not path.is_dir():
        raise ConfigError(f"cannot write {text!r}: it is a file, not a directory; name a directory for {what}")
    if not directory and (path.is_dir() or text.endswith(("/", os.sep)) or path.name in ("", "..")):
        raise ConfigError(f"cannot write {text!r}: it is a directory; name a file for {what} "
                          f"(for example {path / example})")
    return path


def _short(text: str, keep: int = 60) -> str:
    """``text``, or its start and end around ``...`` when it is longer than ``keep`` characters."""
    return text if len(text) <= keep else f"{text[:keep - 20]}...{text[-17:]}"


_TMP_NAME = re.compile(r"^\.(?P<stem>.*)\.\d+\.[0-9a-f]{8}\.tmp(?P<suffix>\.[^.]*)?$")
_NOT_A_DIRECTORY = "a file stands where a directory is needed; choose another path"
_FIXES = {errno.ENAMETOOLONG: "choose a shorter path", errno.ENOTDIR: _NOT_A_DIRECTORY,
          errno.EEXIST: _NOT_A_DIRECTORY, errno.EISDIR: "a directory stands where a file is needed; choose another path",
          errno.ENOENT: "check the path"}


_STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
"""A disk that is full, over quota, read-only or not ours."""


def os_error_message(exc: OSError, training: bool = False) -> str | None:
    """The one line the command line prints for ``exc``; None for an error that is not about storage or a path.

    A full, read-only or forbidden disk gives ``"No space left on device writing X; free some space ..."``
    (with ``training``, how to resume the run); any other error about a path gives ``"cannot use 'x/y.png':
    File name too long; choose a shorter path"``, naming the file tfrl meant rather than its temporary name.
    """
    if exc.errno in _STORAGE_ERRORS:
        where = f" writing {os.fsdecode(exc.filename)}" if exc.filename is not None else ""
        then = (" and resume the run with 'tfrl train --resume RUN': its newest complete checkpoint is intact"
                if training else "")
        return f"{exc.strerror}{where}; free some space (or choose a writable directory){then}"
    if not isinstance(exc.filename, (str, bytes, os.PathLike)):
        return None
    path = Path(os.fsdecode(exc.filename))
    match = _TMP_NAME.match(path.name)
    if match:
        path = path.with_name(match["stem"] + (match["suffix"] or ""))
    reason = exc.strerror or type(exc).__name__
    fix = _FIXES.get(exc.errno or 0, "check the path or choose another one")
    return f"cannot use {_short(str(path))!r}: {reason}; {fix}"
