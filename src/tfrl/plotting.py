"""Learning-curve figures from a run's ``metrics.csv``.

Drawn with Matplotlib's object-oriented API on the Agg canvas: no display is needed and the global
``pyplot`` backend of the caller is left alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfrl.fileio import atomic_path
from tfrl.logging import METRICS_FILE, read_metrics

__all__ = ["EPISODE_RETURN", "EVAL_MEAN", "EVAL_STD", "smooth", "plot_learning_curve"]

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
