"""Chapter 10: Atari Breakout with the DeepMind preprocessing, the Nature CNN and the DQN preset.

Shows what the agent sees (one raw frame against the stack of four 84x84 grayscale frames), builds
the Nature CNN Q network, trains DQN with the Breakout preset for a few thousand steps (learning
starts earlier than the preset's 80,000 so that some gradient steps happen), and records a short GIF
of the result. A real run takes hours: ``python benchmarks/atari.py --minutes 60`` trains for an hour
and saves its learning curve as ``docs/atari_breakout_dqn.png``; this script prints that run's
evaluations when its metrics file is there.

    python docs/guide/10_atari_breakout.py          # 2,000 steps, a GIF and an MP4 of one whole game
    python docs/guide/10_atari_breakout.py --fast   # 300 steps and a 40-frame GIF, in a temporary directory
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")

import numpy as np

from tfrl import envs, networks
from tfrl.logging import read_metrics
from tfrl.specs import ArraySpec
from tfrl.train import train
from tfrl.train import load_policy, watch_run
from tfrl.video import annotate, write_video

GAME = "BreakoutNoFrameskip-v4"
FIGURES = Path(__file__).resolve().parent / "figures"
ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs" / "guide"
BENCHMARK_METRICS = ROOT / "docs" / "atari_breakout_dqn_metrics.csv"  # written by benchmarks/atari.py --minutes


def plot_observation(path: Path, seed: int) -> tuple[Path, tuple, str]:
    """The emulator's RGB frame next to the four stacked frames the network gets, after 40 random steps."""
    from matplotlib.figure import Figure

    rng = np.random.default_rng(seed)
    with envs.make(GAME, seed=seed, render_mode="rgb_array") as env:
        time_step = env.reset()
        for _ in range(40):
            time_step = env.step(rng.integers(0, env.action_spec().num_values, size=1))
        frame, stack = env.render(), time_step.observation[0]
        obs_spec = env.observation_spec()
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    axes = fig.subplots(1, 5, width_ratios=[160 / 210, 1, 1, 1, 1])
    axes[0].imshow(frame)
    axes[0].set_title(f"emulator frame {frame.shape[0]}x{frame.shape[1]} RGB", fontsize="small")
    for k in range(4):
        axes[k + 1].imshow(stack[:, :, k], cmap="gray", vmin=0, vmax=255)
        axes[k + 1].set_title(f"observation[:, :, {k}]" + (" (newest)" if k == 3 else ""), fontsize="small")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"What DQN sees: {obs_spec.shape} {obs_spec.dtype}, every 4th frame, max over 2 frames, 84x84 gray")
    fig.savefig(path, dpi=80)
    return path, obs_spec.shape, str(obs_spec.dtype)


def record_gif(run_dir: Path, path: Path, num_steps: int, seed: int) -> tuple[Path, float]:
    """A GIF of the first ``num_steps`` agent steps of the run's saved policy in a whole game."""
    frames, score = [], 0.0
    with envs.make(GAME, seed=seed, render_mode="rgb_array", training=False) as env:  # whole games, raw scores
        policy = load_policy(run_dir, env)  # greedy with the preset's evaluation epsilon 0.05
        time_step = env.reset()
        frames.append(annotate(env.render(), "score 0"))
        for _ in range(num_steps):
            time_step = env.step(policy.action(time_step.observation))
            score += float(time_step.reward[0])
            frames.append(annotate(env.render(), f"score {score:.0f}"))
            if time_step.is_last()[0]:
                break
    return write_video(frames, path, fps=15), score


def benchmark_summary() -> list[tuple[str, float]]:
    """(what, mean score) of the evaluations of the hour-long benchmark run, if its metrics are in docs/."""
    if not BENCHMARK_METRICS.is_file():
        return []
    metrics = read_metrics(BENCHMARK_METRICS)
    rows = []
    for column, label in (("eval/return_mean", "evaluation, 5 games"), ("eval/final_return_mean", "final, 10 games")):
        values = metrics.get(column, np.zeros(0))
        keep = ~np.isnan(values)
        steps = metrics["step"][keep]
        rows += [(f"step {int(step):7,d} {label}", float(mean)) for step, mean in zip(steps, values[keep])]
    return rows


def main(fast: bool = False, out_dir: Path = FIGURES, runs_root: Path | None = None, seed: int = 0) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs_root = Path(runs_root) if runs_root is not None else (out_dir / "runs" if fast else RUNS)

    observation_figure, obs_shape, obs_dtype = plot_observation(out_dir / "10_breakout_observation.png", seed)
    print(f"observation: {obs_shape} {obs_dtype}")

    q = networks.q_network(ArraySpec(obs_shape, np.uint8), num_actions=4, encoder="nature_cnn", seed=seed)
    print(f"Nature CNN Q network: {q.count_params():,} parameters")
    for layer in q.layers[1:]:
        print(f"  {layer.name:14s} -> {layer.output.shape}")

    steps, learning_starts = (300, 100) if fast else (2_000, 500)
    result = train("dqn", GAME, seed=seed, runs_root=runs_root, total_steps=steps, learning_starts=learning_starts,
                   buffer_size=10_000, eval_every=0, final_eval_episodes=0, checkpoint_every=0,
                   tensorboard=False, verbose=False)
    metrics = read_metrics(result.run_dir)
    print(f"trained {result.steps} agent steps ({4 * result.steps} frames) in {result.wall_time:.1f} s: "
          f"{result.steps / result.wall_time:.0f} steps/s; run directory {result.run_dir}")

    gif_name = "10_breakout_fast.gif" if fast else "10_breakout_2000_steps.gif"
    gif, score = record_gif(result.run_dir, out_dir / gif_name, num_steps=40 if fast else 300, seed=seed)
    print(f"GIF: {gif} (score {score:.0f} in the frames shown)")
    out = {"observation_shape": obs_shape, "parameters": q.count_params(), "run_dir": result.run_dir,
           "steps": result.steps, "metrics": sorted(metrics), "gif": gif, "figures": [observation_figure, gif]}
    if not fast:
        # One whole game as an MP4, the same as `tfrl watch RUN --out breakout.mp4`.
        video, evaluation = watch_run(result.run_dir, episodes=1, out=result.run_dir / "videos" / "breakout.mp4")
        print(f"whole game: score {evaluation.mean:.0f} in {int(evaluation.lengths[0])} agent steps; video {video}")
        out["video"], out["game_score"] = video, evaluation.mean
    for what, mean in benchmark_summary():
        print(f"benchmark run (benchmarks/atari.py): {what}: mean score {mean:5.1f}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings, figures in a temporary directory")
    args = parser.parse_args()
    main(fast=True, out_dir=Path(tempfile.mkdtemp())) if args.fast else main()
