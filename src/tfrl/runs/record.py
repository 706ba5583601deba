"""The run directory's record: ``config.yaml`` (every setting, the seed, how the environment was made, the
library versions), written when a run starts and read by resume, eval, watch and export.

A run directory is data: reading one checks its shape and values and names the file when they are wrong.
"""

from __future__ import annotations

import datetime as _dt
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from tfrl import __version__
from tfrl.agents import Algorithm, get_algorithm
from tfrl.config import apply_overrides, to_dict
from tfrl.errors import ConfigError, RunDirError
from tfrl.fileio import atomic_write_text
from tfrl.runs.lock import LOCK_FILE
from tfrl.runs.settings import RunConfig, Settings
from tfrl.yaml_io import read_yaml_file

__all__ = ["env_label", "new_run_dir", "start_run_dir", "first_missing", "remove_empty", "remove_if_unstarted",
           "load_record", "saved_configs", "saved_env", "update_total_steps"]


def env_label(env: Any) -> str:
    """The name a run records for ``env``: the id itself, or the id or class name of an environment object."""
    if isinstance(env, str):
        return env
    from tfrl.envs import env_id_of

    return env_id_of(env)


def _env_reference(env: Any) -> str | None:
    """``module:QualName`` of a user's environment class, so that eval and resume can rebuild it."""
    if isinstance(env, type) and "<locals>" not in env.__qualname__ and env.__module__ != "__main__":
        return f"{env.__module__}:{env.__qualname__}"
    return None


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


def new_run_dir(root: Path, algo: str, label: str) -> Path:
    """Create and return a fresh ``<algo>-<env>-<time>[-n]`` directory (``mkdir`` claims it atomically)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = root / f"{algo}-{label.replace('/', '_').replace(':', '_')}-{stamp}"
    root.mkdir(parents=True, exist_ok=True)
    path, n = base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{base.name}-{n}")


def start_run_dir(run_dir: Path, settings: Settings, env: Any, run: RunConfig | None = None) -> Path:
    """Create ``run_dir`` (refusing one that holds a run) and write its ``config.yaml``.

    ``run`` replaces the settings' ``RunConfig`` (one seed of ``train_seeds``).
    """
    if (run_dir / "config.yaml").exists():
        raise ConfigError(f"{run_dir} already holds a run; use --resume {run_dir} to continue it or choose another "
                          f"--run-dir")
    record = {
        "algo": settings.algorithm.name,
        "env": env_label(env),
        "env_class": _env_reference(env),
        "env_kind": "id" if isinstance(env, str) else ("class" if _env_reference(env) else "factory"),
        "preset": settings.preset.name if settings.preset else None,
        "run": to_dict(run if run is not None else settings.run),
        "agent": to_dict(settings.agent),
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


def first_missing(path: Path) -> Path | None:
    """The outermost directory of ``path`` (itself or a parent) that does not exist yet, or None if ``path``
    exists: what creating ``path`` would make, and what a failed run removes again."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def remove_empty(directory: Path, created: Path | None) -> None:
    """Remove ``directory`` and its parents up to ``created`` while they are empty (nothing if ``created`` is None:
    the directory was there before)."""
    if created is None or not (directory == created or created in directory.parents):
        return
    for candidate in (directory, *directory.parents):
        try:
            candidate.rmdir()  # only an empty directory
        except OSError:
            return
        if candidate == created:
            return


def remove_if_unstarted(run_dir: Path, created: Path | bool | None) -> None:
    """Undo a new run that failed before training started (an environment or setting refused while building).

    A run has started once it has ``checkpoints/`` or ``metrics.csv``; then nothing is removed. Otherwise a run
    directory that this call made is removed with its parents up to ``created`` (the first directory the call
    made, see ``first_missing``), and in one that was there before (``created`` None) the ``config.yaml`` and
    ``.lock`` the call wrote. Either way a retry with the same ``--run-dir`` is not refused and nothing is left.
    A bool ``created`` is the ``existed`` flag this function used to take (True: the directory was there).
    """
    if isinstance(created, bool):
        created = None if created else run_dir
    if (run_dir / "checkpoints").exists() or (run_dir / "metrics.csv").exists():
        return
    if created is None:
        for name in ("config.yaml", LOCK_FILE):
            (run_dir / name).unlink(missing_ok=True)
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    if run_dir != created:
        remove_empty(run_dir.parent, created)


def load_record(run_dir: str | Path) -> dict[str, Any]:
    """The parsed ``config.yaml`` of ``run_dir``, or a ``RunDirError`` saying what is wrong with the directory."""
    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {str(run_dir)!r} does not exist; pass a directory that 'tfrl train' "
                          f"created (under runs/)")
    if not path.is_file():
        raise RunDirError(f"{str(run_dir)!r} is not a tfrl run: it has no config.yaml; pass a directory that "
                          f"'tfrl train' created")
    try:
        record = read_yaml_file(path)
    except (yaml.YAMLError, UnicodeDecodeError):  # too large, malformed, values the safe loader cannot build
        record = None
    if not (isinstance(record, dict) and {"algo", "env", "run", "agent"} <= set(record)
            and isinstance(record["run"], dict) and isinstance(record["agent"], dict)):
        raise RunDirError(f"{str(path)!r} is corrupt (not a tfrl run config); the run cannot be read")
    return record


def saved_configs(run_dir: Path, record: dict[str, Any]) -> tuple[Algorithm, RunConfig, Any]:
    """The run's algorithm, ``RunConfig`` and agent config from its ``config.yaml``; bad values name the file."""
    try:
        info = get_algorithm(record["algo"])
        return info, apply_overrides(RunConfig(), record["run"]), apply_overrides(info.config(), record["agent"])
    except (ConfigError, TypeError, AttributeError) as exc:
        raise RunDirError(f"{str(run_dir / 'config.yaml')!r} is corrupt: {exc}") from None


def update_total_steps(run_dir: Path, record: dict[str, Any], total_steps: int) -> None:
    """Record a new step budget in ``config.yaml`` (``resume(total_steps=...)``)."""
    record["run"]["total_steps"] = int(total_steps)
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(record, sort_keys=False))


def saved_env(record: dict[str, Any], trust: bool = False, run_dir: str | Path | None = None) -> Any:
    """The environment a run was trained on: its id, or the user's class imported again.

    A run directory is data, so what it names is imported only from an installed package: without
    ``trust``, the module of ``env_class`` (and the module prefix of an id such as ``ale_py:ALE/Pong-v5``)
    must belong to an installed distribution, not the standard library, and must not be found in
    ``run_dir`` or the current directory; the class must subclass ``gymnasium.Env``. Anything else is a
    ``RunDirError`` and nothing is imported. ``trust=True`` imports what the run names (for run
    directories you trust); the class must still subclass ``gymnasium.Env``.
    """
    reference = record.get("env_class")
    if record.get("env_kind") == "factory":
        raise RunDirError(f"this run was trained on an environment factory ({record['env']}), which cannot be "
                          f"rebuilt from the run directory; pass env= with the same factory")
    if not reference:
        env = record["env"]
        from tfrl.envs.ids import split_module

        module_name = split_module(env)[0] if isinstance(env, str) else None
        if module_name and not trust:
            _check_importable(f"environment id {env}", module_name, run_dir)
        return env
    import importlib

    import gymnasium

    if not isinstance(reference, str) or reference.count(":") != 1:
        raise RunDirError(f"the run's env_class {reference!r} is not of the form module:Class; pass env= with the "
                          f"environment")
    module_name, _, qualname = reference.partition(":")
    if not trust:
        _check_importable(f"environment class {reference}", module_name, run_dir)
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise RunDirError(f"the run's environment class {reference} cannot be imported ({exc}); "
                          f"make its module importable, or pass env= to rebuild it") from None
    if not (isinstance(obj, type) and issubclass(obj, gymnasium.Env)):
        raise RunDirError(f"the run's environment class {reference} is not a gymnasium.Env subclass (it is a "
                          f"{type(obj).__name__}), so it is not used; pass env= with the environment")
    return obj


def _check_importable(what: str, module_name: str, run_dir: str | Path | None) -> None:
    """Refuse (``RunDirError``) to import ``module_name`` unless an installed package provides it from outside
    ``run_dir`` and the current directory. Nothing is imported but the module's already checked parents."""
    import importlib.metadata
    import importlib.util

    def refuse(why: str) -> RunDirError:
        return RunDirError(f"this run names the {what}, which is not imported: {why}; pass env= with the "
                           f"environment, or trust=True / --trust-run if you trust this run directory")

    parts = module_name.split(".")
    top = parts[0]
    if not all(part.isidentifier() for part in parts):
        raise refuse(f"{module_name!r} is not a module name")
    if top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise refuse(f"{top} is part of Python's standard library, not an installed package")
    if top not in importlib.metadata.packages_distributions():
        raise refuse(f"{top} is not part of an installed package")
    here = Path.cwd().resolve()
    places = [("the run directory", Path(run_dir).resolve())] if run_dir is not None else []
    for depth in range(1, len(parts) + 1):  # the top-level module first: find_spec imports a dotted name's parents
        name = ".".join(parts[:depth])
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError) as exc:
            raise refuse(f"{name} cannot be found ({exc})") from None
        if spec is None:
            raise refuse(f"{name} cannot be found")
        locations = [spec.origin] if spec.has_location and spec.origin else []
        locations += list(spec.submodule_search_locations or [])
        for location in (Path(p).resolve() for p in locations):
            inside = [label for label, place in places if location.is_relative_to(place)]
            if _found_in(location, here, top):  # through '' or the current directory on sys.path (python -c)
                inside.append("the current directory")
            if inside:
                raise refuse(f"{name} would be imported from {location}, inside {inside[0]}, not from an installed "
                             f"package")


def _found_in(location: Path, directory: Path, top: str) -> bool:
    """Whether ``location`` is module ``top`` placed directly in ``directory`` (``top.py``, ``top/``, ``top.*.so``),
    i.e. found through ``directory`` on ``sys.path`` (an installed package under it, in ``.venv/``, is not)."""
    if location == directory or not location.is_relative_to(directory):
        return False
    return location.relative_to(directory).parts[0].split(".")[0] == top
