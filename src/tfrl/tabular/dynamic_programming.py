"""Exact planning on a known ``FiniteMDP``: Q-value iteration, value iteration, policy iteration.

All three solve the Bellman optimality equation

    Q*(s, a) = sum_s' P[s, a, s'] * (R[s, a, s'] + gamma * max_a' Q*(s', a'))

where the max runs over the actions possible in ``s'``. Terminal states are zero-reward
self-loops in a ``FiniteMDP``, so their value is exactly 0 and nothing is bootstrapped from
them. Impossible actions get ``Q = -inf``.
"""

from __future__ import annotations

import numpy as np

from tfrl.errors import ConfigError
from tfrl.tabular._checks import check_gamma, check_non_negative, check_positive_int
from tfrl.tabular.mdp import FiniteMDP
from tfrl.tabular.result import TabularResult

__all__ = ["q_value_iteration", "value_iteration", "policy_iteration", "policy_evaluation", "bellman_backup"]


def _check_mdp(mdp: object) -> FiniteMDP:
    if not isinstance(mdp, FiniteMDP):
        raise ConfigError(
            f"expected a tfrl.tabular.FiniteMDP, got {type(mdp).__name__}; build one with FiniteMDP(...) "
            f"or mdp_from_gymnasium(env_id)"
        )
    return mdp


def bellman_backup(mdp: FiniteMDP, values: np.ndarray, gamma: float) -> np.ndarray:
    """``[S, A]`` one-step lookahead ``sum_s' P (R + gamma * values[s'])``; ``-inf`` where impossible."""
    q = mdp.expected_rewards + gamma * (mdp.P @ values)
    return np.where(mdp.mask, q, -np.inf)


def _initial_q(mdp: FiniteMDP) -> np.ndarray:
    return np.where(mdp.mask, 0.0, -np.inf)


def _max_change(new: np.ndarray, old: np.ndarray, mask: np.ndarray) -> float:
    return float(np.max(np.abs(new[mask] - old[mask])))


def q_value_iteration(mdp: FiniteMDP, gamma: float = 0.9, tol: float = 1e-10, max_iterations: int = 10_000,
                      record_history: bool = False) -> TabularResult:
    """Iterate ``Q <- sum_s' P (R + gamma max_a' Q(s', a'))`` from ``Q = 0`` until it stops changing.

    Args:
        mdp: the model.
        gamma: discount factor in ``[0, 1)``.
        tol: stop when no possible ``Q(s, a)`` changes by ``tol`` or more in a sweep.
        max_iterations: give up (``converged=False``) after this many sweeps.
        record_history: keep the Q table after every sweep in ``history`` (the first entry is
            the initial all-zero table).
    """
    mdp = _check_mdp(mdp)
    gamma = check_gamma(gamma)
    tol = check_non_negative(tol, "tol", positive=True)
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    q = _initial_q(mdp)
    history = [q] if record_history else None
    converged = False
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        new_q = bellman_backup(mdp, q.max(axis=1), gamma)
        change = _max_change(new_q, q, mdp.mask)
        q = new_q
        if history is not None:
            history.append(q)
        if change < tol:
            converged = True
            break
    steps = None if history is None else list(range(len(history)))
    return TabularResult.from_q(q, iteration, converged, history, steps)


def value_iteration(mdp: FiniteMDP, gamma: float = 0.9, tol: float = 1e-10, max_iterations: int = 10_000,
                    record_history: bool = False) -> TabularResult:
    """Iterate ``V <- max_a sum_s' P (R + gamma V(s'))`` from ``V = 0``; Q is read off the final V.

    Same arguments as ``q_value_iteration``; the stopping test is on ``V``, and ``history``
    holds the Q table implied by each ``V`` (one lookahead from it).
    """
    mdp = _check_mdp(mdp)
    gamma = check_gamma(gamma)
    tol = check_non_negative(tol, "tol", positive=True)
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    values = np.zeros(mdp.num_states)
    history = [_initial_q(mdp)] if record_history else None
    converged = False
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        q = bellman_backup(mdp, values, gamma)
        new_values = q.max(axis=1)
        change = float(np.max(np.abs(new_values - values)))
        values = new_values
        if history is not None:
            history.append(bellman_backup(mdp, values, gamma))
        if change < tol:
            converged = True
            break
    steps = None if history is None else list(range(len(history)))
    return TabularResult.from_q(bellman_backup(mdp, values, gamma), iteration, converged, history, steps)


def policy_evaluation(mdp: FiniteMDP, policy: np.ndarray, gamma: float = 0.9) -> np.ndarray:
    """``[S]`` exact values of a deterministic ``policy`` (``[S]`` actions), by one linear solve.

    Solves ``(I - gamma P_pi) V = r_pi`` where ``P_pi[s, s'] = P[s, policy[s], s']`` and
    ``r_pi[s]`` is the expected reward of ``policy[s]`` in ``s``.

    Raises:
        ConfigError: if ``policy`` has the wrong shape or picks an impossible action.
    """
    mdp = _check_mdp(mdp)
    gamma = check_gamma(gamma)
    policy = np.asarray(policy)
    if policy.shape != (mdp.num_states,) or not np.issubdtype(policy.dtype, np.integer):
        raise ConfigError(
            f"policy must be an integer array of shape ({mdp.num_states},) with one action per state, "
            f"got shape {policy.shape} and dtype {policy.dtype}"
        )
    states = np.arange(mdp.num_states)
    in_range = (policy >= 0) & (policy < mdp.num_actions)
    possible = np.zeros(mdp.num_states, dtype=bool)
    possible[in_range] = mdp.mask[states[in_range], policy[in_range]]
    if not possible.all():
        s = int(np.flatnonzero(~possible)[0])
        raise ConfigError(
            f"policy picks action {int(policy[s])} in state {s}, where it is not possible; "
            f"possible actions there: {mdp.possible_actions[s]}"
        )
    transition = mdp.P[states, policy]
    reward = mdp.expected_rewards[states, policy]
    return np.linalg.solve(np.eye(mdp.num_states) - gamma * transition, reward)


def policy_iteration(mdp: FiniteMDP, gamma: float = 0.9, max_iterations: int = 1_000,
                     record_history: bool = False) -> TabularResult:
    """Alternate exact policy evaluation and greedy improvement until the policy is stable.

    Starts from the lowest possible action in every state. In the improvement step a state keeps
    its current action when that action ties for the best (within 1e-12 relative), so the
    iteration cannot cycle between equally good policies; it ends when no state changes action.
    ``iterations`` counts evaluations; ``history`` holds the Q table of each evaluated policy.
    """
    mdp = _check_mdp(mdp)
    gamma = check_gamma(gamma)
    max_iterations = check_positive_int(max_iterations, "max_iterations")
    policy = np.argmax(mdp.mask, axis=1).astype(np.int64)
    states = np.arange(mdp.num_states)
    history = [_initial_q(mdp)] if record_history else None
    converged = False
    iteration = 0
    q = _initial_q(mdp)
    for iteration in range(1, max_iterations + 1):
        q = bellman_backup(mdp, policy_evaluation(mdp, policy, gamma), gamma)
        if history is not None:
            history.append(q)
        best = q.max(axis=1)
        current = q[states, policy]
        keep = current >= best - 1e-12 * np.maximum(1.0, np.abs(best))
        new_policy = np.where(keep, policy, np.argmax(q, axis=1))
        if np.array_equal(new_policy, policy):
            converged = True
            break
        policy = new_policy
    steps = None if history is None else list(range(len(history)))
    return TabularResult.from_q(q, iteration, converged, history, steps)
