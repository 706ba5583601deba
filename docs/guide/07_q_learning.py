"""Chapter 7: Q-learning on the MDP of chapter 6, without knowing its model.

``tfrl.tabular.q_learning`` only samples transitions from the MDP (with uniformly random actions)
and updates one Q entry per step. Its table approaches the one Q-value iteration computed from the
model; the convergence plot comes from the snapshots in the result's ``history``. A second run with
``tfrl``'s default step-size decay shows why the schedule matters.

    python docs/guide/07_q_learning.py          # 200,000 steps, figure in docs/guide/figures/
    python docs/guide/07_q_learning.py --fast   # 50,000 steps (under a second), in a temporary directory
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path

import numpy as np

from tfrl.tabular import q_learning, q_value_iteration

FIGURES = Path(__file__).resolve().parent / "figures"
GAMMA = 0.90
LEARNING_RATE = 0.05
LR_DECAY = 0.001      # alpha_t = 0.05 / (1 + 0.001 t): 0.025 after 1,000 steps, 0.0005 after 100,000
DEFAULT_LR_DECAY = 0.005


def chapter_6():
    """The MDP of chapter 6, imported from its script next to this one."""
    path = Path(__file__).resolve().parent / "06_q_value_iteration.py"
    spec = importlib.util.spec_from_file_location("guide_06_q_value_iteration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def max_error(tables: np.ndarray, exact: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Largest |Q - Q*| over the possible (state, action) pairs, for each table of ``tables`` [..., S, A]."""
    return np.where(mask, np.abs(tables - np.where(mask, exact, 0.0)), 0.0).max(axis=(-2, -1))


def plot(result, slow, exact: np.ndarray, mask: np.ndarray, path: Path) -> Path:
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for a in range(3):
        line, = left.plot(result.history_steps, result.history[:, 0, a], label=f"Q(s0, a{a})")
        left.axhline(exact[0, a], color=line.get_color(), ls=":", lw=1)
    left.set_xlabel("steps")
    left.xaxis.set_major_formatter(EngFormatter(sep=""))
    left.set_ylabel("Q(s0, a)")
    left.set_title("Q-learning (dotted: Q-value iteration)")
    left.legend(loc="lower right")
    for run, label in ((result, f"lr_decay {LR_DECAY}"), (slow, f"lr_decay {DEFAULT_LR_DECAY} (the default)")):
        right.plot(run.history_steps[1:], max_error(run.history, exact, mask)[1:], label=label)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("steps")
    right.set_ylabel("max |Q - Q*| over possible (s, a)")
    right.set_title(f"Error, learning rate {LEARNING_RATE} / (1 + lr_decay * t)")
    right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3, which="both")
    fig.savefig(path, dpi=90)
    return path


def main(fast: bool = False, out_dir: Path = FIGURES) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    num_steps = 50_000 if fast else 200_000
    mdp = chapter_6().make_mdp()
    planned = q_value_iteration(mdp, gamma=GAMMA)
    exact = planned.q

    result = q_learning(mdp, gamma=GAMMA, num_steps=num_steps, learning_rate=LEARNING_RATE, lr_decay=LR_DECAY,
                        exploration="random", seed=0, history_every=num_steps // 500)
    slow = q_learning(mdp, gamma=GAMMA, num_steps=num_steps, learning_rate=LEARNING_RATE,
                      lr_decay=DEFAULT_LR_DECAY, exploration="random", seed=0, history_every=num_steps // 500)
    error = float(max_error(result.q, exact, mdp.mask))
    slow_error = float(max_error(slow.q, exact, mdp.mask))
    np.set_printoptions(precision=2, suppress=True)
    print(f"Q-learning, {num_steps:,} steps, gamma {GAMMA}, lr {LEARNING_RATE} / (1 + {LR_DECAY} t):\n{result.q}")
    print(f"Q-value iteration:\n{exact}")
    print(f"largest error {error:.3f}; greedy policy {result.policy.tolist()} (exact: {planned.policy.tolist()})")
    print(f"with the default lr_decay {DEFAULT_LR_DECAY}: largest error {slow_error:.3f}")
    return {
        "num_steps": num_steps,
        "q": result.q,
        "exact_q": exact,
        "max_error": error,
        "default_decay_error": slow_error,
        "policy": result.policy.tolist(),
        "figures": [plot(result, slow, exact, mdp.mask, out_dir / "07_q_learning.png")],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings, figures in a temporary directory")
    args = parser.parse_args()
    main(fast=True, out_dir=Path(tempfile.mkdtemp())) if args.fast else main()
