"""Chapter 8: DQN, Double DQN and Dueling DQN on CartPole, learning curves side by side.

Trains the three variants with the shipped CartPole preset (``tfrl.train.train("dqn", ...)``), each
changing one thing: Double DQN the target, Dueling DQN the network. Training does not stop at the
target return here (the preset does), so the curves show what happens after solving too. The curves
are read back from each run's ``metrics.csv`` with ``tfrl.logging.read_metrics``.

    python docs/guide/08_dqn_variants.py          # 50,000 steps per variant, runs in runs/guide/
    python docs/guide/08_dqn_variants.py --fast   # 1,200 steps per variant, in a temporary directory
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
from tfrl.plotting import smooth
from tfrl.train import train

FIGURES = Path(__file__).resolve().parent / "figures"
RUNS = Path(__file__).resolve().parents[2] / "runs" / "guide"

VARIANTS = {
    "DQN": dict(double_dqn=False, dueling=False),
    "Double DQN": dict(double_dqn=True, dueling=False),
    "Dueling DQN": dict(double_dqn=False, dueling=True),
}
FAST = dict(total_steps=1_200, learning_starts=400, train_freq=200, gradient_steps=20, eval_every=400,
            eval_episodes=2, final_eval_episodes=2)


def column(metrics: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of the rows of ``metrics.csv`` that have ``name``."""
    keep = ~np.isnan(metrics[name])
    return metrics["step"][keep], metrics[name][keep]


def plot(curves: dict, path: Path, seed: int) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4), layout="constrained")
    axes = fig.subplots(1, len(curves), sharey=True)
    for ax, (name, metrics) in zip(axes, curves.items()):
        steps, returns = column(metrics, "charts/episode_return")
        ax.plot(steps, returns, color="tab:blue", alpha=0.25)
        ax.plot(steps, smooth(returns, 5), color="tab:blue", label="training episodes (mean per log row)")
        e_steps, e_mean = column(metrics, "eval/return_mean")
        _, e_std = column(metrics, "eval/return_std")
        ax.plot(e_steps, e_mean, color="tab:orange", marker="o", ms=3, label="evaluation (greedy, 10 episodes)")
        ax.fill_between(e_steps, e_mean - e_std, e_mean + e_std, color="tab:orange", alpha=0.2, linewidth=0)
        ax.axhline(475, color="0.5", ls=":", lw=1)
        ax.set_title(name)
        ax.set_xlabel("environment steps")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("return")
    axes[0].legend(loc="upper left", fontsize="small")
    fig.suptitle(f"CartPole-v1, shipped DQN preset, seed {seed}, training not stopped at 475")
    fig.savefig(path, dpi=90)
    return path


def main(fast: bool = False, out_dir: Path = FIGURES, runs_root: Path | None = None, seed: int = 0) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs_root = Path(runs_root) if runs_root is not None else (out_dir / "runs" if fast else RUNS)
    budget = FAST if fast else {}
    results, curves = {}, {}
    for name, switches in VARIANTS.items():
        result = train("dqn", "CartPole-v1", seed=seed, runs_root=runs_root, stop_at_target=False,
                       tensorboard=False, verbose=False, **switches, **budget)
        metrics = read_metrics(result.run_dir)
        curves[name] = metrics
        _, e_mean = column(metrics, "eval/return_mean")
        results[name] = {
            "run_dir": result.run_dir,
            "first_solved_step": result.first_solved_step,
            "best_eval": float(e_mean.max()),
            "final_eval": result.final_eval.mean,
            "wall_time": result.wall_time,
        }
        solved = result.first_solved_step
        print(f"{name:12s} {result.steps:6d} steps in {result.wall_time:5.1f} s; first evaluation >= 475 at "
              f"{'never' if solved is None else f'step {solved}'}; best evaluation {e_mean.max():.1f}; "
              f"final evaluation {result.final_eval.mean:.1f} +/- {result.final_eval.std:.1f} over "
              f"{len(result.final_eval.returns)} episodes")
    results["figures"] = [plot(curves, out_dir / "08_dqn_variants.png", seed)]
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings, figures in a temporary directory")
    args = parser.parse_args()
    main(fast=True, out_dir=Path(tempfile.mkdtemp())) if args.fast else main()
