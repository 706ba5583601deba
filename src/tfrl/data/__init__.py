"""Replay and rollout storage, and return computations.

``Transition`` and ``UniformReplayBuffer`` (``tfrl.data.replay``), ``FrameStackReplayBuffer``
(``tfrl.data.frame_replay``: frame-stacked observations stored one frame per transition), ``PrioritizedBatch``
(what their ``sample_prioritized`` returns, ``tfrl.data.ring``) and ``RolloutBuffer``,
``RolloutBatch``, ``Episode`` and ``episodes`` (``tfrl.data.rollout``) use NumPy only; the return
functions (``tfrl.data.returns``) use TensorFlow and are imported on first access (``tfrl.data.lazy``), so
``import tfrl.data`` stays light. Both replay buffers build on ``tfrl.data.ring`` (the ring, its checks,
sampling and checkpoints) and ``tfrl.data.nstep`` (the uniform draws and the n-step walk); the replay and
rollout buffers share ``tfrl.data.storage`` (the specs and the checks of the arrays they are given).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tfrl.data import lazy
from tfrl.data.frame_replay import FrameStackReplayBuffer
from tfrl.data.replay import Transition, UniformReplayBuffer
from tfrl.data.ring import PrioritizedBatch
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
    "PrioritizedBatch",
    "Episode",
    "RolloutBatch",
    "RolloutBuffer",
    "episodes",
    *lazy.RETURN_FUNCTIONS,
]

_LAZY = {*lazy.RETURN_FUNCTIONS, "returns"}


def __getattr__(name: str) -> Any:
    """The return functions (and ``returns``) on first access: they import TensorFlow."""
    if name in _LAZY:
        return lazy.load(name)
    raise AttributeError(f"module 'tfrl.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazily loaded ones included."""
    return sorted(set(globals()) | _LAZY)
