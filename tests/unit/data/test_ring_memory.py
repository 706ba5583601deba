"""Replay checkpoints of large buffers: ``load`` reads a file straight into the ring, with no second copy.

A buffer's ring is allocated with ``np.zeros``, whose pages cost memory only once written; ``load``
must neither read the whole file into temporaries (tracemalloc sees those: NumPy reports its
allocations to it) nor write the rows beyond the fill (the resident set would then grow by the whole
capacity, which tracemalloc does not see).
"""

from __future__ import annotations

import os
import tracemalloc
import zipfile

import numpy as np
import pytest

from tfrl.data import UniformReplayBuffer
from tfrl.errors import RunDirError
from tfrl.specs import ArraySpec, BoundedArraySpec

OBS_SPEC = ArraySpec((4,), np.float32, name="observation")  # CartPole's
ACT_SPEC = BoundedArraySpec((), np.int64, 0, 1, name="action")
NUM_ENVS = 1000


def make_buffer(capacity: int, seed: int) -> UniformReplayBuffer:
    return UniformReplayBuffer(capacity, OBS_SPEC, ACT_SPEC, num_envs=NUM_ENVS, n_step=3, gamma=0.9, seed=seed)


def fill(buffer: UniformReplayBuffer, rows: int, seed: int = 0) -> None:
    """``rows`` vector steps of random transitions; about one in 20 ends an episode."""
    rng = np.random.default_rng(seed)
    for _ in range(rows):
        obs = rng.random((NUM_ENVS, 4), dtype=np.float32)
        buffer.add_batch(obs, rng.integers(0, 2, NUM_ENVS), rng.random(NUM_ENVS, dtype=np.float32),
                         (rng.random(NUM_ENVS) > 0.05).astype(np.float32), obs + 1, rng.random(NUM_ENVS) < 0.05,
                         rng.random(NUM_ENVS) > 0.05)


def ring_bytes(buffer: UniformReplayBuffer) -> int:
    return sum(array.nbytes for array in buffer._flat.values())


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_load_of_a_large_buffer_holds_no_second_copy_and_samples_identically(tmp_path):
    capacity, rows = 2_000_000, 400  # a ring of 100 MB, a fifth of it filled
    source = make_buffer(capacity, seed=1)
    fill(source, rows)
    source.sample(16)  # move the sampling generator
    path = tmp_path / "replay.npz"
    source.save(path)
    storage, filled = ring_bytes(source), ring_bytes(source) * rows // source._rows
    assert storage == capacity * (4 * 4 * 2 + 8 + 4 + 4 + 1 + 1)

    target = make_buffer(capacity, seed=99)
    before = resident_bytes() if os.path.exists("/proc/self/statm") else None
    tracemalloc.start()
    try:
        target.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # read one chunk at a time: the whole file at once would be `filled` (20 MB) of temporaries
    assert peak < filled / 4, (peak, filled)
    if before is not None:  # the rows beyond the fill were not written: their pages stay unallocated
        assert resident_bytes() - before < filled + storage // 4, (resident_bytes() - before, storage)

    assert len(target) == len(source)
    for x, y in zip(source.sample(256, num_batches=4), target.sample(256, num_batches=4)):
        np.testing.assert_array_equal(x, y)
    fill(source, 5, seed=7)  # both continue identically
    fill(target, 5, seed=7)
    for x, y in zip(source.sample(256), target.sample(256)):
        np.testing.assert_array_equal(x, y)


def test_loading_a_smaller_state_into_a_used_buffer_clears_the_rows_beyond_it(tmp_path):
    small, used = make_buffer(20_000, seed=0), make_buffer(20_000, seed=0)
    fill(small, 3)
    fill(used, 12, seed=5)
    small.save(tmp_path / "small.npz")
    used.load(tmp_path / "small.npz")
    for key, array in used._flat.items():
        assert not array[3 * NUM_ENVS:].any(), key
        np.testing.assert_array_equal(array[: 3 * NUM_ENVS], small._flat[key][: 3 * NUM_ENVS])


def test_a_file_damaged_in_its_data_leaves_the_buffer_empty_and_usable(tmp_path):
    source = make_buffer(20_000, seed=0)
    fill(source, 6)
    good, bad = tmp_path / "replay.npz", tmp_path / "bad.npz"
    source.save(good)
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        info = archive.getinfo("reward.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # inside reward's data, past its header
    bad.write_bytes(bytes(data))

    target = make_buffer(20_000, seed=0)
    fill(target, 4, seed=3)
    with pytest.raises(RunDirError, match="is damaged"):
        target.load(bad)
    assert len(target) == 0
    assert not any(array.any() for array in target._flat.values())
    target.load(good)  # and loads an intact file afterwards
    np.testing.assert_array_equal(target.sample(64).observation, source.sample(64).observation)
