"""Tests of proportional prioritized replay in tfrl.data.ring, through both replay buffers."""

from __future__ import annotations

import numpy as np
import pytest
from test_frame_replay import OBS_SPEC as FRAME_SPEC
from test_frame_replay import frame_stream
from test_replay import ACT_SPEC, OBS_SPEC, Stream, obs_of

from tfrl.data import (
    FrameStackReplayBuffer,
    PrioritizedBatch,
    Transition,
    UniformReplayBuffer,
)
from tfrl.errors import ConfigError


def make_buffer(capacity: int, num_envs: int = 1, n_step: int = 1, gamma: float = 0.5, seed: int = 0,
                alpha: float | None = 1.0, epsilon: float = 1e-6) -> UniformReplayBuffer:
    return UniformReplayBuffer(capacity, OBS_SPEC, ACT_SPEC, num_envs=num_envs, n_step=n_step, gamma=gamma, seed=seed,
                               priority_alpha=alpha, priority_epsilon=epsilon)


def add_row(buffer: UniformReplayBuffer, ids, valid=None) -> None:
    """One row whose observation ids (and actions) are ``ids``, reward 1, no episode end."""
    ids = np.asarray(ids)
    envs = ids.size
    buffer.add_batch(obs_of(ids, envs), ids.astype(np.int64), np.ones(envs, np.float32), np.ones(envs, np.float32),
                     obs_of(ids + 1000, envs), np.zeros(envs, bool), None if valid is None else np.asarray(valid))


def priorities(buffer: UniformReplayBuffer) -> np.ndarray:
    return buffer.state_dict()["priorities"]


def filled_buffer(seed: int = 0, alpha: float | None = 0.6, n_step: int = 3) -> UniformReplayBuffer:
    """90 slots of 3 envs, 40 rows written (wrapped), with terminations, truncations and reset rows."""
    rng = np.random.default_rng(123)
    events = [[(str(rng.choice(["mid"] * 6 + ["term", "trunc"])), float(rng.integers(0, 9))) for _ in range(3)]
              for _ in range(40)]
    buffer = make_buffer(90, num_envs=3, n_step=n_step, gamma=0.9, seed=seed, alpha=alpha)
    Stream(events, 3).feed(buffer)
    return buffer


def assert_same_batch(a: PrioritizedBatch, b: PrioritizedBatch) -> None:
    for x, y in zip(a.transition, b.transition):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.slots, b.slots)


# ---------------------------------------------------------------- probabilities and weights


def test_sampling_frequencies_match_the_priorities():
    buffer = make_buffer(8, alpha=0.5)
    for t in range(8):
        add_row(buffer, [t])
    errors = np.array([0.25, 1.0, 2.25, 4.0, 6.25, 9.0, 12.25, 16.0])
    buffer.update_priorities(np.arange(8), errors)
    p = np.sqrt(errors + 1e-6)  # (|delta| + eps) ** alpha
    np.testing.assert_allclose(priorities(buffer), p, rtol=1e-15)
    expected = p / p.sum()
    batch = buffer.sample_prioritized(1000, num_batches=200, beta=0.4)
    n = batch.slots.size
    counts = np.bincount(batch.slots.ravel(), minlength=8)
    # Each count is a sum of independent Bernoulli draws (one per segment of a batch) with mean n P(i):
    # its variance is at most the binomial n P (1 - P), so 5 binomial standard errors bound it.
    bound = 5 * np.sqrt(n * expected * (1 - expected))
    assert np.all(np.abs(counts - n * expected) < bound), (counts, n * expected)
    # with alpha ignored (P proportional to |delta|) slot 7 would be drawn 31% of the time, not 22%
    assert abs(counts[7] / n - 16 / errors.sum()) > 0.05
    # the transitions are those of the slots drawn (observation id = slot here)
    np.testing.assert_array_equal(batch.transition.observation[..., 0], batch.slots)
    np.testing.assert_array_equal(batch.transition.action, batch.slots)
    # the weights: (P(i) / min of the batch) ** -beta
    prob = expected[batch.slots]
    want = (prob / prob.min(axis=1, keepdims=True)) ** -0.4
    np.testing.assert_allclose(batch.weights, want, rtol=1e-6)
    np.testing.assert_array_equal(batch.weights.max(axis=1), 1.0)


def test_importance_weights_worked_out_by_hand():
    buffer = make_buffer(4, alpha=1.0, epsilon=0.5)
    for t in range(4):
        add_row(buffer, [t])
    buffer.update_priorities(np.array([0, 1, 2, 3]), np.array([0.5, -0.5, 1.5, -3.5]))
    np.testing.assert_array_equal(priorities(buffer), [1.0, 1.0, 2.0, 4.0])  # |delta| + 0.5, total 8
    # batch of 8: segments of width 1 fall on slots 0, 1, 2, 2, 3, 3, 3, 3 whatever the uniform draws
    # P = 1/8, 1/8, 2/8, 4/8 and N = 4; beta 1: w = 1 / (N P) = 2, 2, 1, 1/2, divided by the largest, 2
    batch = buffer.sample_prioritized(8, beta=1.0)
    np.testing.assert_array_equal(batch.slots, [0, 1, 2, 2, 3, 3, 3, 3])
    np.testing.assert_allclose(batch.weights, [1, 1, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25], rtol=1e-7)
    # beta 0.5: w = (N P) ** -0.5 = sqrt(2), sqrt(2), 1, sqrt(1/2), divided by sqrt(2)
    batch = buffer.sample_prioritized(8, beta=0.5)
    half = np.sqrt(0.5)
    np.testing.assert_allclose(batch.weights, [1, 1, half, half, 0.5, 0.5, 0.5, 0.5], rtol=1e-7)
    np.testing.assert_array_equal(buffer.sample_prioritized(8, beta=0.0).weights, np.ones(8))
    # batches of 2: [0, 4) holds slots 0, 1 or 2, [4, 8) slot 3. Slot 3's weight depends on the batch:
    # beside slot 0 or 1 (P = 1/8) it is (4/1) ** -beta, beside slot 2 (P = 2/8) (4/2) ** -beta
    for beta, beside_small, beside_two in ((1.0, 0.25, 0.5), (0.5, 0.5, half)):
        batch = buffer.sample_prioritized(2, num_batches=300, beta=beta)
        assert batch.weights.shape == batch.slots.shape == (300, 2)
        np.testing.assert_array_equal(batch.slots[:, 1], 3)
        np.testing.assert_array_equal(batch.weights[:, 0], 1.0)
        small = batch.slots[:, 0] < 2
        assert small.any() and (~small).any()
        np.testing.assert_allclose(batch.weights[small, 1], beside_small, rtol=1e-7)
        np.testing.assert_allclose(batch.weights[~small, 1], beside_two, rtol=1e-7)


def test_each_batch_is_stratified_over_the_total():
    buffer = make_buffer(8, alpha=1.0)
    for t in range(8):
        add_row(buffer, [t])  # all priorities 1: segment k of a batch of 8 is exactly slot k
    batch = buffer.sample_prioritized(8, num_batches=20)
    np.testing.assert_array_equal(batch.slots, np.tile(np.arange(8), (20, 1)))
    assert batch.slots.dtype == np.int64 and batch.weights.dtype == np.float32


def test_alpha_zero_gives_uniform_probabilities():
    buffer = make_buffer(6, alpha=0.0)
    for t in range(6):
        add_row(buffer, [t])
    buffer.update_priorities(np.arange(6), np.array([0.0, 1e-3, 1.0, 10.0, 1e4, -7.0]))
    np.testing.assert_array_equal(priorities(buffer), np.ones(6))
    batch = buffer.sample_prioritized(6, num_batches=50, beta=1.0)
    np.testing.assert_array_equal(np.sort(batch.slots, axis=1), np.tile(np.arange(6), (50, 1)))
    np.testing.assert_array_equal(batch.weights, 1.0)


# ---------------------------------------------------------------- priorities of new and invalid slots


def test_new_transitions_get_the_largest_priority_and_invalid_slots_none():
    buffer = make_buffer(8, num_envs=2, alpha=1.0, epsilon=0.25)  # 4 rows x 2 envs
    add_row(buffer, [0, 1])
    add_row(buffer, [2, 3], valid=[True, False])
    np.testing.assert_array_equal(priorities(buffer), [1, 1, 1, 0, 0, 0, 0, 0])  # 1 at first
    buffer.update_priorities(np.array([0, 1]), np.array([2.75, 0.5]))
    np.testing.assert_array_equal(priorities(buffer)[:4], [3.0, 0.75, 1, 0])
    assert buffer.state_dict()["max_priority"] == 3.0
    add_row(buffer, [4, 5], valid=[False, True])
    add_row(buffer, [6, 7])
    np.testing.assert_array_equal(priorities(buffer), [3.0, 0.75, 1, 0, 0, 3.0, 3.0, 3.0])
    buffer.update_priorities(np.array([5]), np.array([0.0]))  # a lower priority leaves the largest as it was
    add_row(buffer, [8, 9], valid=[False, True])  # overwrites row 0: its priorities are replaced
    np.testing.assert_array_equal(priorities(buffer), [0, 3.0, 1, 0, 0, 0.25, 3.0, 3.0])
    drawn = buffer.sample_prioritized(64, num_batches=50).transition.action
    assert set(np.unique(drawn)) == {2, 5, 6, 7, 9}  # never the reset slots 3, 4 and 8
    # a slot drawn, then overwritten by a reset slot before its update: it keeps priority 0
    batch = buffer.sample_prioritized(64)
    slot_of_2 = int(batch.slots[batch.transition.action == 2][0])
    add_row(buffer, [10, 11], valid=[False, False])  # over row 1, which held 2 and 3
    buffer.update_priorities(np.array([slot_of_2, 1]), np.array([100.0, 1.0]))  # slot 1 holds 9
    np.testing.assert_array_equal(priorities(buffer)[[1, slot_of_2]], [1.25, 0.0])
    assert buffer.state_dict()["max_priority"] == 3.0
    # the last of two errors for one slot wins
    buffer.update_priorities(np.array([[6, 7], [6, 6]]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(priorities(buffer)[6:], [4.25, 2.25])


def test_auto_reset_slots_from_time_steps_are_never_drawn():
    rng = np.random.default_rng(4)
    events = [[(str(rng.choice(["mid", "mid", "term", "trunc"])), 1.0) for _ in range(2)] for _ in range(30)]
    stream = Stream(events, 2)
    buffer = make_buffer(24, num_envs=2, n_step=2, alpha=0.7)
    stream.feed(buffer)
    state = buffer.state_dict()
    invalid = ~state["valid"].reshape(-1)
    assert invalid.any()
    np.testing.assert_array_equal(state["priorities"][invalid], 0.0)
    slots = buffer.sample_prioritized(50, num_batches=40).slots
    assert not np.any(invalid[slots])
    assert set(np.unique(slots)) == set(np.flatnonzero(~invalid))


# ---------------------------------------------------------------- n-step


def test_n_step_targets_of_prioritized_draws_hand_worked():
    # gamma 0.5, n 3, two envs; obs id = 2 t + env, next obs id = 2 t + 2 + env; "-" is a reset row.
    # env 0: 1, 2, 4 (terminates), -, 8, 16 (truncated), -, 32
    # env 1: 1, 2 (truncated), -, 4, 8, 16 (terminates), -, 32
    mid, term, trunc, reset = ("mid",), ("term",), ("trunc",), ("mid",)
    env0 = [mid + (1,), mid + (2,), term + (4,), reset + (0,), mid + (8,), trunc + (16,), reset + (0,), mid + (32,)]
    env1 = [mid + (1,), trunc + (2,), reset + (0,), mid + (4,), mid + (8,), term + (16,), reset + (0,), mid + (32,)]
    stream = Stream([[a, b] for a, b in zip(env0, env1)], num_envs=2)
    expected = {
        0: (1 + 0.5 * 2 + 0.25 * 4, 0.0, 6), 2: (2 + 0.5 * 4, 0.0, 6), 4: (4.0, 0.0, 6),  # terminated
        8: (8 + 0.5 * 16, 0.25, 12), 10: (16.0, 0.5, 12),  # truncated: bootstrap from the final observation
        14: (32.0, 0.5, 16),  # the newest row: a 1-step return
        1: (1 + 0.5 * 2, 0.25, 5), 3: (2.0, 0.5, 5),  # truncated
        7: (4 + 0.5 * 8 + 0.25 * 16, 0.0, 13), 9: (8 + 0.5 * 16, 0.0, 13), 11: (16.0, 0.0, 13),  # terminated
        15: (32.0, 0.5, 17),
    }
    assert stream.expected(8, 3, 0.5) == {k: (r, d, x) for k, (r, d, x) in expected.items()}
    buffer = make_buffer(16, num_envs=2, n_step=3, alpha=1.0)
    uniform = make_buffer(16, num_envs=2, n_step=3, alpha=None)
    stream.feed(buffer)
    stream.feed(uniform)
    ids = np.array(sorted(expected))
    slots = (ids // 2) * 2 + ids % 2  # row t, env e: slot 2 t + e = id
    buffer.update_priorities(slots, np.arange(1.0, ids.size + 1))  # unequal priorities
    batch = buffer.sample_prioritized(48, num_batches=40, beta=0.6)
    got = batch.transition
    drawn = got.observation[..., 0].astype(int)
    assert set(np.unique(drawn)) == set(expected)
    want = np.array([expected[i] for i in drawn.ravel()]).reshape(drawn.shape + (3,))
    np.testing.assert_allclose(got.reward, want[..., 0], rtol=1e-6)
    np.testing.assert_allclose(got.discount, want[..., 1], rtol=1e-6)
    np.testing.assert_array_equal(got.next_observation[..., 0].astype(int), want[..., 2])
    np.testing.assert_array_equal(got.observation[..., 1], batch.slots % 2)  # the env column
    # exactly the uniform buffer's walk for the same slots
    for x, y in zip(got, uniform._gather(batch.slots.ravel(), 3)):
        np.testing.assert_array_equal(x.reshape(y.shape), y)
    assert got.observation.shape == (40, 48, 2) and got.reward.shape == (40, 48)
    one = buffer.sample_prioritized(100, n_step=1).transition  # the n_step override
    first = one.observation[:, 0] == 0
    assert first.any()
    np.testing.assert_allclose(one.reward[first], 1.0)
    np.testing.assert_allclose(one.discount[first], 0.5)


# ---------------------------------------------------------------- frame stacks


def frame_pair(capacity: int, num_envs: int, seed: int = 3):
    kwargs = {"num_envs": num_envs, "n_step": 3, "gamma": 0.9, "seed": seed}
    return (FrameStackReplayBuffer(capacity, FRAME_SPEC, ACT_SPEC, priority_alpha=0.6, **kwargs),
            UniformReplayBuffer(capacity, FRAME_SPEC, ACT_SPEC, **kwargs))


def test_frame_stack_buffer_returns_correct_stacks_and_never_an_unsampleable_slot():
    # the hand example of test_frame_replay: capacity 5, K = 4; after 12 steps only slots 0 and 1 can be drawn
    events = [["mid"], ["mid"], ["term"], ["mid"], ["mid"], ["mid"], ["mid"], ["mid"], ["trunc"], ["mid"],
              ["mid"], ["mid"]]
    frames, naive = frame_pair(5, 1)
    for time_step, action, next_time_step in frame_stream(events, 1, "repeat_first", seed=7):
        frames.add(time_step, action, next_time_step)
        naive.add(time_step, action, next_time_step)
    assert list(frames._sampleable(np.arange(5))) == [True, True, False, False, False]
    assert len(frames) == 2
    leaves = frames.state_dict()["priorities"]
    # ring rows 2, 3, 4 hold steps 7, 8 and the reset row 9: valid but unreachable slots keep a priority
    assert leaves[2] > 0 and leaves[3] > 0 and leaves[4] == 0
    frames.update_priorities(np.array([2, 3]), np.array([1e6, 1e6]))  # nearly all the mass: the fallback draws
    batch = frames.sample_prioritized(16, num_batches=20)
    assert set(np.unique(batch.slots)) == {0, 1}
    for x, y in zip(batch.transition, naive._gather(batch.slots.ravel(), 3)):
        np.testing.assert_array_equal(x.reshape(y.shape), y)
    assert batch.transition.observation.shape == (20, 16, *FRAME_SPEC.shape)
    # weights: N = len = 2, P from the whole tree's total
    p = frames.state_dict()["priorities"]
    prob = p[batch.slots] / p.sum()
    np.testing.assert_allclose(batch.weights, (prob / prob.min(axis=1, keepdims=True)) ** -0.4, rtol=1e-6)


@pytest.mark.parametrize("num_envs", [1, 3])
def test_frame_stack_prioritized_draws_match_the_naive_buffer(num_envs):
    rng = np.random.default_rng(num_envs)
    events = [[str(rng.choice(["mid"] * 6 + ["term", "trunc"])) for _ in range(num_envs)] for _ in range(60)]
    frames, naive = frame_pair(10 * num_envs, num_envs)  # 10 rows: the 4 oldest may be unsampleable
    for t, (time_step, action, next_time_step) in enumerate(frame_stream(events, num_envs, "zeros", seed=2)):
        frames.add(time_step, action, next_time_step)
        naive.add(time_step, action, next_time_step)
        if t >= 12 and t % 3 == 0:
            batch = frames.sample_prioritized(32, num_batches=2)
            assert np.all(frames._sampleable(batch.slots.ravel()))
            for x, y in zip(batch.transition, naive._gather(batch.slots.ravel(), 3)):
                np.testing.assert_array_equal(x.reshape(y.shape), y)
            frames.update_priorities(batch.slots, rng.normal(size=batch.slots.shape))


# ---------------------------------------------------------------- checkpoints


def test_state_dict_round_trip_restores_priorities_and_continues_sampling_identically():
    source = filled_buffer(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(3):
        batch = source.sample_prioritized(16, num_batches=2)
        source.update_priorities(batch.slots, rng.normal(size=batch.slots.shape) * 3)
    state = source.state_dict()
    assert state["priorities"].dtype == np.float64 and state["priorities"].shape == (90,)
    target = make_buffer(90, num_envs=3, n_step=3, gamma=0.9, seed=99, alpha=0.6)
    target.load_state_dict(state)
    np.testing.assert_array_equal(target.state_dict()["priorities"], state["priorities"])
    assert target.state_dict()["max_priority"] == state["max_priority"] > 1.0
    for _ in range(3):
        a, b = source.sample_prioritized(32, num_batches=3, beta=0.5), target.sample_prioritized(32, num_batches=3,
                                                                                                   beta=0.5)
        assert_same_batch(a, b)
        errors = rng.normal(size=a.slots.shape)
        source.update_priorities(a.slots, errors)
        target.update_priorities(b.slots, errors)
        for buffer in (source, target):  # new rows get the same largest priority
            add_row(buffer, [500, 501, 502])
    np.testing.assert_array_equal(source.state_dict()["priorities"], target.state_dict()["priorities"])


def test_save_load_round_trip_continues_sampling_identically(tmp_path):
    source = filled_buffer(seed=5)
    batch = source.sample_prioritized(30)
    source.update_priorities(batch.slots, np.linspace(-4, 4, 30))
    path = tmp_path / "replay.npz"
    source.save(path)
    target = make_buffer(90, num_envs=3, n_step=3, gamma=0.9, seed=0, alpha=0.6)
    add_row(target, [1, 2, 3])  # a used buffer: its priorities are replaced
    target.load(path)
    np.testing.assert_array_equal(target.state_dict()["priorities"], source.state_dict()["priorities"])
    for _ in range(3):
        assert_same_batch(source.sample_prioritized(16, num_batches=2), target.sample_prioritized(16, num_batches=2))
    # a frame-stack buffer too
    events = [["mid"], ["mid"], ["term"]] + [["mid"]] * 9
    frames, _ = frame_pair(8, 1)
    for time_step, action, next_time_step in frame_stream(events, 1, "repeat_first", seed=1):
        frames.add(time_step, action, next_time_step)
    frames.update_priorities(np.arange(8), np.arange(8.0))
    frames.save(tmp_path / "frames.npz")
    restored, _ = frame_pair(8, 1, seed=42)
    restored.load(tmp_path / "frames.npz")
    assert_same_batch(frames.sample_prioritized(8, num_batches=3), restored.sample_prioritized(8, num_batches=3))


def test_uniform_and_prioritized_states_do_not_mix(tmp_path):
    prioritized, uniform = filled_buffer(alpha=0.6), filled_buffer(alpha=None)
    assert prioritized.prioritized and not uniform.prioritized
    assert "priorities" not in uniform.state_dict()  # the uniform format is unchanged
    with pytest.raises(ConfigError, match="state is a uniform buffer's, this buffer is prioritized: build the buffer "
                                          "without priority_alpha"):
        filled_buffer(alpha=0.6).load_state_dict(uniform.state_dict())
    prioritized.save(tmp_path / "p.npz")
    with pytest.raises(ConfigError, match="state is a prioritized buffer's, this buffer is uniform: build the buffer "
                                          "with priority_alpha"):
        filled_buffer(alpha=None).load(tmp_path / "p.npz")
    state = prioritized.state_dict()
    with pytest.raises(ConfigError, match=r"priorities are float32\[90\], expected float64\[90\]"):
        filled_buffer().load_state_dict({**state, "priorities": state["priorities"].astype(np.float32)})
    bad = state["priorities"].copy()
    bad[0] = np.nan
    with pytest.raises(ConfigError, match="priorities must be finite"):
        filled_buffer().load_state_dict({**state, "priorities": bad})
    # the refused loads left the buffers as they were: they still sample
    assert len(filled_buffer()) > 0


# ---------------------------------------------------------------- validation


def test_update_priorities_rejects_non_finite_errors_and_bad_slots():
    buffer = make_buffer(8)
    for t in range(4):
        add_row(buffer, [t])
    before = priorities(buffer)
    with pytest.raises(ConfigError, match=r"update_priorities: 1 of 3 TD errors are not finite \(NaN or inf\)"):
        buffer.update_priorities(np.array([0, 1, 2]), np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ConfigError, match="2 of 2 TD errors are not finite"):
        buffer.update_priorities(np.array([0, 1]), np.array([np.inf, -np.inf]))
    np.testing.assert_array_equal(priorities(buffer), before)
    with pytest.raises(ConfigError, match=r"slots have shape \(2,\) and td_errors \(3,\)"):
        buffer.update_priorities(np.array([0, 1]), np.ones(3))
    with pytest.raises(ConfigError, match=r"slots must lie in \[0, 8\)"):
        buffer.update_priorities(np.array([8]), np.ones(1))
    with pytest.raises(ConfigError, match="slots must be integers"):
        buffer.update_priorities(np.array([0.0]), np.ones(1))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"priority_alpha": 1.5}, r"priority_alpha must lie in \[0, 1\], got 1.5"),
        ({"priority_alpha": -0.1}, r"priority_alpha must lie in \[0, 1\]"),
        ({"priority_alpha": True}, r"priority_alpha must lie in \[0, 1\]"),
        ({"priority_alpha": 0.6, "priority_epsilon": 0.0}, "priority_epsilon must be a finite number > 0, got 0.0"),
        ({"priority_epsilon": float("inf")}, "priority_epsilon must be a finite number > 0"),
    ],
)
def test_bad_priority_settings_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        UniformReplayBuffer(10, OBS_SPEC, ACT_SPEC, **kwargs)


def test_sampling_errors():
    uniform = make_buffer(8, alpha=None)
    add_row(uniform, [0])
    message = r"sample_prioritized needs a prioritized replay buffer: build it with priority_alpha \(e.g. " \
              r"UniformReplayBuffer\(\.\.\., priority_alpha=0\.6\)\)"
    with pytest.raises(ConfigError, match=message):
        uniform.sample_prioritized(4)
    with pytest.raises(ConfigError, match="update_priorities needs a prioritized replay buffer"):
        uniform.update_priorities(np.array([0]), np.ones(1))
    buffer = make_buffer(8)
    with pytest.raises(ConfigError, match="the replay buffer is empty: add transitions before sampling"):
        buffer.sample_prioritized(4)
    add_row(buffer, [0], valid=[False])
    with pytest.raises(ConfigError, match="the replay buffer is empty"):
        buffer.sample_prioritized(4)
    add_row(buffer, [1])
    with pytest.raises(ConfigError, match=r"beta must lie in \[0, 1\], got 1.5"):
        buffer.sample_prioritized(4, beta=1.5)
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1"):
        buffer.sample_prioritized(0)
    with pytest.raises(ConfigError, match="num_batches must be an integer >= 1 or None"):
        buffer.sample_prioritized(4, num_batches=0)
    np.testing.assert_array_equal(buffer.sample_prioritized(4).slots, 1)
    assert "priority_alpha=1.0" in repr(buffer) and "priority" not in repr(uniform)


def test_seeded_prioritized_sampling_is_reproducible_and_uniform_sampling_still_works():
    a, b, c = filled_buffer(seed=7), filled_buffer(seed=7), filled_buffer(seed=8)
    for _ in range(3):
        x, y, z = (buffer.sample_prioritized(32, num_batches=4) for buffer in (a, b, c))
        assert_same_batch(x, y)
        assert not np.array_equal(x.slots, z.slots)
        for buffer, batch in ((a, x), (b, y)):
            buffer.update_priorities(batch.slots, batch.transition.reward)
    assert isinstance(a.sample(8), Transition)  # uniform draws from a prioritized buffer
    assert isinstance(x, PrioritizedBatch) and x.transition.observation.shape == (4, 32, 2)
