"""Errors raised for bad input: each message names the problem and the fix.

The command line prints the message of any ``TfrlError`` on one line and exits with code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "TfrlError",
    "UnknownEnvironmentError",
    "UnsupportedSpaceError",
    "UnsafeModelError",
    "ConfigError",
    "RunDirError",
    "closest",
    "unknown_name",
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
