"""A sweep's results: one row per configuration, the mean final return with its 95% confidence interval over
seeds, and the files ``results.csv``, ``results.md`` and ``trials.csv``.

The interval is Student's t with ``n - 1`` degrees of freedom (``scipy.stats.t``); SciPy is imported when a
quantile is first needed.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfrl.sweep.spec import SweepSpec, format_value

__all__ = ["SweepResult", "t_quantile", "mean_ci", "summarize", "markdown_table", "write_results"]


@dataclass
class SweepResult:
    """What a sweep produced."""

    sweep_dir: Path
    """The sweep directory."""
    table: list[dict[str, Any]]
    """One row per configuration (the rows of ``results.csv``)."""
    trials: list[dict[str, Any]]
    """One row per trial (the rows of ``trials.csv``)."""
    csv_path: Path
    """``results.csv``."""
    markdown_path: Path
    """``results.md``."""
    trials_path: Path
    """``trials.csv``."""

    @property
    def markdown(self) -> str:
        """The table as Markdown (the contents of ``results.md``)."""
        return self.markdown_path.read_text()


# ---------------------------------------------------------------------------------------------- statistics


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t distribution with ``df`` degrees of freedom (``t_quantile(0.975, 4)`` = 2.776):
    ``scipy.stats.t.ppf(p, df)``."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    from scipy.stats import t

    return float(t.ppf(p, df))


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its two-sided confidence interval (t distribution, n - 1 degrees of freedom).

    The half-width is ``t * s / sqrt(n)`` with ``s`` the sample standard deviation; NaN for fewer than 2 values.
    """
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        return float("nan"), float("nan")
    if x.size < 2:
        return float(x.mean()), float("nan")
    t = t_quantile(0.5 + confidence / 2.0, x.size - 1)
    return float(x.mean()), float(t * x.std(ddof=1) / math.sqrt(x.size))


# ---------------------------------------------------------------------------------------------- results


def summarize(spec: SweepSpec, trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per configuration: its hyperparameters, seeds completed, failed and stopped, the mean final
    return with its 95% confidence interval, seeds that reached the target and their mean steps to it,
    and the mean wall time of the completed seeds."""
    table = []
    for name, params in spec.configs.items():
        mine = [t for t in trials if t["config"] == name]
        done = [t for t in mine if t["status"] == "completed"]
        finals = [t["final_return"] for t in done if t["final_return"] is not None]
        mean, ci = mean_ci(finals)
        solved = [t["first_solved_step"] for t in done if t["first_solved_step"] is not None]
        walls = [t["wall_time"] for t in done if t["wall_time"] is not None]
        errors = sorted({t["error"] for t in mine if t["error"]})
        table.append({
            "config": name, **{k: format_value(v) if isinstance(v, (list, tuple)) else v for k, v in params.items()},
            "seeds": len(mine), "completed": len(done),
            "failed": sum(t["status"] == "failed" for t in mine),
            "stopped": sum(t["status"] == "stopped" for t in mine),
            "unfinished": sum(t["status"] == "unfinished" for t in mine),
            "final_return_mean": mean if finals else None,
            "final_return_ci95": ci if len(finals) > 1 else None,
            "solved": len(solved),
            "steps_to_target_mean": float(np.mean(solved)) if solved else None,
            "wall_time_mean": float(np.mean(walls)) if walls else None,
            "errors": "; ".join(errors),
        })
    return table


def _num(value: Any, digits: int = 1) -> str:
    return "" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def markdown_table(spec: SweepSpec, table: list[dict[str, Any]]) -> str:
    """The per-configuration table as Markdown."""
    params = list(next(iter(spec.configs.values()), {}))
    target = "target" if spec.target_return is None else f"{spec.target_return:g}"
    header = (["config"] + params + ["done", "failed", "stopped", "final return", "95% CI", f"solved ({target})",
              f"steps to {target}", "wall time (s)", "errors"])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for row in table:
        cells = ([row["config"]] + [f"{row[p]:g}" if isinstance(row[p], float) else str(row[p]) for p in params]
                 + [f"{row['completed']}/{row['seeds']}", str(row["failed"]), str(row["stopped"]),
                    _num(row["final_return_mean"]),
                    "" if row["final_return_ci95"] is None else f"± {row['final_return_ci95']:.1f}",
                    f"{row['solved']}/{row['completed']}", _num(row["steps_to_target_mean"], 0),
                    _num(row["wall_time_mean"]), row["errors"].replace("|", "/")])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    from tfrl.fileio import atomic_path

    fields = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)


def write_results(spec: SweepSpec, sweep_dir: Path, trials: list[dict[str, Any]]) -> SweepResult:
    """Write ``results.csv``, ``results.md`` and ``trials.csv`` into ``sweep_dir``."""
    from tfrl.fileio import atomic_write_text

    table = summarize(spec, trials)
    result = SweepResult(sweep_dir, table, trials, sweep_dir / "results.csv", sweep_dir / "results.md",
                         sweep_dir / "trials.csv")
    _write_csv(result.csv_path, table)
    _write_csv(result.trials_path, trials)
    title = f"# Sweep: {spec.algo} on {spec.env}, seeds {', '.join(map(str, spec.seeds))}\n\n"
    unfinished = sum(t["status"] == "unfinished" for t in trials)
    if unfinished:
        title += f"**{unfinished} of {len(trials)} trials unfinished: continue with `tfrl sweep ... --resume`.**\n\n"
    note = ("\nfinal return: mean over completed seeds of the final evaluation; 95% CI: half-width, Student's t "
            "with n - 1 degrees of freedom; steps to target: mean over the seeds that reached it.\n")
    atomic_write_text(result.markdown_path, title + markdown_table(spec, table) + note)
    return result
