"""Replay storage and return computations.

``Transition`` and ``UniformReplayBuffer`` (``tfrl.data.replay``) use NumPy only; the return
functions (``tfrl.data.returns``) use TensorFlow and are imported on first access, so
``import tfrl.data`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tfrl.data.replay import Transition, UniformReplayBuffer

if TYPE_CHECKING:  # pragma: no cover
    from tfrl.data.returns import discounted_returns, n_step_returns, td_target

__all__ = ["Transition", "UniformReplayBuffer", "discounted_returns", "n_step_returns", "td_target"]

_LAZY = {"discounted_returns", "n_step_returns", "td_target", "returns"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module("tfrl.data.returns")
        return module if name == "returns" else getattr(module, name)
    raise AttributeError(f"module 'tfrl.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
