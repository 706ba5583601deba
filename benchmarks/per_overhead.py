"""Benchmark: the wall-time cost of prioritized replay against uniform replay, end to end, on the DQN CartPole preset.

Trains DQN on CartPole-v1 with the preset (``dqn-CartPole-v1.yaml``) for ``--steps`` environment steps without
stopping at the target and without evaluations, once with uniform replay and once with
``prioritized_replay=true``, alternating the two ``--repeats`` times in one process (uniform, prioritized,
uniform, ...) so that both see the same machine, and prints each run's seconds and the ratio of the medians.
The first run of each kind is also timed but its tracing is inside it, as in a user's run.

The issue's bar: prioritized replay costs at most 25% more wall time than uniform replay.

    python benchmarks/per_overhead.py                # 3 repeats of 30k steps each
    python benchmarks/per_overhead.py --repeats 5 --steps 50000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")


def run_once(prioritized: bool, steps: int, seed: int) -> tuple[float, int]:
    """Seconds of one training run and the gradient phases it made."""
    from tfrl.train import train

    with tempfile.TemporaryDirectory(prefix="tfrl-per-") as root:
        start = time.perf_counter()
        result = train("dqn", "CartPole-v1", runs_root=root, seed=seed, total_steps=steps, stop_at_target=False,
                       eval_every=0, final_eval_episodes=0, tensorboard=False, verbose=False,
                       prioritized_replay=prioritized)
        return time.perf_counter() - start, result.steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30_000, help="environment steps per run (default 30000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind, alternated (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import tensorflow as tf

    print(f"# DQN CartPole-v1 preset, {args.steps:,} steps per run, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}",
          flush=True)
    times: dict[str, list[float]] = {"uniform": [], "prioritized": []}
    for repeat in range(args.repeats):
        for kind in ("uniform", "prioritized"):
            seconds, steps = run_once(kind == "prioritized", args.steps, args.seed)
            times[kind].append(seconds)
            print(f"  run {repeat + 1} {kind:11s}: {seconds:6.1f} s for {steps:,} steps ({steps / seconds:,.0f} steps/s)",
                  file=sys.stderr, flush=True)
    uniform, prioritized = statistics.median(times["uniform"]), statistics.median(times["prioritized"])
    print(f"{'replay':12s} {'median s':>9s} {'runs (s)':>30s}")
    for kind, median in (("uniform", uniform), ("prioritized", prioritized)):
        runs = " ".join(f"{t:.1f}" for t in times[kind])
        print(f"{kind:12s} {median:9.1f} {runs:>30s}")
    ratio = prioritized / uniform
    verdict = "within" if ratio <= 1.25 else "ABOVE"
    print(f"prioritized / uniform = {ratio:.3f} ({(ratio - 1) * 100:+.1f}%): {verdict} the issue's 25% bar")
    return 0


if __name__ == "__main__":
    sys.exit(main())
