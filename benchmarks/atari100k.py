"""Benchmark: Atari 100k with data-efficient Rainbow (DER), against DER's published scores.

For each game (default Breakout, Pong, Boxing) and seed (default 0) it trains ``rainbow`` with the DER preset
(``src/tfrl/presets/rainbow-<Game>NoFrameskip-v4.yaml``: 100,000 agent steps = 400,000 frames, no sticky actions;
a game without a preset of its own gets the Breakout preset's settings, which DER shares across games), plays
the preset's final evaluation (100 whole games, epsilon 0.001: Dopamine's Atari 100k protocol) and prints one
table: agent steps reached, mean raw score over the seeds, human-normalised score (HNS)
``(agent - random) / (human - random)``, and the published DER, random and human scores; then the median and
mean HNS over the games run, beside DER's over the same games.

With ``--minutes M`` each run stops after M minutes of training and is evaluated as usual (``max_minutes``):
its row then reports fewer than 100,000 steps and is no Atari 100k score.

The table goes to ``--csv`` (default docs/atari100k.csv) and the learning curves (evaluation mean against agent
steps, one panel per game, a line per seed, DER, random and human as dashed lines) to ``--plot`` (default
docs/atari100k.png), after every run, so an interrupted benchmark keeps the games it finished. Run directories
are kept under ``runs/bench-atari100k/``; ``--from-runs RUN_DIR ...`` trains nothing and tabulates finished runs,
so games run in different sessions make one table.

Usage (from the repository root):

    python benchmarks/atari100k.py                          # Breakout, Pong, Boxing; seed 0 (100k gradient steps each)
    python benchmarks/atari100k.py --games Pong --seeds 0 1 2
    python benchmarks/atari100k.py --games all --minutes 60
    python benchmarks/atari100k.py --steps 3000 --final-eval-episodes 2 --csv /tmp/a.csv --plot /tmp/a.png  # smoke
    python benchmarks/atari100k.py --from-runs runs/bench-atari100k/*/rainbow-*   # the table of finished runs
"""

from __future__ import annotations

import argparse
import csv
import datetime
import math
import os
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ROOT / "src" / "tfrl" / "presets"
DEFAULT_GAMES = ("Breakout", "Pong", "Boxing")

# The 26 games of Atari 100k (Kaiser et al. 2019, arXiv:1903.00374), by their ale-py names.
GAMES = ("Alien", "Amidar", "Assault", "Asterix", "BankHeist", "BattleZone", "Boxing", "Breakout", "ChopperCommand",
         "CrazyClimber", "DemonAttack", "Freeway", "Frostbite", "Gopher", "Hero", "Jamesbond", "Kangaroo", "Krull",
         "KungFuMaster", "MsPacman", "Pong", "PrivateEye", "Qbert", "RoadRunner", "Seaquest", "UpNDown")

# Random and human scores of the Atari 100k literature: Dopamine's dopamine/labs/atari_100k/normalization_utils.py
# (ATARI_RANDOM_SCORES, ATARI_HUMAN_SCORES; the table of rliable and of the CURL, SPR and DrQ papers). The human
# scores are the later table of van Hasselt et al. (2016) and Hessel et al. (2018), not the Nature DQN paper's
# (Mnih et al. 2015: Breakout 31.8, Pong 9.3, Boxing 4.3); the random scores are the Nature paper's.
RANDOM = {
    "Alien": 227.8, "Amidar": 5.8, "Assault": 222.4, "Asterix": 210.0, "BankHeist": 14.2, "BattleZone": 2360.0,
    "Boxing": 0.1, "Breakout": 1.7, "ChopperCommand": 811.0, "CrazyClimber": 10780.5, "DemonAttack": 152.1,
    "Freeway": 0.0, "Frostbite": 65.2, "Gopher": 257.6, "Hero": 1027.0, "Jamesbond": 29.0, "Kangaroo": 52.0,
    "Krull": 1598.0, "KungFuMaster": 258.5, "MsPacman": 307.3, "Pong": -20.7, "PrivateEye": 24.9, "Qbert": 163.9,
    "RoadRunner": 11.5, "Seaquest": 68.4, "UpNDown": 533.4,
}
HUMAN = {
    "Alien": 7127.7, "Amidar": 1719.5, "Assault": 742.0, "Asterix": 8503.3, "BankHeist": 753.1, "BattleZone": 37187.5,
    "Boxing": 12.1, "Breakout": 30.5, "ChopperCommand": 7387.8, "CrazyClimber": 35829.4, "DemonAttack": 1971.0,
    "Freeway": 29.6, "Frostbite": 4334.7, "Gopher": 2412.5, "Hero": 30826.4, "Jamesbond": 302.8, "Kangaroo": 3035.0,
    "Krull": 2665.5, "KungFuMaster": 22736.3, "MsPacman": 6951.6, "Pong": 14.6, "PrivateEye": 69571.3,
    "Qbert": 13455.0, "RoadRunner": 7845.0, "Seaquest": 42054.7, "UpNDown": 11693.2,
}
# DER at 100k agent steps as published by van Hasselt, Hessel and Aslanides (2019, arXiv:1906.05243, the
# per-game table of the appendix) and reprinted as the DER baseline of later Atari 100k papers (CURL, SPR). Over
# the 26 games these give an HNS median of 0.161 and mean of 0.285, DER's published aggregates
# (tests/unit/test_atari100k_scores.py checks it). Not the re-run DER of Agarwal et al. (2021) or Dopamine.
DER = {
    "Alien": 739.9, "Amidar": 188.6, "Assault": 431.2, "Asterix": 470.8, "BankHeist": 51.0, "BattleZone": 10124.6,
    "Boxing": 0.2, "Breakout": 1.9, "ChopperCommand": 861.8, "CrazyClimber": 16185.3, "DemonAttack": 508.0,
    "Freeway": 27.9, "Frostbite": 866.8, "Gopher": 349.5, "Hero": 6857.0, "Jamesbond": 301.6, "Kangaroo": 779.3,
    "Krull": 2851.5, "KungFuMaster": 14346.1, "MsPacman": 1204.1, "Pong": -19.3, "PrivateEye": 97.8, "Qbert": 1152.9,
    "RoadRunner": 9600.0, "Seaquest": 354.1, "UpNDown": 2877.4,
}


def env_id(game: str) -> str:
    """The tfrl id of ``game``: ``"Breakout"`` -> ``"BreakoutNoFrameskip-v4"``."""
    return f"{game}NoFrameskip-v4"


def check_game(game: str) -> str:
    """``game`` if it is one of the 26 Atari 100k games, else a ValueError naming them."""
    if game not in GAMES:
        raise ValueError(f"unknown Atari 100k game {game!r}; the games are {', '.join(GAMES)}")
    return game


def human_normalized(score: float, game: str) -> float:
    """``(score - random) / (human - random)`` for ``game``: 0 is random play, 1 the human tester."""
    check_game(game)
    return (score - RANDOM[game]) / (HUMAN[game] - RANDOM[game])


@dataclass(frozen=True)
class ScoreRow:
    """One game of the benchmark's table."""

    game: str
    seed_scores: tuple[float, ...]
    """Raw final score of each seed (mean over its evaluation games)."""
    steps: int
    """Agent steps reached (the fewest over the seeds)."""
    score: float
    """Mean raw score over the seeds."""
    hns: float
    """Human-normalised ``score``."""
    der: float
    """DER's published raw score."""
    der_hns: float
    """Human-normalised ``der``."""
    random: float
    """Random play's score."""
    human: float
    """The human tester's score."""


def score_rows(scores: Mapping[str, Sequence[float]], steps: Mapping[str, int] | None = None) -> list[ScoreRow]:
    """The table's rows, in the order of ``scores`` (game: raw final score of each seed); ``steps`` gives the agent
    steps reached per game (0 when left out)."""
    rows = []
    for game, seed_scores in scores.items():
        if not seed_scores:
            raise ValueError(f"no score for {game!r}")
        score = statistics.fmean(seed_scores)
        rows.append(ScoreRow(game, tuple(float(s) for s in seed_scores), int((steps or {}).get(game, 0)), score,
                             human_normalized(score, game), DER[game], human_normalized(DER[game], game),
                             RANDOM[game], HUMAN[game]))
    return rows


def hns_summary(rows: Sequence[ScoreRow]) -> dict[str, float]:
    """Median and mean HNS over the rows' games, tfrl's and DER's."""
    if not rows:
        raise ValueError("no games to summarise")
    ours, der = [r.hns for r in rows], [r.der_hns for r in rows]
    return {"median_hns": statistics.median(ours), "mean_hns": statistics.fmean(ours),
            "der_median_hns": statistics.median(der), "der_mean_hns": statistics.fmean(der)}


def preset_for(game: str) -> Path:
    """The game's rainbow preset, or the Breakout one when the game has none (DER shares its settings)."""
    own = PRESETS / f"rainbow-{env_id(game)}.yaml"
    return own if own.is_file() else PRESETS / f"rainbow-{env_id('Breakout')}.yaml"


def train_one(game: str, seed: int, root: Path, minutes: float | None, overrides: dict, verbose: bool) -> dict:
    """Train rainbow on ``game`` with one seed; its final score, steps and evaluation curve."""
    from tfrl.train import train

    preset = preset_for(game)
    config = None if preset.name == f"rainbow-{env_id(game)}.yaml" else preset
    settings = dict(overrides)
    if minutes is not None:
        settings["max_minutes"] = minutes
    result = train("rainbow", env_id(game), config=config, runs_root=root / game, seed=seed, tensorboard=False,
                   verbose=verbose, **settings)
    return read_run(Path(result.run_dir), game, seed)


def read_run(run_dir: Path, game: str | None = None, seed: int | None = None) -> dict:
    """A benchmark run read back from its directory: its game, seed, steps, score (the final evaluation's mean,
    else the last evaluation's) and evaluation curve. Game and seed come from the run's config.yaml if not given."""
    import yaml

    from tfrl.logging import read_metrics
    from tfrl.plotting import EVAL_MEAN

    if game is None or seed is None:
        record = yaml.safe_load((run_dir / "config.yaml").read_text())
        game = next((g for g in GAMES if env_id(g) == record.get("env")), None)
        if game is None:
            raise SystemExit(f"{run_dir} is not an Atari 100k run (env {record.get('env')!r})")
        seed = int(record["run"]["seed"])
    metrics = read_metrics(run_dir)
    curve = [(int(s), float(m)) for s, m in zip(metrics.get("step", []), metrics.get(EVAL_MEAN, []))
             if not math.isnan(m)]  # the rows of an evaluation
    finals = [float(v) for v in metrics.get("eval/final_return_mean", []) if not math.isnan(v)]
    if finals:
        score = finals[-1]
    elif curve:  # no final evaluation (final_eval_episodes 0, or a signal stopped the run): the last one
        score = curve[-1][1]
    else:
        raise RuntimeError(f"{run_dir} has no evaluation to score; raise --final-eval-episodes")
    steps = int(max(metrics.get("step", [0])))
    wall = max(metrics.get("wall_time", [0.0]))
    return {"game": game, "seed": seed, "steps": steps, "score": score, "curve": curve, "minutes": wall / 60.0,
            "run_dir": run_dir}


def table(runs: Sequence[dict]) -> list[ScoreRow]:
    """The score rows of ``runs``: one per game, its seeds' scores and the fewest agent steps among them."""
    games = list(dict.fromkeys(r["game"] for r in runs))
    scores = {game: [r["score"] for r in runs if r["game"] == game] for game in games}
    steps = {game: min(r["steps"] for r in runs if r["game"] == game) for game in games}
    return score_rows(scores, steps)


def write_csv(rows: Sequence[ScoreRow], path: Path) -> None:
    """The table as CSV, one row per game."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["game", "env_id", "seeds", "agent_steps", "raw_score", "seed_scores", "hns", "der_score",
                         "der_hns", "random", "human"])
        for r in rows:
            writer.writerow([r.game, env_id(r.game), len(r.seed_scores), r.steps, f"{r.score:.2f}",
                             ";".join(f"{s:.2f}" for s in r.seed_scores), f"{r.hns:.4f}", r.der, f"{r.der_hns:.4f}",
                             r.random, r.human])


def plot(runs: Sequence[dict], path: Path) -> None:
    """One panel per game: evaluation mean against agent steps, a line per seed, DER, random and human dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    games = list(dict.fromkeys(r["game"] for r in runs))
    fig, axes = plt.subplots(1, len(games), figsize=(5 * len(games), 4), squeeze=False)
    for ax, game in zip(axes[0], games):
        for r in runs:
            if r["game"] == game:
                line, = ax.plot([s for s, _ in r["curve"]], [m for _, m in r["curve"]], marker="o", markersize=3,
                                label=f"tfrl rainbow, seed {r['seed']} (star: final evaluation)")
                ax.plot([r["steps"]], [r["score"]], marker="*", markersize=10, color=line.get_color())
        for value, style, label in ((DER[game], "--", "DER (published)"), (RANDOM[game], ":", "random"),
                                    (HUMAN[game], "-.", "human")):
            ax.axhline(value, color="k", linestyle=style, linewidth=1, label=f"{label} {value:g}")
        ax.set_title(f"{env_id(game)}")
        ax.set_xlabel("agent steps (4 frames each)")
        ax.set_ylabel("evaluation return (whole games)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", nargs="+", default=list(DEFAULT_GAMES),
                        help=f"games to train, or 'all' for the 26 (default {' '.join(DEFAULT_GAMES)})")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds per game (default 0)")
    parser.add_argument("--minutes", type=float, default=None, help="stop each run after this many minutes")
    parser.add_argument("--steps", type=int, default=None, help="agent steps per run (default: the preset's 100,000)")
    parser.add_argument("--final-eval-episodes", type=int, default=None,
                        help="games of the final evaluation (default: the preset's 100)")
    parser.add_argument("--eval-every", type=int, default=None,
                        help="agent steps between evaluations of the curve (default: the preset's 10,000)")
    parser.add_argument("--runs-root", default=str(ROOT / "runs" / "bench-atari100k"))
    parser.add_argument("--csv", default=str(ROOT / "docs" / "atari100k.csv"))
    parser.add_argument("--plot", default=str(ROOT / "docs" / "atari100k.png"))
    parser.add_argument("--verbose", action="store_true", help="print each run's progress")
    parser.add_argument("--from-runs", nargs="+", type=Path, default=None, metavar="RUN_DIR",
                        help="train nothing: tabulate and plot these finished runs (for example earlier sessions')")
    args = parser.parse_args()
    games = list(GAMES) if args.games == ["all"] else args.games
    for game in games:
        if game not in GAMES:
            parser.error(f"unknown game {game!r}; the Atari 100k games are {', '.join(GAMES)}")
    overrides = {key: value for key, value in (("total_steps", args.steps), ("eval_every", args.eval_every),
                                               ("final_eval_episodes", args.final_eval_episodes))
                 if value is not None}

    # benchmarks/ is the script's folder, first on sys.path
    import tensorflow as tf
    from learning_margins import cpu_name

    print(f"# {cpu_name()}, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}, "
          f"{datetime.datetime.now().isoformat(timespec='minutes')}; "
          + (f"{len(args.from_runs)} finished runs" if args.from_runs else
             f"games {' '.join(games)}, seeds {' '.join(map(str, args.seeds))}") + (f", {args.minutes:g} min per run" if args.minutes else "")
          + (f", overrides {overrides}" if overrides else ""), flush=True)
    runs = [read_run(path) for path in args.from_runs or []]
    for game in games if not args.from_runs else []:
        for seed in args.seeds:
            run = train_one(game, seed, Path(args.runs_root), args.minutes, overrides, args.verbose)
            runs.append(run)
            print(f"{game:15s} seed {seed}: {run['steps']:>7,} steps in {run['minutes']:.1f} min, score "
                  f"{run['score']:.1f} (DER {DER[game]:g}); {run['run_dir']}", flush=True)
            rows = table(runs)  # after every run, so an interrupted benchmark keeps what it finished
            write_csv(rows, Path(args.csv))
            plot(runs, Path(args.plot))
    rows = table(runs)
    summary = hns_summary(rows)
    print()
    print("| game | seeds | agent steps | raw score | HNS | DER (published) | DER HNS | random | human |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.game} | {len(r.seed_scores)} | {r.steps:,} | {r.score:.1f} | {r.hns:.3f} | {r.der:g} "
              f"| {r.der_hns:.3f} | {r.random:g} | {r.human:g} |")
    print(f"\nHNS over {len(rows)} games: median {summary['median_hns']:.3f}, mean {summary['mean_hns']:.3f}; "
          f"DER on the same games: median {summary['der_median_hns']:.3f}, mean {summary['der_mean_hns']:.3f}")
    write_csv(rows, Path(args.csv))
    plot(runs, Path(args.plot))
    print(f"table: {args.csv}; curves: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
