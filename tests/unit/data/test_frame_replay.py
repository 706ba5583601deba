"""Tests of tfrl.data.frame_replay: frame-once storage gives back exactly the stacks that were added."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfrl.data import FrameStackReplayBuffer, Transition, UniformReplayBuffer
from tfrl.errors import ConfigError, RunDirError
from tfrl.specs import ArraySpec, BoundedArraySpec, StepType, TimeStep

H, W, K = 6, 5, 4
OBS_SPEC = ArraySpec((H, W, K), np.uint8, name="observation")
ACT_SPEC = BoundedArraySpec((), np.int64, 0, 17, name="action")


def make_pair(capacity: int, num_envs: int, n_step: int, gamma: float = 0.9, seed: int = 3):
    kwargs = dict(num_envs=num_envs, n_step=n_step, gamma=gamma, seed=seed)
    return (
        FrameStackReplayBuffer(capacity, OBS_SPEC, ACT_SPEC, **kwargs),
        UniformReplayBuffer(capacity, OBS_SPEC, ACT_SPEC, **kwargs),
    )


def reset_stack(rng: np.random.Generator, padding: str) -> np.ndarray:
    """The stack a frame-stacking env returns at reset: Gymnasium's FrameStackObservation pads with
    the reset frame by default ("repeat_first", padding_type="reset") or with zeros (padding_type="zero")."""
    frame = rng.integers(0, 256, size=(H, W), dtype=np.uint8)
    if padding == "repeat_first":
        return np.repeat(frame[..., None], K, axis=-1)
    if padding == "zeros":
        stack = np.zeros((H, W, K), np.uint8)
        stack[..., -1] = frame
        return stack
    return rng.integers(0, 256, size=(H, W, K), dtype=np.uint8)  # any custom padding


def frame_stream(events: list[list[str]], num_envs: int, padding: str, seed: int):
    """Yield ``(time_step, action, next_time_step)`` of a vector env with frame stacking and auto-reset.

    ``events[t][e]`` is "mid", "term" (terminated) or "trunc" (time limit) for the step taken at row t.
    The row after a LAST step is the auto-reset row (time_step LAST, next FIRST with a fresh stack).
    """
    rng = np.random.default_rng(seed)
    current = np.stack([reset_stack(rng, padding) for _ in range(num_envs)])
    step_type = np.full(num_envs, int(StepType.FIRST), np.int32)
    for row in events:
        nxt = np.empty_like(current)
        next_type = np.empty(num_envs, np.int32)
        reward = np.zeros(num_envs, np.float32)
        discount = np.ones(num_envs, np.float32)
        for e, kind in enumerate(row):
            if step_type[e] == StepType.LAST:
                nxt[e] = reset_stack(rng, padding)
                next_type[e] = StepType.FIRST
                continue
            new_frame = rng.integers(0, 256, size=(H, W), dtype=np.uint8)
            nxt[e] = np.concatenate([current[e][..., 1:], new_frame[..., None]], axis=-1)
            reward[e] = np.float32(rng.normal())
            next_type[e] = StepType.MID if kind == "mid" else StepType.LAST
            discount[e] = 0.0 if kind == "term" else 1.0
        action = rng.integers(0, 18, size=num_envs)
        yield (
            TimeStep(step_type.copy(), np.zeros(num_envs, np.float32), np.ones(num_envs, np.float32), current.copy()),
            action,
            TimeStep(next_type, reward, discount, nxt),
        )
        current, step_type = nxt, next_type


def feed(buffers, events, num_envs, padding, seed):
    for time_step, action, next_time_step in frame_stream(events, num_envs, padding, seed):
        for buffer in buffers:
            buffer.add(time_step, action, next_time_step)


def assert_same(a, b) -> None:
    for name, x, y in zip(Transition._fields, a, b):
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def check_against_naive(frames: FrameStackReplayBuffer, naive: UniformReplayBuffer, n: int) -> None:
    """Per slot: every sampleable slot gives the naive transition; exclusions only in the oldest K rows."""
    num_slots = naive._filled * naive.num_envs
    slots = np.arange(num_slots)
    sampleable = frames._sampleable(slots)
    valid = naive._flat["valid"][:num_slots]
    assert not np.any(sampleable & ~valid)
    excluded_rows = np.unique(slots[valid & ~sampleable] // naive.num_envs)
    oldest = naive._position if naive._filled == naive._rows else 0
    assert all((row - oldest) % naive._rows < K for row in excluded_rows)
    assert len(frames) == int(np.count_nonzero(sampleable))
    ok = slots[sampleable]
    if ok.size:
        assert_same(frames._gather(ok, n), naive._gather(ok, n))


EVENT = st.sampled_from(["mid"] * 6 + ["term", "trunc"])


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    num_envs=st.sampled_from([1, 3]),
    n=st.sampled_from([1, 3]),
    capacity=st.integers(1, 30),
    num_rows=st.integers(1, 40),
    padding=st.sampled_from(["repeat_first", "zeros", "custom"]),
    seed=st.integers(0, 2**16),
)
def test_matches_naive_buffer_on_random_streams(data, num_envs, n, capacity, num_rows, padding, seed):
    events = data.draw(st.lists(st.lists(EVENT, min_size=num_envs, max_size=num_envs), min_size=num_rows,
                                max_size=num_rows))
    frames, naive = make_pair(capacity, num_envs, n, seed=seed)
    feed([frames, naive], events, num_envs, padding, seed)
    check_against_naive(frames, naive, n)
    check_against_naive(frames, naive, 1)  # n_step override of the walk
    if len(frames) == 0:
        with pytest.raises(ConfigError, match="empty"):
            frames.sample(1)
    elif len(frames) == len(naive):  # nothing excluded: the same seed draws the same transitions
        assert_same(frames.sample(16, num_batches=2), naive.sample(16, num_batches=2))


def test_hand_example_episode_boundaries_and_wrap_around():
    # One env, K=4, capacity 5: episode A (terminates after 3 steps), reset row, episode B
    # (truncated after 5 steps), reset row, episode C; the ring wraps twice.
    events = [["mid"], ["mid"], ["term"], ["mid"], ["mid"], ["mid"], ["mid"], ["mid"], ["trunc"], ["mid"],
              ["mid"], ["mid"]]
    for padding in ("repeat_first", "zeros"):
        frames, naive = make_pair(5, 1, 3)
        stream = list(frame_stream(events, 1, padding, seed=7))
        for time_step, action, next_time_step in stream:
            frames.add(time_step, action, next_time_step)
            naive.add(time_step, action, next_time_step)
            check_against_naive(frames, naive, 3)
        # Rows kept: steps 7..11 (ring rows 2,3,4,0,1); step 9 is the reset row after the truncation.
        assert len(naive) == 4
        # Episode B started at step 4. observation(7) = frames of steps 3..6 -> B's first stack and
        # steps 4..6, observation(8) = frames of steps 4..7: step 4 is overwritten, both excluded.
        assert len(frames) == 2
        assert list(frames._sampleable(np.arange(5))) == [True, True, False, False, False]
        got = Transition(*frames._gather(np.array([0, 1]), 3))  # steps 10 and 11
        # step 10 is the first step of episode C: its observation is the reset stack as added
        first_c = stream[10][0].observation[0]
        np.testing.assert_array_equal(got.observation[0], first_c)
        if padding == "repeat_first":
            assert all(np.array_equal(first_c[..., 0], first_c[..., i]) for i in range(K))
        else:
            assert not first_c[..., :-1].any()
        # observation(11) mixes the padding of C's first stack with step 10's new frame
        np.testing.assert_array_equal(got.observation[1][..., :-1], first_c[..., 1:])
        # step 10: the walk stops at the newest row (step 11): 2-step return
        np.testing.assert_array_equal(got.next_observation[0], stream[11][2].observation[0])
        np.testing.assert_allclose(got.discount[0], 0.9**2, rtol=1e-6)
        np.testing.assert_allclose(
            got.reward[0], stream[10][2].reward[0] + np.float32(0.9) * stream[11][2].reward[0], rtol=1e-6
        )
        # capacity 8 keeps steps 4..11: nothing excluded; the truncation at step 8 bootstraps
        frames, naive = make_pair(8, 1, 3)
        feed([frames, naive], events, 1, padding, seed=7)
        assert len(frames) == len(naive) == 7
        got = Transition(*frames._gather(np.array([6, 7, 4]), 3))  # steps 6, 7 and 4 (episode B's first step)
        np.testing.assert_array_equal(got.next_observation[0], stream[8][2].observation[0])
        np.testing.assert_array_equal(got.next_observation[1], stream[8][2].observation[0])
        np.testing.assert_allclose(got.discount[:2], [0.9**3, 0.9**2], rtol=1e-6)
        np.testing.assert_array_equal(got.observation[2], stream[4][0].observation[0])
        np.testing.assert_array_equal(got.next_observation[2], stream[6][2].observation[0])
        check_against_naive(frames, naive, 3)


def test_bytes_per_transition_is_one_frame_for_atari_stacks():
    spec = ArraySpec((84, 84, 4), np.uint8)
    capacity = 1000
    frames = FrameStackReplayBuffer(capacity, spec, ACT_SPEC)
    naive = UniformReplayBuffer(capacity, spec, ACT_SPEC)
    per_transition = frames.nbytes / capacity
    naive_per_transition = sum(a.nbytes for a in naive._flat.values()) / capacity
    # 84*84 = 7056 frame bytes + 8 action + 4 reward + 4 discount + 3 flags = 7075 bytes
    # (about 7.1 GB per million transitions), against 2*4*84*84 + 18 = 56466 naive (56 GB).
    # One 4-frame stack (28224 bytes) more per episode start.
    assert per_transition == 84 * 84 + 19
    assert naive_per_transition == 2 * 4 * 84 * 84 + 18
    # one episode start stored as a full stack, then only frames
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 256, size=(1, 84, 84, 4), dtype=np.uint8)
    for _ in range(10):
        nxt = np.concatenate([stack[..., 1:], rng.integers(0, 256, size=(1, 84, 84, 1), dtype=np.uint8)], -1)
        frames.add_batch(stack, np.zeros(1, np.int64), np.zeros(1, np.float32), np.ones(1, np.float32), nxt,
                         np.zeros(1, bool))
        stack = nxt
    assert frames.nbytes == capacity * (84 * 84 + 19) + 4 * 84 * 84


@pytest.mark.parametrize("num_envs", [1, 3])
def test_state_dict_and_save_load_round_trip(tmp_path, num_envs):
    events = [["mid"] * num_envs] * 3 + [["term"] + ["mid"] * (num_envs - 1)] + [["mid"] * num_envs] * 9
    capacity = 8 * num_envs
    frames, naive = make_pair(capacity, num_envs, 3)
    stream = list(frame_stream(events, num_envs, "repeat_first", seed=1))
    for time_step, action, next_time_step in stream[:10]:
        frames.add(time_step, action, next_time_step)
        naive.add(time_step, action, next_time_step)
    path = tmp_path / "replay.npz"
    frames.save(path)
    restored = FrameStackReplayBuffer(capacity, OBS_SPEC, ACT_SPEC, num_envs=num_envs, n_step=3, gamma=0.9, seed=99)
    restored.load(path)
    assert len(restored) == len(frames)
    assert_same(restored.sample(8, num_batches=3), frames.sample(8, num_batches=3))
    # adding continues exactly after a restore (the next add stores fresh start stacks)
    for time_step, action, next_time_step in stream[10:]:
        restored.add(time_step, action, next_time_step)
        naive.add(time_step, action, next_time_step)
    check_against_naive(restored, naive, 3)
    # partial state: in-memory round trip
    other = FrameStackReplayBuffer(capacity, OBS_SPEC, ACT_SPEC, num_envs=num_envs, n_step=3, gamma=0.9)
    other.load_state_dict(restored.state_dict())
    check_against_naive(other, naive, 3)


def test_load_errors(tmp_path):
    frames, naive = make_pair(8, 1, 1)
    with pytest.raises(RunDirError, match="does not exist"):
        frames.load(tmp_path / "missing.npz")
    with pytest.raises(ConfigError, match="not a FrameStackReplayBuffer state"):
        frames.load_state_dict(naive.state_dict())
    other = FrameStackReplayBuffer(16, OBS_SPEC, ACT_SPEC)
    with pytest.raises(ConfigError, match="rows"):
        other.load_state_dict(frames.state_dict())


def test_add_rejects_observations_that_are_not_frame_stacks():
    frames, _ = make_pair(8, 1, 1)
    obs = np.zeros((1, H, W, K), np.uint8)
    nxt = np.ones((1, H, W, K), np.uint8)  # not obs shifted by one frame
    with pytest.raises(ConfigError, match="shifted by one frame"):
        frames.add_batch(obs, np.zeros(1, np.int64), np.zeros(1, np.float32), np.ones(1, np.float32), nxt,
                         np.zeros(1, bool))
    assert len(frames) == 0
    # an invalid (auto-reset) row may pair any observation with the reset stack
    frames.add_batch(obs, np.zeros(1, np.int64), np.zeros(1, np.float32), np.ones(1, np.float32), nxt,
                     np.zeros(1, bool), np.zeros(1, bool))
    assert len(frames) == 0
    with pytest.raises(ConfigError, match="shape"):
        frames.add_batch(obs[0], np.zeros(1, np.int64), np.zeros(1, np.float32), np.ones(1, np.float32), nxt,
                         np.zeros(1, bool))


def test_discontinuous_stream_without_auto_reset_rows_is_still_exact():
    # a FIRST step added right after a LAST one (no reset row): detected as a new episode start
    rng = np.random.default_rng(5)
    frames, naive = make_pair(6, 1, 3)
    stack = reset_stack(rng, "zeros")[None]
    for t in range(14):
        nxt = np.concatenate([stack[..., 1:], rng.integers(0, 256, size=(1, H, W, 1), dtype=np.uint8)], -1)
        last = np.array([t % 4 == 3])
        args = (stack, np.array([t]), np.full(1, t, np.float32), np.array([0.0 if t % 8 == 3 else 1.0], np.float32),
                nxt, last)
        frames.add_batch(*args)
        naive.add_batch(*args)
        stack = reset_stack(rng, "repeat_first")[None] if last[0] else nxt
        check_against_naive(frames, naive, 3)
