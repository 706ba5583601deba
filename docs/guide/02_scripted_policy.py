"""Chapter 2: a hard-coded CartPole policy and its statistics.

Plays 500 episodes of CartPole-v1 with ``tfrl.policies.cartpole_lean_policy`` (push the cart toward
the side the pole leans) and 500 with uniform random actions, prints the mean, standard deviation,
minimum and maximum return of each and draws their histograms.

    python docs/guide/02_scripted_policy.py          # 500 episodes each, figure in docs/guide/figures/
    python docs/guide/02_scripted_policy.py --fast   # 50 episodes each, in a temporary directory
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from tfrl import envs
from tfrl.policies import RandomPolicy, ScriptedPolicy, cartpole_lean_policy
from tfrl.train import evaluate_policy

FIGURES = Path(__file__).resolve().parent / "figures"


def statistics(returns: np.ndarray) -> dict:
    return {"mean": float(np.mean(returns)), "std": float(np.std(returns)),
            "min": float(np.min(returns)), "max": float(np.max(returns))}


def plot_histograms(lean: np.ndarray, random: np.ndarray, path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.add_subplot()
    bins = np.arange(0, max(lean.max(), random.max()) + 3, 2)
    ax.hist(random, bins=bins, alpha=0.6, label=f"random actions (mean {random.mean():.1f})")
    ax.hist(lean, bins=bins, alpha=0.6, label=f"lean policy (mean {lean.mean():.1f})")
    ax.set_xlabel("episode return (= steps the pole stayed up)")
    ax.set_ylabel("episodes")
    ax.set_title(f"CartPole-v1: returns of {len(lean)} episodes per policy")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=90)
    return path


def main(fast: bool = False, out_dir: Path = FIGURES) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    episodes = 50 if fast else 500
    with envs.make("CartPole-v1", num_envs=25, seed=0) as env:  # 25 episodes at a time
        lean_policy = ScriptedPolicy(cartpole_lean_policy, env.action_spec())
        lean = evaluate_policy(env, lean_policy, num_episodes=episodes, seed=0).returns
        random = evaluate_policy(env, RandomPolicy(env.action_spec(), seed=0), num_episodes=episodes, seed=1).returns
    results = {"lean": statistics(lean), "random": statistics(random), "episodes": episodes}
    for name in ("lean", "random"):
        s = results[name]
        print(f"{name:>6} policy over {episodes} episodes: mean {s['mean']:.2f}, std {s['std']:.2f}, "
              f"min {s['min']:.0f}, max {s['max']:.0f}")
    results["figures"] = [plot_histograms(lean, random, out_dir / "02_returns_histogram.png")]
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings, figures in a temporary directory")
    args = parser.parse_args()
    main(fast=True, out_dir=Path(tempfile.mkdtemp())) if args.fast else main()
