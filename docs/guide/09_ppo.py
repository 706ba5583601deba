"""Chapter 9: PPO on CartPole and on Pendulum, with their learning curves.

Trains PPO with the shipped CartPole preset (8 environments, rollouts of 32 steps, GAE with lambda
0.8, 20 epochs of clipped updates per rollout), which stops once the greedy evaluation averages
475; then PPO on Pendulum-v1 (continuous torque, a Gaussian policy) with its preset for the
TF-native backend, which stops at an evaluation mean of -250. The learning curves are drawn by
``tfrl.plotting.plot_learning_curve`` from the runs' metrics.

    python docs/guide/09_ppo.py          # both presets, runs in runs/guide/
    python docs/guide/09_ppo.py --fast   # a few thousand steps each, in a temporary directory
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")

import numpy as np

from tfrl.logging import read_metrics
from tfrl.plotting import plot_learning_curve
from tfrl.train import train

FIGURES = Path(__file__).resolve().parent / "figures"
RUNS = Path(__file__).resolve().parents[2] / "runs" / "guide"
FAST = dict(total_steps=2_048, eval_every=1_024, eval_episodes=2, final_eval_episodes=2)
FAST_PENDULUM = dict(total_steps=2_048, num_envs=16, num_steps=64, eval_every=2_048, log_every=1_024,
                     eval_episodes=2, final_eval_episodes=2)


def run(env_id: str, runs_root: Path, out: Path, title: str, seed: int, **settings) -> dict:
    """Train PPO on ``env_id``, print its evaluations and draw its learning curve into ``out``."""
    result = train("ppo", env_id, seed=seed, runs_root=runs_root, tensorboard=False, verbose=False, **settings)
    metrics = read_metrics(result.run_dir)
    keep = ~np.isnan(metrics["eval/return_mean"])
    eval_steps, eval_means = metrics["step"][keep], metrics["eval/return_mean"][keep]
    for step, mean in zip(eval_steps, eval_means):
        print(f"{env_id} step {int(step):7d}: evaluation mean return {mean:7.1f}")
    fe = result.final_eval
    solved = result.first_solved_step
    print(f"PPO on {env_id}: {result.steps} steps in {result.wall_time:.1f} s; first evaluation at the target at "
          f"{'never' if solved is None else f'step {solved} ({result.first_solved_time:.1f} s)'}; "
          f"final evaluation {fe.mean:.1f} +/- {fe.std:.1f} over {len(fe.returns)} unseen episodes")
    return {
        "run_dir": result.run_dir,
        "steps": result.steps,
        "wall_time": result.wall_time,
        "first_solved_step": solved,
        "eval_means": eval_means.tolist(),
        "final_eval": fe.mean,
        "figure": plot_learning_curve(result.run_dir, out, title=title),
    }


def main(fast: bool = False, out_dir: Path = FIGURES, runs_root: Path | None = None, seed: int = 0) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs_root = Path(runs_root) if runs_root is not None else (out_dir / "runs" if fast else RUNS)
    cartpole = run("CartPole-v1", runs_root, out_dir / "09_ppo_cartpole.png",
                   f"PPO on CartPole-v1 (shipped preset, seed {seed})", seed, **(FAST if fast else {}))
    # Pendulum's preset for backend 'tf': 64 TF-native environments, rollout and updates in one compiled call.
    pendulum = run("Pendulum-v1", runs_root, out_dir / "09_ppo_pendulum.png",
                   f"PPO on Pendulum-v1 (shipped preset for --backend tf, seed {seed})", seed, backend="tf",
                   **(FAST_PENDULUM if fast else {}))
    return {"CartPole-v1": cartpole, "Pendulum-v1": pendulum, "figures": [cartpole["figure"], pendulum["figure"]]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings, figures in a temporary directory")
    args = parser.parse_args()
    main(fast=True, out_dir=Path(tempfile.mkdtemp())) if args.fast else main()
