"""Benchmark: the REINFORCE, A2C and PPO presets on CartPole-v1.

Prints one row per algorithm and seed: environment steps per second over the run (collection,
updates, evaluations), the steps and training seconds until the evaluation mean first reached 475,
and the best evaluation.

    python benchmarks/pg_cartpole.py [--algos ppo a2c reinforce] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["ppo", "a2c", "reinforce"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    from tfrl.cli.main import _quiet_tensorflow

    _quiet_tensorflow()
    from tfrl.train import train

    rows = []
    with tempfile.TemporaryDirectory() as root:
        for algo in args.algos:
            for seed in args.seeds:
                result = train(algo, "CartPole-v1", runs_root=root, seed=seed, tensorboard=False, verbose=False,
                               target_return=475.0, stop_at_target=True, final_eval_episodes=0)
                summary = json.loads((result.run_dir / "final_eval.json").read_text())
                rows.append((algo, seed, result.steps, result.wall_time, result.steps / result.wall_time,
                             result.first_solved_step, result.first_solved_time, summary["best_eval"]))
    print(f"\nPolicy-gradient presets on CartPole-v1, {os.cpu_count()} CPU cores, stopping at evaluation mean 475")
    print("| algo | seed | env steps | train s | env steps/s | steps to 475 | s to 475 | best eval |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for algo, seed, steps, wall, sps, solved_step, solved_s, best in rows:
        print(f"| {algo} | {seed} | {steps} | {wall:.1f} | {sps:.0f} | {solved_step if solved_step is not None else '-'} "
              f"| {'-' if solved_s is None else f'{solved_s:.1f}'} | {best:.1f} |")
    for algo in args.algos:
        times = [r[6] for r in rows if r[0] == algo and r[6] is not None]
        if times:
            print(f"{algo}: median seconds to 475 {statistics.median(times):.1f} "
                  f"({len(times)}/{len(args.seeds)} seeds solved)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
