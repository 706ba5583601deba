"""``TabularResult`` (what every tabular solver returns) and ``greedy_policy``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfrl.errors import ConfigError

__all__ = ["TabularResult", "greedy_policy"]


def greedy_policy(q: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The ``[S]`` int64 greedy actions ``argmax_a q[s, a]`` over the possible actions.

    Impossible actions are those where ``mask`` is False, or (without ``mask``) where ``q`` is
    ``-inf``, as in ``TabularResult.q``. Ties go to the lowest action index.
    """
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2:
        raise ConfigError(f"q must be a [num_states, num_actions] table, got shape {q.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != q.shape:
            raise ConfigError(f"mask has shape {mask.shape} but q has shape {q.shape}; they must match")
        q = np.where(mask, q, -np.inf)
    return np.argmax(q, axis=1).astype(np.int64)


@dataclass(frozen=True)
class TabularResult:
    """The outcome of a tabular solver or learner.

    ``history`` holds snapshots of the Q table for plotting learning curves, e.g.
    ``plt.plot(result.history_steps, result.history[:, 0, 0])`` for ``Q(s0, a0)``.
    """

    q: np.ndarray
    """``[S, A]`` action values; ``-inf`` for actions impossible in a state."""
    values: np.ndarray
    """``[S]`` state values ``max_a q[s, a]`` over the possible actions."""
    policy: np.ndarray
    """``[S]`` int64 greedy actions (ties to the lowest index)."""
    iterations: int
    """Sweeps done by a planner; environment steps done by a learner."""
    converged: bool | None
    """Planners: True if the stopping test passed before ``max_iterations``. Learners: None (no test)."""
    history: np.ndarray | None = None
    """``[T, S, A]`` Q table snapshots (the first is the initial table), or None when not recorded."""
    history_steps: np.ndarray | None = None
    """``[T]`` iteration or step count of each snapshot in ``history``."""
    episode_returns: np.ndarray | None = None
    """Learners: undiscounted return of each finished episode, in order (empty for a continuing task)."""

    @classmethod
    def from_q(cls, q: np.ndarray, iterations: int, converged: bool | None,
               history: list[np.ndarray] | None = None, history_steps: list[int] | None = None,
               episode_returns: list[float] | None = None) -> TabularResult:
        """A result whose ``values`` and ``policy`` are read off ``q`` (``-inf`` marks impossible actions)."""
        q = np.array(q, dtype=np.float64)
        return cls(
            q=q,
            values=q.max(axis=1),
            policy=greedy_policy(q),
            iterations=int(iterations),
            converged=converged,
            history=None if history is None else np.stack(history),
            history_steps=None if history_steps is None else np.asarray(history_steps, dtype=np.int64),
            episode_returns=None if episode_returns is None else np.asarray(episode_returns, dtype=np.float64),
        )
