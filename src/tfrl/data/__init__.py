"""Replay and rollout storage, and return computations.

``Transition`` and ``UniformReplayBuffer`` (``tfrl.data.replay``), ``FrameStackReplayBuffer``
(``tfrl.data.frame_replay``: frame-stacked observations stored one frame per transition) and ``RolloutBuffer``,
``RolloutBatch``, ``Episode`` and ``episodes`` (``tfrl.data.rollout``) use NumPy only; the return
functions (``tfrl.data.returns``) use TensorFlow and are imported on first access, so
``import tfrl.data`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tfrl.data.frame_replay import FrameStackReplayBuffer
from tfrl.data.replay import Transition, UniformReplayBuffer
from tfrl.data.rollout import Episode, RolloutBatch, RolloutBuffer, episodes

if TYPE_CHECKING:  # pragma: no cover
    from tfrl.data.returns import (
        bootstrapped_returns,
        discount_and_normalize,
        discounted_returns,
        episode_returns,
        gae,
        n_step_returns,
        normalize,
        td_target,
    )

__all__ = [
    "Transition",
    "UniformReplayBuffer",
    "FrameStackReplayBuffer",
    "Episode",
    "RolloutBatch",
    "RolloutBuffer",
    "episodes",
    "bootstrapped_returns",
    "discount_and_normalize",
    "discounted_returns",
    "episode_returns",
    "gae",
    "n_step_returns",
    "normalize",
    "td_target",
]

_LAZY = {
    "bootstrapped_returns",
    "discount_and_normalize",
    "discounted_returns",
    "episode_returns",
    "gae",
    "n_step_returns",
    "normalize",
    "td_target",
    "returns",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module("tfrl.data.returns")
        return module if name == "returns" else getattr(module, name)
    raise AttributeError(f"module 'tfrl.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY)
