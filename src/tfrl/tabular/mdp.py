"""``FiniteMDP``: a Markov decision process with finitely many states and actions, as arrays.

The model is three arrays:

* ``P[s, a, s']``: probability that action ``a`` in state ``s`` leads to ``s'`` (zeros for an
  action that is impossible in ``s``);
* ``R[s, a, s']``: reward received on that transition (0 where it cannot happen);
* ``mask[s, a]``: True where action ``a`` is possible in state ``s``.

Tables can be written by hand as nested lists in which an impossible action is ``None``
(the three-state MDP of Géron, *Hands-On Machine Learning*, ch. 18):

    >>> mdp = FiniteMDP(
    ...     [[[0.7, 0.3, 0.0], [1.0, 0.0, 0.0], [0.8, 0.2, 0.0]],
    ...      [[0.0, 1.0, 0.0], None, [0.0, 0.0, 1.0]],
    ...      [None, [0.8, 0.1, 0.1], None]],
    ...     [[[10, 0, 0], [0, 0, 0], [0, 0, 0]],
    ...      [[0, 0, 0], [0, 0, 0], [0, 0, -50]],
    ...      [[0, 0, 0], [40, 0, 0], [0, 0, 0]]])
    >>> mdp.possible_actions
    [[0, 1, 2], [0, 2], [1]]

Episodes: a state listed in ``terminal_states`` ends the episode on arrival. Its row is a
zero-reward self-loop for every action, so its value is exactly 0 and nothing is ever
bootstrapped from it: the Gymnasium meaning of ``terminated=True``. The learners
(``q_learning``, ``sarsa``) restart from ``initial_distribution`` when they reach one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tfrl.errors import ConfigError
from tfrl.tabular._checks import as_generator, check_distribution_rows, check_index, check_names

__all__ = ["FiniteMDP"]


def _as_table(table: Any, name: str, zero_rows_missing: bool) -> tuple[np.ndarray, np.ndarray]:
    """A nested list (with ``None`` rows) or an array as ``([S, A, S'] float array, [S, A] given-mask)``.

    A row is *given* when it is not None; in an array, with ``zero_rows_missing``, when it is not all zeros.
    """
    if isinstance(table, np.ndarray) or not _has_none(table):
        try:
            array = np.array(table, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{name} must be a [num_states][num_actions][num_states] table of numbers (None for an impossible "
                f"action); its rows have different lengths or contain something that is not a number"
            ) from None
        if array.ndim != 3:
            raise ConfigError(
                f"{name} must have 3 dimensions [num_states, num_actions, num_states], got shape {array.shape}"
            )
        if zero_rows_missing:
            return array, (array != 0).any(axis=2)
        return array, np.ones(array.shape[:2], dtype=bool)
    if not isinstance(table, Sequence):
        raise ConfigError(f"{name} must be a nested list or an array, got {type(table).__name__}")
    s = len(table)
    widths = {len(per_state) for per_state in table if per_state is not None}
    if any(per_state is None for per_state in table) or len(widths) != 1:
        raise ConfigError(
            f"{name} must list the same number of actions for every state (None for each impossible action); "
            f"got {[None if p is None else len(p) for p in table]} actions per state"
        )
    a = widths.pop()
    array = np.zeros((s, a, s))
    given = np.zeros((s, a), dtype=bool)
    for i, per_state in enumerate(table):
        for j, row in enumerate(per_state):
            if row is None:
                continue
            try:
                values = np.array(row, dtype=np.float64)
            except (TypeError, ValueError):
                raise ConfigError(f"{name}[{i}][{j}] must be a list of numbers or None, got {row!r}") from None
            if values.shape != (s,):
                raise ConfigError(
                    f"{name}[{i}][{j}] has {values.size} entries but there are {s} states; "
                    f"give one number per next state"
                )
            array[i, j] = values
            given[i, j] = True
    return array, given


def _has_none(table: Any) -> bool:
    """True if a nested list contains ``None`` at its first or second level."""
    if not isinstance(table, (list, tuple)):
        return False
    return any(
        per_state is None or (isinstance(per_state, (list, tuple)) and any(row is None for row in per_state))
        for per_state in table
    )


class FiniteMDP:
    """A finite MDP: ``P[s, a, s']``, ``R[s, a, s']`` and ``mask[s, a]`` as NumPy arrays.

    Args:
        transition_probabilities: ``[S][A][S']`` nested list in which an impossible action's row
            is ``None``, or an array ``[S, A, S']`` (a row of zeros marks an impossible action).
            Each possible action's row sums to 1 (within 1e-8; it is then rescaled to sum exactly to 1).
        rewards: ``[S][A][S']`` nested list (``None`` rows allowed and ignored), an array
            ``[S, A, S']``, or an array ``[S, A]`` of rewards that do not depend on the next state.
        possible_actions: the allowed actions of each state, e.g. ``[[0, 1, 2], [0, 2], [1]]``.
            When omitted they are the actions whose probability row is given (not None; in an
            array, not all zeros). Rows of actions left out are ignored.
        terminal_states: states that end an episode on arrival (indices, or a ``[S]`` boolean
            mask). Their rows may be None or anything: they are replaced by a zero-reward
            self-loop, and every action counts as possible there.
        initial_distribution: ``[S]`` distribution of the start state of an episode (default:
            always state 0). Used by ``q_learning``/``sarsa`` and ``sample_start``.
        state_names: optional readable name of each state.
        action_names: optional readable name of each action.

    Attributes:
        num_states, num_actions: ``S`` and ``A``.
        P: ``[S, A, S']`` float64 probabilities, zeros for impossible actions (read-only).
        R: ``[S, A, S']`` float64 rewards, zeros where ``P`` is 0 for an impossible action (read-only).
        mask: ``[S, A]`` bool, True where the action is possible (read-only).
        terminal_states: ``[S]`` bool, True for terminal states (read-only).
        initial_distribution: ``[S]`` float64 start distribution (read-only).

    Raises:
        ConfigError: for mismatched shapes, a negative probability, a possible action whose row
            does not sum to 1, an out-of-range or unavailable action in ``possible_actions``, a
            non-terminal state without possible actions, or a non-finite reward.
    """

    def __init__(
        self,
        transition_probabilities: Any,
        rewards: Any,
        possible_actions: Sequence[Sequence[int]] | None = None,
        terminal_states: Sequence[int] | np.ndarray | None = None,
        initial_distribution: Sequence[float] | np.ndarray | None = None,
        state_names: Sequence[str] | None = None,
        action_names: Sequence[str] | None = None,
    ) -> None:
        p, p_given = _as_table(transition_probabilities, "transition_probabilities", zero_rows_missing=True)
        s, a = p.shape[0], p.shape[1]
        if p.shape[2] != s or s == 0 or a == 0:
            raise ConfigError(
                f"transition_probabilities must have shape [num_states, num_actions, num_states] with the same "
                f"number of states in the first and last place, got shape {p.shape}"
            )
        terminal = self._terminal_mask(terminal_states, s)

        if possible_actions is None:
            mask = p_given.copy()
        else:
            mask = self._mask_from_lists(possible_actions, s, a, p_given)
        mask[terminal] = True

        r = self._rewards(rewards, p.shape, mask & ~terminal[:, None])
        live = mask & ~terminal[:, None]
        labels = [f"transition_probabilities[{i}][{j}]" for i, j in zip(*np.nonzero(live))]
        check_distribution_rows(p[live], "transition_probabilities", labels)
        for i in np.flatnonzero(~mask.any(axis=1)):
            raise ConfigError(
                f"state {i} has no possible action; give it at least one (a self-loop with reward 0 makes it "
                f"absorbing), or list it in terminal_states"
            )
        p = np.where(live[:, :, None], p, 0.0)
        p[live] /= p[live].sum(axis=1, keepdims=True)
        r = np.where(live[:, :, None], r, 0.0)
        for i in np.flatnonzero(terminal):
            p[i, :, i] = 1.0

        if initial_distribution is None:
            start = np.zeros(s)
            start[0] = 1.0
        else:
            start = np.array(initial_distribution, dtype=np.float64)
            if start.shape != (s,):
                raise ConfigError(f"initial_distribution must have shape ({s},), got {start.shape}")
            check_distribution_rows(start[None], "initial_distribution", ["initial_distribution"])

        self.num_states = int(s)
        self.num_actions = int(a)
        self.P = p
        self.R = r
        self.mask = mask
        self.terminal_states = terminal
        self.initial_distribution = start
        for array in (self.P, self.R, self.mask, self.terminal_states, self.initial_distribution):
            array.setflags(write=False)
        self.state_names = check_names(state_names, s, "state_names")
        self.action_names = check_names(action_names, a, "action_names")
        self._cumulative = np.cumsum(p, axis=2)
        self._cumulative[:, :, -1] = np.where(mask, 1.0, 0.0)  # guard against rounding
        self._start_cumulative = np.cumsum(start)
        self._start_cumulative[-1] = 1.0

    @staticmethod
    def _terminal_mask(terminal_states: Sequence[int] | np.ndarray | None, s: int) -> np.ndarray:
        terminal = np.zeros(s, dtype=bool)
        if terminal_states is None:
            return terminal
        given = np.asarray(terminal_states)
        if given.dtype == bool:
            if given.shape != (s,):
                raise ConfigError(f"terminal_states as a boolean mask must have shape ({s},), got {given.shape}")
            return given.copy()
        for index in given.reshape(-1).tolist():
            terminal[check_index(index, s, "terminal state")] = True
        return terminal

    @staticmethod
    def _mask_from_lists(possible_actions: Sequence[Sequence[int]], s: int, a: int, p_given: np.ndarray) -> np.ndarray:
        if len(possible_actions) != s:
            raise ConfigError(
                f"possible_actions has {len(possible_actions)} lists but there are {s} states; "
                f"give one list of allowed actions per state"
            )
        mask = np.zeros((s, a), dtype=bool)
        for i, actions in enumerate(possible_actions):
            for action in actions:
                action = check_index(action, a, f"possible_actions[{i}] action")
                if not p_given[i, action]:
                    raise ConfigError(
                        f"possible_actions[{i}] lists action {action}, but transition_probabilities[{i}][{action}] "
                        f"is None or all zeros; give that row or remove the action from the list"
                    )
                mask[i, action] = True
        return mask

    @staticmethod
    def _rewards(rewards: Any, shape: tuple[int, ...], needed: np.ndarray) -> np.ndarray:
        s, a, _ = shape
        if isinstance(rewards, np.ndarray) or not _has_none(rewards):
            try:
                r = np.array(rewards, dtype=np.float64)
            except (TypeError, ValueError):
                raise ConfigError(
                    "rewards must be a [num_states][num_actions][num_states] table of numbers "
                    "(None for an impossible action) or a [num_states, num_actions] array"
                ) from None
            if r.shape == (s, a):
                r = np.repeat(r[:, :, None], s, axis=2)
            given = np.ones((s, a), dtype=bool)
        else:
            r, given = _as_table(rewards, "rewards", zero_rows_missing=False)
        if r.shape != shape:
            raise ConfigError(
                f"rewards has shape {r.shape} but transition_probabilities has shape {shape}; give one reward "
                f"per (state, action, next state), or a [{s}, {a}] array of rewards per (state, action)"
            )
        for i, j in zip(*np.nonzero(needed & ~given)):
            raise ConfigError(f"rewards[{i}][{j}] is None but action {j} is possible in state {i}; give its rewards")
        if not np.all(np.isfinite(r[needed])):
            raise ConfigError(
                "rewards contains a non-finite value (inf or NaN) for a possible action; use finite rewards"
            )
        return r

    @property
    def possible_actions(self) -> list[list[int]]:
        """The allowed actions of each state, as lists."""
        return [np.flatnonzero(row).tolist() for row in self.mask]

    @property
    def expected_rewards(self) -> np.ndarray:
        """``[S, A]`` expected immediate reward ``sum_s' P[s, a, s'] R[s, a, s']`` (0 where impossible)."""
        return np.einsum("ijk,ijk->ij", self.P, self.R)

    def sample_start(self, rng: int | np.random.Generator | None = None) -> int:
        """A start state drawn from ``initial_distribution``."""
        u = as_generator(rng).random()
        return int(np.searchsorted(self._start_cumulative, u, side="right"))

    def step(self, state: int, action: int, rng: int | np.random.Generator | None = None) -> tuple[int, float]:
        """Sample one transition: ``(next_state, reward)`` after ``action`` in ``state``.

        ``rng`` is a ``np.random.Generator`` (advanced in place), an int seed, or None.

        Raises:
            ConfigError: if the state or action is out of range or the action is impossible there.
        """
        state = check_index(state, self.num_states, "state")
        action = check_index(action, self.num_actions, "action")
        if not self.mask[state, action]:
            raise ConfigError(
                f"action {action} is not possible in state {state}; possible actions there: "
                f"{self.possible_actions[state]}"
            )
        u = as_generator(rng).random()
        next_state = int(np.searchsorted(self._cumulative[state, action], u, side="right"))
        return next_state, float(self.R[state, action, next_state])

    def __repr__(self) -> str:
        terminal = int(self.terminal_states.sum())
        return f"FiniteMDP(num_states={self.num_states}, num_actions={self.num_actions}, terminal_states={terminal})"
