"""Argument checks shared by the environment modules (they import nothing of ``tfrl.envs``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tfrl.errors import ConfigError

__all__ = ["positive_int", "check_seed"]


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` if it is an integer >= 1 (not a bool), else a ConfigError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_seed(seed: Any) -> int | None:
    """``seed`` as an ``int`` if it is an integer >= 0 (not a bool), None if it is None, else a ConfigError."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)
