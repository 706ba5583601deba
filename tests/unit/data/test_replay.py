"""Tests of tfrl.data.replay: ring storage, n-step targets, sampling, checkpoints, tf.data."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfrl.data import Transition, UniformReplayBuffer
from tfrl.errors import ConfigError, RunDirError
from tfrl.specs import ArraySpec, BoundedArraySpec, StepType, TimeStep

OBS_SPEC = ArraySpec((2,), np.float32, name="observation")
ACT_SPEC = BoundedArraySpec((), np.int64, 0, 1_000_000, name="action")


def make_buffer(capacity: int, num_envs: int = 1, n_step: int = 1, gamma: float = 0.5, seed: int = 0):
    return UniformReplayBuffer(capacity, OBS_SPEC, ACT_SPEC, num_envs=num_envs, n_step=n_step, gamma=gamma, seed=seed)


def obs_of(ids: np.ndarray, num_envs: int) -> np.ndarray:
    """Observation [id, env] for each env: the id makes every observation unique."""
    return np.stack([np.asarray(ids, np.float32), np.arange(num_envs, dtype=np.float32)], axis=-1)


class Stream:
    """A raw stream of rows that follows the auto-reset rules of a vector environment.

    ``events[t][e]`` is ``(kind, reward)`` with kind "mid", "term" (terminated) or "trunc"
    (time limit). The row after a LAST step is the reset row: invalid, reward 0, discount 1.
    Observation ids are unique and the action of a row is its observation id.
    """

    def __init__(self, events: list[list[tuple[str, float]]], num_envs: int) -> None:
        self.num_envs = num_envs
        next_id = num_envs
        current = np.arange(num_envs)
        prev_last = np.zeros(num_envs, bool)
        self.rows = []
        for row_events in events:
            obs_ids = current.copy()
            reward = np.zeros(num_envs, np.float32)
            discount = np.ones(num_envs, np.float32)
            last = np.zeros(num_envs, bool)
            valid = ~prev_last
            next_ids = np.arange(next_id, next_id + num_envs)
            next_id += num_envs
            for e, (kind, r) in enumerate(row_events):
                if prev_last[e]:
                    continue  # reset row: the action is ignored, FIRST has reward 0, discount 1
                reward[e] = r
                last[e] = kind != "mid"
                discount[e] = 0.0 if kind == "term" else 1.0
            self.rows.append(dict(obs=obs_ids, reward=reward, discount=discount, next_obs=next_ids, last=last, valid=valid))
            current, prev_last = next_ids, last

    def feed(self, buffer: UniformReplayBuffer) -> None:
        for row in self.rows:
            buffer.add_batch(
                obs_of(row["obs"], self.num_envs),
                row["obs"].astype(np.int64),
                row["reward"],
                row["discount"],
                obs_of(row["next_obs"], self.num_envs),
                row["last"],
                row["valid"],
            )

    def expected(self, num_rows_kept: int, n: int, gamma: float) -> dict[int, tuple[float, float, int]]:
        """Naive n-step targets of every valid stored transition: obs id -> (reward, discount, next id)."""
        total = len(self.rows)
        out = {}
        for t in range(max(0, total - num_rows_kept), total):
            for e in range(self.num_envs):
                if not self.rows[t]["valid"][e]:
                    continue
                ret, m, terminated = 0.0, 0, False
                for k in range(n):
                    if t + k >= total:  # nothing written after the newest row
                        break
                    row = self.rows[t + k]
                    ret += gamma**k * float(row["reward"][e])
                    m = k + 1
                    if row["last"][e]:
                        terminated = row["discount"][e] == 0.0
                        break
                next_id = int(self.rows[t + m - 1]["next_obs"][e])
                out[int(self.rows[t]["obs"][e])] = (ret, 0.0 if terminated else gamma**m, next_id)
        return out


def check_against_naive(buffer: UniformReplayBuffer, stream: Stream, n: int, gamma: float, draws: int) -> None:
    expected = stream.expected(buffer.capacity // buffer.num_envs, n, gamma)
    assert len(buffer) == len(expected)
    if not expected:
        with pytest.raises(ConfigError, match="the replay buffer is empty: add transitions before sampling"):
            buffer.sample(1, n_step=n)
        return
    batch = buffer.sample(draws, n_step=n)
    ids = batch.observation[:, 0].astype(int)
    assert set(ids) == set(expected)  # every valid transition drawn, nothing else
    want = np.array([expected[i] for i in ids])
    np.testing.assert_array_equal(batch.action, ids)
    np.testing.assert_allclose(batch.reward, want[:, 0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(batch.discount, want[:, 1], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(batch.next_observation[:, 0].astype(int), want[:, 2].astype(int))
    np.testing.assert_array_equal(batch.observation[:, 1], batch.next_observation[:, 1])  # same env column


# ---------------------------------------------------------------- ring storage


def test_ring_wraps_around_and_keeps_the_last_rows():
    buffer = make_buffer(capacity=10, num_envs=2)  # 5 rows x 2 envs
    for t in range(13):
        valid = np.array([True, t % 4 != 0])
        buffer.add_batch(obs_of([t, t], 2), np.array([t, 100 + t]), np.full(2, t, np.float32),
                         np.ones(2, np.float32), obs_of([t + 1, t + 1], 2), np.zeros(2, bool), valid)
    state = buffer.state_dict()
    assert state["position"] == 13 % 5 and state["filled"] == 5
    for t in range(8, 13):
        row = t % 5
        np.testing.assert_array_equal(state["observation"][row], [[t, 0], [t, 1]])
        np.testing.assert_array_equal(state["action"][row], [t, 100 + t])
        np.testing.assert_array_equal(state["reward"][row], [t, t])
        np.testing.assert_array_equal(state["valid"][row], [True, t % 4 != 0])
    # rows 8..12 kept; env 1 invalid at t = 8 and t = 12
    assert len(buffer) == 10 - 2
    assert buffer.capacity == 10 and buffer.num_envs == 2
    drawn = buffer.sample(64, num_batches=20)
    assert set(drawn.observation[..., 0].ravel().astype(int)) == set(range(8, 13))
    assert not np.any((drawn.action == 108) | (drawn.action == 112))


def test_capacity_rounds_up_to_whole_rows():
    assert make_buffer(capacity=7, num_envs=3).capacity == 9


def test_add_from_time_steps_marks_reset_rows_invalid():
    buffer = make_buffer(capacity=8, num_envs=2)
    first = TimeStep(np.array([StepType.FIRST] * 2, np.int32), np.zeros(2, np.float32), np.ones(2, np.float32), obs_of([0, 1], 2))
    last = TimeStep(np.array([StepType.LAST, StepType.MID], np.int32), np.array([1.0, 2.0], np.float32),
                    np.array([0.0, 1.0], np.float32), obs_of([2, 3], 2))
    after = TimeStep(np.array([StepType.FIRST, StepType.MID], np.int32), np.array([0.0, 3.0], np.float32),
                     np.ones(2, np.float32), obs_of([4, 5], 2))
    buffer.add(first, np.array([0, 1]), last)
    buffer.add(last, np.array([2, 3]), after)
    assert len(buffer) == 3
    batch = buffer.sample(500)
    assert set(batch.action.tolist()) == {0, 1, 3}  # action 2 was given to a LAST step: ignored
    term = batch.action == 0
    np.testing.assert_allclose(batch.reward[term], 1.0)
    np.testing.assert_allclose(batch.discount[term], 0.0)  # terminated: no bootstrap
    np.testing.assert_allclose(batch.discount[batch.action == 3], 0.5)
    assert batch.reward.dtype == np.float32 and batch.discount.dtype == np.float32
    assert batch.action.dtype == np.int64 and batch.observation.dtype == np.float32


# ---------------------------------------------------------------- n-step targets


def test_n_step_hand_worked_example():
    # one env, gamma = 0.5, n = 3; rewards 1, 2, 4 (terminates), reset, 8 (truncated), reset, 16, 32
    events = [[("mid", 1)], [("mid", 2)], [("term", 4)], [("mid", 0)], [("trunc", 8)], [("mid", 0)],
              [("mid", 16)], [("mid", 32)]]
    stream = Stream(events, num_envs=1)
    buffer = make_buffer(capacity=10, n_step=3, gamma=0.5)
    stream.feed(buffer)
    assert len(buffer) == 6  # rows 3 and 5 are reset rows
    batch = buffer.sample(400)
    got = {int(o): (r, d, int(x)) for o, r, d, x in
           zip(batch.observation[:, 0], batch.reward, batch.discount, batch.next_observation[:, 0])}
    assert got == {
        0: (1 + 0.5 * 2 + 0.25 * 4, 0.0, 3),  # terminated at step 2: no bootstrap
        1: (2 + 0.5 * 4, 0.0, 3),
        2: (4.0, 0.0, 3),
        4: (8.0, 0.5, 5),  # truncated: bootstrap from the final observation
        6: (16 + 0.5 * 32, 0.25, 8),  # stops at the newest row: a 2-step return
        7: (32.0, 0.5, 8),
    }
    stream_more = Stream(events + [[("mid", 64)]], num_envs=1)
    buffer.add_batch(obs_of([8], 1), np.array([8]), np.array([64.0], np.float32), np.ones(1, np.float32),
                     obs_of([9], 1), np.zeros(1, bool))
    check_against_naive(buffer, stream_more, n=3, gamma=0.5, draws=500)
    batch = buffer.sample(300)
    six = batch.observation[:, 0] == 6
    np.testing.assert_allclose(batch.reward[six], 16 + 0.5 * 32 + 0.25 * 64)
    np.testing.assert_allclose(batch.discount[six], 0.125)
    # the buffer's own n_step is 3; n_step=1 per call gives the one-step transition
    one = buffer.sample(300, n_step=1)
    six = one.observation[:, 0] == 6
    np.testing.assert_allclose(one.reward[six], 16.0)
    np.testing.assert_allclose(one.discount[six], 0.5)
    np.testing.assert_array_equal(one.next_observation[six, 0], 7)


def test_n_step_never_walks_across_the_write_position():
    buffer = make_buffer(capacity=5, n_step=4, gamma=0.5)  # 5 rows, 1 env
    events = [[("mid", float(t))] for t in range(13)]
    stream = Stream(events, num_envs=1)
    stream.feed(buffer)  # rows 8..12 kept; physical row 3 (t = 8) follows t = 12 in the ring
    batch = buffer.sample(400)
    newest = batch.observation[:, 0] == 12
    np.testing.assert_allclose(batch.reward[newest], 12.0)
    np.testing.assert_allclose(batch.discount[newest], 0.5)
    check_against_naive(buffer, stream, n=4, gamma=0.5, draws=400)


def test_n_step_stops_before_an_invalid_row():
    # raw rows: valid, invalid (no LAST before it), valid; the walk from row 0 must not enter row 1
    buffer = make_buffer(capacity=10, n_step=3, gamma=0.5)
    for t, valid in enumerate([True, False, True]):
        buffer.add_batch(obs_of([t], 1), np.array([t]), np.array([2.0**t], np.float32), np.ones(1, np.float32),
                         obs_of([t + 1], 1), np.zeros(1, bool), np.array([valid]))
    batch = buffer.sample(200)
    zero = batch.action == 0
    assert set(batch.action.tolist()) == {0, 2}
    np.testing.assert_allclose(batch.reward[zero], 1.0)
    np.testing.assert_allclose(batch.discount[zero], 0.5)
    np.testing.assert_array_equal(batch.next_observation[zero, 0], 1)


EVENT = st.tuples(st.sampled_from(["mid", "mid", "mid", "term", "trunc"]), st.integers(-3, 5))


@settings(max_examples=120, deadline=None)
@given(
    data=st.data(),
    num_envs=st.integers(1, 3),
    capacity=st.integers(1, 14),
    n=st.integers(1, 4),
    gamma=st.sampled_from([0.5, 0.9, 1.0, 0.0]),
    num_rows=st.integers(0, 30),
)
def test_n_step_matches_naive_loop(data, num_envs, capacity, n, gamma, num_rows):
    events = data.draw(st.lists(st.lists(EVENT, min_size=num_envs, max_size=num_envs), min_size=num_rows, max_size=num_rows))
    stream = Stream(events, num_envs)
    buffer = make_buffer(capacity, num_envs=num_envs, n_step=n, gamma=gamma, seed=1)
    stream.feed(buffer)
    check_against_naive(buffer, stream, n=n, gamma=gamma, draws=1500)


# ---------------------------------------------------------------- sampling


def filled_buffer(seed: int = 0, n_step: int = 1) -> UniformReplayBuffer:
    rng = np.random.default_rng(123)
    events = [[(str(rng.choice(["mid"] * 6 + ["term", "trunc"])), float(rng.integers(0, 9))) for _ in range(3)]
              for _ in range(40)]
    buffer = make_buffer(capacity=90, num_envs=3, n_step=n_step, gamma=0.9, seed=seed)
    Stream(events, 3).feed(buffer)
    return buffer


def test_sampling_is_uniform_over_valid_transitions():
    buffer = filled_buffer()
    state = buffer.state_dict()
    valid_ids = set(state["observation"][..., 0][state["valid"]].astype(int))
    invalid_ids = set(state["observation"][..., 0][~state["valid"]].astype(int))
    assert invalid_ids and len(valid_ids) == len(buffer)
    draws = buffer.sample(100, num_batches=300).observation[..., 0].ravel().astype(int)
    ids, counts = np.unique(draws, return_counts=True)
    assert set(ids) == valid_ids
    expected = draws.size / len(valid_ids)
    assert counts.min() > 0.75 * expected and counts.max() < 1.25 * expected


def test_sampling_falls_back_when_almost_all_slots_are_invalid():
    buffer = make_buffer(capacity=2000)
    for t in range(2000):
        buffer.add_batch(obs_of([t], 1), np.array([t]), np.ones(1, np.float32), np.ones(1, np.float32),
                         obs_of([t + 1], 1), np.zeros(1, bool), np.array([t == 1234]))
    assert len(buffer) == 1
    np.testing.assert_array_equal(buffer.sample(50).action, 1234)


def test_seeded_sampling_is_reproducible():
    a, b, c = filled_buffer(seed=7, n_step=3), filled_buffer(seed=7, n_step=3), filled_buffer(seed=8, n_step=3)
    for _ in range(3):
        x, y, z = a.sample(32, num_batches=4), b.sample(32, num_batches=4), c.sample(32, num_batches=4)
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
        assert not np.array_equal(x.observation, z.observation)


def test_sample_shapes_and_dtypes():
    buffer = filled_buffer(n_step=2)
    batch = buffer.sample(16, num_batches=5)
    assert isinstance(batch, Transition)
    assert batch.observation.shape == (5, 16, 2) and batch.next_observation.shape == (5, 16, 2)
    assert batch.action.shape == (5, 16) and batch.reward.shape == (5, 16) and batch.discount.shape == (5, 16)
    assert [x.dtype for x in batch] == [np.float32, np.int64, np.float32, np.float32, np.float32]
    assert buffer.sample(3).observation.shape == (3, 2)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(capacity=0), "capacity must be an integer >= 1"),
        (dict(capacity=10, n_step=0), "n_step must be an integer >= 1"),
        (dict(capacity=10, gamma=1.5), r"gamma must lie in \[0, 1\]"),
        (dict(capacity=10, num_envs=0), "num_envs must be an integer >= 1"),
    ],
)
def test_bad_configuration_is_a_config_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        UniformReplayBuffer(observation_spec=OBS_SPEC, action_spec=ACT_SPEC, **kwargs)


def test_bad_sampling_arguments_and_empty_buffer():
    buffer = make_buffer(capacity=10)
    with pytest.raises(ConfigError, match="the replay buffer is empty: add transitions before sampling"):
        buffer.sample(4)
    buffer.add_batch(obs_of([0], 1), np.array([0]), np.ones(1, np.float32), np.ones(1, np.float32),
                     obs_of([1], 1), np.zeros(1, bool))
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1"):
        buffer.sample(0)
    with pytest.raises(ConfigError, match="n_step must be an integer >= 1"):
        buffer.sample(4, n_step=0)


def test_shape_and_dtype_mismatch_is_reported():
    buffer = make_buffer(capacity=10, num_envs=2)
    good = dict(observation=obs_of([0, 1], 2), action=np.array([0, 1]), reward=np.ones(2, np.float32),
                discount=np.ones(2, np.float32), next_observation=obs_of([2, 3], 2), last=np.zeros(2, bool))
    with pytest.raises(ConfigError, match=r"observation has shape \(2, 3\), expected \(2, 2\)"):
        buffer.add_batch(**{**good, "observation": np.zeros((2, 3), np.float32)})
    with pytest.raises(ConfigError, match="action has dtype float32, which cannot be stored as the spec's dtype int64"):
        buffer.add_batch(**{**good, "action": np.zeros(2, np.float32)})
    buffer.add_batch(**good)
    with pytest.raises(ConfigError, match=r"reward has shape \(3,\), expected \(2,\)"):
        buffer.add_batch(**{**good, "reward": np.ones(3, np.float32)})
    assert len(buffer) == 2


# ---------------------------------------------------------------- checkpoints


def test_state_dict_round_trip_partial_and_wrapped():
    for rows in (20, 45):  # 20 rows: partly filled; 45 rows: wrapped around (30 rows of storage)
        source = filled_buffer(seed=3, n_step=3)
        target = make_buffer(capacity=90, num_envs=3, n_step=3, gamma=0.9, seed=99)
        rng = np.random.default_rng(rows)
        for t in range(rows - 40 if rows > 40 else 0):
            source.add_batch(obs_of([1000 + t] * 3, 3), np.full(3, t), rng.random(3).astype(np.float32),
                             np.ones(3, np.float32), obs_of([2000 + t] * 3, 3), np.zeros(3, bool))
        source.sample(8)  # move the RNG
        target.load_state_dict(source.state_dict())
        assert len(target) == len(source)
        for x, y in zip(source.sample(64, num_batches=3), target.sample(64, num_batches=3)):
            np.testing.assert_array_equal(x, y)
        # both continue identically after more adds
        for buf in (source, target):
            buf.add_batch(obs_of([5000] * 3, 3), np.full(3, 5000), np.ones(3, np.float32), np.ones(3, np.float32),
                          obs_of([5001] * 3, 3), np.zeros(3, bool))
        for x, y in zip(source.sample(64), target.sample(64)):
            np.testing.assert_array_equal(x, y)


def test_partial_state_dict_copies_only_filled_rows():
    buffer = make_buffer(capacity=100, num_envs=2)
    for t in range(3):
        buffer.add_batch(obs_of([t, t], 2), np.array([t, t]), np.ones(2, np.float32), np.ones(2, np.float32),
                         obs_of([t + 1, t + 1], 2), np.zeros(2, bool))
    state = buffer.state_dict()
    assert state["observation"].shape == (3, 2, 2) and state["filled"] == 3 and state["position"] == 3


def test_save_load_round_trip_continues_sampling_identically(tmp_path):
    source = filled_buffer(seed=5, n_step=2)
    source.sample(10)
    path = str(tmp_path / "replay.npz")
    source.save(path)
    assert os.listdir(tmp_path) == ["replay.npz"]  # the temporary file was renamed
    target = make_buffer(capacity=90, num_envs=3, n_step=2, gamma=0.9, seed=0)
    target.load(path)
    assert len(target) == len(source)
    for _ in range(3):
        for x, y in zip(source.sample(32, num_batches=2), target.sample(32, num_batches=2)):
            np.testing.assert_array_equal(x, y)
    source.save(path)  # overwriting an existing checkpoint works too
    target.load(path)
    np.testing.assert_array_equal(source.sample(8).observation, target.sample(8).observation)


def test_load_into_a_different_buffer_is_refused(tmp_path):
    source = filled_buffer()
    with pytest.raises(ConfigError, match="rows x 3 envs, this buffer"):
        make_buffer(capacity=90, num_envs=2).load_state_dict(source.state_dict())
    other_obs = UniformReplayBuffer(90, ArraySpec((3,), np.float32), ACT_SPEC, num_envs=3)
    with pytest.raises(ConfigError, match="the specs differ"):
        other_obs.load_state_dict(source.state_dict())
    with pytest.raises(RunDirError, match="does not exist"):
        source.load(str(tmp_path / "missing.npz"))


# ---------------------------------------------------------------- tf.data


def test_as_dataset_shapes_dtypes_and_values():
    tf = pytest.importorskip("tensorflow")
    buffer, twin = filled_buffer(seed=11, n_step=1), filled_buffer(seed=11, n_step=1)
    dataset = buffer.as_dataset(batch_size=24, num_steps=3)
    spec = dataset.element_spec
    assert isinstance(spec, Transition)
    assert spec.observation.shape == (24, 2) and spec.observation.dtype == tf.float32
    assert spec.action.shape == (24,) and spec.action.dtype == tf.int64
    assert spec.reward.shape == (24,) and spec.discount.shape == (24,) and spec.reward.dtype == tf.float32
    assert spec.next_observation.shape == (24, 2)
    first = next(iter(dataset))
    assert isinstance(first, Transition)
    expected = twin.sample(24, n_step=3)  # same seed, same data: the first batch drawn
    for got, want in zip(first, expected):
        np.testing.assert_array_equal(got.numpy(), want)
    # a dataset batch can feed a compiled function
    total = tf.function(lambda b: tf.reduce_sum(b.reward + b.discount))
    for batch in buffer.as_dataset(8, num_parallel_calls=2).take(3):
        assert batch.observation.shape == (8, 2)
        assert np.isfinite(total(batch).numpy())
