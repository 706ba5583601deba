"""SAC and TD3 on MuJoCo HalfCheetah-v5 and Hopper-v5 for a fixed wall-clock budget each, beside CleanRL's scores.

Each (algorithm, environment) pair trains the shipped preset (``sac-HalfCheetah-v5.yaml`` and so on: 1M steps,
the zoo's or CleanRL's settings) with an evaluation of the deterministic policy every ``--eval-every`` steps
(default 50,000; 5 episodes), until ``--minutes`` of wall-clock time have passed. The run is then stopped the
way a user stops one, with SIGINT: it writes a checkpoint and could be resumed with ``tfrl train --resume``.
The table gives the steps reached, the training steps/s, and the evaluation means at each interval, beside
CleanRL's published 1M-step scores (docs.cleanrl.dev, "sac_continuous_action.py" and
"td3_continuous_action.py" MuJoCo tables: SAC HalfCheetah 9,635, Hopper 2,310; TD3 HalfCheetah 9,583,
Hopper 3,135). A budget of minutes reaches a small share of those 1M steps on 2 CPU cores: the step count is
part of every row.

The learning curves (evaluation mean against steps) go to ``--plot`` (default docs/continuous_mujoco.png) and
the rows to ``--csv`` (default docs/continuous_mujoco.csv).

Usage (from the repository root; needs ``pip install 'tfrl[mujoco]'``):

    python benchmarks/continuous.py --minutes 45
    python benchmarks/continuous.py --minutes 5 --only sac-Hopper-v5
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")

from learning_margins import cpu_name  # noqa: E402  (benchmarks/ is the script's folder, first on sys.path)

PAIRS = ["sac-HalfCheetah-v5", "sac-Hopper-v5", "td3-HalfCheetah-v5", "td3-Hopper-v5"]
CLEANRL_1M = {"sac-HalfCheetah-v5": 9635.0, "sac-Hopper-v5": 2310.0, "td3-HalfCheetah-v5": 9583.0,
              "td3-Hopper-v5": 3135.0}
"""CleanRL's published 1M-step returns (docs.cleanrl.dev; MuJoCo v4 environments, the v5 tasks' predecessors)."""


def train_for(pair: str, minutes: float, eval_every: int, seed: int, root: Path) -> dict:
    """Train ``pair``'s preset until ``minutes`` have passed (then SIGINT); return its evaluations and speed."""
    from tfrl.train import train

    algo, env_id = pair.split("-", 1)
    timer = threading.Timer(minutes * 60.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    try:
        result = train(algo, env_id, run_dir=root / pair, seed=seed, verbose=False,
                       overrides={"eval_every": eval_every, "eval_episodes": 5, "final_eval_episodes": 0,
                                  "tensorboard": False, "checkpoint_every": eval_every})
    finally:
        timer.cancel()
    evals = []
    with open(root / pair / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("eval/return_mean"):
                evals.append((int(row["step"]), float(row["eval/return_mean"])))
    return {"pair": pair, "steps": result.steps, "train_s": result.wall_time, "wall_s": time.perf_counter() - start,
            "evals": evals, "interrupted": result.interrupted}


def plot(rows: list[dict], path: Path) -> None:
    """One panel per environment: evaluation mean against steps for each algorithm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = sorted({r["pair"].split("-", 1)[1] for r in rows})
    fig, axes = plt.subplots(1, len(envs), figsize=(5.5 * len(envs), 4), squeeze=False)
    for ax, env_id in zip(axes[0], envs):
        for r in rows:
            algo, env = r["pair"].split("-", 1)
            if env == env_id and r["evals"]:
                steps, means = zip(*r["evals"])
                ax.plot(steps, means, marker="o", label=f"{algo} ({r['steps']:,} steps in {r['wall_s'] / 60:.0f} min)")
        ax.set_title(f"{env_id}: deterministic evaluation, 5 episodes")
        ax.set_xlabel("environment steps")
        ax.set_ylabel("return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=45.0, help="wall-clock budget per pair (default 45)")
    parser.add_argument("--eval-every", type=int, default=50_000, help="steps between evaluations (default 50k)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", action="append", default=[], help=f"pairs to run (default all: {', '.join(PAIRS)})")
    parser.add_argument("--plot", default="docs/continuous_mujoco.png")
    parser.add_argument("--csv", default="docs/continuous_mujoco.csv")
    args = parser.parse_args()
    pairs = [p for p in PAIRS if not args.only or p in args.only]
    unknown = sorted(set(args.only) - set(PAIRS))
    if unknown:
        parser.error(f"unknown pair {unknown[0]!r}; known: {', '.join(PAIRS)}")

    import tensorflow as tf

    print(f"# {cpu_name()}, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}, "
          f"{datetime.datetime.now().isoformat(timespec='minutes')}; {args.minutes:g} min per pair, seed {args.seed}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for pair in pairs:
            row = train_for(pair, args.minutes, args.eval_every, args.seed, Path(tmp))
            rows.append(row)
            evals = ", ".join(f"{s // 1000}k: {m:,.0f}" for s, m in row["evals"]) or "-"
            print(f"{pair:20s} {row['steps']:>9,} steps  {row['steps'] / max(row['train_s'], 1e-9):7.1f} steps/s  "
                  f"evaluations [{evals}]  CleanRL at 1M: {CLEANRL_1M[pair]:,.0f}", flush=True)
    print()
    print("| algorithm | environment | steps reached | minutes | steps/s | last evaluation | CleanRL at 1M steps |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        algo, env_id = r["pair"].split("-", 1)
        last = f"{r['evals'][-1][1]:,.0f} at {r['evals'][-1][0]:,}" if r["evals"] else "-"
        print(f"| {algo} | {env_id} | {r['steps']:,} | {r['wall_s'] / 60:.1f} | {r['steps'] / max(r['train_s'], 1e-9):.1f} "
              f"| {last} | {CLEANRL_1M[r['pair']]:,.0f} |")
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["pair", "step", "eval_return_mean", "steps_reached", "minutes", "steps_per_sec"])
        for r in rows:
            for step, mean in r["evals"]:
                writer.writerow([r["pair"], step, f"{mean:.1f}", r["steps"], f"{r['wall_s'] / 60:.1f}",
                                 f"{r['steps'] / max(r['train_s'], 1e-9):.1f}"])
    plot(rows, Path(args.plot))
    print(f"curves: {args.plot}; rows: {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
