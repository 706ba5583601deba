"""Input checks shared by the tabular modules; each failure is a ``ConfigError`` naming the fix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfrl.errors import ConfigError

PROBABILITY_ATOL = 1e-8
"""How far a row of probabilities may sum from 1 (rounding in hand-written tables)."""


def check_distribution_rows(rows: np.ndarray, name: str, row_names: Sequence[str] | None = None) -> None:
    """Raise unless every row of the 2-D ``rows`` is finite, non-negative and sums to 1."""
    labels = row_names if row_names is not None else [f"{name}[{i}]" for i in range(len(rows))]
    for label, row in zip(labels, rows):
        if not np.all(np.isfinite(row)):
            raise ConfigError(f"{label} contains a non-finite probability ({row.tolist()}); use numbers in [0, 1]")
        if np.any(row < 0):
            raise ConfigError(
                f"{label} contains a negative probability {float(row.min())} ({row.tolist()}); "
                f"probabilities must lie in [0, 1]"
            )
        total = float(row.sum())
        if abs(total - 1.0) > PROBABILITY_ATOL:
            raise ConfigError(
                f"{label} sums to {total:.10g}, not 1 ({row.tolist()}); each row must be a probability "
                f"distribution over next states, so fix the numbers so that they add up to 1"
            )


def check_index(value: object, size: int, name: str) -> int:
    """``value`` as an int in ``[0, size)``, or a ``ConfigError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer in 0..{size - 1}, got {value!r}")
    if not 0 <= int(value) < size:
        raise ConfigError(f"{name} {int(value)} is out of range; valid values are 0..{size - 1}")
    return int(value)


def check_names(names: Sequence[str] | None, size: int, what: str) -> list[str] | None:
    """``names`` as a list of ``size`` distinct strings, or None."""
    if names is None:
        return None
    names = [str(n) for n in names]
    if len(names) != size:
        raise ConfigError(f"{what} has {len(names)} names but there are {size}; give exactly one name each")
    if len(set(names)) != size:
        raise ConfigError(f"{what} contains duplicate names {names}; give each a distinct name")
    return names


def check_gamma(gamma: float) -> float:
    """``gamma`` as a float in ``[0, 1)``, or a ``ConfigError``."""
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating, np.integer)):
        raise ConfigError(f"gamma must be a number in [0, 1), got {gamma!r}")
    if not 0.0 <= float(gamma) < 1.0:
        raise ConfigError(
            f"gamma must lie in [0, 1), got {gamma}; the exact solvers need gamma < 1 for the values "
            f"to be finite (use e.g. 0.999 for an almost undiscounted task)"
        )
    return float(gamma)


def check_positive_int(value: object, name: str, allow_zero: bool = False) -> int:
    """``value`` as an int ``> 0`` (``>= 0`` with ``allow_zero``), or a ``ConfigError``."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < low:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{name} must be {kind} integer, got {value!r}")
    return int(value)


def check_non_negative(value: object, name: str, positive: bool = False) -> float:
    """``value`` as a finite float ``>= 0`` (``> 0`` with ``positive``), or a ``ConfigError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ConfigError(f"{name} must be a finite number {bound}, got {value}")
    return value


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A NumPy generator from an int seed, a generator (returned as is) or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ConfigError(f"seed must be a non-negative integer, a np.random.Generator or None, got {seed!r}")
    return np.random.default_rng(seed)
