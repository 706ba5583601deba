"""Chapter 5: a Markov chain.

A three-state weather chain (``tfrl.tabular.MarkovChain``): sample a long sequence of states,
estimate the transition matrix from it and compare with the true one, and compute the stationary
distribution, which the distribution over states approaches from any start.

    python docs/guide/05_markov_chain.py          # 100,000 steps, figures in docs/guide/figures/
    python docs/guide/05_markov_chain.py --fast   # 2,000 steps, in a temporary directory
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from tfrl.tabular import MarkovChain

FIGURES = Path(__file__).resolve().parent / "figures"

STATES = ["sunny", "cloudy", "rainy"]
TRANSITIONS = [  # row: today, column: tomorrow
    [0.7, 0.2, 0.1],
    [0.3, 0.4, 0.3],
    [0.2, 0.4, 0.4],
]


def plot_matrices(true: np.ndarray, estimate: np.ndarray, num_steps: int, path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.8), layout="constrained")
    for ax, matrix, title in zip(fig.subplots(1, 2), (true, estimate),
                                 ("true transition matrix", f"estimated from {num_steps:,} steps")):
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
        for (i, j), p in np.ndenumerate(matrix):
            ax.text(j, i, f"{p:.3f}", ha="center", va="center", color="white" if p > 0.5 else "black")
        ax.set_xticks(range(len(STATES)), STATES)
        ax.set_yticks(range(len(STATES)), STATES)
        ax.set_xlabel("next state")
        ax.set_ylabel("state")
        ax.set_title(title)
    fig.savefig(path, dpi=90)
    return path


def plot_convergence(chain: MarkovChain, states: np.ndarray, stationary: np.ndarray, path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    horizon = 12
    start = np.eye(len(STATES))[2]  # certainly rainy today
    distributions = np.array([chain.distribution_after(start, n) for n in range(horizon + 1)])
    for k, name in enumerate(STATES):
        line, = left.plot(distributions[:, k], marker="o", ms=4, label=name)
        left.axhline(stationary[k], color=line.get_color(), ls=":", lw=1)
        steps = np.arange(1, len(states) + 1)
        right.plot(steps, np.cumsum(states == k) / steps, label=name, color=line.get_color())
        right.axhline(stationary[k], color=line.get_color(), ls=":", lw=1)
    left.set_xlabel("days after a rainy day")
    left.set_ylabel("probability")
    left.set_title("distribution_after(rainy, n) (dotted: stationary)")
    left.legend()
    right.set_xscale("log")
    right.set_xlabel("days sampled")
    right.set_ylabel("fraction of days so far")
    right.set_title("visit frequencies of one sampled sequence")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=90)
    return path


def main(fast: bool = False, out_dir: Path = FIGURES) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    num_steps = 2_000 if fast else 100_000
    chain = MarkovChain(TRANSITIONS, state_names=STATES)
    states = chain.sample(start_state=0, num_steps=num_steps, seed=0)
    print("first 20 days:", " ".join(STATES[s][0] for s in states[:20]), "(s, c, r)")

    estimate = chain.empirical_transitions(states)
    error = float(np.abs(estimate - chain.transition_matrix).max())
    np.set_printoptions(precision=3, suppress=True)
    print(f"estimated transition matrix from {num_steps:,} steps:\n{estimate}")
    print(f"largest difference from the true matrix: {error:.4f}")

    stationary = chain.stationary_distribution()
    visits = np.bincount(states, minlength=chain.num_states) / len(states)
    print("stationary distribution: ", {name: round(float(p), 4) for name, p in zip(STATES, stationary)})
    print("fraction of sampled days:", {name: round(float(p), 4) for name, p in zip(STATES, visits)})
    balance = float(np.abs(stationary @ chain.transition_matrix - stationary).max())
    print(f"check pi @ P == pi: largest difference {balance:.2e}")

    figures = [plot_matrices(chain.transition_matrix, estimate, num_steps, out_dir / "05_transition_matrices.png"),
               plot_convergence(chain, states, stationary, out_dir / "05_stationary.png")]
    return {
        "num_steps": num_steps,
        "estimate": estimate,
        "max_estimate_error": error,
        "stationary": stationary,
        "visit_frequencies": visits,
        "balance_error": balance,
        "figures": figures,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings, figures in a temporary directory")
    args = parser.parse_args()
    main(fast=True, out_dir=Path(tempfile.mkdtemp())) if args.fast else main()
