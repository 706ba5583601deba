"""Hyperparameter sweeps on Ray Tune: ``tfrl sweep sweep.yaml`` and ``run_sweep``.

A sweep file names an algorithm, an environment, the seeds, fixed settings and a search space (a grid, or
random samples). Every configuration is trained once per seed; each trial is an ordinary tfrl run
directory, ``<sweep_dir>/trials/<config>/seed-<s>/``, made by ``tfrl.train.train``. Ray Tune schedules the
trials (on this machine, or on a cluster with ``address``), may stop poor ones early (ASHA on the evaluation
mean), and keeps its own records in ``<sweep_dir>/ray/``. The results are gathered per configuration into
``results.csv`` and ``results.md`` (and per trial into ``trials.csv``): seeds completed and failed, the mean
of the final evaluation return with a 95% confidence interval over seeds, the mean steps to the target return
and the mean wall time.

Random configurations are drawn here, once, from the sweep's ``random.seed`` (not by Tune per trial), so that
every configuration is trained on every seed and a resumed sweep trains the same configurations.

Ray is imported only inside the functions that need it: ``import tfrl`` stays fast.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import logging
import math
import os
import shutil
import traceback
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tfrl.config import _unknown_key_message, coerce, load_yaml
from tfrl.errors import ConfigError

__all__ = ["SweepSpec", "SweepResult", "load_spec", "parse_spec", "run_sweep", "summarize", "t_quantile",
           "mean_ci"]

SPEC_KEYS = ("algo", "env", "seeds", "settings", "grid", "random", "target_return", "scheduler", "resources",
             "preset")
"""Keys of a sweep file."""

DISTRIBUTIONS = {
    "uniform": 2, "quniform": 3, "loguniform": 2, "qloguniform": 3, "randint": 2, "qrandint": 3,
    "lograndint": 2, "randn": 2, "choice": None,
}
"""Distributions of ``random.space`` (``ray.tune``'s functions of the same names) and how many arguments each takes."""

METRIC = "eval/return_mean"
"""The metric reported to Tune after every evaluation (and ASHA's objective)."""
TIME_ATTR = "env_steps"
"""ASHA's clock: environment steps of the trial."""


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file."""

    algo: str
    """Algorithm (``tfrl.agents.ALGORITHMS``)."""
    env: str
    """Environment id."""
    seeds: tuple[int, ...] = (0,)
    """Seeds: every configuration is trained once per seed."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Fixed settings of every trial (flat keys of ``RunConfig`` and the agent's config)."""
    grid: dict[str, list] = field(default_factory=dict)
    """Grid search: the cartesian product of these values."""
    random: dict[str, Any] | None = None
    """Random search: ``{num_samples: N, seed: S, space: {key: {distribution: [args]}}}``."""
    target_return: float | None = None
    """Evaluation mean that counts as solved (for the steps-to-threshold column); else the preset's, if any."""
    scheduler: dict[str, Any] | None = None
    """None (every trial runs to the end) or ``{type: asha, grace_period: steps, reduction_factor: r}``."""
    resources: dict[str, float] = field(default_factory=lambda: {"cpu": 1.0})
    """Resources of one trial: ``cpu`` and ``gpu``."""
    preset: bool = True
    """Start from the tuned preset for the algorithm and environment, as ``tfrl train`` does."""
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The configurations to train, by name (drawn from ``grid`` or ``random``)."""

    def to_dict(self) -> dict[str, Any]:
        """The sweep as written to ``<sweep_dir>/sweep.yaml``."""
        out = dataclasses.asdict(self)
        out["seeds"] = list(self.seeds)
        return out


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


# ---------------------------------------------------------------------------------------------- the sweep file


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file (YAML)."""
    return parse_spec(load_yaml(path), origin=f"sweep file {str(path)!r}")


def _field_types(algo: str) -> dict[str, Any]:
    """Type hints of every setting a trial accepts: ``RunConfig``'s and the agent config's fields."""
    from tfrl.agents import get_algorithm
    from tfrl.train.run import RunConfig

    hints = {}
    for cls in (RunConfig, get_algorithm(algo).config_type()):
        types = typing.get_type_hints(cls)
        hints.update({f.name: types[f.name] for f in dataclasses.fields(cls) if f.init})
    return hints


def _check_keys(where: str, keys, valid, what: str = "setting") -> None:
    for key in keys:
        if key not in valid:
            raise ConfigError(f"{where}: {_unknown_key_message(str(key), list(valid), what)}")


def _plain(value: Any) -> Any:
    """A YAML- and JSON-friendly copy (numpy scalars to Python, tuples to lists)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "x".join(_fmt(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _config_name(params: dict[str, Any], index: int) -> str:
    name = ",".join(f"{k}={_fmt(v)}" for k, v in params.items()) or "default"
    name = "".join(c if c.isalnum() or c in "=,.-_+" else "_" for c in name)
    return name if len(name) <= 80 else f"config-{index:03d}"


def _sample(space: dict[str, dict], num_samples: int, seed: int) -> list[dict[str, Any]]:
    """Draw ``num_samples`` configurations from ``space`` with Ray Tune's distributions."""
    from ray import tune

    rng = np.random.default_rng(seed)
    domains = {}
    for key, dist in space.items():
        (name, args), = dist.items()
        try:
            domains[key] = tune.choice(list(args)) if name == "choice" else getattr(tune, name)(*args)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"random.space: {key}: {name}{args}: {exc}") from None
    return [{key: _plain(domain.sample(random_state=rng)) for key, domain in domains.items()}
            for _ in range(num_samples)]


def parse_spec(data: Mapping[str, Any], origin: str = "sweep") -> SweepSpec:
    """Validate a sweep (a mapping as read from YAML) and list its configurations.

    Checked here: the keys of the file, the algorithm, the environment id, the seeds, the fixed settings
    (resolved in full, values too), and that every searched key is a setting with values of its type.
    Ranges (``batch_size: 0``) are checked by each trial: a bad value fails its trials, not the sweep.
    """
    from tfrl.agents import get_algorithm
    from tfrl.envs.registry import check_env_id

    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin} must be a mapping of key: value, not {type(data).__name__}")
    _check_keys(origin, data, SPEC_KEYS, "sweep key")
    for key in ("algo", "env"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ConfigError(f"{origin}: '{key}' is required (for example algo: dqn, env: CartPole-v1)")
    info = get_algorithm(data["algo"])
    check_env_id(data["env"])

    seeds = data.get("seeds", [0])
    seeds = [seeds] if isinstance(seeds, int) and not isinstance(seeds, bool) else seeds
    if (not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
            or len(set(seeds)) != len(seeds)):
        raise ConfigError(f"{origin}: 'seeds' must be a list of distinct integers, got {seeds!r}")

    sections = {}
    for key in ("settings", "grid", "random", "resources"):
        value = data.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"{origin}: '{key}' must be a mapping, got {value!r}")
        sections[key] = dict(value or {})
    settings, grid, random = sections["settings"], sections["grid"], sections["random"]
    if grid and random:
        raise ConfigError(f"{origin}: give either 'grid' or 'random', not both")

    target = data.get("target_return")
    if target is not None:
        if "target_return" in settings:
            raise ConfigError(f"{origin}: target_return is given both at the top level and in 'settings'")
        target = coerce(target, float, "target_return")
        settings["target_return"] = target
    preset = coerce(data.get("preset", True), bool, "preset")

    hints = _field_types(info.name)
    for where, keys in (("settings", settings), ("grid", grid), ("random.space", random.get("space", {}))):
        _check_keys(f"{origin}: {where}", keys, hints)
        if "seed" in keys:
            raise ConfigError(f"{origin}: {where}: 'seed' cannot be set here; list the seeds under 'seeds'")
    searched = set(grid) | set(random.get("space", {}))
    both = sorted(searched & set(settings))
    if both:
        raise ConfigError(f"{origin}: {', '.join(both)} both fixed in 'settings' and searched; keep one")

    from tfrl.train.run import resolve_config

    try:
        run_cfg, _, _ = resolve_config(info.name, data["env"], overrides=settings, use_preset=preset)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: settings: {exc}") from None

    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{origin}: grid: {key} must be a non-empty list of values, got {values!r}")
        for value in values:
            coerce(value, hints[key], f"{origin}: grid: {key}")

    if random:
        _check_keys(f"{origin}: random", random, ("num_samples", "space", "seed"), "key")
        num = random.get("num_samples")
        if not isinstance(num, int) or isinstance(num, bool) or num < 1:
            raise ConfigError(f"{origin}: random: num_samples must be an integer >= 1, got {num!r}")
        rseed = random.setdefault("seed", 0)
        if not isinstance(rseed, int) or isinstance(rseed, bool):
            raise ConfigError(f"{origin}: random: seed must be an integer, got {rseed!r}")
        space = random.get("space")
        if not isinstance(space, Mapping) or not space:
            raise ConfigError(f"{origin}: random: space must map settings to distributions, "
                              f"e.g. learning_rate: {{loguniform: [1e-5, 1e-2]}}")
        for key, dist in space.items():
            if not isinstance(dist, Mapping) or len(dist) != 1:
                raise ConfigError(f"{origin}: random.space: {key} must be one distribution like {{loguniform: [1e-5, 1e-2]}} "
                                  f"(one of {', '.join(DISTRIBUTIONS)}), got {dist!r}")
            (name, args), = dist.items()
            _check_keys(f"{origin}: random.space: {key}", [name], DISTRIBUTIONS, "distribution")
            arity = DISTRIBUTIONS[name]
            if not isinstance(args, list) or (arity is None and not args) or (arity is not None and len(args) != arity):
                want = "a non-empty list of values" if arity is None else f"a list of {arity} numbers"
                raise ConfigError(f"{origin}: random.space: {key}: {name} takes {want}, got {args!r}")
            for value in args if name == "choice" else []:
                coerce(value, hints[key], f"{origin}: random.space: {key}")

    scheduler = data.get("scheduler")
    if isinstance(scheduler, str):
        scheduler = {"type": scheduler}
    if scheduler is not None:
        if not isinstance(scheduler, Mapping):
            raise ConfigError(f"{origin}: scheduler must be 'asha', 'none' or a mapping like {{type: asha, grace_period: 5000}}")
        scheduler = dict(scheduler)
        _check_keys(f"{origin}: scheduler", scheduler, ("type", "grace_period", "reduction_factor"), "key")
        kind = str(scheduler.get("type", "")).lower()
        if kind not in ("asha", "none"):
            raise ConfigError(f"{origin}: scheduler type must be 'asha' or 'none', got {scheduler.get('type')!r}")
        if kind == "none":
            scheduler = None
        else:
            totals = [coerce(v, int, "total_steps") for v in grid.get("total_steps", [])] or [run_cfg.total_steps]
            max_t = max(totals)
            grace = coerce(scheduler.get("grace_period", max(1, max_t // 4)), int, "scheduler grace_period")
            factor = coerce(scheduler.get("reduction_factor", 3), float, "scheduler reduction_factor")
            if grace < 1 or factor <= 1:
                raise ConfigError(f"{origin}: scheduler: grace_period must be >= 1 and reduction_factor > 1")
            if run_cfg.eval_every == 0 and "eval_every" not in searched:
                raise ConfigError(f"{origin}: scheduler asha stops trials on their evaluations, but eval_every is 0")
            # max_t past the last step: ASHA stops a trial at max_t, which would cut off its final evaluation
            scheduler = {"type": "asha", "grace_period": grace, "reduction_factor": factor, "max_t": max_t + 1}

    resources = sections["resources"] or {"cpu": 1}
    _check_keys(f"{origin}: resources", resources, ("cpu", "gpu"), "resource")
    resources = {k: coerce(v, float, f"resources {k}") for k, v in resources.items()}
    if any(v < 0 for v in resources.values()) or resources.get("cpu", 1) <= 0:
        raise ConfigError(f"{origin}: resources must be >= 0 (and cpu > 0), got {resources}")

    if grid:
        keys = list(grid)
        points = [dict(zip(keys, (_plain(v) for v in combo))) for combo in itertools.product(*grid.values())]
        names = [_config_name(p, i) for i, p in enumerate(points)]
    elif random:
        try:
            points = _sample(dict(random["space"]), random["num_samples"], random["seed"])
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
        points = [{k: coerce(v, hints[k], f"{origin}: random.space: {k}") for k, v in p.items()} for p in points]
        points = [{k: _plain(v) for k, v in p.items()} for p in points]
        names = [f"sample-{i:03d}" for i in range(len(points))]
    else:
        points, names = [{}], ["default"]
    if len(set(names)) != len(names):
        names = [f"config-{i:03d}" for i in range(len(points))]

    return SweepSpec(
        algo=info.name, env=data["env"], seeds=tuple(seeds), settings=_plain_dict(settings),
        grid={k: _plain(v) for k, v in grid.items()}, random=_plain_dict(random) if random else None,
        target_return=target if target is not None else run_cfg.target_return, scheduler=scheduler,
        resources=resources, preset=preset, configs=dict(zip(names, points)),
    )


def _plain_dict(d: Mapping) -> dict:
    return {k: (_plain_dict(v) if isinstance(v, Mapping) else _plain(v)) for k, v in d.items()}


# ---------------------------------------------------------------------------------------------- one trial


def _final_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    final = summary.get("final_eval_mean")
    return {
        METRIC: float("nan") if final is None else float(final),
        TIME_ATTR: int(summary.get("steps", 0)),
        "final_return": final,
        "first_solved_step": summary.get("first_solved_step"),
        "wall_time": summary.get("wall_time"),
        "finished": True,
    }


def _run_trial(config: dict[str, Any], *, job: dict[str, Any]) -> None:
    """Ray Tune's function trainable: train (or skip, or resume) one configuration on one seed.

    A trial whose run directory holds ``final_eval.json`` finished in an earlier session of the sweep: its
    summary is reported again. One with a checkpoint is resumed from it; one started without a checkpoint
    is started again. The traceback of a failure is also written to ``<run_dir>/error.txt``.
    """
    from ray import tune

    name, seed = config["config"], int(config["seed"])
    run_dir = Path(job["sweep_dir"]) / "trials" / name / f"seed-{seed}"
    done = run_dir / "final_eval.json"
    if done.is_file():
        tune.report(_final_metrics(json.loads(done.read_text())))
        return

    def report(step: int, mean: float) -> None:
        tune.report({METRIC: float(mean), TIME_ATTR: int(step)})

    try:
        from tfrl.train.checkpoint import CheckpointManager

        (run_dir / "error.txt").unlink(missing_ok=True)
        if (run_dir / "config.yaml").is_file() and CheckpointManager(run_dir / "checkpoints").latest() is not None:
            from tfrl.train import resume

            resume(run_dir, verbose=False, on_eval=report)
        else:
            if run_dir.exists():
                shutil.rmtree(run_dir)
            from tfrl.train import train

            train(job["algo"], job["env"], run_dir=run_dir, seed=seed, verbose=False, on_eval=report,
                  use_preset=job["preset"], **job["settings"], **job["configs"][name])
    except Exception as exc:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "error.txt").write_text(f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}")
        raise
    if not done.is_file():
        raise RuntimeError(f"{run_dir} ended without a final evaluation (interrupted); resume the sweep")
    tune.report(_final_metrics(json.loads(done.read_text())))


# ---------------------------------------------------------------------------------------------- statistics

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def _t_cdf(t: float, df: float) -> float:
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t distribution with ``df`` degrees of freedom (``t_quantile(0.975, 4)`` = 2.776).

    Computed without scipy: the t CDF through the regularized incomplete beta function (a continued
    fraction), inverted by bisection to 1e-10.
    """
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2.0
    while hi - lo > 1e-10 * max(1.0, hi):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _t_cdf(mid, df) < p else (lo, mid)
    return 0.5 * (lo + hi)


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


def _error_message(error: BaseException | None) -> str:
    if error is None:
        return ""
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}".strip()


def _trial_rows(spec: SweepSpec, sweep_dir: Path, results) -> list[dict[str, Any]]:
    """One row per (configuration, seed), from Tune's results (and the run directories where Tune has none).

    Status: completed, failed, stopped (by the scheduler) or unfinished (the sweep was interrupted first).
    """
    complete = results.num_terminated + results.num_errors == len(results)
    by_key = {}
    for result in results:
        cfg = result.config or {}
        if "config" in cfg and "seed" in cfg:
            by_key[(cfg["config"], int(cfg["seed"]))] = result
    rows = []
    for name in spec.configs:
        for seed in spec.seeds:
            run_dir = sweep_dir / "trials" / name / f"seed-{seed}"
            result = by_key.get((name, seed))
            metrics = dict(result.metrics or {}) if result is not None else {}
            error = _error_message(result.error) if result is not None else ""
            if not metrics.get("finished") and not error and (run_dir / "final_eval.json").is_file():
                metrics = _final_metrics(json.loads((run_dir / "final_eval.json").read_text()))
            if error:
                status = "failed"
            elif metrics.get("finished"):
                status = "completed"
            elif complete and result is not None and metrics:
                status = "stopped"  # by the scheduler, before the end
            else:
                status = "unfinished"
            rows.append({
                "config": name, "seed": seed, "status": status,
                "final_return": metrics.get("final_return") if status == "completed" else None,
                "first_solved_step": metrics.get("first_solved_step") if status == "completed" else None,
                "wall_time": metrics.get("wall_time") if status == "completed" else None,
                "last_eval": metrics.get(METRIC) if status == "stopped" else None,
                "steps": metrics.get(TIME_ATTR),
                "error": error, "run_dir": str(run_dir),
            })
    return rows


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
            "config": name, **{k: _fmt(v) if isinstance(v, (list, tuple)) else v for k, v in params.items()},
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


# ---------------------------------------------------------------------------------------------- the sweep


def _connect(address: str | None) -> bool:
    """Start local Ray with this machine's cores, or connect to ``address``; True if this call started it."""
    import ray

    if ray.is_initialized():
        return False
    env_vars = {"TFRL_PROGRESS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                   runtime_env={"env_vars": env_vars})
    if address:
        try:
            ray.init(address=address, **options)
        except (ConnectionError, RuntimeError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(
                f"cannot connect to the Ray cluster at {address!r} ({reason}). Start it with 'ray start --head "
                f"--port=6379' on the head machine; if it uses token authentication (the default of 'ray start' "
                f"since Ray 2.59), set RAY_AUTH_MODE=token here too, with the cluster's token in RAY_AUTH_TOKEN "
                f"or ~/.ray/auth_token") from None
    else:
        ray.init(address="local", num_cpus=os.cpu_count(), **options)
    return True


class _Quiet:
    """Silence Tune's console output (its progress tables and the tracebacks of failed trials) for a while."""

    def __enter__(self):
        self.env = os.environ.get("RAY_AIR_NEW_OUTPUT")
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # the legacy reporter, which verbose=0 silences
        self.levels = {}
        for name in ("ray.tune", "ray.train", "ray.air"):
            self.levels[name] = logging.getLogger(name).level
            logging.getLogger(name).setLevel(logging.CRITICAL)
        return self

    def __exit__(self, *exc):
        if self.env is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = self.env
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)


def _default_out(spec_or_path) -> Path:
    if isinstance(spec_or_path, (str, Path)):
        return Path("sweeps") / Path(spec_or_path).stem
    spec = spec_or_path if isinstance(spec_or_path, SweepSpec) else None
    algo = spec.algo if spec else spec_or_path.get("algo", "sweep")
    env = spec.env if spec else spec_or_path.get("env", "")
    return Path("sweeps") / f"{algo}-{str(env).replace('/', '_')}"


def run_sweep(
    spec_or_path: str | Path | Mapping[str, Any] | SweepSpec,
    out_dir: str | Path | None = None,
    address: str | None = None,
    resume: bool = False,
    max_concurrent: int | None = None,
    verbose: bool = True,
) -> SweepResult:
    """Run a sweep on Ray Tune and write its results into ``out_dir`` (default ``sweeps/<file name>``).

    ``spec_or_path``: a sweep file, its contents as a mapping, or a ``SweepSpec``. ``address``: an existing
    Ray cluster (``HEAD:6379``, or ``auto``); by default a local Ray instance with this machine's cores is
    started and stopped. ``resume``: continue the sweep in ``out_dir`` (finished trials are kept, failed and
    unfinished ones trained again, from their newest checkpoint where they have one). ``max_concurrent``:
    at most this many trials at once. ``verbose`` prints the table.
    """
    if isinstance(spec_or_path, SweepSpec):
        spec = spec_or_path
    elif isinstance(spec_or_path, Mapping):
        spec = parse_spec(spec_or_path)
    else:
        spec = load_spec(spec_or_path)
    if max_concurrent is not None and max_concurrent < 1:
        raise ConfigError(f"max_concurrent must be >= 1, got {max_concurrent}")
    sweep_dir = Path(out_dir if out_dir is not None else _default_out(spec_or_path)).resolve()
    record = sweep_dir / "sweep.yaml"
    if resume:
        if not record.is_file():
            raise ConfigError(f"{sweep_dir} holds no sweep to resume (no sweep.yaml); run it without --resume")
        saved = yaml.safe_load(record.read_text())
        if saved != spec.to_dict():
            raise ConfigError(f"the sweep in {sweep_dir} was started with other settings than this sweep file; "
                              f"resume it with the file it was started with (see {record}), or use another --out")
    elif record.exists():
        raise ConfigError(f"{sweep_dir} already holds a sweep; continue it with --resume, or choose another --out")

    started = _connect(address)
    try:
        if not resume:
            from tfrl.fileio import atomic_write_text

            sweep_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(record, yaml.safe_dump(spec.to_dict(), sort_keys=False))
        results = _fit(spec, sweep_dir, resume, max_concurrent)
    finally:
        if started:
            import ray

            ray.shutdown()
    result = write_results(spec, sweep_dir, _trial_rows(spec, sweep_dir, results))
    if verbose:
        print(result.markdown_path.read_text())
        print(f"results: {result.csv_path}, {result.markdown_path}, {result.trials_path}")
    return result


def _fit(spec: SweepSpec, sweep_dir: Path, resume: bool, max_concurrent: int | None):
    """Run (or restore and continue) the Tune experiment ``<sweep_dir>/ray/tune``; return its ResultGrid."""
    from ray import tune

    job = {"sweep_dir": str(sweep_dir), "algo": spec.algo, "env": spec.env, "settings": spec.settings,
           "configs": spec.configs, "preset": spec.preset}
    resources = {"cpu": spec.resources.get("cpu", 1.0), "gpu": spec.resources.get("gpu", 0.0)}
    trainable = tune.with_resources(tune.with_parameters(_run_trial, job=job), resources)
    storage, name = sweep_dir / "ray", "tune"
    with _Quiet():
        if resume and tune.Tuner.can_restore(str(storage / name)):
            tuner = tune.Tuner.restore(str(storage / name), trainable=trainable, resume_unfinished=True,
                                       restart_errored=True)
        else:
            if resume and (storage / name).exists():
                shutil.rmtree(storage / name)  # a Tune record that cannot be restored: the run dirs tell what is done
            scheduler = None
            if spec.scheduler is not None:
                from ray.tune.schedulers import ASHAScheduler

                scheduler = ASHAScheduler(time_attr=TIME_ATTR, metric=METRIC, mode="max",
                                          max_t=spec.scheduler["max_t"], grace_period=spec.scheduler["grace_period"],
                                          reduction_factor=spec.scheduler["reduction_factor"])
            tuner = tune.Tuner(
                trainable,
                param_space={"config": tune.grid_search(list(spec.configs)), "seed": tune.grid_search(list(spec.seeds))},
                tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=max_concurrent,
                                            reuse_actors=True),
                run_config=tune.RunConfig(name=name, storage_path=str(storage), verbose=0,
                                          failure_config=tune.FailureConfig(max_failures=0, fail_fast=False)),
            )
        return tuner.fit()
