"""Chapter 6: a three-state MDP solved by Q-value iteration.

Builds the MDP with ``tfrl.tabular.FiniteMDP`` and runs ``q_value_iteration`` at gamma 0.90 and
0.95: the optimal policy changes from [0, 0, 1] to [0, 2, 1]. Prints both Q tables and plots how
Q(s0, a) converges sweep after sweep.

    python docs/guide/06_q_value_iteration.py          # figure in docs/guide/figures/
    python docs/guide/06_q_value_iteration.py --fast   # the same (it takes milliseconds), in a temporary directory
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from tfrl.tabular import FiniteMDP, q_value_iteration

FIGURES = Path(__file__).resolve().parent / "figures"

# TRANSITION_PROBABILITIES[s][a][s'] and REWARDS[s][a][s']; None: action a is impossible in state s.
TRANSITION_PROBABILITIES = [
    [[0.7, 0.3, 0.0], [1.0, 0.0, 0.0], [0.8, 0.2, 0.0]],
    [[0.0, 1.0, 0.0], None, [0.0, 0.0, 1.0]],
    [None, [0.8, 0.1, 0.1], None],
]
REWARDS = [
    [[10, 0, 0], [0, 0, 0], [0, 0, 0]],
    [[0, 0, 0], [0, 0, 0], [0, 0, -50]],
    [[0, 0, 0], [40, 0, 0], [0, 0, 0]],
]
POSSIBLE_ACTIONS = [[0, 1, 2], [0, 2], [1]]
GAMMAS = (0.90, 0.95)


def make_mdp() -> FiniteMDP:
    return FiniteMDP(TRANSITION_PROBABILITIES, REWARDS, possible_actions=POSSIBLE_ACTIONS)


def format_q(q: np.ndarray) -> str:
    rows = ["        a0       a1       a2"]
    for s, row in enumerate(q):
        cells = ["       -" if np.isneginf(v) else f"{v:8.2f}" for v in row]
        rows.append(f"s{s} " + " ".join(cells))
    return "\n".join(rows)


def plot(results: dict, path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    for ax, (gamma, result) in zip(fig.subplots(1, 2, sharey=True), results.items()):
        for a in range(3):
            line, = ax.plot(result.history_steps, result.history[:, 0, a], label=f"Q(s0, a{a})")
            ax.axhline(result.q[0, a], color=line.get_color(), ls=":", lw=1)
        ax.set_title(f"gamma {gamma:.2f}: converged after {result.iterations} sweeps, policy {result.policy.tolist()}",
                     fontsize="medium")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(0, result.history_steps[-1])
        ax.set_xlabel("sweep")
        ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.axes[0].set_ylabel("Q(s0, a)")
    fig.savefig(path, dpi=90)
    return path


def main(fast: bool = False, out_dir: Path = FIGURES) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mdp = make_mdp()
    results = {}
    for gamma in GAMMAS:
        result = q_value_iteration(mdp, gamma=gamma, tol=1e-10, record_history=True)
        results[gamma] = result
        print(f"gamma {gamma:.2f}: {result.iterations} sweeps, optimal policy {result.policy.tolist()}, "
              f"state values {np.round(result.values, 2).tolist()}")
        print(format_q(result.q))
    return {
        "q": {gamma: r.q for gamma, r in results.items()},
        "policy": {gamma: r.policy.tolist() for gamma, r in results.items()},
        "iterations": {gamma: r.iterations for gamma, r in results.items()},
        "figures": [plot(results, out_dir / "06_q_value_iteration.png")],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings, figures in a temporary directory")
    args = parser.parse_args()
    main(fast=True, out_dir=Path(tempfile.mkdtemp())) if args.fast else main()
