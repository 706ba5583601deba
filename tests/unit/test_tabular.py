"""Tests of ``tfrl.tabular``: exact values (Géron's three-state MDP, FrozenLake), learning, bad input."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfrl import envs
from tfrl.errors import ConfigError, UnsupportedSpaceError
from tfrl.tabular import (
    FiniteMDP,
    MarkovChain,
    TabularResult,
    greedy_policy,
    mdp_from_gymnasium,
    policy_evaluation,
    policy_iteration,
    q_learning,
    q_value_iteration,
    sarsa,
    value_iteration,
)

# The three-state MDP of Géron, "Hands-On Machine Learning", ch. 18.
TRANSITIONS = [
    [[0.7, 0.3, 0.0], [1.0, 0.0, 0.0], [0.8, 0.2, 0.0]],
    [[0.0, 1.0, 0.0], None, [0.0, 0.0, 1.0]],
    [None, [0.8, 0.1, 0.1], None],
]
REWARDS = [
    [[10, 0, 0], [0, 0, 0], [0, 0, 0]],
    [[0, 0, 0], [0, 0, 0], [0, 0, -50]],
    [[0, 0, 0], [40, 0, 0], [0, 0, 0]],
]
POSSIBLE_ACTIONS = [[0, 1, 2], [0, 2], [1]]


@pytest.fixture(scope="module")
def geron_mdp() -> FiniteMDP:
    return FiniteMDP(TRANSITIONS, REWARDS, POSSIBLE_ACTIONS)


@pytest.fixture(scope="module")
def frozen_lake() -> FiniteMDP:
    return mdp_from_gymnasium("FrozenLake-v1")


# --- FiniteMDP -------------------------------------------------------------------------------


def test_finite_mdp_arrays(geron_mdp: FiniteMDP) -> None:
    assert (geron_mdp.num_states, geron_mdp.num_actions) == (3, 3)
    assert geron_mdp.P.shape == geron_mdp.R.shape == (3, 3, 3)
    np.testing.assert_array_equal(geron_mdp.mask, [[1, 1, 1], [1, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(geron_mdp.P[1, 1], [0, 0, 0])  # impossible action: zeros
    np.testing.assert_allclose(geron_mdp.P[geron_mdp.mask].sum(axis=1), 1.0)
    np.testing.assert_allclose(geron_mdp.expected_rewards[0], [7.0, 0.0, 0.0])
    np.testing.assert_allclose(geron_mdp.expected_rewards[2, 1], 32.0)
    assert geron_mdp.possible_actions == POSSIBLE_ACTIONS
    assert not geron_mdp.P.flags.writeable


def test_possible_actions_derived_from_none_pattern(geron_mdp: FiniteMDP) -> None:
    derived = FiniteMDP(TRANSITIONS, REWARDS)
    np.testing.assert_array_equal(derived.mask, geron_mdp.mask)
    # An ndarray input: all-zero rows mark impossible actions; [S, A] rewards broadcast over s'.
    from_arrays = FiniteMDP(np.array(geron_mdp.P), geron_mdp.expected_rewards)
    np.testing.assert_array_equal(from_arrays.mask, geron_mdp.mask)
    np.testing.assert_allclose(from_arrays.expected_rewards, geron_mdp.expected_rewards)


def test_step_samples_the_transition_probabilities(geron_mdp: FiniteMDP) -> None:
    rng = np.random.default_rng(0)
    outcomes = [geron_mdp.step(2, 1, rng) for _ in range(20_000)]
    next_states = np.array([s for s, _ in outcomes])
    np.testing.assert_allclose(np.bincount(next_states, minlength=3) / len(outcomes), [0.8, 0.1, 0.1], atol=0.01)
    rewards = {s: r for s, r in outcomes}
    assert rewards == {0: 40.0, 1: 0.0, 2: 0.0}


# --- exact planning --------------------------------------------------------------------------


def test_q_value_iteration_matches_geron(geron_mdp: FiniteMDP) -> None:
    result = q_value_iteration(geron_mdp, gamma=0.90, tol=1e-10, max_iterations=10_000, record_history=True)
    assert isinstance(result, TabularResult)
    np.testing.assert_allclose(result.q[0], [18.92, 17.03, 13.62], atol=0.01)
    np.testing.assert_allclose(result.q[1, [0, 2]], [0.0, -4.88], atol=0.01)
    np.testing.assert_allclose(result.q[2, 1], 50.13, atol=0.01)
    assert np.isneginf(result.q[~geron_mdp.mask]).all()
    np.testing.assert_array_equal(result.policy, [0, 0, 1])
    np.testing.assert_allclose(result.values, [18.92, 0.0, 50.13], atol=0.01)
    assert result.converged and 0 < result.iterations < 10_000
    # history: the initial table, then one table per sweep, ending at q
    assert result.history.shape == (result.iterations + 1, 3, 3)
    np.testing.assert_array_equal(result.history[0][geron_mdp.mask], 0.0)
    np.testing.assert_array_equal(result.history[-1], result.q)
    np.testing.assert_array_equal(result.history_steps, np.arange(result.iterations + 1))

    far_sighted = q_value_iteration(geron_mdp, gamma=0.95)
    np.testing.assert_array_equal(far_sighted.policy, [0, 2, 1])


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.95, 0.99])
def test_three_planners_agree(geron_mdp: FiniteMDP, gamma: float) -> None:
    q_vi = q_value_iteration(geron_mdp, gamma, tol=1e-12)
    vi = value_iteration(geron_mdp, gamma, tol=1e-12, max_iterations=100_000)
    pi = policy_iteration(geron_mdp, gamma)
    assert q_vi.converged and vi.converged and pi.converged
    mask = geron_mdp.mask
    np.testing.assert_allclose(vi.q[mask], q_vi.q[mask], atol=1e-8)
    np.testing.assert_allclose(pi.q[mask], q_vi.q[mask], atol=1e-8)
    np.testing.assert_array_equal(vi.policy, pi.policy)
    np.testing.assert_allclose(policy_evaluation(geron_mdp, pi.policy, gamma), pi.values, atol=1e-10)


def test_greedy_policy_skips_impossible_actions() -> None:
    q = np.array([[-np.inf, -3.0, -5.0], [1.0, 2.0, 2.0]])
    np.testing.assert_array_equal(greedy_policy(q), [1, 1])  # ties go to the lowest index
    np.testing.assert_array_equal(greedy_policy(q, mask=[[1, 0, 1], [1, 0, 1]]), [2, 2])


def test_terminal_state_ends_without_bootstrap() -> None:
    # s0 --a0 (reward 1)--> s1 (terminal). Also s0 --a1 (reward 0)--> s0.
    mdp = FiniteMDP([[[0, 1], [1, 0]], [None, None]], [[[0, 1], [0, 0]], [None, None]], terminal_states=[1])
    assert mdp.terminal_states.tolist() == [False, True]
    np.testing.assert_array_equal(mdp.P[1], [[0, 1], [0, 1]])  # zero-reward self-loop
    result = q_value_iteration(mdp, gamma=0.9)
    np.testing.assert_allclose(result.q, [[1.0, 0.9], [0.0, 0.0]], atol=1e-9)
    learned = q_learning(mdp, gamma=0.9, num_steps=2_000, learning_rate=0.5, lr_decay=0.0, exploration="random")
    np.testing.assert_allclose(learned.q, result.q, atol=1e-3)
    assert len(learned.episode_returns) > 500 and set(learned.episode_returns) == {1.0}


# --- FrozenLake ------------------------------------------------------------------------------


def test_frozen_lake_model(frozen_lake: FiniteMDP) -> None:
    assert (frozen_lake.num_states, frozen_lake.num_actions) == (16, 4)
    np.testing.assert_array_equal(np.flatnonzero(frozen_lake.terminal_states), [5, 7, 11, 12, 15])
    np.testing.assert_array_equal(frozen_lake.initial_distribution, np.eye(16)[0])
    # From state 14, RIGHT slips: 1/3 each to 10 (up), 15 (goal, reward 1) and 14 (down into the wall).
    np.testing.assert_allclose(frozen_lake.P[14, 2, [10, 14, 15]], [1 / 3, 1 / 3, 1 / 3])
    assert frozen_lake.R[14, 2, 15] == 1.0


def test_frozen_lake_value_iteration_equals_policy_iteration(frozen_lake: FiniteMDP) -> None:
    vi = value_iteration(frozen_lake, gamma=0.99, tol=1e-12)
    pi = policy_iteration(frozen_lake, gamma=0.99)
    np.testing.assert_allclose(vi.values, pi.values, atol=1e-6)
    np.testing.assert_allclose(vi.values[frozen_lake.terminal_states], 0.0)
    sorted_q = np.sort(vi.q, axis=1)
    untied = sorted_q[:, -1] - sorted_q[:, -2] > 1e-6
    assert untied.sum() >= 8
    np.testing.assert_array_equal(vi.policy[untied], pi.policy[untied])
    # The well-known optimal success probability from the start of the slippery 4x4 lake is 0.82
    # (undiscounted); gamma = 0.999999 is close enough to 1 to show it.
    almost_undiscounted = value_iteration(frozen_lake, gamma=0.999999, tol=1e-12, max_iterations=100_000)
    assert almost_undiscounted.values[0] == pytest.approx(0.8235, abs=0.001)


def test_frozen_lake_values_match_gymnasium_rollouts(frozen_lake: FiniteMDP) -> None:
    gamma = 0.99
    result = value_iteration(frozen_lake, gamma=gamma)
    env = gymnasium.make("FrozenLake-v1").unwrapped  # no time limit, as in the model
    returns = []
    observation, _ = env.reset(seed=0)
    for _ in range(4_000):
        observation, _ = env.reset()
        discounted, factor, terminated = 0.0, 1.0, False
        while not terminated:
            observation, reward, terminated, _, _ = env.step(int(result.policy[observation]))
            discounted += factor * reward
            factor *= gamma
        returns.append(discounted)
    env.close()
    assert result.values[0] == pytest.approx(0.542, abs=0.001)
    assert np.mean(returns) == pytest.approx(result.values[0], abs=0.03)


def test_mdp_from_gymnasium_cliff_walking_and_taxi() -> None:
    cliff = mdp_from_gymnasium("CliffWalking-v1")
    assert cliff.terminal_states.nonzero()[0].tolist() == [47]
    assert cliff.initial_distribution[36] == 1.0
    # The optimal path along the cliff edge: 13 steps of reward -1.
    expected = -sum(0.99**k for k in range(13))
    assert value_iteration(cliff, gamma=0.99).values[36] == pytest.approx(expected, abs=1e-8)
    taxi = mdp_from_gymnasium("Taxi-v4")
    assert (taxi.num_states, taxi.num_actions, int(taxi.terminal_states.sum())) == (500, 6, 4)


# --- learning from samples -------------------------------------------------------------------


def test_q_learning_converges_on_geron_mdp(geron_mdp: FiniteMDP) -> None:
    exact = q_value_iteration(geron_mdp, gamma=0.9)
    learned = q_learning(geron_mdp, gamma=0.9, num_steps=150_000, learning_rate=0.05, lr_decay=0.0005,
                         exploration="random", seed=0, history_every=1_000)
    error = np.abs(learned.q[geron_mdp.mask] - exact.q[geron_mdp.mask])
    assert error.max() < 1.0
    np.testing.assert_array_equal(learned.policy, [0, 0, 1])
    assert np.isneginf(learned.q[~geron_mdp.mask]).all()
    assert learned.converged is None and learned.iterations == 150_000
    assert learned.history.shape == (151, 3, 3)
    np.testing.assert_array_equal(learned.history_steps, np.arange(0, 150_001, 1_000))
    assert learned.episode_returns.size == 0  # continuing task


def test_q_learning_is_deterministic_given_a_seed(geron_mdp: FiniteMDP) -> None:
    first = q_learning(geron_mdp, num_steps=2_000, epsilon=0.2, seed=3)
    second = q_learning(geron_mdp, num_steps=2_000, exploration=0.2, seed=3)
    other = q_learning(geron_mdp, num_steps=2_000, epsilon=0.2, seed=4)
    np.testing.assert_array_equal(first.q, second.q)
    assert not np.array_equal(first.q, other.q)


def test_sarsa_finds_the_greedy_policy(geron_mdp: FiniteMDP) -> None:
    learned = sarsa(geron_mdp, gamma=0.9, num_steps=100_000, epsilon=0.05, lr_decay=0.001, seed=0)
    np.testing.assert_array_equal(learned.policy, q_value_iteration(geron_mdp, gamma=0.9).policy)


def test_q_learning_through_the_frozen_lake_environment() -> None:
    gamma = 0.95
    model = mdp_from_gymnasium("FrozenLake-v1", is_slippery=False)
    optimum = value_iteration(model, gamma=gamma).values[0]
    assert optimum == pytest.approx(gamma**5)  # six steps to the goal
    with envs.make("FrozenLake-v1", env_kwargs={"is_slippery": False}) as env:
        learned = q_learning(env, gamma=gamma, num_steps=5_000, learning_rate=0.5, lr_decay=0.0, epsilon=0.1, seed=0)
    assert learned.q.shape == (16, 4)
    assert policy_evaluation(model, learned.policy, gamma)[0] == pytest.approx(optimum, abs=1e-9)
    assert learned.episode_returns.size > 100
    assert learned.episode_returns[-20:].mean() >= 0.8  # epsilon-greedy: almost always reaches the goal


class OneStateEnv(gymnasium.Env):
    """One state, one action, reward 1 per step; terminates after every step if ``terminate``."""

    observation_space = gymnasium.spaces.Discrete(1)
    action_space = gymnasium.spaces.Discrete(1)

    def __init__(self, terminate: bool = False) -> None:
        self.terminate = terminate

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return 0, 1.0, self.terminate, False, {}


@pytest.mark.parametrize("algorithm", [q_learning, sarsa])
@pytest.mark.parametrize("terminate", [False, True])
def test_environment_bootstraps_on_truncation_only(algorithm, terminate: bool) -> None:
    # Truncated every 3 steps: Q = 1 + 0.5 Q, so 2. Terminated every step: Q = 1.
    with envs.make(OneStateEnv, num_envs=2, max_episode_steps=3, env_kwargs={"terminate": terminate}) as env:
        learned = algorithm(env, gamma=0.5, num_steps=300, learning_rate=0.5, lr_decay=0.0, seed=0)
    assert learned.q[0, 0] == pytest.approx(1.0 if terminate else 2.0, abs=1e-6)
    assert set(learned.episode_returns) == {1.0 if terminate else 3.0}


def test_finite_mdp_truncation_bootstraps() -> None:
    loop = FiniteMDP([[[1.0]]], [[[1.0]]])
    learned = q_learning(loop, gamma=0.5, num_steps=300, learning_rate=0.5, lr_decay=0.0, max_episode_steps=3)
    assert learned.q[0, 0] == pytest.approx(2.0, abs=1e-6)
    assert learned.episode_returns.tolist() == [3.0] * 100


def test_q_learning_through_batched_cliff_walking() -> None:
    gamma = 0.99
    model = mdp_from_gymnasium("CliffWalking-v1")
    with envs.make("CliffWalking-v1", num_envs=4) as env:
        learned = q_learning(env, gamma=gamma, num_steps=5_000, learning_rate=0.5, lr_decay=0.0, epsilon=0.1, seed=1)
    # the greedy policy walks the cliff edge: 13 steps, return -13
    state, total = 36, 0.0
    for _ in range(13):
        state, reward = model.step(state, int(learned.policy[state]))
        total += reward
    assert model.terminal_states[state] and total == -13.0
    assert policy_evaluation(model, learned.policy, gamma)[36] == pytest.approx(
        value_iteration(model, gamma).values[36], abs=1e-9
    )


# --- Markov chains ---------------------------------------------------------------------------

CHAIN = [[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.4, 0.1, 0.5]]


def test_markov_chain_sample_and_empirical_transitions() -> None:
    chain = MarkovChain(CHAIN, state_names=["sun", "cloud", "rain"])
    states = chain.sample(start_state=2, num_steps=50_000, seed=0)
    assert states.shape == (50_001,) and states.dtype == np.int64 and states[0] == 2
    np.testing.assert_array_equal(states, chain.sample(start_state=2, num_steps=50_000, seed=0))
    np.testing.assert_allclose(chain.empirical_transitions(states), CHAIN, atol=0.02)
    counts = chain.transition_counts(states)
    assert counts.sum() == 50_000


def test_markov_chain_stationary_distribution() -> None:
    chain = MarkovChain(CHAIN)
    pi = chain.stationary_distribution()
    np.testing.assert_allclose(pi @ np.array(CHAIN), pi, atol=1e-12)
    assert pi.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(pi, chain.distribution_after([1, 0, 0], 200), atol=1e-10)
    visits = np.bincount(chain.sample(0, 50_000, seed=1), minlength=3) / 50_001
    np.testing.assert_allclose(visits, pi, atol=0.02)


def test_empirical_transitions_of_unvisited_states_are_nan() -> None:
    chain = MarkovChain([[0.7, 0.2, 0.0, 0.1], [0.0, 0.0, 0.9, 0.1], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    frequencies = chain.empirical_transitions([0, 0, 1, 2, 1])
    np.testing.assert_allclose(frequencies[0], [0.5, 0.5, 0, 0])
    assert np.isnan(frequencies[3]).all()


# --- bad input -------------------------------------------------------------------------------


def _bad_transitions(row: list[float]) -> list:
    return [[row, [1.0, 0.0]], [[0.0, 1.0], None]]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FiniteMDP(_bad_transitions([0.7, 0.2]), [[[0, 0], [0, 0]], [[0, 0], None]]),
         r"transition_probabilities\[0\]\[0\] sums to 0.9, not 1"),
        (lambda: FiniteMDP(_bad_transitions([1.2, -0.2]), [[[0, 0], [0, 0]], [[0, 0], None]]),
         "negative probability -0.2"),
        (lambda: FiniteMDP(TRANSITIONS, np.zeros((2, 3, 3))), r"rewards has shape \(2, 3, 3\)"),
        (lambda: FiniteMDP(TRANSITIONS, REWARDS, [[0, 1, 2], [0, 1], [1]]),
         r"possible_actions\[1\] lists action 1, but transition_probabilities\[1\]\[1\] is None"),
        (lambda: FiniteMDP(TRANSITIONS, REWARDS, [[0], [0], [1], [0]]), "possible_actions has 4 lists but there are 3"),
        (lambda: FiniteMDP([[[1.0, 0.0]], [None]], [[[0, 0]], [None]]), "state 1 has no possible action"),
        (lambda: FiniteMDP([[[0.5, 0.5, 0.0]]], [[[0, 0, 0]]]), "same number of states in the first and last"),
        (lambda: FiniteMDP(TRANSITIONS, REWARDS).step(2, 0, 0), r"action 0 is not possible in state 2; .* \[1\]"),
        (lambda: FiniteMDP(TRANSITIONS, REWARDS).step(3, 0, 0), "state 3 is out of range"),
        (lambda: q_value_iteration(FiniteMDP(TRANSITIONS, REWARDS), gamma=1.0), r"gamma must lie in \[0, 1\)"),
        (lambda: value_iteration(FiniteMDP(TRANSITIONS, REWARDS), gamma=-0.1), r"gamma must lie in \[0, 1\)"),
        (lambda: policy_evaluation(FiniteMDP(TRANSITIONS, REWARDS), np.array([0, 1, 1])),
         "policy picks action 1 in state 1, where it is not possible"),
        (lambda: q_learning(FiniteMDP(TRANSITIONS, REWARDS), exploration="boltzmann"), "unknown exploration 'boltzmann'"),
        (lambda: q_learning(FiniteMDP(TRANSITIONS, REWARDS), exploration=0.1, epsilon=0.1), "not both"),
        (lambda: sarsa(FiniteMDP(TRANSITIONS, REWARDS), epsilon=1.5), r"epsilon must lie in \[0, 1\]"),
        (lambda: q_learning(FiniteMDP(TRANSITIONS, REWARDS), num_steps=0), "num_steps must be a positive integer"),
        (lambda: q_learning("FrozenLake-v1"), r"build one with tfrl.envs.make\('FrozenLake-v1'\)"),
        (lambda: MarkovChain([[0.5, 0.5]]), "must be square"),
        (lambda: MarkovChain([[0.5, 0.6], [0.0, 1.0]]), r"transition_matrix\[0\] sums to 1.1"),
        (lambda: MarkovChain([[1.0, 0.0], [0.0, 1.0]]).stationary_distribution(), "2 closed classes"),
        (lambda: MarkovChain(CHAIN).sample(start_state=5), "start_state 5 is out of range"),
        (lambda: mdp_from_gymnasium("CartPole-v1"), "does not publish a tabular model"),
    ],
)
def test_bad_input_raises_config_error(make, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


def test_non_discrete_environment_is_refused() -> None:
    with envs.make("CartPole-v1") as env, pytest.raises(UnsupportedSpaceError, match="needs a Discrete observation"):
        q_learning(env, num_steps=10)


# --- properties ------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    num_states=st.integers(1, 6),
    num_actions=st.integers(1, 4),
    gamma=st.floats(0.0, 0.95),
    seed=st.integers(0, 2**31 - 1),
)
def test_planners_agree_on_random_mdps(num_states: int, num_actions: int, gamma: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    probabilities = rng.dirichlet(np.full(num_states, 0.5), size=(num_states, num_actions))
    mask = rng.random((num_states, num_actions)) < 0.7
    mask[np.arange(num_states), rng.integers(num_actions, size=num_states)] = True
    probabilities[~mask] = 0.0
    mdp = FiniteMDP(probabilities, rng.normal(size=(num_states, num_actions, num_states)))
    np.testing.assert_array_equal(mdp.mask, mask)
    q_vi = q_value_iteration(mdp, gamma, tol=1e-12)
    vi = value_iteration(mdp, gamma, tol=1e-12)
    pi = policy_iteration(mdp, gamma)
    assert q_vi.converged and vi.converged and pi.converged
    np.testing.assert_allclose(vi.values, pi.values, atol=1e-6)
    np.testing.assert_allclose(q_vi.values, pi.values, atol=1e-6)
    # the policy found by policy iteration is optimal: its exact value is the optimum
    np.testing.assert_allclose(policy_evaluation(mdp, pi.policy, gamma), vi.values, atol=1e-6)


def test_import_does_not_load_tensorflow_or_gymnasium() -> None:
    code = "import sys, tfrl.tabular; print('tensorflow' in sys.modules, 'gymnasium' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
