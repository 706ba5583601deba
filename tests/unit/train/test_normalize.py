"""Tests of tfrl.envs.normalize: the running statistics against NumPy over all the data, and the
observation and reward wrappers against a naive recomputation over the same stream.

Each wrapper test steps two copies of one seeded environment with the same actions, one wrapped and
one raw, so the raw stream the wrapper saw is known exactly. ``RunningMeanStd`` starts from a prior
of ``count = 1e-4`` pseudo-samples with mean 0 and variance 1; the naive recomputation includes it
(``_naive_mean_var``), so the wrappers can be checked step by step to float precision.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tfrl import envs
from tfrl.envs.normalize import NormalizeObservation, NormalizeReward, RunningMeanStd

PRIOR = 1e-4


def _naive_mean_var(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``samples`` [n, ...] pooled with the prior (PRIOR samples, mean 0, variance 1)."""
    samples = np.asarray(samples, np.float64)
    total = PRIOR + samples.shape[0]
    mean = samples.sum(axis=0) / total
    second_moment = (PRIOR * 1.0 + np.square(samples).sum(axis=0)) / total
    return mean, second_moment - np.square(mean)


# --------------------------------------------------------------------------- RunningMeanStd


def test_running_mean_std_matches_numpy_over_all_batches():
    rng = np.random.default_rng(0)
    sizes = [1, 7, 50, 3, 200, 2]
    batches = [rng.normal([5.0, -2.0, 0.0], [3.0, 0.1, 10.0], size=(n, 3)) for n in sizes]
    stats = RunningMeanStd((3,))
    for batch in batches:
        stats.update(batch)
    stats.update(np.zeros((0, 3)))  # an empty batch changes nothing
    data = np.concatenate(batches)
    # the prior shifts the variance by about PRIOR * (1 + mean^2) / n = 2e-6 here
    np.testing.assert_allclose(stats.mean, data.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(stats.var, data.var(axis=0), rtol=1e-5, atol=1e-5)
    assert stats.count == pytest.approx(len(data) + PRIOR, rel=1e-12)
    # exactly the pooled statistics with the prior
    naive_mean, naive_var = _naive_mean_var(data)
    np.testing.assert_allclose(stats.mean, naive_mean, rtol=1e-10)
    np.testing.assert_allclose(stats.var, naive_var, rtol=1e-10)


def test_running_mean_std_scalar_shape():
    stats = RunningMeanStd(())
    for batch in ([1.0, 2.0], [3.0], [4.0, 5.0, 6.0]):
        stats.update(np.array(batch))
    assert stats.mean.shape == () and stats.var.shape == ()
    assert float(stats.mean) == pytest.approx(3.5, rel=1e-4)  # mean of 1..6
    assert float(stats.var) == pytest.approx(35 / 12, rel=1e-4)  # population variance of 1..6


def test_running_mean_std_state_dict_round_trip():
    rng = np.random.default_rng(1)
    stats = RunningMeanStd((2,))
    stats.update(rng.normal(size=(30, 2)))
    state = json.loads(json.dumps(stats.state_dict()))  # JSON-friendly
    restored = RunningMeanStd((2,))
    restored.load_state_dict(state)
    np.testing.assert_array_equal(restored.mean, stats.mean)
    np.testing.assert_array_equal(restored.var, stats.var)
    assert restored.count == stats.count
    more = rng.normal(size=(5, 2))
    stats.update(more)
    restored.update(more)
    np.testing.assert_array_equal(restored.mean, stats.mean)
    np.testing.assert_array_equal(restored.var, stats.var)


# --------------------------------------------------------------------------- NormalizeObservation


def _cartpole(num_envs=4, seed=0):
    return envs.make("CartPole-v1", num_envs=num_envs, seed=seed)


def _random_actions(steps, num_envs, seed=0):
    return np.random.default_rng(seed).integers(0, 2, size=(steps, num_envs)).astype(np.int64)


def _streams(wrapped, raw, actions):
    """Step both copies with the same actions; the (wrapped, raw) time steps from reset on."""
    pairs = [(wrapped.reset(), raw.reset())]
    for action in actions:
        pairs.append((wrapped.step(action), raw.step(action)))
    return pairs


def test_normalize_observation_against_a_naive_recomputation():
    steps = 400
    with NormalizeObservation(_cartpole()) as wrapped, _cartpole() as raw:
        assert wrapped.observation_spec().dtype == np.float32
        pairs = _streams(wrapped, raw, _random_actions(steps, 4))
        seen = []
        for t, (w, r) in enumerate(pairs):
            assert w.observation.dtype == np.float32
            np.testing.assert_array_equal(w.step_type, r.step_type)
            seen.append(r.observation)
            if t % 50 == 0 or t == steps:  # statistics include the observations just returned
                mean, var = _naive_mean_var(np.concatenate(seen))
                expected = np.clip((r.observation - mean) / np.sqrt(var + 1e-8), -10, 10)
                np.testing.assert_allclose(w.observation, expected, rtol=1e-4, atol=1e-5)
        everything = np.concatenate(seen)
        np.testing.assert_allclose(wrapped.stats.mean, everything.mean(axis=0), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(wrapped.stats.var, everything.var(axis=0), rtol=1e-4)
        # after many steps the normalized observations are standardized (loosely: the statistics drift early on)
        late = np.concatenate([w.observation for w, _ in pairs[steps // 2:]])
        assert np.all(np.abs(late.mean(axis=0)) < 0.2)
        assert np.all((late.std(axis=0) > 0.7) & (late.std(axis=0) < 1.3))
        # raw CartPole observations are far from standardized (the test would notice no normalization)
        assert np.any(np.abs(everything.std(axis=0) - 1.0) > 0.3)


def test_normalize_observation_update_false_freezes_shared_statistics():
    with NormalizeObservation(_cartpole(seed=3)) as trainer:
        trainer.reset()
        for action in _random_actions(100, 4, seed=3):
            trainer.step(action)
        frozen_state = json.loads(json.dumps(trainer.state_dict()))
        with NormalizeObservation(_cartpole(seed=7), stats=trainer.stats, update=False) as evaluator, \
                _cartpole(seed=7) as raw:
            for w, r in _streams(evaluator, raw, _random_actions(60, 4, seed=7)):
                expected = np.clip((r.observation - trainer.stats.mean) / np.sqrt(trainer.stats.var + 1e-8), -10, 10)
                np.testing.assert_allclose(w.observation, expected, rtol=1e-5, atol=1e-6)
            assert evaluator.state_dict() == frozen_state
            assert trainer.state_dict() == frozen_state  # shared and untouched


def test_normalize_observation_clips_at_clip():
    actions = _random_actions(150, 4, seed=2)
    with NormalizeObservation(_cartpole(), clip=0.5) as clipped, NormalizeObservation(_cartpole(), clip=1e9) as free:
        pairs = _streams(clipped, free, actions)
    out = np.concatenate([c.observation for c, _ in pairs])
    unclipped = np.concatenate([f.observation for _, f in pairs])
    assert np.max(np.abs(out)) == pytest.approx(0.5)
    assert np.mean(np.abs(unclipped) > 0.5) > 0.1  # clipping did happen
    np.testing.assert_allclose(out, np.clip(unclipped, -0.5, 0.5), rtol=1e-6, atol=1e-7)


def test_normalize_observation_state_dict_restores_statistics():
    with NormalizeObservation(_cartpole()) as a, NormalizeObservation(_cartpole()) as b:
        a.reset()
        for action in _random_actions(20, 4):
            a.step(action)
        b.load_state_dict(json.loads(json.dumps(a.state_dict())))
        observation = np.random.default_rng(0).normal(size=(3, 4))
        np.testing.assert_array_equal(a.normalize(observation), b.normalize(observation))


# --------------------------------------------------------------------------- NormalizeReward

GAMMA = 0.9


def _pendulum(seed=0):
    # short episodes (truncated after 25 steps) so the discounted returns restart several times
    return envs.make("Pendulum-v1", num_envs=2, seed=seed, max_episode_steps=25)


def _pendulum_actions(steps, seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, size=(steps, 2, 1)).astype(np.float32)


def test_normalize_reward_divides_by_the_std_of_the_discounted_return():
    steps = 120
    with NormalizeReward(_pendulum(), gamma=GAMMA) as wrapped, _pendulum() as raw:
        pairs = _streams(wrapped, raw, _pendulum_actions(steps))
        returns = np.zeros(2)
        seen: list[float] = []
        checked = 0
        for t, (w, r) in enumerate(pairs):
            if t == 0:  # reset: rewards pass through
                np.testing.assert_array_equal(w.reward, r.reward)
                continue
            first = r.is_first()
            # naive: each env's discounted return, restarted at every episode
            returns = np.where(first, 0.0, GAMMA * returns + r.reward.astype(np.float64))
            seen.extend(returns[~first].tolist())
            _, var = _naive_mean_var(np.array(seen))
            expected = np.clip(r.reward / np.sqrt(var + 1e-8), -10, 10)
            np.testing.assert_allclose(w.reward, expected, rtol=1e-5, atol=1e-6)
            assert w.reward.dtype == np.float32
            np.testing.assert_array_equal(w.observation, r.observation)
            np.testing.assert_array_equal(w.discount, r.discount)
            returns = np.where(r.is_last(), 0.0, returns)
            checked += int(np.any(np.abs(w.reward - r.reward) > 1e-3))
        assert checked > steps // 2  # the rewards really were rescaled
        assert sum(int(np.sum(r.is_last())) for _, r in pairs) >= 8  # several episodes ended
        assert float(wrapped.stats.var) == pytest.approx(np.var(seen), rel=1e-4)


def test_episode_statistics_under_normalize_reward_reports_raw_returns():
    steps = 80
    with NormalizeReward(_pendulum(), gamma=GAMMA) as wrapped, _pendulum() as raw:
        pairs = _streams(wrapped, raw, _pendulum_actions(steps, seed=5))
        finished = wrapped.pop_finished()  # forwarded to the EpisodeStatistics inside
        assert wrapped.pop_finished() == []
        # the raw and the scaled return of every episode, from the two streams
        raw_sum, scaled_sum = np.zeros(2), np.zeros(2)
        raw_returns, scaled_returns = [], []
        for w, r in pairs[1:]:
            live = ~r.is_first()
            raw_sum[live] += r.reward[live]
            scaled_sum[live] += w.reward[live]
            for i in np.flatnonzero(r.is_last()):
                raw_returns.append((i, raw_sum[i]))
                scaled_returns.append(scaled_sum[i])
                raw_sum[i] = scaled_sum[i] = 0.0
    assert len(finished) == len(raw_returns) == 6  # 80 steps, episodes of 25 steps plus a reset step, 2 envs
    for record, (index, value), scaled in zip(finished, raw_returns, scaled_returns):
        assert record.env_index == index and record.length == 25 and not record.terminated
        assert record.episode_return == pytest.approx(value, rel=1e-5)
        assert abs(record.episode_return - scaled) > 1.0  # not the scaled rewards


def test_normalize_reward_update_false_and_state_dict():
    with NormalizeReward(_pendulum(), gamma=GAMMA) as trainer:
        trainer.reset()
        for action in _pendulum_actions(40):
            trainer.step(action)
        state = json.loads(json.dumps(trainer.state_dict()))
        with NormalizeReward(_pendulum(seed=9), gamma=GAMMA, update=False) as frozen, _pendulum(seed=9) as raw:
            frozen.load_state_dict(state)
            for w, r in _streams(frozen, raw, _pendulum_actions(30, seed=9))[1:]:
                expected = np.clip(r.reward / np.sqrt(state["var"] + 1e-8), -10, 10)
                np.testing.assert_allclose(w.reward, expected, rtol=1e-5)
            assert frozen.state_dict() == state
