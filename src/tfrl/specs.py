"""Specs and time steps: the data contract between environments, policies and agents.

A *spec* describes one array (shape without the batch dimension, dtype, and bounds for
``BoundedArraySpec``). A ``TimeStep`` is what an environment returns from ``reset`` and
``step``: ``(step_type, reward, discount, observation)``, every field batched over
``num_envs`` in the first dimension.

``discount`` carries the difference between *termination* and *truncation*:
it is 0.0 on the LAST step of an episode that terminated (the pole fell) and 1.0 on the
LAST step of an episode that was truncated (a time limit), so a target
``reward + gamma * discount * V(next)`` bootstraps through truncation but never through
termination. FIRST steps have reward 0 and discount 1.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = ["ArraySpec", "BoundedArraySpec", "StepType", "TimeStep"]


class StepType(enum.IntEnum):
    """Where a time step stands in its episode."""

    FIRST = 0
    """The first step: the observation after a reset; reward 0, discount 1."""
    MID = 1
    """Any step that is neither first nor last."""
    LAST = 2
    """The last step of an episode, terminated (discount 0) or truncated (discount 1)."""


@dataclass(frozen=True)
class ArraySpec:
    """Shape (without batch dimension) and dtype of an array, with an optional name."""

    shape: tuple[int, ...]
    dtype: np.dtype
    name: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        object.__setattr__(self, "dtype", np.dtype(self.dtype))

    def check_array(self, value: Any, batched: bool = False) -> bool:
        """True if ``value`` has this spec's shape and dtype (after a leading batch dim if ``batched``)."""
        arr = np.asarray(value)
        shape = arr.shape[1:] if batched else arr.shape
        return shape == self.shape and arr.dtype == self.dtype

    def zeros(self, batch_size: int | None = None) -> np.ndarray:
        """An array of zeros of this spec, with a leading batch dimension if ``batch_size`` is given."""
        shape = self.shape if batch_size is None else (batch_size, *self.shape)
        return np.zeros(shape, dtype=self.dtype)


@dataclass(frozen=True)
class BoundedArraySpec(ArraySpec):
    """An ``ArraySpec`` with inclusive ``minimum`` and ``maximum`` (scalars or arrays of ``shape``).

    Positional order as in TF-Agents: ``BoundedArraySpec(shape, dtype, minimum, maximum, name=...)``.
    A discrete action space of ``n`` actions is ``BoundedArraySpec((), np.int64, 0, n - 1)``.
    """

    minimum: Any = field(default=None)
    maximum: Any = field(default=None)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.minimum is None or self.maximum is None:
            raise ValueError(f"BoundedArraySpec {self.name!r} needs both minimum and maximum")
        if np.any(np.isnan(np.asarray(self.minimum, dtype=np.float64))) or np.any(
            np.isnan(np.asarray(self.maximum, dtype=np.float64))
        ):
            raise ValueError(f"BoundedArraySpec {self.name!r}: bounds must not be NaN")
        lo = np.broadcast_to(np.asarray(self.minimum, dtype=self.dtype), self.shape).copy()
        hi = np.broadcast_to(np.asarray(self.maximum, dtype=self.dtype), self.shape).copy()
        if np.any(lo > hi):
            raise ValueError(f"BoundedArraySpec {self.name!r}: minimum {lo} exceeds maximum {hi}")
        object.__setattr__(self, "minimum", lo)
        object.__setattr__(self, "maximum", hi)

    def check_array(self, value: Any, batched: bool = False) -> bool:
        """True if ``value`` matches shape and dtype and lies within the bounds."""
        if not super().check_array(value, batched):
            return False
        arr = np.asarray(value)
        return bool(np.all(arr >= self.minimum) and np.all(arr <= self.maximum))

    @property
    def is_discrete(self) -> bool:
        """True for a scalar integer spec: a choice among ``num_values`` actions."""
        return self.shape == () and np.issubdtype(self.dtype, np.integer)

    @property
    def num_values(self) -> int:
        """Number of discrete values (``maximum - minimum + 1``) of a scalar integer spec."""
        if not self.is_discrete:
            raise ValueError(f"spec {self.name!r} of shape {self.shape} and dtype {self.dtype} is not discrete")
        return int(self.maximum) - int(self.minimum) + 1

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BoundedArraySpec):
            return NotImplemented
        return (
            self.shape == other.shape
            and self.dtype == other.dtype
            and self.name == other.name
            and np.array_equal(self.minimum, other.minimum)
            and np.array_equal(self.maximum, other.maximum)
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.name))


class TimeStep(NamedTuple):
    """One step of a batch of environments: every field has leading dimension ``num_envs``.

    ``step_type`` int32, ``reward`` float32, ``discount`` float32, ``observation`` as its spec.
    """

    step_type: np.ndarray
    reward: np.ndarray
    discount: np.ndarray
    observation: Any

    def is_first(self) -> np.ndarray:
        """Boolean mask of environments at the FIRST step of an episode."""
        return np.asarray(self.step_type) == StepType.FIRST

    def is_mid(self) -> np.ndarray:
        """Boolean mask of environments in the middle of an episode."""
        return np.asarray(self.step_type) == StepType.MID

    def is_last(self) -> np.ndarray:
        """Boolean mask of environments at the LAST step of an episode."""
        return np.asarray(self.step_type) == StepType.LAST
