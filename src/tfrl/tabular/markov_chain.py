"""``MarkovChain``: a finite chain given by its transition matrix, sampled and analysed exactly.

``transition_matrix[i, j]`` is the probability of moving from state ``i`` to state ``j``; every
row is a probability distribution. The chain has no actions and no rewards (see ``FiniteMDP``).

    >>> chain = MarkovChain([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    >>> states = chain.sample(start_state=0, num_steps=1000, seed=0)   # 1001 states
    >>> frequencies = chain.empirical_transitions(states)               # close to the matrix
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfrl.errors import ConfigError
from tfrl.tabular._checks import as_generator, check_distribution_rows, check_index, check_names

__all__ = ["MarkovChain"]


class MarkovChain:
    """A Markov chain over ``num_states`` states.

    Args:
        transition_matrix: ``[S, S]`` array-like of probabilities; each row sums to 1.
        state_names: optional readable name of each state (for printing and plots).

    Raises:
        ConfigError: if the matrix is not square, has a negative or non-finite entry, or a row
            that does not sum to 1; or if ``state_names`` does not name every state once.
    """

    def __init__(self, transition_matrix: Sequence[Sequence[float]] | np.ndarray,
                 state_names: Sequence[str] | None = None) -> None:
        try:
            matrix = np.array(transition_matrix, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ConfigError(
                f"transition_matrix must be a square [S, S] array of numbers; could not read it ({error})"
            ) from None
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
            raise ConfigError(
                f"transition_matrix must be square with shape [S, S] and S >= 1, got shape {matrix.shape}; "
                f"row i holds the probabilities of moving from state i to every state"
            )
        check_distribution_rows(matrix, "transition_matrix")
        self._matrix = matrix
        self._matrix.setflags(write=False)
        self._cumulative = np.cumsum(matrix, axis=1)
        self._cumulative[:, -1] = 1.0  # guard against rounding: a uniform draw < 1 always lands
        self.state_names = check_names(state_names, matrix.shape[0], "state_names")

    @property
    def transition_matrix(self) -> np.ndarray:
        """The read-only ``[S, S]`` transition matrix."""
        return self._matrix

    @property
    def num_states(self) -> int:
        """Number of states ``S``."""
        return int(self._matrix.shape[0])

    def sample(self, start_state: int = 0, num_steps: int = 1000,
               seed: int | np.random.Generator | None = None) -> np.ndarray:
        """A trajectory of the chain: int64 array of ``num_steps + 1`` states, starting at ``start_state``.

        ``seed`` is an integer, a ``np.random.Generator`` (advanced in place) or None (fresh entropy).
        """
        start_state = check_index(start_state, self.num_states, "start_state")
        if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 0:
            raise ConfigError(f"num_steps must be a non-negative integer, got {num_steps!r}")
        rng = as_generator(seed)
        uniforms = rng.random(int(num_steps))
        states = np.empty(int(num_steps) + 1, dtype=np.int64)
        states[0] = state = start_state
        for t, u in enumerate(uniforms, start=1):
            state = int(np.searchsorted(self._cumulative[state], u, side="right"))
            states[t] = state
        return states

    def transition_counts(self, states: Sequence[int] | np.ndarray) -> np.ndarray:
        """``[S, S]`` int64 counts of each transition ``states[t] -> states[t + 1]`` in a trajectory."""
        states = np.asarray(states)
        if states.ndim != 1 or not np.issubdtype(states.dtype, np.integer):
            raise ConfigError(
                f"states must be a 1-D sequence of integer states (as returned by sample()), "
                f"got an array of shape {states.shape} and dtype {states.dtype}"
            )
        if states.size and (states.min() < 0 or states.max() >= self.num_states):
            bad = states[(states < 0) | (states >= self.num_states)][0]
            raise ConfigError(f"states contains {bad}, which is not a state of this chain (0..{self.num_states - 1})")
        counts = np.zeros((self.num_states, self.num_states), dtype=np.int64)
        np.add.at(counts, (states[:-1], states[1:]), 1)
        return counts

    def empirical_transitions(self, states: Sequence[int] | np.ndarray) -> np.ndarray:
        """``[S, S]`` relative frequencies of the transitions seen in the trajectory ``states``.

        Row ``i`` is the fraction of departures from state ``i`` that went to each state. A state
        never left in the trajectory (never visited, or only as the last state) has a row of NaN:
        there is no estimate for it, and NaN keeps it from being mistaken for one.
        """
        counts = self.transition_counts(states).astype(np.float64)
        departures = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(departures > 0, counts / departures, np.nan)

    def distribution_after(self, initial_distribution: Sequence[float] | np.ndarray, num_steps: int) -> np.ndarray:
        """The ``[S]`` distribution over states after ``num_steps`` steps from ``initial_distribution``."""
        distribution = np.array(initial_distribution, dtype=np.float64)
        if distribution.shape != (self.num_states,):
            raise ConfigError(
                f"initial_distribution must have shape ({self.num_states},), got {distribution.shape}"
            )
        check_distribution_rows(distribution[None], "initial_distribution")
        return distribution @ np.linalg.matrix_power(self._matrix, int(num_steps))

    def stationary_distribution(self) -> np.ndarray:
        """The ``[S]`` distribution ``pi`` with ``pi @ P == pi`` and ``sum(pi) == 1``.

        Solved exactly as a linear system. It is unique when the chain has a single closed
        communicating class (for example when every state can reach every other); otherwise
        a ``ConfigError`` names how many independent stationary distributions there are.
        """
        s = self.num_states
        system = self._matrix.T - np.eye(s)
        rank = np.linalg.matrix_rank(system, tol=1e-10)
        if rank < s - 1:
            raise ConfigError(
                f"this chain has {s - rank} closed classes of states, so its stationary distribution is not "
                f"unique; use distribution_after(initial_distribution, num_steps) from a chosen start instead"
            )
        # Replace one (redundant) balance equation by the normalisation sum(pi) = 1.
        system[-1, :] = 1.0
        rhs = np.zeros(s)
        rhs[-1] = 1.0
        pi = np.linalg.solve(system, rhs)
        pi = np.clip(pi, 0.0, None)  # remove -1e-17 rounding noise
        return pi / pi.sum()

    def __repr__(self) -> str:
        return f"MarkovChain(num_states={self.num_states})"
