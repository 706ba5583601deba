"""Chapter 1: the environment loop.

Makes CartPole-v1 with ``tfrl.envs.make``, reads its specs, plays one episode with random actions
until the pole falls (terminated: LAST with discount 0), plays one episode cut short by a time limit
(truncated: LAST with discount 1), and shows the auto-reset step that follows a LAST step.

    python docs/guide/01_environment_loop.py          # writes the figures into docs/guide/figures/
    python docs/guide/01_environment_loop.py --fast   # the same in a temporary directory
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from tfrl import envs
from tfrl.specs import StepType

FIGURES = Path(__file__).resolve().parent / "figures"
ANGLE_LIMIT = 12 * 2 * np.pi / 360  # CartPole terminates when |pole angle| exceeds 12 degrees


def random_episode(seed: int) -> tuple[np.ndarray, list, list]:
    """One CartPole episode with uniform random actions: observations, step types, discounts."""
    rng = np.random.default_rng(seed)
    with envs.make("CartPole-v1", seed=seed) as env:  # a batch of one environment
        time_step = env.reset()
        observations = [time_step.observation[0]]
        step_types, discounts = [int(time_step.step_type[0])], [float(time_step.discount[0])]
        while not time_step.is_last()[0]:
            action = rng.integers(0, 2, size=env.num_envs)  # one action per environment in the batch
            time_step = env.step(action)
            observations.append(time_step.observation[0])
            step_types.append(int(time_step.step_type[0]))
            discounts.append(float(time_step.discount[0]))
        # The step after LAST starts a new episode by itself (auto-reset); its action is ignored.
        after = env.step(np.zeros(env.num_envs, np.int64))
        step_types.append(int(after.step_type[0]))
    return np.array(observations), step_types, discounts


def truncated_episode(limit: int, seed: int) -> tuple[int, float, bool]:
    """Play until a time limit of ``limit`` steps cuts the episode: its length, last discount, terminated flag."""
    with envs.make("CartPole-v1", seed=seed, max_episode_steps=limit) as env:
        time_step = env.reset()
        steps = 0
        while not time_step.is_last()[0]:
            time_step = env.step(np.array([steps % 2]))  # left, right, left, ...: up for 30 steps or more
            steps += 1
        record = env.pop_finished()[0]  # EpisodeStatistics keeps the return, length and how it ended
    return steps, float(time_step.discount[0]), record.terminated


def plot_episode(observations: np.ndarray, path: Path) -> Path:
    from matplotlib.figure import Figure

    names = ["cart position", "cart velocity", "pole angle (rad)", "pole angular velocity"]
    fig = Figure(figsize=(9, 5), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    for i, ax in enumerate(axes.flat):
        ax.plot(observations[:, i], marker=".", ms=4)
        ax.set_title(names[i], fontsize="medium")
        ax.grid(alpha=0.3)
        if i == 2:
            for sign in (-1, 1):
                ax.axhline(sign * ANGLE_LIMIT, color="tab:red", ls="--", lw=1)
            ax.text(0, ANGLE_LIMIT, " termination at 12 degrees", color="tab:red", va="bottom", fontsize="small")
    for ax in axes[1]:
        ax.set_xlabel("step")
    fig.suptitle("One CartPole-v1 episode with random actions")
    fig.savefig(path, dpi=90)
    return path


def render_frame(path: Path, seed: int) -> Path:
    """A picture of CartPole: render_mode='rgb_array' makes env.render() return an RGB array."""
    from PIL import Image

    with envs.make("CartPole-v1", seed=seed, render_mode="rgb_array") as env:
        env.reset()
        frame = env.render()
    Image.fromarray(frame).save(path)
    return path


def main(fast: bool = False, out_dir: Path = FIGURES) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with envs.make("CartPole-v1", seed=0) as env:
        print("observation spec:", env.observation_spec())
        print("action spec:     ", env.action_spec())
        first = env.reset()
        print("after reset:     ", first)

    observations, step_types, discounts = random_episode(seed=2)
    length = len(observations) - 1
    names = [StepType(t).name for t in step_types]
    print(f"random episode: {length} steps, step types {names[:3]} ... {names[-3:]}")
    print(f"  last discount {discounts[-1]} (terminated: the pole fell, angle {observations[-1, 2]:+.3f} rad)")

    limit = 20  # (CartPole-v1's own limit is 500 steps; fast mode changes nothing in this chapter)
    steps, discount, terminated = truncated_episode(limit, seed=0)
    print(f"time limit {limit}: LAST after {steps} steps with discount {discount} (terminated={terminated})")

    figures = [plot_episode(observations, out_dir / "01_random_episode.png"),
               render_frame(out_dir / "01_cartpole_frame.png", seed=0)]
    return {
        "random_length": length,
        "first_step_type": int(first.step_type[0]),
        "first_discount": float(first.discount[0]),
        "step_types": step_types,
        "terminated_discount": discounts[-1],
        "final_angle": float(observations[-1, 2]),
        "truncated_length": steps,
        "truncated_discount": discount,
        "truncated_terminated": terminated,
        "figures": figures,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings, figures in a temporary directory")
    args = parser.parse_args()
    main(fast=True, out_dir=Path(tempfile.mkdtemp())) if args.fast else main()
