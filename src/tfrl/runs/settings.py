"""Settings of a run: ``RunConfig``, the packaged presets, and resolving them with an agent's config.

Settings come, later ones winning, from the config dataclasses' defaults, the tuned preset for the
algorithm and environment (``tfrl/presets/<algo>-<env>[-<backend>].yaml``) if one exists, a YAML file
(``config=``), and explicit overrides. Keys are flat: each names a field of ``RunConfig`` or of the
agent's config; an unknown key is an error naming the closest ones.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from tfrl.agents import Algorithm, get_algorithm
from tfrl.config import apply_overrides, check_types, load_yaml, short_name
from tfrl.envs.ids import ASYNC_BACKEND, ENVPOOL_BACKEND, NATIVE_BACKEND, Backend
from tfrl.errors import ConfigError, unknown_name

__all__ = ["RunConfig", "Settings", "backend_names", "preset_path", "resolve_config", "resolve_settings"]


@dataclass(frozen=True)
class RunConfig:
    """Settings of a training run that do not belong to one algorithm."""

    total_steps: int = 50_000
    """Environment steps to train for (summed over parallel environments)."""
    num_envs: int = 1
    """Parallel training environments (a Gymnasium vector environment)."""
    seed: int = 0
    """Seed of environment resets, exploration, replay sampling and network initialisation."""
    backend: Backend = "sync"
    """Training environments: 'sync' (Gymnasium, this process), 'async' (Gymnasium, worker processes),
    'tf' (TF-native environments and the compiled loop, for the algorithms whose descriptor says so; evaluation
    still plays Gymnasium) or 'envpool' (Atari ids only, EnvPool's C++ thread pool; needs pip install
    'tfrl[envpool]')."""
    max_episode_steps: int | None = None
    """Truncate episodes after this many steps (None keeps the environment's own limit)."""
    eval_every: int = 5_000
    """Environment steps between evaluations of the evaluation policy (0 turns them off)."""
    eval_episodes: int = 10
    """Episodes per evaluation, played in parallel on their own environments."""
    final_eval_episodes: int = 20
    """Episodes of the final evaluation of the saved policy (with a seed unseen in training)."""
    target_return: float | None = None
    """Evaluation mean that counts as solved: the first step and time it is reached are recorded."""
    stop_at_target: bool = False
    """Stop training as soon as an evaluation mean reaches ``target_return``."""
    max_minutes: float | None = None
    """Stop training after this many minutes (then save, evaluate and write the run as usual)."""
    log_every: int = 1_000
    """Environment steps between two rows of training metrics."""
    checkpoint_every: int = 10_000
    """Environment steps between checkpoints (0: only the final one)."""
    keep_checkpoints: int = 3
    """Checkpoints kept on disk (the newest)."""
    save_replay: bool = True
    """Save the replay buffer with each checkpoint (``replay.npz``; backend 'tf' saves its in-graph buffer's
    variables), so that a resumed run continues with it."""
    tensorboard: bool = True
    """Write TensorBoard event files next to metrics.csv."""
    deterministic: bool = False
    """Deterministic mode: TensorFlow's op determinism on and every seed fixed, so that one seed gives the
    same weights on every run and across a stop and resume (backends 'sync' and 'tf')."""

    def __post_init__(self) -> None:
        if isinstance(self.seed, int) and not 0 <= self.seed <= 2**32 - 1:  # before check_types' 64-bit bound
            raise ConfigError("run config: seed must lie in [0, 2**32 - 1]")
        check_types(self, "run config")
        backends = backend_names()
        checks = [
            (self.total_steps >= 1, "total_steps must be >= 1"),
            (self.num_envs >= 1, "num_envs must be >= 1"),
            (self.num_envs <= self.total_steps,
             f"num_envs ({self.num_envs}) is larger than total_steps ({self.total_steps}): every environment would "
             f"take less than one step; lower --num-envs or raise --steps"),
            (self.backend in backends, f"backend must be one of {', '.join(backends)}"),
            (self.max_episode_steps is None or self.max_episode_steps >= 1, "max_episode_steps must be >= 1"),
            (self.eval_every >= 0, "eval_every must be >= 0"),
            (self.eval_episodes >= 1, "eval_episodes must be >= 1"),
            (self.final_eval_episodes >= 0, "final_eval_episodes must be >= 0"),
            (self.log_every >= 1, "log_every must be >= 1"),
            (self.checkpoint_every >= 0, "checkpoint_every must be >= 0"),
            (self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1"),
            (self.max_minutes is None or self.max_minutes > 0, "max_minutes must be > 0 or None"),
            (not (self.deterministic and self.backend in (ASYNC_BACKEND, ENVPOOL_BACKEND)),
             f"deterministic mode needs backend 'sync' (the {self.backend} back-end's episodes cannot be saved and "
             f"resumed)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"run config: {message}")


def backend_names() -> tuple[str, ...]:
    """The values ``RunConfig.backend`` takes, read from its annotation (the command line's choices)."""
    return typing.get_args(typing.get_type_hints(RunConfig)["backend"])


class Settings(NamedTuple):
    """Everything a new run is configured with."""

    algorithm: Algorithm
    run: RunConfig
    agent: Any
    """The algorithm's config dataclass."""
    preset: Path | None
    """The packaged preset that was applied, if any."""


def preset_path(algo: str, env_id: str, backend: str | None = None) -> Path | None:
    """The packaged preset ``<algo>-<env_id>[-<backend>].yaml`` (``/`` in ids as ``_``), if there is one.

    A backend-specific preset (``ppo-CartPole-v1-tf.yaml`` for the compiled loop) wins over the plain one.
    """
    names = [f"{algo}-{env_id.replace('/', '_')}.yaml"]
    if backend:
        names.insert(0, f"{algo}-{env_id.replace('/', '_')}-{backend}.yaml")
    for name in names:
        candidate = resources.files("tfrl").joinpath("presets", name)
        if candidate.is_file():
            return Path(str(candidate))
    return None


def resolve_config(
    algo: str,
    env_id: str,
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    use_preset: bool = True,
) -> tuple[RunConfig, Any, Path | None]:
    """Merge defaults, the preset, a YAML file and overrides into ``(RunConfig, agent config, preset)``."""
    info = get_algorithm(algo)
    agent_type = info.config
    user_file = load_yaml(config_file) if config_file is not None else None
    backend = (overrides or {}).get("backend") or (user_file or {}).get("backend")
    preset = preset_path(info.name, env_id, backend) if use_preset else None
    layers: list[tuple[str, dict[str, Any]]] = []
    if preset is not None:
        layers.append((f"preset {preset.name}", load_yaml(preset)))
    if user_file is not None:
        layers.append((f"config file {config_file}", user_file))
    layers.append(("overrides", dict(overrides or {})))
    run_keys = {f.name for f in dataclasses.fields(RunConfig)}
    agent_keys = {f.name for f in dataclasses.fields(agent_type)}
    run_part: dict[str, Any] = {}
    agent_part: dict[str, Any] = {}
    # merged, then checked once: a later layer may set one of a pair an earlier one left apart (num_envs, total_steps)
    for origin, values in layers:
        for key, value in values.items():
            if key in run_keys:
                run_part[key] = value
            elif key in agent_keys:
                agent_part[key] = value
            else:
                raise ConfigError(unknown_name("setting", short_name(key), run_keys | agent_keys,
                                               context=f" in {origin} for {info.name}"))
    return apply_overrides(RunConfig(), run_part), apply_overrides(agent_type(), agent_part), preset


def resolve_settings(algo: str, env_label: str, config: str | Path | None = None,
                     overrides: dict[str, Any] | None = None, use_preset: bool = True) -> Settings:
    """``resolve_config``, then the checks that need the algorithm and the run settings together."""
    run_cfg, agent_cfg, preset = resolve_config(algo, env_label, config, overrides, use_preset=use_preset)
    algorithm = get_algorithm(algo)
    if run_cfg.backend == NATIVE_BACKEND:
        if not algorithm.compiled:
            from tfrl.agents import ALGORITHMS

            compiled = [name for name in ALGORITHMS if get_algorithm(name).compiled]
            raise ConfigError(f"backend 'tf' (the compiled loop) trains {', '.join(compiled)}; "
                              f"{algorithm.name} uses backend 'sync' or 'async'")
        if getattr(agent_cfg, "normalize_observations", False) or getattr(agent_cfg, "normalize_rewards", False):
            raise ConfigError("the compiled loop (backend 'tf') does not normalize observations or rewards yet; "
                              "set normalize_observations=false and normalize_rewards=false")
    return Settings(algorithm, run_cfg, agent_cfg, preset)
