"""The sweep file: reading, validation, and the configurations it expands to (a grid, or random samples).

Every configuration is trained once per seed (``SweepSpec.configs`` x ``SweepSpec.seeds`` are the trials).
Random configurations are drawn here, once, from the sweep's ``random.seed`` (not by Tune per trial), so that
every configuration is trained on every seed and a resumed sweep trains the same configurations.

``parse_spec`` holds the sweep's only imports of ``tfrl.agents`` and ``tfrl.runs`` (inside the function:
importing ``tfrl.sweep`` loads no TensorFlow).
"""

from __future__ import annotations

import dataclasses
import itertools
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfrl.config import brief, coerce, load_yaml, short_name
from tfrl.errors import ConfigError, unknown_name

__all__ = ["SweepSpec", "load_spec", "parse_spec", "format_value", "SPEC_KEYS", "DISTRIBUTIONS"]

SPEC_KEYS = ("algo", "env", "seeds", "settings", "grid", "random", "target_return", "scheduler", "resources",
             "preset")
"""Keys of a sweep file."""

DISTRIBUTIONS = {
    "uniform": 2, "quniform": 3, "loguniform": 2, "qloguniform": 3, "randint": 2, "qrandint": 3,
    "lograndint": 2, "randn": 2, "choice": None,
}
"""Distributions of ``random.space`` (``ray.tune``'s functions of the same names) and how many arguments each takes."""


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


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file (YAML)."""
    return parse_spec(load_yaml(path), origin=f"sweep file {str(path)!r}")


def _field_types(*classes: type) -> dict[str, Any]:
    """Type hints of the init fields of dataclasses ``classes`` (a trial's settings: ``RunConfig``'s and the
    agent config's)."""
    hints = {}
    for cls in classes:
        types = typing.get_type_hints(cls)
        hints.update({f.name: types[f.name] for f in dataclasses.fields(cls) if f.init})
    return hints


def _check_keys(where: str, keys: Iterable, valid: Iterable[str], what: str = "setting") -> None:
    """A ConfigError ``"<where>: unknown <what> 'key'. Did you mean ...? Valid keys: ..."`` for the first key
    not in ``valid``."""
    valid = list(valid)
    for key in keys:
        if key not in valid:
            raise ConfigError(f"{where}: {unknown_name(what, short_name(str(key)), valid)}")


def _plain(value: Any) -> Any:
    """A YAML- and JSON-friendly copy (numpy scalars to Python, tuples to lists)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _plain_dict(d: Mapping) -> dict:
    """``_plain`` of every value of ``d``, nested mappings included."""
    return {k: (_plain_dict(v) if isinstance(v, Mapping) else _plain(v)) for k, v in d.items()}


def format_value(value: Any) -> str:
    """A setting's value as written in a configuration's name and the results table (``[64, 64]`` -> ``64x64``)."""
    if isinstance(value, (list, tuple)):
        return "x".join(format_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _config_name(params: dict[str, Any], index: int) -> str:
    name = ",".join(f"{k}={format_value(v)}" for k, v in params.items()) or "default"
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


def _check_random(origin: str, random: dict[str, Any], hints: dict[str, Any]) -> None:
    """Check the ``random`` section (its keys, ``num_samples``, ``seed``, and each distribution of ``space``);
    set its ``seed`` to 0 if it has none."""
    _check_keys(f"{origin}: random", random, ("num_samples", "space", "seed"), "key")
    num = random.get("num_samples")
    if not isinstance(num, int) or isinstance(num, bool) or num < 1:
        raise ConfigError(f"{origin}: random: num_samples must be an integer >= 1, got {brief(num)}")
    rseed = random.setdefault("seed", 0)
    if not isinstance(rseed, int) or isinstance(rseed, bool):
        raise ConfigError(f"{origin}: random: seed must be an integer, got {brief(rseed)}")
    space = random.get("space")
    if not isinstance(space, Mapping) or not space:
        raise ConfigError(f"{origin}: random: space must map settings to distributions, "
                          f"e.g. learning_rate: {{loguniform: [1e-5, 1e-2]}}")
    for key, dist in space.items():
        if not isinstance(dist, Mapping) or len(dist) != 1:
            raise ConfigError(f"{origin}: random.space: {key} must be one distribution like {{loguniform: [1e-5, 1e-2]}} "
                              f"(one of {', '.join(DISTRIBUTIONS)}), got {brief(dist)}")
        (name, args), = dist.items()
        _check_keys(f"{origin}: random.space: {key}", [name], DISTRIBUTIONS, "distribution")
        arity = DISTRIBUTIONS[name]
        if not isinstance(args, list) or (arity is None and not args) or (arity is not None and len(args) != arity):
            want = "a non-empty list of values" if arity is None else f"a list of {arity} numbers"
            raise ConfigError(f"{origin}: random.space: {key}: {name} takes {want}, got {brief(args)}")
        for value in args if name == "choice" else []:
            coerce(value, hints[key], f"{origin}: random.space: {key}")


def _scheduler(origin: str, scheduler: Any, grid: dict[str, list], run_cfg: Any, searched: set[str]) -> dict | None:
    """The validated ``scheduler`` section: None, or ASHA's settings with ``max_t`` (past the longest trial)."""
    if isinstance(scheduler, str):
        scheduler = {"type": scheduler}
    if scheduler is None:
        return None
    if not isinstance(scheduler, Mapping):
        raise ConfigError(f"{origin}: scheduler must be 'asha', 'none' or a mapping like {{type: asha, grace_period: 5000}}")
    scheduler = dict(scheduler)
    _check_keys(f"{origin}: scheduler", scheduler, ("type", "grace_period", "reduction_factor"), "key")
    kind = str(scheduler.get("type", "")).lower()
    if kind not in ("asha", "none"):
        raise ConfigError(f"{origin}: scheduler type must be 'asha' or 'none', got {brief(scheduler.get('type'))}")
    if kind == "none":
        return None
    totals = [coerce(v, int, "total_steps") for v in grid.get("total_steps", [])] or [run_cfg.total_steps]
    max_t = max(totals)
    grace = coerce(scheduler.get("grace_period", max(1, max_t // 4)), int, "scheduler grace_period")
    factor = coerce(scheduler.get("reduction_factor", 3), float, "scheduler reduction_factor")
    if grace < 1 or factor <= 1:
        raise ConfigError(f"{origin}: scheduler: grace_period must be >= 1 and reduction_factor > 1")
    if run_cfg.eval_every == 0 and "eval_every" not in searched:
        raise ConfigError(f"{origin}: scheduler asha stops trials on their evaluations, but eval_every is 0")
    # max_t past the last step: ASHA stops a trial at max_t, which would cut off its final evaluation
    return {"type": "asha", "grace_period": grace, "reduction_factor": factor, "max_t": max_t + 1}


def _configurations(origin: str, grid: dict[str, list], random: dict[str, Any],
                    hints: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The configurations to train, by name: the grid's cartesian product, the random samples, or one default."""
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
    return dict(zip(names, points))


def parse_spec(data: Mapping[str, Any], origin: str = "sweep") -> SweepSpec:
    """Validate a sweep (a mapping as read from YAML) and list its configurations.

    Checked here: the keys of the file, the algorithm, the environment id, the seeds, the fixed settings
    (resolved in full, values too), and that every searched key is a setting with values of its type.
    Ranges (``batch_size: 0``) are checked by each trial: a bad value fails its trials, not the sweep.
    """
    from tfrl.agents import get_algorithm  # the sweep's only imports of tfrl.agents and tfrl.runs
    from tfrl.envs.ids import check_env_id
    from tfrl.runs import RunConfig, resolve_settings

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
        raise ConfigError(f"{origin}: 'seeds' must be a list of distinct integers, got {brief(seeds)}")

    sections = {}
    for key in ("settings", "grid", "random", "resources"):
        value = data.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"{origin}: '{key}' must be a mapping, got {brief(value)}")
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

    hints = _field_types(RunConfig, info.config)
    for where, keys in (("settings", settings), ("grid", grid), ("random.space", random.get("space", {}))):
        _check_keys(f"{origin}: {where}", keys, hints)
        if "seed" in keys:
            raise ConfigError(f"{origin}: {where}: 'seed' cannot be set here; list the seeds under 'seeds'")
    searched = set(grid) | set(random.get("space", {}))
    both = sorted(searched & set(settings))
    if both:
        raise ConfigError(f"{origin}: {', '.join(both)} both fixed in 'settings' and searched; keep one")

    try:
        run_cfg = resolve_settings(info.name, data["env"], overrides=settings, use_preset=preset).run
    except ConfigError as exc:
        raise ConfigError(f"{origin}: settings: {exc}") from None

    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{origin}: grid: {key} must be a non-empty list of values, got {brief(values)}")
        for value in values:
            coerce(value, hints[key], f"{origin}: grid: {key}")
    if random:
        _check_random(origin, random, hints)
    scheduler = _scheduler(origin, data.get("scheduler"), grid, run_cfg, searched)

    resources = sections["resources"] or {"cpu": 1}
    _check_keys(f"{origin}: resources", resources, ("cpu", "gpu"), "resource")
    resources = {k: coerce(v, float, f"resources {k}") for k, v in resources.items()}
    if any(v < 0 for v in resources.values()) or resources.get("cpu", 1) <= 0:
        raise ConfigError(f"{origin}: resources must be >= 0 (and cpu > 0), got {resources}")

    return SweepSpec(
        algo=info.name, env=data["env"], seeds=tuple(seeds), settings=_plain_dict(settings),
        grid={k: _plain(v) for k, v in grid.items()}, random=_plain_dict(random) if random else None,
        target_return=target if target is not None else run_cfg.target_return, scheduler=scheduler,
        resources=resources, preset=preset, configs=_configurations(origin, grid, random, hints),
    )
