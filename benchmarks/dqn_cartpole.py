"""Benchmark: the tuned DQN preset on CartPole-v1, end to end and in pieces.

Prints one row per seed: environment steps per second over the whole run (collection, training,
evaluation and logging), gradient updates per second over the whole run, the training seconds
and steps until the evaluation mean first reached 475, and the final 20-episode evaluation.
Then the isolated costs of one compiled policy call and of one gradient step inside the compiled
multi-step update.

    python benchmarks/dqn_cartpole.py [--seeds 0 1 2] [--steps 50000] [--full]

By default each run stops once the evaluation mean reaches 475, as the preset does; ``--full``
trains all the steps (``stop_at_target=false``) to measure steady throughput.
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


def isolated_costs(seed: int = 0) -> tuple[float, float, float]:
    """(ms per policy call on 4 observations, ms per gradient step in a 128-step call, updates/s)."""
    import numpy as np

    from tfrl.agents.dqn import DQNAgent
    from tfrl.data import Transition
    from tfrl.specs import ArraySpec, BoundedArraySpec
    from tfrl.runs import resolve_config

    _, cfg, _ = resolve_config("dqn", "CartPole-v1")
    agent = DQNAgent(cfg, ArraySpec((4,), np.float32), BoundedArraySpec((), np.int64, 0, 1), 50_000, seed=seed)
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(4, 4)).astype(np.float32)
    agent.eval_policy.action(obs)
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        agent.eval_policy.action(obs)
    act_ms = (time.perf_counter() - t) / n * 1e3
    g, b = cfg.gradient_steps, cfg.batch_size
    batch = Transition(
        rng.normal(size=(g, b, 4)).astype(np.float32), rng.integers(0, 2, (g, b)),
        rng.normal(size=(g, b)).astype(np.float32), np.full((g, b), 0.99, np.float32),
        rng.normal(size=(g, b, 4)).astype(np.float32),
    )
    agent.train(batch)
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        agent.train(batch)
    step_s = (time.perf_counter() - t) / (reps * g)
    return act_ms, step_s * 1e3, 1.0 / step_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--full", action="store_true", help="train all steps instead of stopping at 475")
    args = parser.parse_args()

    from tfrl.cli.main import _quiet_tensorflow

    _quiet_tensorflow()
    from tfrl.train import train

    rows = []
    with tempfile.TemporaryDirectory() as root:
        for seed in args.seeds:
            settings = dict(total_steps=args.steps, seed=seed, target_return=475.0)
            if args.full:
                settings["stop_at_target"] = False
            t = time.perf_counter()
            result = train("dqn", "CartPole-v1", runs_root=root, tensorboard=False, verbose=False, **settings)
            total = time.perf_counter() - t
            import json

            summary = json.loads((result.run_dir / "final_eval.json").read_text())
            rows.append({
                "seed": seed,
                "steps": result.steps,
                "train_s": result.wall_time,
                "process_s": total,
                "steps_per_s": result.steps / result.wall_time,
                "updates_per_s": summary["num_updates"] / result.wall_time,
                "solved_step": result.first_solved_step,
                "solved_s": result.first_solved_time,
                "final": result.final_eval.mean,
            })
    act_ms, step_ms, ups = isolated_costs()

    print(f"\nDQN CartPole-v1 preset, {os.cpu_count()} CPU cores, "
          f"{'full runs' if args.full else 'stopping at evaluation mean 475'}")
    print("| seed | env steps | train s | env steps/s | updates/s | steps to 475 | s to 475 | final eval (20 ep) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        solved_step = "-" if r["solved_step"] is None else f"{r['solved_step']}"
        solved_s = "-" if r["solved_s"] is None else f"{r['solved_s']:.1f}"
        print(f"| {r['seed']} | {r['steps']} | {r['train_s']:.1f} | {r['steps_per_s']:.0f} | {r['updates_per_s']:.0f} "
              f"| {solved_step} | {solved_s} | {r['final']:.1f} |")
    solved = [r["solved_s"] for r in rows if r["solved_s"] is not None]
    if solved:
        print(f"median seconds to 475: {statistics.median(solved):.1f} ({len(solved)}/{len(rows)} seeds solved)")
    print(f"isolated: policy call {act_ms:.3f} ms; gradient step {step_ms:.3f} ms in a multi-step call "
          f"({ups:.0f} updates/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
