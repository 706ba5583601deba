"""What the replay and rollout buffers share: the specs they store and the checks of the arrays they get.

Every buffer stores rows of ``num_envs`` transitions, one per environment of a vector step, so every
array it is given has ``num_envs`` first and then the spec's shape. ``VectorStorage`` holds the
settings that describe such a row (``num_envs`` and the two specs) and checks the arrays against
them: shapes on every call, dtypes on the first one.

NumPy only: importing this module does not import TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from tfrl.errors import ConfigError
from tfrl.specs import ArraySpec

__all__ = ["VectorStorage", "castable"]


def castable(src: np.dtype, dst: np.dtype) -> bool:
    """True if values of ``src`` may be stored in ``dst`` without changing their kind."""
    if np.can_cast(src, dst, casting="same_kind"):
        return True
    return np.issubdtype(src, np.integer) and np.issubdtype(dst, np.integer)


class VectorStorage:
    """Base of the buffers that store one row of ``num_envs`` transitions per vector step.

    A subclass sets ``_num_envs``, ``_observation_spec``, ``_action_spec``, ``_shapes`` (the expected
    shape of each array it is given, ``num_envs`` first) and ``_checked = False``, and names itself in
    error messages with ``_OWNER``.
    """

    _OWNER = "buffer"
    _num_envs: int
    _observation_spec: ArraySpec
    _action_spec: ArraySpec
    _shapes: dict[str, tuple[int, ...]]
    _checked: bool

    @property
    def num_envs(self) -> int:
        """Number of environments written by each ``add`` (``N``, environments per vector step)."""
        return self._num_envs

    @property
    def observation_spec(self) -> ArraySpec:
        """Spec of one stored observation (a whole stack of frames for ``FrameStackReplayBuffer``)."""
        return self._observation_spec

    @property
    def action_spec(self) -> ArraySpec:
        """Spec of one stored action."""
        return self._action_spec

    def _check_shape(self, key: str, value: Any) -> np.ndarray:
        """``value`` as an array, which must have the shape ``_shapes[key]``."""
        array = np.asarray(value)
        if array.shape != self._shapes[key]:
            raise ConfigError(
                f"{self._OWNER}: {key} has shape {array.shape}, expected {self._shapes[key]} "
                f"(num_envs={self._num_envs} first, then the spec's shape); "
                "pass batched arrays from the vector environment"
            )
        return array

    def _check_dtypes(self, values: Mapping[str, np.ndarray | None], booleans: Iterable[str] = ()) -> None:
        """Check the dtypes of the first row given, then mark the buffer checked.

        Observations and actions must be storable as their spec's dtype, the keys in ``booleans``
        boolean and every other key a float; a value of None (an optional array not given) is skipped.
        """
        observation_dtype, booleans = self._observation_spec.dtype, tuple(booleans)
        expected = {"observation": observation_dtype, "next_observation": observation_dtype,
                    "action": self._action_spec.dtype}
        for key, dtype in expected.items():
            value = values.get(key)
            if value is not None and not castable(value.dtype, dtype):
                raise ConfigError(
                    f"{self._OWNER}: {key} has dtype {value.dtype}, which cannot be stored as the "
                    f"spec's dtype {dtype}; convert it or fix the spec"
                )
        for key, value in values.items():
            if key in expected or key in booleans or value is None:
                continue
            if not castable(value.dtype, np.dtype(np.float32)):
                raise ConfigError(f"{self._OWNER}: {key} has dtype {value.dtype}, expected a float array")
        for key in booleans:
            value = values[key]
            if value is not None and value.dtype != bool:
                raise ConfigError(f"{self._OWNER}: {key} has dtype {value.dtype}, expected a boolean array")
        self._checked = True
