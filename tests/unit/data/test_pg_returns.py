"""Tests of the on-policy returns of tfrl.data.returns: GAE, bootstrapped (A2C) returns, REINFORCE
returns and normalization, against hand-worked numbers and naive loops over auto-reset streams."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from tfrl.data import bootstrapped_returns, discount_and_normalize, episode_returns, gae, normalize
from tfrl.errors import ConfigError

# ---------------------------------------------------------------- auto-reset streams


def make_stream(kinds, rewards, after_last):
    """Rollout arrays ``[T, N]`` of a vector env that follows the auto-reset rules.

    ``kinds[t][e]`` is what happens at step t of env e: "mid", "term" (terminates) or "trunc"
    (time limit). ``after_last[e]`` says the rollout starts on a LAST time step (the previous
    rollout ended an episode). A row whose time step is LAST is the reset row: not valid,
    reward 0, discount 1, not last, and its event is ignored.
    """
    kinds = np.asarray(kinds, dtype=object)
    T, N = kinds.shape
    reward = np.zeros((T, N), np.float32)
    discount = np.ones((T, N), np.float32)
    last = np.zeros((T, N), bool)
    valid = np.zeros((T, N), bool)
    prev_last = np.asarray(after_last, bool).copy()
    for t in range(T):
        for e in range(N):
            valid[t, e] = not prev_last[e]
            if prev_last[e]:
                continue
            reward[t, e] = rewards[t][e]
            last[t, e] = kinds[t, e] != "mid"
            discount[t, e] = 0.0 if kinds[t, e] == "term" else 1.0
        prev_last = last[t].copy()
    return reward, discount, last, valid


@st.composite
def streams(draw, max_steps=12, max_envs=3):
    T = draw(st.integers(1, max_steps))
    N = draw(st.integers(1, max_envs))
    kind = st.sampled_from(["mid", "mid", "mid", "term", "trunc"])
    kinds = [[draw(kind) for _ in range(N)] for _ in range(T)]
    number = st.floats(-5, 5, allow_nan=False, width=32)
    rewards = [[draw(number) for _ in range(N)] for _ in range(T)]
    values = np.array([[draw(number) for _ in range(N)] for _ in range(T + 1)], np.float32)
    after_last = [draw(st.booleans()) for _ in range(N)]
    gamma = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]))
    lam = draw(st.sampled_from([0.0, 0.3, 0.95, 1.0]))
    reward, discount, last, valid = make_stream(kinds, rewards, after_last)
    return reward, values, discount, last, valid, gamma, lam


# ---------------------------------------------------------------- naive references


def naive_n_step_return(reward, values, discount, last, gamma, t, e):
    """What a valid step's A2C return means: rewards to the episode's or the rollout's end, plus the
    critic's value there unless the episode terminated."""
    T = reward.shape[0]
    total, scale = 0.0, 1.0
    for k in range(t, T):
        total += scale * float(reward[k, e])
        scale *= gamma
        if last[k, e]:
            return total if discount[k, e] == 0.0 else total + scale * float(values[k + 1, e])
    return total + scale * float(values[T, e])


def naive_gae(reward, values, discount, last, gamma, lam, t, e):
    """A valid step's GAE as the explicit sum ``sum_k (gamma lam)^k delta_{t+k}`` up to the episode's
    or the rollout's end."""
    T = reward.shape[0]
    total, scale = 0.0, 1.0
    for k in range(t, T):
        delta = float(reward[k, e]) + gamma * float(discount[k, e]) * float(values[k + 1, e]) - float(values[k, e])
        total += scale * delta
        if last[k, e]:
            break
        scale *= gamma * lam
    return total


def formula_loops(reward, values, discount, last, gamma, lam):
    """The documented recursions, element by element, on every row (valid or not)."""
    T, N = reward.shape
    adv, ret = np.zeros((T, N)), np.zeros((T, N))
    for e in range(N):
        a_next, r_next = 0.0, float(values[T, e])
        for t in reversed(range(T)):
            d, l, v1 = float(discount[t, e]), float(last[t, e]), float(values[t + 1, e])
            delta = reward[t, e] + gamma * d * v1 - values[t, e]
            a_next = delta + gamma * lam * d * (1 - l) * a_next
            r_next = reward[t, e] + gamma * d * ((1 - l) * r_next + l * v1)
            adv[t, e], ret[t, e] = a_next, r_next
    return adv, ret


# ---------------------------------------------------------------- hand-worked example

# T = 4, gamma = 0.5, lambda = 0.5. Env 0: reward 1, then terminates at row 1 (reward 2); row 2 is
# the reset row (ts_2 is LAST: not valid); a one-step episode is truncated at row 3 (reward 4) and
# bootstraps from its final observation's value 50. Env 1 never ends: rewards 1, bootstrap 8.
HAND = dict(
    rewards=np.array([[1.0, 1.0], [2.0, 1.0], [0.0, 1.0], [4.0, 1.0]], np.float32),
    values=np.array([[10.0, 0.0], [20.0, 0.0], [30.0, 0.0], [40.0, 0.0], [50.0, 8.0]], np.float32),
    discounts=np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0]], np.float32),
    lasts=np.array([[False, False], [True, False], [False, False], [True, False]]),
)
VALID = np.array([[True, True], [True, True], [False, True], [True, True]])


def test_gae_hand_worked():
    # env 0: delta = [1 + 0.5*20 - 10, 2 + 0 - 20, 0 + 0.5*40 - 30, 4 + 0.5*50 - 40] = [1, -18, -10, -11]
    #   A_3 = -11 (last), A_2 = -10 + 0.25*(-11) = -12.75 (reset row: garbage), A_1 = -18 (last),
    #   A_0 = 1 + 0.25*(-18) = -3.5
    # env 1: delta = [1, 1, 1, 1 + 0.5*8] ; A_3 = 5, A_2 = 1 + 0.25*5, A_1 = 1 + 0.25*2.25, A_0 = ...
    advantages, returns = gae(**HAND, gamma=0.5, lam=0.5)
    assert advantages.dtype == tf.float32 and returns.shape == (4, 2)
    np.testing.assert_allclose(
        advantages.numpy(), [[-3.5, 1.390625], [-18.0, 1.5625], [-12.75, 2.25], [-11.0, 5.0]], rtol=1e-6
    )
    # returns = A + V[:T]; env 0 row 0 is the lambda-return 1 + 0.5 * (0.5 * 20 + 0.5 * 2) = 6.5,
    # row 1 terminated: 2; row 3 truncated: 4 + 0.5 * 50 = 29
    np.testing.assert_allclose(
        returns.numpy(), [[6.5, 1.390625], [2.0, 1.5625], [17.25, 2.25], [29.0, 5.0]], rtol=1e-6
    )


def test_bootstrapped_returns_hand_worked():
    # env 0: R_3 = 4 + 0.5 * 50 (truncated) = 29; R_2 = 0 + 0.5 * 29 = 14.5 (reset row);
    #        R_1 = 2 (terminated); R_0 = 1 + 0.5 * 2 = 2
    # env 1: R_3 = 1 + 0.5 * 8 = 5, R_2 = 3.5, R_1 = 2.75, R_0 = 2.375
    got = bootstrapped_returns(**HAND, gamma=0.5)
    np.testing.assert_allclose(got.numpy(), [[2.0, 2.375], [2.0, 2.75], [14.5, 3.5], [29.0, 5.0]], rtol=1e-6)
    hand = {k: HAND[k] for k in ("rewards", "values", "discounts", "lasts")}
    for t, e in zip(*np.nonzero(VALID)):
        want = naive_n_step_return(hand["rewards"], hand["values"], hand["discounts"], hand["lasts"], 0.5, t, e)
        assert got.numpy()[t, e] == pytest.approx(want)


def test_hand_worked_stream_is_what_make_stream_builds():
    kinds = [["mid", "mid"], ["term", "mid"], ["mid", "mid"], ["trunc", "mid"]]
    rewards = [[1, 1], [2, 1], [99, 1], [4, 1]]  # 99: the reset row's event is ignored
    reward, discount, last, valid = make_stream(kinds, rewards, [False, False])
    np.testing.assert_array_equal(reward, HAND["rewards"])
    np.testing.assert_array_equal(discount, HAND["discounts"])
    np.testing.assert_array_equal(last, HAND["lasts"])
    np.testing.assert_array_equal(valid, VALID)


def test_gae_rejects_values_without_the_bootstrap_row():
    with pytest.raises(ConfigError, match="values has 4 rows for 4 rewards; pass T \\+ 1 values"):
        gae(HAND["rewards"], HAND["values"][:4], HAND["discounts"], HAND["lasts"], 0.5, 0.5)
    with pytest.raises(ConfigError, match="bootstrapped_returns: values has 3 rows"):
        bootstrapped_returns(HAND["rewards"], HAND["values"][:3], HAND["discounts"], HAND["lasts"], 0.5)


# ---------------------------------------------------------------- random streams


@settings(max_examples=40, deadline=None)
@given(streams())
def test_gae_and_bootstrapped_returns_match_naive_loops(stream):
    reward, values, discount, last, valid, gamma, lam = stream
    advantages, returns = gae(reward, values, discount, last, gamma, lam)
    advantages, returns = advantages.numpy(), returns.numpy()
    boot = bootstrapped_returns(reward, values, discount, last, gamma).numpy()
    # the documented recursions on every row
    want_adv, want_boot = formula_loops(reward, values, discount, last, gamma, lam)
    np.testing.assert_allclose(advantages, want_adv, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(returns, want_adv + values[:-1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(boot, want_boot, rtol=1e-4, atol=1e-4)
    # what they mean on every valid row: sums up to the episode's or rollout's end
    for t, e in zip(*np.nonzero(valid)):
        assert advantages[t, e] == pytest.approx(
            naive_gae(reward, values, discount, last, gamma, lam, t, e), rel=1e-4, abs=1e-4
        )
        assert boot[t, e] == pytest.approx(
            naive_n_step_return(reward, values, discount, last, gamma, t, e), rel=1e-4, abs=1e-4
        )


@settings(max_examples=25, deadline=None)
@given(streams())
def test_gae_lambda_one_is_bootstrapped_returns_and_lambda_zero_is_td_error(stream):
    reward, values, discount, last, _, gamma, _ = stream
    _, returns_one = gae(reward, values, discount, last, gamma, 1.0)
    boot = bootstrapped_returns(reward, values, discount, last, gamma)
    np.testing.assert_allclose(returns_one.numpy(), boot.numpy(), rtol=1e-4, atol=1e-4)
    advantages_zero, returns_zero = gae(reward, values, discount, last, gamma, 0.0)
    td_error = reward + gamma * discount * values[1:] - values[:-1]
    np.testing.assert_allclose(advantages_zero.numpy(), td_error, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(returns_zero.numpy(), reward + gamma * discount * values[1:], rtol=1e-5, atol=1e-5)


def test_terminated_and_truncated_ends_differ_only_in_the_bootstrap():
    # one env, the episode ends at row 1: terminated gives r_1, truncated gives r_1 + gamma * V(final)
    rewards = np.array([[1.0], [1.0], [0.0]], np.float32)
    values = np.array([[0.0], [0.0], [100.0], [7.0]], np.float32)
    lasts = np.array([[0.0], [1.0], [0.0]], np.float32)
    terminated = bootstrapped_returns(rewards, values, [[1.0], [0.0], [1.0]], lasts, 0.9).numpy()
    truncated = bootstrapped_returns(rewards, values, [[1.0], [1.0], [1.0]], lasts, 0.9).numpy()
    np.testing.assert_allclose(terminated[:2, 0], [1.9, 1.0], rtol=1e-6)
    np.testing.assert_allclose(truncated[:2, 0], [1 + 0.9 * 91.0, 91.0], rtol=1e-6)


# ---------------------------------------------------------------- inside tf.function


def test_pg_returns_run_inside_tf_function_with_unknown_length():
    spec = tf.TensorSpec([None, None], tf.float32)
    flag = tf.TensorSpec([None, None], tf.bool)

    @tf.function(input_signature=[spec, spec, spec, flag])
    def compute(rewards, values, discounts, lasts):
        advantages, returns = gae(rewards, values, discounts, lasts, 0.5, 0.5)
        boot = bootstrapped_returns(rewards, values, discounts, lasts, 0.5)
        every = tf.ones_like(lasts)
        return advantages, returns, boot, normalize(advantages, every), episode_returns(rewards[:, 0], 0.5)

    out = compute(HAND["rewards"], HAND["values"], HAND["discounts"], HAND["lasts"])
    np.testing.assert_allclose(out[0].numpy()[:, 0], [-3.5, -18.0, -12.75, -11.0], rtol=1e-6)
    np.testing.assert_allclose(out[1].numpy()[:, 0], [6.5, 2.0, 17.25, 29.0], rtol=1e-6)
    np.testing.assert_allclose(out[2].numpy()[:, 0], [2.0, 2.0, 14.5, 29.0], rtol=1e-6)
    adv = out[0].numpy()
    np.testing.assert_allclose(out[3].numpy(), (adv - adv.mean()) / (adv.std() + 1e-8), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[4].numpy(), [1 + 0.5 * 2 + 0.25 * 0 + 0.125 * 4, 2 + 0.5 * 0 + 0.25 * 4, 2.0, 4.0])
    # a longer rollout of another length runs through the same trace
    longer = make_stream([["mid"]] * 6 + [["term"]], [[1.0]] * 7, [False])
    values = np.zeros((8, 1), np.float32)
    _, _, boot, _, _ = compute(longer[0], values, longer[1], longer[2])
    np.testing.assert_allclose(boot.numpy()[:, 0], [sum(0.5**k for k in range(7 - t)) for t in range(7)], rtol=1e-6)
    assert compute.experimental_get_tracing_count() == 1
    # a wrong number of value rows is caught at run time when T is unknown
    with pytest.raises(tf.errors.InvalidArgumentError, match="values needs T \\+ 1 rows"):
        compute(HAND["rewards"], HAND["values"][:4], HAND["discounts"], HAND["lasts"])


def test_pg_returns_compile_with_xla():
    spec = tf.TensorSpec([None, None], tf.float32)

    @tf.function(input_signature=[spec, spec, spec, spec], jit_compile=True)
    def compute(rewards, values, discounts, lasts):
        advantages, returns = gae(rewards, values, discounts, lasts, 0.5, 0.5)
        return advantages, returns, bootstrapped_returns(rewards, values, discounts, lasts, 0.5)

    lasts = HAND["lasts"].astype(np.float32)
    advantages, returns, boot = compute(HAND["rewards"], HAND["values"], HAND["discounts"], lasts)
    np.testing.assert_allclose(advantages.numpy()[:, 0], [-3.5, -18.0, -12.75, -11.0], rtol=1e-6)
    np.testing.assert_allclose(returns.numpy()[:, 1], [1.390625, 1.5625, 2.25, 5.0], rtol=1e-6)
    np.testing.assert_allclose(boot.numpy()[:, 0], [2.0, 2.0, 14.5, 29.0], rtol=1e-6)
    # XLA drops assertions, but values of the wrong length still fail rather than misalign
    for rows in (4, 6):
        with pytest.raises(tf.errors.InvalidArgumentError):
            compute(HAND["rewards"], np.zeros((rows, 2), np.float32), HAND["discounts"], lasts)


# ---------------------------------------------------------------- REINFORCE returns


def naive_reward_to_go(rewards, gamma):
    rewards = [float(r) for r in rewards]
    return [sum(gamma**k * r for k, r in enumerate(rewards[t:])) for t in range(len(rewards))]


def test_episode_returns_hand_worked():
    # G_2 = 4; G_1 = 2 + 0.5 * 4 = 4; G_0 = 1 + 0.5 * 4 = 3
    got = episode_returns(np.array([1.0, 2.0, 4.0]), 0.5)
    assert isinstance(got, tf.Tensor) and got.dtype == tf.float64
    np.testing.assert_allclose(got.numpy(), [3.0, 4.0, 4.0])
    np.testing.assert_allclose(episode_returns([1, 1, 1], 1.0).numpy(), [3.0, 2.0, 1.0])  # ints -> float32
    assert episode_returns([5.0], 0.9).numpy().tolist() == [5.0]


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=1, max_size=30),
    st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]),
)
def test_episode_returns_match_naive_sum(rewards, gamma):
    got = episode_returns(np.array(rewards, np.float32), gamma).numpy()
    np.testing.assert_allclose(got, naive_reward_to_go(rewards, gamma), rtol=1e-4, atol=1e-4)


def test_discount_and_normalize_hand_worked():
    # returns [1 + 0.5, 1] and [2]; all three: mean 1.5, std sqrt(1/6)
    got = discount_and_normalize([np.array([1.0, 1.0]), [2.0]], 0.5)
    assert len(got) == 2 and all(g.dtype == np.float32 for g in got)
    std = np.sqrt(1.0 / 6.0)
    np.testing.assert_allclose(got[0], [0.0, -0.5 / std], rtol=1e-6)
    np.testing.assert_allclose(got[1], [0.5 / std], rtol=1e-6)
    # equal returns: std 0 is guarded by epsilon, giving zeros instead of NaN
    np.testing.assert_array_equal(discount_and_normalize([[1.0], [1.0]], 0.9)[0], [0.0])
    assert discount_and_normalize([], 0.9) == []
    with pytest.raises(ConfigError, match="episode 1 has rewards of shape \\(1, 2\\), expected 1-D"):
        discount_and_normalize([[1.0], [[1.0, 2.0]]], 0.9)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=1, max_size=12), min_size=1, max_size=5),
    st.sampled_from([0.5, 0.9, 0.99]),
)
def test_discount_and_normalize_matches_naive_loop(episodes, gamma):
    inputs = [np.array(e, np.float32) for e in episodes]
    copies = [x.copy() for x in inputs]
    got = discount_and_normalize(inputs, gamma)
    for x, c in zip(inputs, copies):
        np.testing.assert_array_equal(x, c)  # inputs untouched: a pure function
    togo = [naive_reward_to_go(e, gamma) for e in episodes]
    flat = [g for ep in togo for g in ep]
    mean = sum(flat) / len(flat)
    std = (sum((g - mean) ** 2 for g in flat) / len(flat)) ** 0.5
    assert [len(g) for g in got] == [len(e) for e in episodes]
    for ep_got, ep_want in zip(got, togo):
        np.testing.assert_allclose(ep_got, [(g - mean) / (std + 1e-8) for g in ep_want], rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- normalize


def test_normalize_hand_worked():
    # masked entries 1, 2, 3: mean 2, std sqrt(2/3); the masked-out 100 neither counts nor shows
    x = np.array([[1.0, 2.0], [3.0, 100.0]], np.float32)
    mask = np.array([[True, True], [True, False]])
    s = np.sqrt(2.0 / 3.0)
    np.testing.assert_allclose(normalize(x, mask).numpy(), [[-1 / s, 0.0], [1 / s, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(normalize(x, mask.astype(np.float32)).numpy(), [[-1 / s, 0.0], [1 / s, 0.0]], rtol=1e-6)
    # without a mask: every entry counts
    flat = x.ravel()
    np.testing.assert_allclose(normalize(x).numpy().ravel(), (flat - flat.mean()) / flat.std(), rtol=1e-5)
    # NaN garbage outside the mask stays out of the statistics
    x_nan = x.copy()
    x_nan[1, 1] = np.nan
    np.testing.assert_allclose(normalize(x_nan, mask).numpy(), [[-1 / s, 0.0], [1 / s, 0.0]], rtol=1e-6)
    # constant entries and an empty mask give zeros, not NaN
    np.testing.assert_array_equal(normalize(np.full(3, 4.0), [True, True, False]).numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(normalize(np.ones(3), [False, False, False]).numpy(), [0.0, 0.0, 0.0])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(-100, 100, allow_nan=False, width=32), st.booleans()), min_size=1, max_size=40))
def test_normalize_matches_naive_loop(entries):
    x = np.array([v for v, _ in entries], np.float64)  # float64: tiny spreads stay exact
    mask = np.array([m for _, m in entries])
    kept = [float(v) for v, m in entries if m]
    got = normalize(x, mask).numpy()
    if not kept:
        np.testing.assert_array_equal(got, np.zeros_like(x))
        return
    mean = sum(kept) / len(kept)
    std = (sum((v - mean) ** 2 for v in kept) / len(kept)) ** 0.5
    want = [(float(v) - mean) / (std + 1e-8) if m else 0.0 for v, m in entries]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
