"""Tabular temporal-difference control: Q-learning (off-policy) and SARSA (on-policy).

Both update one table entry per transition ``(s, a, r, s')``:

    Q(s, a) <- Q(s, a) + alpha_t * (target - Q(s, a)),   alpha_t = learning_rate / (1 + lr_decay * t)

with ``target = r + gamma * discount * max_a' Q(s', a')`` for Q-learning and
``target = r + gamma * discount * Q(s', a')`` for SARSA, where ``a'`` is the action the
behaviour policy picks in ``s'`` (and then takes, unless the episode ended). ``discount`` is 0
when ``s'`` ends the episode by termination and 1 otherwise, so a truncated episode is
bootstrapped and a terminated one is not.

They learn from either source:

* a ``FiniteMDP``, sampled directly. Without terminal states the task is continuing: one
  never-ending trajectory from a start state drawn from ``initial_distribution``. Arriving in a
  terminal state ends the episode (no bootstrap); ``max_episode_steps`` ends it by truncation
  (bootstrap). After either, the next step starts from a fresh start state.
* a tfrl ``Environment`` with ``Discrete`` observations and actions (``tfrl.envs.make(
  "FrozenLake-v1")``, ``"CliffWalking-v1"``, ``"Taxi-v4"``), stepped in lock-step for any
  ``num_envs``. ``TimeStep.discount`` separates termination from truncation, and the
  auto-reset step (LAST followed by FIRST) is not learned from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tfrl.errors import ConfigError, UnsupportedSpaceError
from tfrl.tabular._checks import check_gamma, check_non_negative, check_positive_int
from tfrl.tabular.mdp import FiniteMDP
from tfrl.tabular.result import TabularResult

__all__ = ["q_learning", "sarsa"]

DEFAULT_EPSILON = 0.1
"""Exploration of the epsilon-greedy behaviour policy when neither ``exploration`` nor ``epsilon`` is given."""


class _Behaviour:
    """Picks actions: uniformly among the allowed ones, or epsilon-greedy with random tie-breaking."""

    def __init__(self, allowed: list[np.ndarray], epsilon: float, rng: np.random.Generator) -> None:
        self._allowed = allowed
        self._epsilon = epsilon
        self._rng = rng

    def __call__(self, q: np.ndarray, state: int) -> int:
        allowed = self._allowed[state]
        if self._epsilon >= 1.0 or self._rng.random() < self._epsilon:
            return int(allowed[self._rng.integers(len(allowed))])
        row = q[state]
        best = np.flatnonzero(row == row.max())
        return int(best[0] if len(best) == 1 else best[self._rng.integers(len(best))])


def _resolve_epsilon(exploration: float | str | None, epsilon: float | None) -> float:
    if exploration is not None and epsilon is not None:
        raise ConfigError("give either exploration or epsilon, not both (epsilon=e is the same as exploration=e)")
    choice = exploration if exploration is not None else epsilon
    if choice is None:
        return DEFAULT_EPSILON
    if isinstance(choice, str):
        if choice != "random":
            raise ConfigError(
                f"unknown exploration {choice!r}; use 'random' (uniform random actions) or a float epsilon in [0, 1] "
                f"for epsilon-greedy"
            )
        return 1.0
    value = check_non_negative(choice, "epsilon")
    if value > 1.0:
        raise ConfigError(f"epsilon must lie in [0, 1], got {value}")
    return value


def _schedule(learning_rate: float, lr_decay: float) -> tuple[float, float]:
    return check_non_negative(learning_rate, "learning_rate", positive=True), check_non_negative(lr_decay, "lr_decay")


class _History:
    """Snapshots of the Q table every ``every`` steps (none when ``every`` is 0)."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.tables: list[np.ndarray] = []
        self.steps: list[int] = []

    def maybe_record(self, q: np.ndarray, step: int, final: bool = False) -> None:
        if self.every and (step % self.every == 0 or final) and (not self.steps or self.steps[-1] != step):
            self.tables.append(q.copy())
            self.steps.append(step)

    def result(self, q: np.ndarray, num_steps: int, returns: list[float]) -> TabularResult:
        self.maybe_record(q, num_steps, final=True)
        tables = self.tables if self.every else None
        steps = self.steps if self.every else None
        return TabularResult.from_q(q, num_steps, None, tables, steps, returns)


def _learn_on_mdp(mdp: FiniteMDP, on_policy: bool, gamma: float, num_steps: int, learning_rate: float,
                  lr_decay: float, epsilon: float, rng: np.random.Generator, history: _History,
                  initial_q: float, max_episode_steps: int | None) -> TabularResult:
    q = np.where(mdp.mask, initial_q, -np.inf)
    q[mdp.terminal_states] = 0.0  # every action is possible in a terminal state, and worth 0
    choose = _Behaviour([np.flatnonzero(row) for row in mdp.mask], epsilon, rng)
    cumulative = np.cumsum(mdp.P, axis=2)
    cumulative[:, :, -1] = 1.0  # a uniform draw in [0, 1) always lands on a state
    terminal = mdp.terminal_states
    returns: list[float] = []
    state = mdp.sample_start(rng)
    action = choose(q, state)
    episode_length, episode_return = 0, 0.0
    history.maybe_record(q, 0)
    for t in range(num_steps):
        alpha = learning_rate / (1.0 + lr_decay * t)
        next_state = int(np.searchsorted(cumulative[state, action], rng.random(), side="right"))
        reward = mdp.R[state, action, next_state]
        episode_length += 1
        episode_return += reward
        next_action = choose(q, next_state)
        if terminal[next_state]:
            target = reward
        else:
            bootstrap = q[next_state, next_action] if on_policy else q[next_state].max()
            target = reward + gamma * bootstrap
        q[state, action] += alpha * (target - q[state, action])
        if terminal[next_state] or (max_episode_steps is not None and episode_length >= max_episode_steps):
            returns.append(episode_return)
            episode_length, episode_return = 0, 0.0
            next_state = mdp.sample_start(rng)
            next_action = choose(q, next_state)
        state, action = next_state, next_action
        history.maybe_record(q, t + 1)
    return history.result(q, num_steps, returns)


def _discrete_size(spec: Any, what: str) -> tuple[int, int]:
    if not getattr(spec, "is_discrete", False):
        raise UnsupportedSpaceError(
            f"tabular learning needs a Discrete {what} space, but the environment's {what} spec is {spec}; "
            f"use an env such as FrozenLake-v1, CliffWalking-v1 or Taxi-v4"
        )
    return int(spec.minimum), spec.num_values


def _learn_on_env(env: Any, on_policy: bool, gamma: float, num_steps: int, learning_rate: float,
                  lr_decay: float, epsilon: float, rng: np.random.Generator, history: _History,
                  initial_q: float, seed: int | None) -> TabularResult:
    obs_low, num_states = _discrete_size(env.observation_spec(), "observation")
    act_low, num_actions = _discrete_size(env.action_spec(), "action")
    q = np.full((num_states, num_actions), float(initial_q))
    choose = _Behaviour([np.arange(num_actions)] * num_states, epsilon, rng)
    n = env.num_envs
    time_step = env.reset(seed=seed)
    states = np.asarray(time_step.observation, dtype=np.int64) - obs_low
    actions = np.array([choose(q, s) for s in states], dtype=np.int64)
    episode_returns = np.zeros(n)
    returns: list[float] = []
    history.maybe_record(q, 0)
    for t in range(num_steps):
        alpha = learning_rate / (1.0 + lr_decay * t)
        next_step = env.step(actions + act_low)
        next_states = np.asarray(next_step.observation, dtype=np.int64) - obs_low
        next_actions = np.array([choose(q, s) for s in next_states], dtype=np.int64)
        learn = ~time_step.is_last()  # LAST -> FIRST is an auto-reset, not a transition
        finished = next_step.is_last()
        for i in np.flatnonzero(learn):
            s, a, s2 = states[i], actions[i], next_states[i]
            reward, discount = float(next_step.reward[i]), float(next_step.discount[i])
            bootstrap = q[s2, next_actions[i]] if on_policy else q[s2].max()
            q[s, a] += alpha * (reward + gamma * discount * bootstrap - q[s, a])
            episode_returns[i] += reward
            if finished[i]:
                returns.append(float(episode_returns[i]))
                episode_returns[i] = 0.0
        time_step, states, actions = next_step, next_states, next_actions
        history.maybe_record(q, t + 1)
    return history.result(q, num_steps, returns)


def _td_control(source: Any, on_policy: bool, gamma: float, num_steps: int, learning_rate: float,
                lr_decay: float, exploration: float | str | None, epsilon: float | None, seed: int | None,
                history_every: int | None, initial_q: float, max_episode_steps: int | None) -> TabularResult:
    gamma = check_gamma(gamma)
    num_steps = check_positive_int(num_steps, "num_steps")
    learning_rate, lr_decay = _schedule(learning_rate, lr_decay)
    epsilon = _resolve_epsilon(exploration, epsilon)
    if isinstance(initial_q, bool) or not isinstance(initial_q, (int, float)) or not np.isfinite(initial_q):
        raise ConfigError(f"initial_q must be a finite number, got {initial_q!r}")
    if history_every is None:
        history_every = max(1, num_steps // 100)
    history = _History(check_positive_int(history_every, "history_every", allow_zero=True))
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")
    rng = np.random.default_rng(seed)
    if isinstance(source, FiniteMDP):
        if max_episode_steps is not None:
            max_episode_steps = check_positive_int(max_episode_steps, "max_episode_steps")
        return _learn_on_mdp(source, on_policy, gamma, num_steps, learning_rate, lr_decay, epsilon, rng,
                             history, float(initial_q), max_episode_steps)
    from tfrl.envs.core import Environment

    if isinstance(source, Environment):
        if max_episode_steps is not None:
            raise ConfigError(
                "max_episode_steps applies to a FiniteMDP only; for an Environment pass it to tfrl.envs.make"
            )
        return _learn_on_env(source, on_policy, gamma, num_steps, learning_rate, lr_decay, epsilon, rng,
                             history, float(initial_q), seed)
    hint = f"; build one with tfrl.envs.make({source!r})" if isinstance(source, str) else ""
    raise ConfigError(
        f"expected a tfrl.tabular.FiniteMDP or a tfrl.envs.Environment, got {type(source).__name__}{hint}"
    )


def _td_method(on_policy: bool, name: str, doc: str) -> Callable[..., TabularResult]:
    """The public TD control function ``name`` (``q_learning`` or ``sarsa``): one signature for both,
    bootstrapping from the next action's Q (``on_policy``) or from the best Q."""

    def method(
        source: FiniteMDP | Any,
        gamma: float = 0.9,
        num_steps: int = 10_000,
        learning_rate: float = 0.05,
        lr_decay: float = 0.005,
        exploration: float | str | None = None,
        epsilon: float | None = None,
        seed: int | None = 0,
        history_every: int | None = None,
        initial_q: float = 0.0,
        max_episode_steps: int | None = None,
    ) -> TabularResult:
        return _td_control(source, on_policy, gamma, num_steps, learning_rate, lr_decay, exploration, epsilon, seed,
                           history_every, initial_q, max_episode_steps)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = doc
    return method


q_learning = _td_method(
    False,
    "q_learning",
    """Off-policy TD control: learn ``Q*`` from the target ``r + gamma * discount * max_a' Q(s', a')``.

    Args:
        source: a ``FiniteMDP`` or a tfrl ``Environment`` with Discrete observations and actions
            (left open; it is reset with ``seed``).
        gamma: discount factor in ``[0, 1)``.
        num_steps: number of steps; for an ``Environment`` each ``step()`` call advances all ``num_envs``.
        learning_rate: initial step size ``alpha_0``.
        lr_decay: ``alpha_t = learning_rate / (1 + lr_decay * t)``; 0 keeps it constant.
        exploration: ``"random"`` (uniform over the possible actions, as in Géron ch. 18) or a float
            epsilon for epsilon-greedy (greedy ties broken at random). Default: epsilon 0.1.
        epsilon: the same as ``exploration=epsilon``; give one of the two.
        seed: seed of the action and transition sampling (and of the Environment's reset).
        history_every: record the Q table every this many steps in ``history`` (None: about 100
            snapshots; 0: none).
        initial_q: starting value of every possible ``Q(s, a)`` (terminal states stay at 0).
        max_episode_steps: ``FiniteMDP`` only: truncate episodes after this many steps (None: never).

    Returns:
        A ``TabularResult`` with ``converged=None`` and ``episode_returns`` of the finished episodes.
    """,
)

sarsa = _td_method(
    True,
    "sarsa",
    """On-policy TD control: learn the Q of the epsilon-greedy policy from ``r + gamma * discount * Q(s', a')``.

    ``a'`` is the action the behaviour policy picks in ``s'`` and then takes. With a small
    epsilon the greedy policy approaches the optimal one. Same arguments as ``q_learning``.
    """,
)
