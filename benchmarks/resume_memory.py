"""Peak memory of saving and resuming a large replay buffer, each step in a fresh process.

A ``UniformReplayBuffer`` of ``--capacity`` CartPole transitions (4 float32 observations, 4 environments) is
built, ``--fill`` transitions are added and it is saved to ``replay.npz`` as a checkpoint does; a second,
fresh process builds the same buffer and loads the file, as ``tfrl train --resume`` does. The table gives
each process's peak resident memory (``ru_maxrss``) beside the buffer's storage size. Before loading read
the file array by array into the ring, the load peaked at about the whole capacity plus the file.

    python benchmarks/resume_memory.py --capacity 30000000 --fill 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
import numpy as np
from tfrl.data import UniformReplayBuffer
from tfrl.specs import ArraySpec, BoundedArraySpec

mode, path, capacity, fill = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
envs = 4
buffer = UniformReplayBuffer(capacity, ArraySpec((4,), np.float32, name="observation"),
                             BoundedArraySpec((), np.int64, 0, 1, name="action"), num_envs=envs, seed=0)
storage = sum(a.nbytes for a in buffer._flat.values())
started = time.perf_counter()
if mode == "save":
    rng = np.random.default_rng(0)
    obs = rng.random((fill // envs + 1, envs, 4), dtype=np.float32)
    ones, lasts = np.ones(envs, np.float32), np.zeros(envs, bool)
    for i in range(fill // envs):
        buffer.add_batch(obs[i], np.full(envs, i % 2), ones, ones, obs[i + 1], lasts)
    del obs
    started = time.perf_counter()
    buffer.save(path)
else:
    buffer.load(path)
seconds = time.perf_counter() - started
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "storage_mb": storage / 2**20,
                  "rows": len(buffer), "seconds": seconds}))
"""


def _run(mode: str, path: Path, capacity: int, fill: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path), str(capacity), str(fill)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=30_000_000)
    parser.add_argument("--fill", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replay.npz"
        began = time.perf_counter()
        saved = _run("save", path, args.capacity, args.fill)
        loaded = _run("load", path, args.capacity, args.fill)
        size = path.stat().st_size / 2**20
    print(f"replay buffer: capacity {args.capacity:,}, filled {saved['rows']:,}, storage {saved['storage_mb']:,.0f} MB, "
          f"file {size:,.0f} MB")
    print(f"{'process':<26}{'peak RSS MB':>12}{'seconds':>10}")
    print(f"{'fill + save':<26}{saved['peak_mb']:>12,.0f}{saved['seconds']:>10.2f}")
    print(f"{'build + load (resume)':<26}{loaded['peak_mb']:>12,.0f}{loaded['seconds']:>10.2f}")
    print(f"total {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
