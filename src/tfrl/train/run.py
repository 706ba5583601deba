"""Runs on disk: configure, train, resume and evaluate an agent in a run directory.

``runs/<algo>-<env>-<YYYYmmdd-HHMMSS>/`` holds ``config.yaml`` (every setting, the seed and the
library versions), TensorBoard events, ``metrics.csv``, ``checkpoints/``, ``policy.keras`` (the
final policy network), ``best_policy.keras`` (the network at its best evaluation), ``final_eval.json``, ``learning_curve.png`` and ``videos/``.

Settings come, later ones winning, from the config dataclasses' defaults, the tuned preset for
the algorithm and environment (``tfrl/presets/<algo>-<env>.yaml``) if one exists, a YAML file
(``config=``), and explicit overrides. Keys are flat: each names a field of ``RunConfig`` or of
the agent's config; an unknown key is an error listing the valid ones.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import pickle
import platform
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import Any, Literal

import yaml

from tfrl import __version__
from tfrl.agents import get_algorithm
from tfrl.config import apply_overrides, check_types, load_yaml, to_dict
from tfrl.errors import ConfigError, RunDirError, TfrlError, UnsafeModelError, UnsupportedSpaceError, closest

COMPILED_ALGORITHMS = ("ppo", "a2c", "dqn")
"""Algorithms that backend 'tf' (TF-native environments and a compiled loop) trains."""

__all__ = ["RunConfig", "RunResult", "train", "train_seeds", "resume", "evaluate_run", "watch_run", "preset_path", "resolve_config"]


@dataclass(frozen=True)
class RunConfig:
    """Settings of a training run that do not belong to one algorithm."""

    total_steps: int = 50_000
    """Environment steps to train for (summed over parallel environments)."""
    num_envs: int = 1
    """Parallel training environments (a Gymnasium vector environment)."""
    seed: int = 0
    """Seed of environment resets, exploration, replay sampling and network initialisation."""
    backend: Literal["sync", "async", "tf", "envpool"] = "sync"
    """Training environments: 'sync' (Gymnasium, this process), 'async' (Gymnasium, worker processes),
    'tf' (TF-native environments and the compiled loop, for ppo, a2c and dqn; evaluation still plays Gymnasium)
    or 'envpool' (Atari ids only, EnvPool's C++ thread pool; needs pip install 'tfrl[envpool]')."""
    max_episode_steps: int | None = None
    """Truncate episodes after this many steps (None keeps the environment's own limit)."""
    eval_every: int = 5_000
    """Environment steps between evaluations of the greedy policy (0 turns them off)."""
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
    """Save the replay buffer with each checkpoint, so that a resumed run continues with it (host loops only:
    backend 'tf' keeps its replay buffer in the graph and does not save it)."""
    tensorboard: bool = True
    """Write TensorBoard event files next to metrics.csv."""
    deterministic: bool = False
    """Deterministic mode: TensorFlow's op determinism on and every seed fixed, so that one seed gives the
    same weights on every run and across a stop and resume (host loops; needs backend 'sync')."""

    def __post_init__(self) -> None:
        check_types(self, "run config")
        checks = [
            (self.total_steps >= 1, "total_steps must be >= 1"),
            (self.seed >= 0, "seed must be >= 0"),
            (self.num_envs >= 1, "num_envs must be >= 1"),
            (self.backend in ("sync", "async", "tf", "envpool"), "backend must be 'sync', 'async', 'tf' or 'envpool'"),
            (self.max_episode_steps is None or self.max_episode_steps >= 1, "max_episode_steps must be >= 1"),
            (self.eval_every >= 0, "eval_every must be >= 0"),
            (self.eval_episodes >= 1, "eval_episodes must be >= 1"),
            (self.final_eval_episodes >= 0, "final_eval_episodes must be >= 0"),
            (self.log_every >= 1, "log_every must be >= 1"),
            (self.checkpoint_every >= 0, "checkpoint_every must be >= 0"),
            (self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1"),
            (self.max_minutes is None or self.max_minutes > 0, "max_minutes must be > 0 or None"),
            (not (self.deterministic and self.backend in ("async", "envpool")),
             f"deterministic mode needs backend 'sync' (the {self.backend} back-end's episodes cannot be saved and "
             f"resumed)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"run config: {message}")


@dataclass
class RunResult:
    """What a finished training run produced."""

    run_dir: Path
    """The run directory."""
    final_eval: Any
    """``EvalResult`` of the final evaluation (None if final_eval_episodes is 0)."""
    steps: int
    """Environment steps trained."""
    wall_time: float
    """Seconds of training (all sessions of a resumed run)."""
    first_solved_step: int | None
    """First step whose evaluation reached ``target_return`` (None if never or not set)."""
    first_solved_time: float | None
    """Training seconds until then."""
    interrupted: str | None = None
    """``"SIGINT"`` or ``"SIGTERM"`` when a signal stopped the run early (a checkpoint was written, no final
    evaluation played; resume it to finish), else None."""


def _env_label(env: Any) -> str:
    if isinstance(env, str):
        return env
    from tfrl.envs import env_id_of

    return env_id_of(env)


def _env_reference(env: Any) -> str | None:
    """``module:QualName`` of a user's environment class, so that eval and resume can rebuild it."""
    if isinstance(env, type) and "<locals>" not in env.__qualname__ and env.__module__ != "__main__":
        return f"{env.__module__}:{env.__qualname__}"
    return None


def _saved_env(record: dict[str, Any]) -> Any:
    """The environment a run was trained on: its id, or the user's class imported again."""
    reference = record.get("env_class")
    if record.get("env_kind") == "factory":
        raise RunDirError(f"this run was trained on an environment factory ({record['env']}), which cannot be "
                          f"rebuilt from the run directory; pass env= with the same factory")
    if not reference:
        return record["env"]
    import importlib

    module_name, _, qualname = reference.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise RunDirError(f"the run's environment class {reference} cannot be imported ({exc}); "
                          f"make its module importable, or pass env= to rebuild it") from None
    return obj


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
    agent_type = info.config_type()
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
    run_cfg, agent_cfg = RunConfig(), agent_type()
    for origin, values in layers:
        run_part, agent_part = {}, {}
        for key, value in values.items():
            if key in run_keys:
                run_part[key] = value
            elif key in agent_keys:
                agent_part[key] = value
            else:
                valid = sorted(run_keys | agent_keys)
                hint = closest(key, valid)
                did = f" Did you mean {', '.join(hint)}?" if hint else ""
                raise ConfigError(
                    f"unknown setting {key!r} in {origin} for {info.name}.{did} Valid keys: {', '.join(valid)}."
                )
        run_cfg = apply_overrides(run_cfg, run_part)
        agent_cfg = apply_overrides(agent_cfg, agent_part)
    return run_cfg, agent_cfg, preset


def _versions() -> dict[str, str]:
    import gymnasium
    import keras
    import numpy
    import tensorflow

    return {
        "tfrl": __version__,
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": numpy.__version__,
    }


def _new_run_dir(root: Path, algo: str, env_label: str) -> Path:
    """Create and return a fresh ``<algo>-<env>-<time>[-n]`` directory (``mkdir`` claims it atomically)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = root / f"{algo}-{env_label.replace('/', '_').replace(':', '_')}-{stamp}"
    root.mkdir(parents=True, exist_ok=True)
    path, n = base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def _save_keras(model, path: Path) -> None:
    from tfrl.fileio import atomic_path

    with atomic_path(path) as tmp:
        model.save(tmp)


def _prepare(algo: str, env: Any, config, overrides, use_preset: bool, settings: dict):
    env_label = _env_label(env)
    run_cfg, agent_cfg, preset = resolve_config(
        algo, env_label, config, {**(overrides or {}), **settings}, use_preset=use_preset
    )
    info = get_algorithm(algo)
    if run_cfg.backend == "tf" and info.name not in COMPILED_ALGORITHMS:
        raise ConfigError(f"backend 'tf' (the compiled loop) trains {' and '.join(COMPILED_ALGORITHMS)}; "
                          f"{info.name} uses backend 'sync' or 'async'")
    if run_cfg.backend == "tf" and (getattr(agent_cfg, "normalize_observations", False)
                                    or getattr(agent_cfg, "normalize_rewards", False)):
        raise ConfigError("the compiled loop (backend 'tf') does not normalize observations or rewards yet; "
                          "set normalize_observations=false and normalize_rewards=false")
    return info, env_label, run_cfg, agent_cfg, preset


def _start_run_dir(run_dir: Path, info, env, env_label: str, preset, run_cfg, agent_cfg) -> Path:
    """Create ``run_dir`` (refusing one that holds a run) and write its ``config.yaml``."""
    from tfrl.fileio import atomic_write_text

    if (run_dir / "config.yaml").exists():
        raise ConfigError(f"{run_dir} already holds a run; use --resume {run_dir} to continue it or choose another --run-dir")
    record = {
        "algo": info.name,
        "env": env_label,
        "env_class": _env_reference(env),
        "env_kind": "id" if isinstance(env, str) else ("class" if _env_reference(env) else "factory"),
        "preset": preset.name if preset else None,
        "run": to_dict(run_cfg),
        "agent": to_dict(agent_cfg),
        "versions": _versions(),
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(record, sort_keys=False))
    except OSError as exc:
        raise RunDirError(f"cannot write the run directory {str(run_dir)!r} ({exc.strerror or exc}); "
                          f"choose a writable place with --run-dir (or runs_root=)") from None
    return run_dir


def train(
    algo: str,
    env: Any,
    *,
    config: str | Path | None = None,
    run_dir: str | Path | None = None,
    runs_root: str | Path = "runs",
    overrides: dict[str, Any] | None = None,
    use_preset: bool = True,
    verbose: bool = True,
    on_eval: Callable[[int, float], None] | None = None,
    **settings: Any,
) -> RunResult:
    """Train ``algo`` on ``env`` (an id, a ``gymnasium.Env`` subclass or a factory) in a new run directory.

    ``settings`` are flat keys of ``RunConfig`` and the agent's config, e.g.
    ``train("dqn", "CartPole-v1", total_steps=20_000, learning_rate=1e-3)``.
    ``on_eval(step, mean_return)`` is called after each evaluation during training (``tfrl.sweep`` reports to Ray Tune).
    """
    info, env_label, run_cfg, agent_cfg, preset = _prepare(algo, env, config, overrides, use_preset, settings)
    run_dir = Path(run_dir) if run_dir is not None else _new_run_dir(Path(runs_root), info.name, env_label)
    existed = run_dir.exists()
    _start_run_dir(run_dir, info, env, env_label, preset, run_cfg, agent_cfg)
    try:
        return _execute(info, env, env_label, run_cfg, agent_cfg, run_dir, resume_from=None, verbose=verbose,
                        on_eval=on_eval)
    except TfrlError:
        _remove_if_unstarted(run_dir, existed)
        raise


def _remove_if_unstarted(run_dir: Path, existed: bool) -> None:
    """Remove a run directory this call created when it failed before training started (an environment
    or setting refused while building), so that a retry with the same ``--run-dir`` is not refused."""
    import shutil

    if existed or (run_dir / "checkpoints").exists() or (run_dir / "metrics.csv").exists():
        return
    shutil.rmtree(run_dir, ignore_errors=True)


def train_seeds(
    algo: str,
    env: Any,
    seeds: Sequence[int],
    *,
    config: str | Path | None = None,
    run_dir: str | Path | None = None,
    runs_root: str | Path = "runs",
    overrides: dict[str, Any] | None = None,
    use_preset: bool = True,
    verbose: bool = True,
    **settings: Any,
) -> list[RunResult]:
    """Train one run per seed, in ``<run_dir>/seed-<s>/`` (each an ordinary run directory).

    With backend 'tf' and ppo all seeds train together: one compiled call advances every seed, the way
    PureJaxRL maps a training function over seeds. Otherwise the runs go one after another.
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be distinct integers, got {seeds}")
    info, env_label, run_cfg, agent_cfg, preset = _prepare(algo, env, config, overrides, use_preset, settings)
    parent = Path(run_dir) if run_dir is not None else _new_run_dir(Path(runs_root), info.name, env_label)
    parent.mkdir(parents=True, exist_ok=True)
    configs = [dataclasses.replace(run_cfg, seed=s) for s in seeds]
    dirs = [_start_run_dir(parent / f"seed-{s}", info, env, env_label, preset, c, agent_cfg)
            for s, c in zip(seeds, configs)]
    if run_cfg.backend != "tf" or info.loop != "on_policy":
        return [_execute(info, env, env_label, c, agent_cfg, d, resume_from=None, verbose=verbose)
                for c, d in zip(configs, dirs)]
    from tfrl.envs.native import native_env
    from tfrl.train.compiled import run_compiled_seeds

    sessions: list[_Session] = []
    try:
        for c, d in zip(configs, dirs):
            sessions.append(_Session(info, env, env_label, c, agent_cfg, d, None, verbose))
        native = native_env(env_label, max_episode_steps=run_cfg.max_episode_steps)
        states = run_compiled_seeds([s.agent for s in sessions], run_cfg, native,
                                    [s.context_factory for s in sessions], [s.state for s in sessions], seeds,
                                    jit_compile=agent_cfg.xla)
        for session, state in zip(sessions, states):
            session.state = state
        return [session.finish() for session in sessions]
    finally:
        for session in sessions:
            session.close()



def _saved_configs(run_dir: Path, record: dict[str, Any]):
    """The run's ``RunConfig`` and agent config from its ``config.yaml``; bad values name the file."""
    try:
        info = get_algorithm(record["algo"])
        return info, apply_overrides(RunConfig(), record["run"]), apply_overrides(info.config_type()(), record["agent"])
    except (ConfigError, TypeError, AttributeError) as exc:
        raise RunDirError(f"{str(run_dir / 'config.yaml')!r} is corrupt: {exc}") from None


def _load_record(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {str(run_dir)!r} does not exist; pass a directory that 'tfrl train' created (under runs/)")
    if not path.is_file():
        raise RunDirError(f"{str(run_dir)!r} is not a tfrl run: it has no config.yaml; pass a directory that 'tfrl train' created")
    try:
        record = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        record = None
    if not isinstance(record, dict) or not {"algo", "env", "run", "agent"} <= set(record):
        raise RunDirError(f"{str(path)!r} is corrupt (not a tfrl run config); the run cannot be read")
    return record


def resume(run_dir: str | Path, total_steps: int | None = None, verbose: bool = True, env: Any = None,
           on_eval: Callable[[int, float], None] | None = None) -> RunResult:
    """Continue the run in ``run_dir`` from its newest complete checkpoint (optionally to more steps).

    ``env`` rebuilds the environment when the run was trained on a factory rather than an id or class.
    """
    from tfrl.train.checkpoint import CheckpointManager, atomic_write_text

    run_dir = Path(run_dir)
    record = _load_record(run_dir)
    info, run_cfg, agent_cfg = _saved_configs(run_dir, record)
    if total_steps is not None:
        run_cfg = dataclasses.replace(run_cfg, total_steps=int(total_steps))
        record["run"]["total_steps"] = int(total_steps)
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(record, sort_keys=False))
    latest, problems = CheckpointManager(run_dir / "checkpoints").latest_intact()
    for problem in problems if latest is not None else []:
        print(f"warning: {problem}; skipping it", file=sys.stderr)
    if latest is None:
        found = "; ".join(problems) if problems else "none was written"
        raise RunDirError(f"{str(run_dir)!r} has no intact checkpoint to resume from ({found}); start a new run instead")
    if problems and verbose:
        print(f"resuming from the previous checkpoint, {latest.name}", file=sys.stderr)
    env_spec = env if env is not None else _saved_env(record)
    return _execute(info, env_spec, record["env"], run_cfg, agent_cfg, run_dir, resume_from=latest, verbose=verbose,
                    on_eval=on_eval)


def _make_env(env: Any, run_cfg: RunConfig, num_envs: int, seed: int, render_mode: str | None = None,
              training: bool = False):
    """A Gymnasium-backed environment for evaluation, or the training environment when ``training``."""
    from tfrl import envs

    backend = run_cfg.backend if num_envs > 1 or run_cfg.backend == "envpool" else "sync"
    if run_cfg.backend == "tf":
        if training:
            from tfrl.envs.native import make_native

            if not isinstance(env, str):
                raise ConfigError("backend 'tf' needs the id of a TF-native environment, not a Python environment")
            return make_native(env, num_envs=num_envs, seed=seed, max_episode_steps=run_cfg.max_episode_steps)
        backend = "sync"  # evaluation always plays the Gymnasium environment
    # training=False gives Atari's evaluation pipeline (whole games, raw scores); other ids ignore it
    return envs.make(env, num_envs=num_envs, seed=seed, backend=backend,
                     max_episode_steps=run_cfg.max_episode_steps, render_mode=render_mode, training=training)


class _Session:
    """One run directory being trained: its environment, agent, logger and checkpoints.

    ``_execute`` runs one session through its algorithm's loop; ``train_seeds`` runs several sessions
    (one per seed) through one compiled loop. ``finish`` saves the policy, plays the final evaluation
    and writes the summary and the learning curve.
    """

    def __init__(self, info, env_spec, env_label, run_cfg, agent_cfg, run_dir: Path, resume_from: Path | None,
                 verbose: bool):
        from tfrl.logging import MetricsLogger
        from tfrl.train.checkpoint import CheckpointManager
        from tfrl.train.loop import LoopState, loop_state_from_dict

        self.info, self.env_spec, self.env_label = info, env_spec, env_label
        self.run_cfg, self.agent_cfg, self.run_dir = run_cfg, agent_cfg, run_dir
        self.env = env = _make_env(env_spec, run_cfg, run_cfg.num_envs, run_cfg.seed, training=True)
        self.raw_observation_spec = env.observation_spec()
        self.logger = None
        try:
            self.obs_norm = self.reward_norm = None
            if getattr(agent_cfg, "normalize_observations", False):
                from tfrl.envs.normalize import NormalizeObservation

                self.env = env = self.obs_norm = NormalizeObservation(env)
            if getattr(agent_cfg, "normalize_rewards", False):
                from tfrl.envs.normalize import NormalizeReward

                self.env = env = self.reward_norm = NormalizeReward(env, gamma=agent_cfg.gamma)
            self.agent = getattr(info.load(), info.agent_class)(
                agent_cfg, env.observation_spec(), env.action_spec(), total_steps=run_cfg.total_steps,
                seed=run_cfg.seed, num_envs=env.num_envs,
            )
            self.checkpoints = CheckpointManager(run_dir / "checkpoints", keep=run_cfg.keep_checkpoints)
            self.state, self.replay, self.resume_vars, self._resume_rows = LoopState(), None, None, None
            if info.loop == "off_policy" and run_cfg.backend != "tf":
                from tfrl.train.off_policy import make_replay_buffer

                self.replay = make_replay_buffer(agent_cfg, env, run_cfg.seed)
            if resume_from is not None:
                try:
                    saved = CheckpointManager.restore(resume_from, self.agent.checkpoint_items(), self.replay)
                    self._resume_rows = saved.pop("metrics_rows", None)
                    loop_blob = saved.pop("loop_state", None)
                    if loop_blob is not None:  # checksummed by the manifest before it gets here
                        loop_vars = pickle.loads(loop_blob)
                        self.env.set_state(loop_vars.pop("env"))
                        self.resume_vars = loop_vars
                    self.state = loop_state_from_dict(saved)
                    self.agent.load_host_state(saved.get("agent_host", {}))
                    for name, wrapper in (("obs_norm", self.obs_norm), ("reward_norm", self.reward_norm)):
                        if wrapper is not None and name in saved:
                            wrapper.load_state_dict(saved[name])
                except Exception as exc:  # a torn or unreadable checkpoint
                    raise RunDirError(
                        f"checkpoint {resume_from} cannot be read ({type(exc).__name__}: {exc})"
                    ) from None
                if verbose:
                    print(f"resuming {run_dir} from step {self.state.step}", file=sys.stderr)
            self.logger = MetricsLogger(run_dir, tensorboard=run_cfg.tensorboard,
                                        resume_step=self.state.step if resume_from else None,
                                        resume_rows=self._resume_rows)
            self._best = self.state.best_eval
        except BaseException:
            self.close()
            raise

    def make_eval_env(self, num_envs: int, seed: int):
        """A Gymnasium evaluation environment (observations normalized with the frozen training statistics)."""
        eval_env = _make_env(self.env_spec, self.run_cfg, num_envs, seed)
        if self.obs_norm is not None:
            from tfrl.envs.normalize import NormalizeObservation

            eval_env = NormalizeObservation(eval_env, stats=self.obs_norm.stats, update=False)
        return eval_env

    def _normalizer_state(self) -> dict:
        return {name: wrapper.state_dict() for name, wrapper in (("obs_norm", self.obs_norm),
                                                                 ("reward_norm", self.reward_norm))
                if wrapper is not None}

    def saved_model(self):
        """The policy network to save, with observation normalization built in when it is used."""
        if self.obs_norm is None:
            return self.agent.policy_model
        from tfrl.networks import with_observation_normalizer

        stats = self.obs_norm.stats
        return with_observation_normalizer(self.agent.policy_model, self.raw_observation_spec, stats.mean,
                                           stats.var, self.obs_norm.clip, self.obs_norm.epsilon)

    eval_hook: Callable[[int, float], None] | None = None
    """Called with (step, mean return) after each evaluation (``train(on_eval=...)``)."""

    def _keep_best(self, step: int, result) -> None:
        if result.mean > self._best:
            self._best = result.mean
            _save_keras(self.saved_model(), self.run_dir / "best_policy.keras")
        if self.eval_hook is not None:
            self.eval_hook(step, float(result.mean))

    def context_factory(self, replay_buffer=None):
        """The ``LoopContext`` that evaluates, logs and checkpoints this run."""
        from tfrl.train.loop import LoopContext

        run_cfg = self.run_cfg
        return LoopContext(
            self.agent, run_cfg,
            make_eval_env=lambda: self.make_eval_env(run_cfg.eval_episodes, run_cfg.seed + 10_000),
            logger=self.logger, checkpoints=self.checkpoints, state=self.state, on_eval=self._keep_best,
            progress_desc=f"{self.info.name} {self.env_label}" + (f" seed {run_cfg.seed}" if run_cfg.seed else ""),
            replay=replay_buffer, extra_state=self._normalizer_state, game_scores=self._game_scores(),
            env=self.env if run_cfg.backend != "tf" else None, resume_vars=self.resume_vars,
        )

    def _game_scores(self):
        """For Atari ids, a function giving the raw scores of the real games finished since its last call."""
        from tfrl.envs.registry import _is_atari_id, _split_module

        if not (isinstance(self.env_spec, str) and _is_atari_id(_split_module(self.env_spec)[1])):
            return None
        from tfrl.envs.atari import pop_game_records

        return lambda: [record.game_return for record in pop_game_records(self.env)]

    def run_loop(self) -> None:
        """Run the algorithm's loop for this session alone."""
        info, run_cfg, agent_cfg, agent = self.info, self.run_cfg, self.agent_cfg, self.agent
        if run_cfg.backend == "tf":
            from tfrl.envs.native import native_env

            native = native_env(self.env_label, max_episode_steps=run_cfg.max_episode_steps)
            if info.loop == "off_policy":
                from tfrl.train.compiled_dqn import run_compiled_off_policy

                self.state = run_compiled_off_policy(agent, agent_cfg, run_cfg, native, self.context_factory,
                                                     self.state, jit_compile=agent_cfg.xla)
            else:
                from tfrl.train.compiled import run_compiled_on_policy

                self.state = run_compiled_on_policy(agent, agent_cfg, run_cfg, native, self.context_factory,
                                                    self.state, jit_compile=agent_cfg.xla)
        elif info.loop == "off_policy":
            from tfrl.train.off_policy import run_off_policy

            self.state = run_off_policy(agent, agent_cfg, run_cfg, self.env, self.context_factory, self.state,
                                        buffer=self.replay)
        else:
            from tfrl.train.on_policy import run_on_policy

            self.state = run_on_policy(agent, agent_cfg, run_cfg, self.env, self.context_factory, self.state)

    def finish(self) -> RunResult:
        """Save the policy, play the final evaluation, write the summary and the learning curve."""
        from tfrl.fileio import atomic_write_text
        from tfrl.plotting import plot_learning_curve
        from tfrl.train.driver import evaluate_policy

        run_cfg, state, run_dir = self.run_cfg, self.state, self.run_dir
        _save_keras(self.saved_model(), run_dir / "policy.keras")
        final = None
        if run_cfg.final_eval_episodes > 0:
            eval_env = self.make_eval_env(min(run_cfg.final_eval_episodes, 20), run_cfg.seed + 20_000)
            try:
                final = evaluate_policy(eval_env, self.agent.greedy_policy, run_cfg.final_eval_episodes,
                                        seed=run_cfg.seed + 200_003)
            finally:
                eval_env.close()
            self.logger.log(state.step, {"eval/final_return_mean": final.mean, "eval/final_return_std": final.std})
        self.logger.close()
        summary = {
            "steps": state.step,
            "wall_time": state.wall_time,
            "episodes": state.episodes,
            "num_updates": int(self.agent.num_updates.numpy()),
            "best_eval": state.best_eval if state.best_eval != float("-inf") else None,
            "first_solved_step": state.first_solved_step,
            "first_solved_time": state.first_solved_time,
            "final_eval_mean": final.mean if final is not None else None,
            "final_eval_std": final.std if final is not None else None,
            "final_eval_episodes": len(final.returns) if final is not None else 0,
        }
        atomic_write_text(run_dir / "final_eval.json", json.dumps(summary, indent=1))
        try:
            plot_learning_curve(run_dir / "metrics.csv", run_dir / "learning_curve.png",
                                title=f"{self.info.name} on {self.env_label} (seed {run_cfg.seed})")
        except Exception as exc:  # a plot is a convenience; never lose a run over it
            print(f"warning: learning curve not drawn: {exc}", file=sys.stderr)
        return RunResult(run_dir, final, state.step, state.wall_time, state.first_solved_step, state.first_solved_time)

    def interrupted(self, signal_name: str) -> RunResult:
        """End a run stopped by a signal: its checkpoint is written; no policy file, no final evaluation."""
        state = self.state
        self.logger.close()
        print(f"{signal_name}: stopped at step {state.step:,} of {self.run_cfg.total_steps:,}; checkpoint written. "
              f"Run directory: {self.run_dir}\nresume with: tfrl train --resume {self.run_dir}", file=sys.stderr)
        return RunResult(self.run_dir, None, state.step, state.wall_time, state.first_solved_step,
                         state.first_solved_time, interrupted=signal_name)

    def close(self) -> None:
        """Close the logger and the training environment (safe to call twice)."""
        if self.logger is not None:
            self.logger.close()
        self.env.close()


def _execute(info, env_spec, env_label, run_cfg, agent_cfg, run_dir: Path, resume_from: Path | None, verbose: bool,
             on_eval: Callable[[int, float], None] | None = None):
    """Build the environment and agent, restore a checkpoint if resuming, and run the algorithm's loop.

    Loops: the off-policy host loop with a host replay buffer (dqn), the on-policy host loop, or with
    backend 'tf' the compiled loops on the TF-native environment (``run_compiled_off_policy`` for dqn,
    ``run_compiled_on_policy`` for ppo). The compiled DQN loop keeps its replay buffer in the graph: no
    host buffer is created, ``save_replay`` does not apply, and a resumed run starts with an empty buffer.
    """
    from tfrl.train.guards import StopSignals

    if run_cfg.deterministic:
        _set_deterministic(run_cfg.seed)
    with StopSignals() as stop:  # from here on a SIGINT or SIGTERM ends the run with a checkpoint
        session = _Session(info, env_spec, env_label, run_cfg, agent_cfg, run_dir, resume_from, verbose)
        session.eval_hook = on_eval
        try:
            session.run_loop()
            if stop.name is not None:
                return session.interrupted(stop.name)
            return session.finish()
        finally:
            session.close()


def _set_deterministic(seed: int) -> None:
    """TensorFlow's op determinism on, and the global Python, NumPy and TensorFlow seeds set to ``seed``."""
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)


def load_policy(run_dir: str | Path, env=None, safe_mode: bool = True):
    """The greedy policy saved in ``run_dir`` (``policy.keras``), loaded in Keras safe mode.

    Safe mode refuses a model file that would run Python code when loaded (a ``Lambda`` layer's
    function, say): such a file raises ``UnsafeModelError`` unless ``safe_mode=False``, which only
    a file from a trusted source should get. tfrl's own layers are registered and load safely.
    """
    import keras

    import tfrl.networks  # noqa: F401  (registers tfrl's layers for safe-mode loading)

    run_dir = Path(run_dir)
    record = _load_record(run_dir)
    path = run_dir / "policy.keras"
    if not path.is_file():
        raise RunDirError(f"{str(run_dir)!r} has no policy.keras yet (training has not finished); "
                          f"resume it with 'tfrl train --resume {run_dir}'")
    try:
        model = keras.saving.load_model(path, safe_mode=safe_mode)
    except Exception as exc:
        if safe_mode and "safe_mode" in str(exc):
            raise UnsafeModelError(
                f"{str(path)!r} contains Python code that would run when it is loaded ({str(exc).split('.')[0]}); "
                f"it was refused. Load it only if you trust where it came from: safe_mode=False in Python, "
                f"--no-safe-mode on the command line"
            ) from None
        raise RunDirError(f"{str(path)!r} cannot be loaded ({type(exc).__name__}); the file is corrupt") from None
    module = get_algorithm(record["algo"]).load()
    if env is None:
        return record, model, module
    return _saved_policy(record, model, module, env, seed=0)


def _saved_policy(record: dict[str, Any], model, module, env, seed: int):
    """The policy ``eval`` and ``watch`` play: greedy, or epsilon-greedy where the run set ``eval_epsilon``."""
    expected = tuple(model.input_shape[1:])
    if tuple(env.observation_spec().shape) != expected:
        raise UnsupportedSpaceError(
            f"the saved policy takes observations of shape {expected}, but this environment's are "
            f"{tuple(env.observation_spec().shape)}; evaluate it on the environment it was trained on "
            f"({record['env']})")
    epsilon = float(record["agent"].get("eval_epsilon", 0.0) or 0.0)
    if epsilon > 0:
        return module.policy_from_model(model, env.observation_spec(), env.action_spec(), epsilon=epsilon, seed=seed)
    return module.policy_from_model(model, env.observation_spec(), env.action_spec())


def evaluate_run(run_dir: str | Path, episodes: int = 20, video: bool = False, seed: int = 12345, env: Any = None,
                 safe_mode: bool = True):
    """Evaluate the saved policy of ``run_dir`` over ``episodes`` episodes; optionally record a video.

    ``env`` overrides the environment saved with the run (needed for runs trained on a factory);
    ``safe_mode=False`` loads a policy file that holds Python code (see ``load_policy``).
    Returns ``(EvalResult, video_path or None)``; the video is one episode, made by ``watch_run``.
    """
    from tfrl.train.driver import evaluate_policy

    if episodes < 1:
        raise ConfigError(f"episodes must be >= 1, got {episodes}")
    run_dir = Path(run_dir)
    record, model, module = load_policy(run_dir, safe_mode=safe_mode)
    run_cfg = _saved_configs(run_dir, record)[1]
    env_spec = env if env is not None else _saved_env(record)
    eval_env = _make_env(env_spec, run_cfg, min(episodes, 20), seed)
    try:
        policy = _saved_policy(record, model, module, eval_env, seed)
        result = evaluate_policy(eval_env, policy, episodes, seed=seed)
    finally:
        eval_env.close()
    video_path = watch_run(run_dir, episodes=1, seed=seed, env=env, safe_mode=safe_mode)[0] if video else None
    return result, video_path


def watch_run(run_dir: str | Path, episodes: int = 1, out: str | Path | None = None, seed: int = 12345,
              env: Any = None, fps: int = 30, safe_mode: bool = True):
    """Play the saved policy of ``run_dir`` for ``episodes`` episodes and write them as one video.

    The running return is drawn on every frame. The file is an MP4 (a GIF where no encoder works),
    by default ``<run_dir>/videos/watch-<time>.mp4``. Returns ``(video_path, EvalResult)``.
    """
    from tfrl.train.driver import evaluate_policy
    from tfrl.video import annotate, write_video

    if episodes < 1:
        raise ConfigError(f"episodes must be >= 1, got {episodes}")
    run_dir = Path(run_dir)
    record, model, module = load_policy(run_dir, safe_mode=safe_mode)
    run_cfg = _saved_configs(run_dir, record)[1]
    env_spec = env if env is not None else _saved_env(record)
    frames: list = []
    one = _make_env(env_spec, run_cfg, 1, seed, render_mode="rgb_array")
    try:
        policy = _saved_policy(record, model, module, one, seed)
        result = evaluate_policy(one, policy, episodes, seed=seed,
                                 frame_sink=lambda frame, score: frames.append(annotate(frame, f"return {score:.0f}")))
    finally:
        one.close()
    if out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        (run_dir / "videos").mkdir(exist_ok=True)
        out = run_dir / "videos" / f"watch-{stamp}.mp4"
    return write_video(frames, Path(out), fps=fps), result
