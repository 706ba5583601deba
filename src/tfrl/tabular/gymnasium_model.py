"""``mdp_from_gymnasium``: the exact model of a Gymnasium toy-text env as a ``FiniteMDP``.

FrozenLake, Taxi and CliffWalking publish their dynamics as ``env.unwrapped.P``, where
``P[s][a]`` is a list of ``(probability, next_state, reward, terminated)``. Entries with the
same next state are merged (probabilities added, rewards averaged by probability).

Termination: every state that some transition enters with ``terminated=True`` becomes a
terminal state of the ``FiniteMDP`` (a zero-reward self-loop), so its value is 0 and the
reward of the transition into it is received without bootstrapping: exactly Gymnasium's
``terminated`` semantics. The conversion refuses a model in which a non-terminal state enters
such a state without ``terminated=True`` (no state-based terminal set can express it); only
states reachable from the start distribution are checked (in Taxi, the states in which the
passenger already waits at the destination while the taxi is elsewhere are unreachable).

Time limits (the ``TimeLimit`` wrapper, e.g. 100 steps for FrozenLake-v1) are not part of the
model: the values are those of the untruncated task.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfrl.errors import ConfigError, UnsupportedSpaceError
from tfrl.tabular.mdp import FiniteMDP

__all__ = ["mdp_from_gymnasium"]


def mdp_from_gymnasium(env: Any, **make_kwargs: Any) -> FiniteMDP:
    """The ``FiniteMDP`` of a Gymnasium env with a tabular model ``env.unwrapped.P``.

    Args:
        env: a registered id such as ``"FrozenLake-v1"``, ``"CliffWalking-v1"``, ``"Taxi-v4"``,
            or a ``gymnasium.Env`` instance (left open).
        **make_kwargs: keyword arguments for ``gymnasium.make``, e.g. ``is_slippery=False``
            or ``map_name="8x8"``.

    Returns:
        The model, with ``terminal_states`` as described in the module docstring and
        ``initial_distribution`` taken from the env's ``initial_state_distrib`` when it has one.

    Raises:
        UnknownEnvironmentError: for an unknown id.
        ConfigError: if the env has no tabular model, or termination depends on more than the next state.
        UnsupportedSpaceError: if its observation or action space is not ``Discrete``.
    """
    import gymnasium

    if isinstance(env, str):
        from tfrl.envs.ids import check_env_id

        check_env_id(env)
        instance = gymnasium.make(env, **make_kwargs)
        try:
            return _convert(instance, env)
        finally:
            instance.close()
    if make_kwargs:
        raise ConfigError("make_kwargs apply only when env is an id string; configure the env instance yourself")
    if not isinstance(env, gymnasium.Env):
        raise ConfigError(f"env must be a Gymnasium id or a gymnasium.Env instance, got {type(env).__name__}")
    name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    return _convert(env, name)


def _convert(env: Any, name: str) -> FiniteMDP:
    import gymnasium

    model = getattr(env.unwrapped, "P", None)
    if not isinstance(model, dict):
        raise ConfigError(
            f"environment {name!r} does not publish a tabular model as env.unwrapped.P; mdp_from_gymnasium "
            f"works with toy-text envs such as FrozenLake-v1, CliffWalking-v1 and Taxi"
        )
    for label, space in (("observation", env.observation_space), ("action", env.action_space)):
        if not isinstance(space, gymnasium.spaces.Discrete) or int(space.start) != 0:
            raise UnsupportedSpaceError(
                f"environment {name!r} has {label} space {space}; mdp_from_gymnasium needs Discrete(n) starting at 0"
            )
    s, a = int(env.observation_space.n), int(env.action_space.n)
    probabilities = np.zeros((s, a, s))
    weighted_rewards = np.zeros((s, a, s))
    terminated = np.zeros((s, a, s))
    for state in range(s):
        for action in range(a):
            for probability, next_state, reward, done in model[state][action]:
                probabilities[state, action, next_state] += probability
                weighted_rewards[state, action, next_state] += probability * reward
                if done:
                    terminated[state, action, next_state] += probability
    with np.errstate(invalid="ignore", divide="ignore"):
        rewards = np.where(probabilities > 0, weighted_rewards / probabilities, 0.0)

    terminal = (terminated > 0).any(axis=(0, 1))
    initial = getattr(env.unwrapped, "initial_state_distrib", None)
    start = np.ones(s, dtype=bool) if initial is None else np.asarray(initial) > 0
    live = _reachable(probabilities, start, terminal) & ~terminal
    # From every reachable non-terminal state, arriving in a terminal state must be a termination.
    unmarked = (probabilities - terminated)[live][:, :, terminal]
    if np.any(unmarked > 1e-12):
        i, j, k = np.argwhere(unmarked > 1e-12)[0]
        source, target = np.flatnonzero(live)[i], np.flatnonzero(terminal)[k]
        raise ConfigError(
            f"environment {name!r}: state {target} is entered with terminated=True from some states but with "
            f"terminated=False from state {source} (action {j}); a FiniteMDP marks whole states as terminal, "
            f"so this model cannot be converted"
        )
    return FiniteMDP(
        probabilities,
        rewards,
        terminal_states=terminal,
        initial_distribution=None if initial is None else np.asarray(initial, dtype=np.float64),
    )


def _reachable(probabilities: np.ndarray, start: np.ndarray, terminal: np.ndarray) -> np.ndarray:
    """``[S]`` bool: states reachable from ``start`` without passing through a terminal state."""
    edges = (probabilities > 0).any(axis=1) & ~terminal[:, None]
    reached = start.copy()
    frontier = start.copy()
    while frontier.any():
        frontier = edges[frontier].any(axis=0) & ~reached
        reached |= frontier
    return reached
