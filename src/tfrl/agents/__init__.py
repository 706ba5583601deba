"""Agents, one module per algorithm, and ``ALGORITHMS``: the one place where they are collected.

Each algorithm module exports one descriptor, ``ALGORITHM`` (``tfrl.agents.base.Algorithm``).
``ALGORITHMS`` maps the command line's names to functions that import it, so that the command line
can list and check algorithm names before TensorFlow is imported. Adding an algorithm is one module
and one line here.
"""

from __future__ import annotations

from collections.abc import Callable

from tfrl.agents.base import Algorithm
from tfrl.errors import ConfigError, unknown_name

__all__ = ["Algorithm", "ALGORITHMS", "get_algorithm", "check_algorithm_name"]


def _dqn() -> Algorithm:
    from tfrl.agents.dqn import ALGORITHM
    return ALGORITHM


def _reinforce() -> Algorithm:
    from tfrl.agents.reinforce import ALGORITHM
    return ALGORITHM


def _a2c() -> Algorithm:
    from tfrl.agents.a2c import ALGORITHM
    return ALGORITHM


def _ppo() -> Algorithm:
    from tfrl.agents.ppo import ALGORITHM
    return ALGORITHM


def _sac() -> Algorithm:
    from tfrl.agents.sac import ALGORITHM
    return ALGORITHM


def _td3() -> Algorithm:
    from tfrl.agents.td3 import ALGORITHM
    return ALGORITHM


def _ddpg() -> Algorithm:
    from tfrl.agents.ddpg import ALGORITHM
    return ALGORITHM


def _c51() -> Algorithm:
    from tfrl.agents.c51 import ALGORITHM
    return ALGORITHM


def _qrdqn() -> Algorithm:
    from tfrl.agents.qrdqn import ALGORITHM
    return ALGORITHM


def _rainbow() -> Algorithm:
    from tfrl.agents.rainbow import ALGORITHM
    return ALGORITHM


ALGORITHMS: dict[str, Callable[[], Algorithm]] = {"dqn": _dqn, "reinforce": _reinforce, "a2c": _a2c, "ppo": _ppo,
                                                  "sac": _sac, "td3": _td3, "ddpg": _ddpg, "c51": _c51,
                                                  "qrdqn": _qrdqn, "rainbow": _rainbow}
"""Every algorithm: its name and the function that imports its descriptor."""


def get_algorithm(name: str) -> Algorithm:
    """The descriptor of the algorithm called ``name`` (any case), or a ConfigError listing the known ones."""
    return ALGORITHMS[check_algorithm_name(name)]()


def check_algorithm_name(name: str) -> str:
    """``name`` lower-cased if it names an algorithm, else the ConfigError of ``get_algorithm`` (no TensorFlow import)."""
    key = str(name).lower()
    if key not in ALGORITHMS:
        raise ConfigError(unknown_name("algorithm", name, ALGORITHMS, label="Known algorithms"))
    return key
