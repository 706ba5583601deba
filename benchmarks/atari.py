"""Benchmark: Atari throughput and memory, and (with --minutes) a DQN run on Breakout.

Prints agent steps and frames (4 per agent step: frame skip 4) per second for:
environment stepping alone with 1 and 8 environments (sync and async), collection with the DQN
policy (Nature CNN) on 8 environments, and DQN training end to end with the Breakout preset's
settings; and the resident memory of a 1M-transition frame-once replay buffer.

With ``--minutes M`` it then trains DQN on BreakoutNoFrameskip-v4 with the preset for M minutes,
saves the learning curve as ``docs/atari_breakout_dqn.png`` and prints the final score of whole
games next to random play (1.7) and the Nature DQN paper (401.2; Mnih et al. 2015, Table 2).

    python benchmarks/atari.py                 # throughput and memory, a few minutes
    python benchmarks/atari.py --minutes 60    # plus an hour of DQN on Breakout
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")

GAME = "BreakoutNoFrameskip-v4"
FRAME_SKIP = 4


def stepping(num_envs: int, backend: str, steps: int = 1000, warmup: int = 0) -> float:
    """Agent steps per second of random actions on ``num_envs`` preprocessed Breakout envs."""
    import numpy as np

    from tfrl import envs

    env = envs.make(GAME, num_envs=num_envs, seed=0, backend=backend)
    rng = np.random.default_rng(0)
    n = env.action_spec().num_values
    env.reset()
    for _ in range(warmup):
        env.step(rng.integers(0, n, size=num_envs))
    start = time.perf_counter()
    for _ in range(steps):
        env.step(rng.integers(0, n, size=num_envs))
    elapsed = time.perf_counter() - start
    env.close()
    return num_envs * steps / elapsed


def collection(num_envs: int = 8, steps: int = 500) -> float:
    """Agent steps per second of collection with the DQN policy (Nature CNN, epsilon 0.05)."""
    from tfrl import envs
    from tfrl.agents.dqn import DQNAgent
    from tfrl.runs import resolve_config

    _, config, _ = resolve_config("dqn", GAME)
    env = envs.make(GAME, num_envs=num_envs, seed=0, backend="async")
    agent = DQNAgent(config, env.observation_spec(), env.action_spec(), 10**7, seed=0)
    time_step = env.reset()
    agent.policy.action(time_step.observation, 10**7)
    start = time.perf_counter()
    for _ in range(steps):
        time_step = env.step(agent.policy.action(time_step.observation, 10**7))
    elapsed = time.perf_counter() - start
    env.close()
    return num_envs * steps / elapsed


def training(steps: int = 6000) -> tuple[float, float]:
    """(agent steps/s, gradient steps/s) of DQN end to end with the preset's settings, learning from step 1,000."""
    import json

    from tfrl.train import train

    with tempfile.TemporaryDirectory() as root:
        result = train("dqn", GAME, runs_root=root, seed=0, total_steps=steps, learning_starts=1000,
                       buffer_size=50_000, eval_every=0, final_eval_episodes=0, tensorboard=False, verbose=False)
        updates = json.loads((result.run_dir / "final_eval.json").read_text())["num_updates"]
    return result.steps / result.wall_time, updates / result.wall_time


def buffer_memory_mb(capacity: int = 1_000_000) -> float:
    """Resident memory added by a ``capacity``-transition frame-once buffer for 84x84x4 frames, touched in full."""
    import numpy as np

    from tfrl.data import FrameStackReplayBuffer
    from tfrl.logging import memory_mb
    from tfrl.specs import ArraySpec, BoundedArraySpec

    before = memory_mb()
    buffer = FrameStackReplayBuffer(capacity, ArraySpec((84, 84, 4), np.uint8), BoundedArraySpec((), np.int64, 0, 3))
    for array in vars(buffer).values():  # write every preallocated page so that it is resident
        if isinstance(array, np.ndarray) and array.nbytes > 1 << 20:
            array.fill(0)
    used = memory_mb() - before
    del buffer
    return used


def long_run(minutes: float) -> None:
    """DQN on Breakout for ``minutes``; learning curve to docs/, score against random and the paper."""
    from tfrl.train import train

    root = Path(__file__).resolve().parent.parent / "runs" / "bench-atari"  # kept: watch or evaluate it later
    # The preset's schedule is for 10M steps; an hour on 2 cores is about half a million, so the
    # schedule is scaled to the budget: epsilon reaches 0.01 after 100k steps, learning starts
    # after 20k (80k frames, the figure), an evaluation of 5 games every 50k steps.
    overrides = dict(total_steps=1_000_000, exploration_fraction=0.1, learning_starts=20_000,
                     eval_every=50_000, eval_episodes=5, checkpoint_every=0)
    print(f"\nDQN on {GAME} for {minutes:g} minutes, preset with {overrides}", flush=True)
    result = train("dqn", GAME, runs_root=root, seed=0, max_minutes=minutes, final_eval_episodes=10,
                   tensorboard=False, verbose=True, **overrides)
    docs = Path(__file__).resolve().parent.parent / "docs"
    shutil.copyfile(result.run_dir / "learning_curve.png", docs / "atari_breakout_dqn.png")
    shutil.copyfile(result.run_dir / "metrics.csv", docs / "atari_breakout_dqn_metrics.csv")
    fe = result.final_eval
    print(f"\nDQN on {GAME}, {minutes:g} minutes: {result.steps:,} agent steps ({result.steps * FRAME_SKIP:,} frames)")
    print("| policy | score (whole games) |")
    print("|---|---:|")
    print("| random (Mnih et al. 2015) | 1.7 |")
    print(f"| tfrl DQN after {minutes:g} min, 10 games | {fe.mean:.1f} +/- {fe.std:.1f} |")
    print("| Nature DQN, 50M frames (Mnih et al. 2015) | 401.2 |")
    print(f"learning curve: {docs / 'atari_breakout_dqn.png'}; run directory: {result.run_dir}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=0.0, help="also train DQN on Breakout this long")
    args = parser.parse_args()

    from tfrl.cli.main import _quiet_tensorflow

    _quiet_tensorflow()
    rows = [
        ("environment stepping, 1 env", stepping(1, "sync")),
        ("environment stepping, 8 envs (sync)", stepping(8, "sync", 300)),
        ("environment stepping, 8 envs (async)", stepping(8, "async", 300)),
        *([("environment stepping, 1 env (envpool)", stepping(1, "envpool", warmup=100)),
           ("environment stepping, 8 envs (envpool)", stepping(8, "envpool", warmup=100))]
          if importlib.util.find_spec("envpool") is not None else []),
        ("collection with the DQN policy, 8 envs (async)", collection()),
    ]
    train_rate, update_rate = training()
    rows.append(("DQN training end to end (preset, 1 env, train every 4 steps)", train_rate))
    print(f"\nAtari ({GAME}), {os.cpu_count()} CPU cores")
    print("| what | agent steps/s | frames/s |")
    print("|---|---:|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} | {rate * FRAME_SKIP:,.0f} |")
    print(f"DQN gradient steps per second end to end: {update_rate:.1f}")
    print(f"resident memory of a 1M-transition frame-once replay buffer: {buffer_memory_mb():,.0f} MB")
    if args.minutes > 0:
        long_run(args.minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
