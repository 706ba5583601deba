"""Soak run: one million steps of DQN on CartPole-v1, resident memory sampled every 50,000 steps.

The preset's replay buffer (100,000 transitions) fills after 100,000 steps; from then on the
resident set size should stay flat. The run saves a checkpoint (with the replay buffer) and plays
an evaluation every 100,000 steps, so their memory shows too. Prints a table of step, RSS and
steps/s, and the growth from the first sample after the buffer filled to the last.

    python benchmarks/soak.py [--steps 1000000] [--every 50000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=50_000, help="steps between memory samples")
    args = parser.parse_args()

    from tfrl.cli.main import _quiet_tensorflow

    _quiet_tensorflow()
    import numpy as np

    from tfrl.logging import read_metrics
    from tfrl.train import train

    with tempfile.TemporaryDirectory() as root:
        result = train("dqn", "CartPole-v1", runs_root=root, seed=0, total_steps=args.steps, stop_at_target=False,
                       log_every=args.every, eval_every=100_000, checkpoint_every=100_000, final_eval_episodes=10,
                       tensorboard=False, verbose=False)
        metrics = read_metrics(result.run_dir)
    rows = [(int(s), m, r) for s, m, r in zip(metrics["step"], metrics["charts/memory_mb"],
                                              metrics["charts/steps_per_sec"]) if np.isfinite(m)]
    print(f"DQN on CartPole-v1, {result.steps:,} steps in {result.wall_time:.0f} s, {os.cpu_count()} CPU cores; "
          f"final evaluation {result.final_eval.mean:.1f} over 10 episodes")
    print("| step | resident memory (MB) | steps/s |")
    print("|---:|---:|---:|")
    for step, mb, rate in rows:
        print(f"| {step:,} | {mb:,.1f} | {rate:,.0f} |")
    filled = [mb for step, mb, _ in rows if step >= 150_000]  # buffer full and the first checkpoint taken
    if len(filled) >= 2:
        print(f"growth after the buffer filled (step 150,000 to {rows[-1][0]:,}): {filled[-1] - filled[0]:+.1f} MB; "
              f"min {min(filled):,.1f}, max {max(filled):,.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
