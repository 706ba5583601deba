"""Learning-curve figures from a run's ``metrics.csv``, and of several runs at once (``tfrl plot``).

``plot_learning_curve`` draws one run's training and evaluation returns (``learning_curve.png``);
``plot_runs`` compares runs, with the seeds of one configuration as their mean and a min-max band,
against environment steps and wall time.

Drawn with Matplotlib's object-oriented API on the Agg canvas: no display is needed and the global
``pyplot`` backend of the caller is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfrl.fileio import atomic_path
from tfrl.logging import METRICS_FILE, read_metrics

__all__ = ["EPISODE_RETURN", "EVAL_MEAN", "EVAL_STD", "smooth", "plot_learning_curve", "plot_runs", "expand_runs"]

EPISODE_RETURN = "charts/episode_return"
"""Column of the training episode returns."""
GAME_SCORE = "charts/game_score"
"""Column of the raw scores of whole training games (Atari, where an episode is one life)."""
EVAL_MEAN = "eval/return_mean"
"""Column of the mean return of an evaluation."""
EVAL_STD = "eval/return_std"
"""Column of the standard deviation of the returns of an evaluation."""


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` points; windows shrink at both ends (no edge bias)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0 or window <= 1:
        return values.copy()
    half = window // 2
    csum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(n)
    lo = np.clip(idx - half, 0, n)
    hi = np.clip(idx + half + 1, 0, n)
    return (csum[hi] - csum[lo]) / (hi - lo)


def _rows_with(metrics: dict[str, np.ndarray], name: str, *others: str) -> list[np.ndarray]:
    """Steps, ``name`` and ``others`` on the rows where ``name`` has a value, sorted by step.

    Empty arrays when ``name`` is missing; a missing column in ``others`` reads as ``nan``.
    """
    if name not in metrics or "step" not in metrics:
        return [np.zeros(0) for _ in range(2 + len(others))]
    steps = metrics["step"]
    keep = ~np.isnan(metrics[name]) & ~np.isnan(steps)
    order = np.argsort(steps[keep], kind="stable")
    columns = [steps, metrics[name]] + [metrics.get(o, np.full_like(steps, np.nan)) for o in others]
    return [c[keep][order] for c in columns]


def plot_learning_curve(
    metrics_csv: str | Path,
    out: str | Path,
    title: str | None = None,
) -> Path:
    """Plot training episode returns and evaluation returns against environment steps.

    Training returns (``charts/episode_return``) are drawn as light points with a smoothed line;
    evaluations (``eval/return_mean``) as a line with a shaded band of one standard deviation
    (``eval/return_std``) when that column exists. Missing columns are skipped; with no data at
    all the figure says so. ``metrics_csv`` may also be the run directory.

    The figure is written atomically to ``out`` (format from its suffix, PNG without one).
    ``title`` defaults to the name of the run directory. Returns the path written.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    metrics_csv = Path(metrics_csv)
    metrics = read_metrics(metrics_csv)
    csv_file = metrics_csv / METRICS_FILE if metrics_csv.is_dir() else metrics_csv
    run_name = csv_file.resolve().parent.name
    out = Path(out)
    if not out.suffix:
        out = out.with_suffix(".png")
    out.parent.mkdir(parents=True, exist_ok=True)

    fig = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    drawn = False

    # Atari runs log the raw score of whole games; their training episodes are single lives with
    # clipped rewards, which would not compare with the evaluation's game scores.
    train_column, train_label = (GAME_SCORE, "training game score") if GAME_SCORE in metrics else (
        EPISODE_RETURN, "episode return")
    steps, returns = _rows_with(metrics, train_column)
    if len(returns):
        ax.scatter(steps, returns, s=6, alpha=0.25, color="tab:blue", linewidths=0, label=train_label)
        window = max(1, min(100, len(returns) // 20))
        if len(returns) >= 3:
            ax.plot(steps, smooth(returns, window), color="tab:blue", lw=2,
                    label=f"{train_label} (mean of {window})" if window > 1 else None)
        drawn = True

    e_steps, e_mean, e_std = _rows_with(metrics, EVAL_MEAN, EVAL_STD)
    if len(e_mean):
        ax.plot(e_steps, e_mean, color="tab:orange", lw=2, marker="o", ms=3, label="evaluation mean")
        if not np.isnan(e_std).all():
            e_std = np.nan_to_num(e_std, nan=0.0)
            ax.fill_between(e_steps, e_mean - e_std, e_mean + e_std, color="tab:orange", alpha=0.2,
                            linewidth=0, label="evaluation ± std")
        drawn = True

    ax.set_title(title if title is not None else run_name)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend(loc="best", fontsize="small")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, f"no episode or evaluation returns in\n{csv_file}", transform=ax.transAxes,
                ha="center", va="center", fontsize=12, color="0.4", wrap=True)

    fmt = out.suffix.lstrip(".").lower()
    with atomic_path(out) as tmp, open(tmp, "xb") as f:
        fig.savefig(f, format=fmt)
    return out


# --------------------------------------------------------------------------- several runs (tfrl plot)

X_AXES = ("steps", "time", "both")
"""Horizontal axes of ``plot_runs``: environment steps, wall time, or one panel of each."""

_NOT_LEARNING = frozenset({"seed", "tensorboard", "log_every", "checkpoint_every", "keep_checkpoints", "save_replay",
                           "final_eval_episodes", "max_minutes", "deterministic"})
"""Run settings that do not change what is learned: runs differing only in these are seeds of one configuration."""


def expand_runs(paths) -> list[Path]:
    """Run directories: each path itself, or for a directory of runs (``train --seeds``) the runs inside it."""
    from tfrl.errors import RunDirError

    runs: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise RunDirError(f"run directory {str(path)!r} does not exist; pass directories that 'tfrl train' created")
        if (path / "config.yaml").is_file():
            runs.append(path)
            continue
        inner = sorted(p.parent for p in path.glob("*/config.yaml"))
        if not inner:
            raise RunDirError(f"{str(path)!r} is not a tfrl run (no config.yaml) and holds none")
        runs.extend(inner)
    if not runs:
        raise RunDirError("no run directories given")
    return runs




def _read_config(run: Path) -> dict:
    """A run's ``config.yaml``, read with the safe reader of ``tfrl.yaml_io`` (rather than with ``tfrl.train``,
    which imports TensorFlow); a missing, unreadable or malformed one is a ``RunDirError``."""
    import yaml

    from tfrl.errors import RunDirError
    from tfrl.yaml_io import read_yaml_file

    try:
        record = read_yaml_file(run / "config.yaml")
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        record = None
    if not (isinstance(record, dict) and {"algo", "env", "run", "agent"} <= set(record)
            and all(isinstance(record[k], str) for k in ("algo", "env"))
            and all(isinstance(record[k], dict) and all(isinstance(key, str) for key in record[k])
                    for k in ("run", "agent"))):
        raise RunDirError(f"{str(run / 'config.yaml')!r} is missing or corrupt (not a tfrl run config); restore it "
                          f"or leave the run out")
    return record


def _group_key(record: dict) -> tuple:
    """What makes runs seeds of one configuration: algo, environment, and every learning setting."""
    run = {k: v for k, v in (record.get("run") or {}).items() if k not in _NOT_LEARNING}
    settings = {**run, **(record.get("agent") or {})}
    return (record["algo"], record["env"], repr(sorted(settings.items())))


def _curve(metrics: dict[str, np.ndarray], evaluations: bool = True) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(kind, steps, wall times, returns) of a run: its evaluations, else its smoothed training returns."""
    steps, values, times = _rows_with(metrics, EVAL_MEAN, "wall_time")
    if evaluations and len(values):
        return "eval", steps, times, values
    column = GAME_SCORE if GAME_SCORE in metrics else EPISODE_RETURN
    steps, values, times = _rows_with(metrics, column, "wall_time")
    window = max(1, min(100, len(values) // 20))
    return "train", steps, times, smooth(values, window)


def _aggregate(xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Mean, minimum, maximum and number of several curves on the union of their x values.

    Each curve is interpolated linearly, counts from its first point on, and holds its last value after
    it ends (a run stopped at its target return keeps it); at every x the statistics are over the curves
    that have started.
    """
    grid = np.unique(np.concatenate(xs))
    stacked = np.stack([np.where(grid >= x[0], np.interp(grid, x, y), np.nan) for x, y in zip(xs, ys)])
    count = np.sum(~np.isnan(stacked), axis=0)
    return grid, np.nanmean(stacked, axis=0), np.nanmin(stacked, axis=0), np.nanmax(stacked, axis=0), count


def _differing_settings(records: list[dict]) -> list[str]:
    """``key=value`` of the settings that differ between groups with one algo and environment, per group."""
    flat = [{**{k: v for k, v in (r.get("run") or {}).items() if k not in _NOT_LEARNING}, **(r.get("agent") or {})}
            for r in records]
    keys = sorted({k for f in flat for k in f if len({repr(g.get(k)) for g in flat}) > 1})
    return [", ".join(f"{k}={f.get(k)}" for k in keys[:3]) + (", ..." if len(keys) > 3 else "") for f in flat]


def _output_paths(out: str | Path) -> list[Path]:
    from tfrl.errors import ConfigError

    out = Path(out)
    if out.suffix.lower() not in ("", ".png", ".svg"):
        raise ConfigError(f"--out {out}: give a .png or .svg name (both are written), not {out.suffix}")
    base = out.with_suffix("") if out.suffix else out
    return [base.with_name(base.name + ".png"), base.with_name(base.name + ".svg")]


def plot_runs(
    run_dirs: str | Path | Sequence[str | Path],
    out: str | Path,
    x: str = "both",
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> list[Path]:
    """Plot the evaluation returns of several runs; seeds of one configuration as a mean with a band.

    ``run_dirs`` are run directories, or directories of runs (``tfrl train --seeds`` writes one). Runs
    whose ``config.yaml`` agree on the algorithm, the environment and every setting except the seed (and
    settings that do not change learning, such as logging and checkpoints) form a group. A group is drawn
    as one thin line per run, and a thick mean with a shaded band from the minimum to the maximum from
    the first x at which every run has reported: the curves are interpolated linearly onto the union of
    their x values and a run that ended early (stopped at its target return, say) holds its last value.
    ``labels`` (one per run, after expanding directories of runs) name the curves instead; runs with one
    label form a group. A run without evaluations contributes its smoothed training episode returns,
    drawn dashed, and its legend entry says so.

    ``x`` is 'steps' (environment steps), 'time' (wall-clock seconds of training) or 'both' (two panels).
    The figure is written as PNG and SVG: ``out`` 'figure.png' (or 'figure' or 'figure.svg') writes
    ``figure.png`` and ``figure.svg``, atomically. Returns the two paths.
    """
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    from tfrl.errors import ConfigError, RunDirError

    if x not in X_AXES:
        raise ConfigError(f"x must be one of {', '.join(X_AXES)}, got {x!r}")
    paths = _output_paths(out)
    runs = expand_runs(run_dirs if not isinstance(run_dirs, (str, Path)) else [run_dirs])
    if labels is not None and len(labels) != len(runs):
        raise ConfigError(f"{len(labels)} labels for {len(runs)} runs; give one label per run")
    records = [_read_config(run) for run in runs]

    groups: dict[object, list[int]] = {}
    for i, record in enumerate(records):
        groups.setdefault(labels[i] if labels is not None else _group_key(record), []).append(i)
    names = list(groups) if labels is not None else [f"{records[m[0]]['algo']} {records[m[0]]['env']}"
                                                     for m in groups.values()]
    if labels is None:
        by_task: dict[tuple, list[int]] = {}
        for g, members in enumerate(groups.values()):
            by_task.setdefault((records[members[0]]["algo"], records[members[0]]["env"]), []).append(g)
        for same in by_task.values():
            if len(same) > 1:
                for g, extra in zip(same, _differing_settings([records[list(groups.values())[g][0]] for g in same])):
                    names[g] += f" ({extra})"

    panels = ["steps", "time"] if x == "both" else [x]
    fig = Figure(figsize=(6.5 * len(panels), 4.5), dpi=100, layout="constrained")
    axes = [fig.add_subplot(1, len(panels), i + 1) for i in range(len(panels))]
    colors = [f"C{i % 10}" for i in range(len(groups))]
    any_band = any_train = drawn = False
    for g, members in enumerate(groups.values()):
        metrics = [read_metrics(runs[i]) for i in members]
        curves = [c for c in (_curve(m) for m in metrics) if len(c[1])]
        if len({c[0] for c in curves}) > 1:  # some seeds without evaluations: compare like with like
            curves = [c for c in (_curve(m, evaluations=False) for m in metrics) if len(c[1])]
        if not curves:
            continue
        train = curves[0][0] == "train"
        any_train |= train
        label = names[g] + (f" ({len(curves)} seeds)" if len(curves) > 1 else "")
        label += " - training returns" if train else ""
        for ax, panel in zip(axes, panels):
            xs = [c[1] if panel == "steps" else c[2] for c in curves]
            keep = [~np.isnan(xv) for xv in xs]
            xs = [xv[k] for xv, k in zip(xs, keep)]
            ys = [c[3][k] for c, k in zip(curves, keep)]
            if not all(len(xv) for xv in xs):
                continue
            grid, mean, lo, hi, count = _aggregate(xs, ys)
            if len(curves) > 1:  # each seed thin; mean and band once every seed has reported
                for xv, yv in zip(xs, ys):
                    ax.plot(xv, yv, color=colors[g], lw=0.8, alpha=0.4, ls="--" if train else "-",
                            marker="o" if len(xv) == 1 else None, ms=3)
                full = count == len(curves)
                grid, mean, lo, hi = grid[full], mean[full], lo[full], hi[full]
                ax.fill_between(grid, lo, hi, color=colors[g], alpha=0.2, linewidth=0)
                any_band = True
            ax.plot(grid, mean, color=colors[g], lw=2, ls="--" if train else "-", label=label,
                    marker="o" if len(grid) <= 30 and not train else None, ms=3)
            drawn = True
    if not drawn:
        raise RunDirError(f"no evaluation or training returns in the metrics.csv of {', '.join(map(str, runs))}")

    envs = sorted({r["env"] for r in records})
    heading = title if title is not None else ("evaluation return on " + ", ".join(envs))
    if any_band:
        heading += "\nthin: each seed; thick: mean over seeds; shaded: min to max"
    fig.suptitle(heading)
    for ax, panel in zip(axes, panels):
        ax.set_xlabel("environment steps" if panel == "steps" else "wall time (s)")
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("return (dashed: training episodes)" if any_train else "evaluation return")
    axes[0].legend(loc="best", fontsize="small")

    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        # SVG text stays text (editable, searchable) rather than glyph outlines
        with atomic_path(path) as tmp, open(tmp, "xb") as f, matplotlib.rc_context({"svg.fonttype": "none"}):
            fig.savefig(f, format=path.suffix.lstrip("."))
    return paths
