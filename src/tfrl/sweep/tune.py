"""Running a sweep on Ray Tune: ``run_sweep``, one trial (``_run_trial``), resume, and the trials' statuses.

Each trial is an ordinary tfrl run directory, ``<sweep_dir>/trials/<config>/seed-<s>/``, made by
``tfrl.train.train``. Ray Tune schedules the trials (on this machine, or on a cluster with ``address``), may
stop poor ones early (ASHA on the evaluation mean), and keeps its own records in ``<sweep_dir>/ray/``. A
failed trial is recorded (``error.txt`` in its run directory, ``failed`` in the tables), not fatal to the sweep.

Ray is imported only inside the functions that need it: ``import tfrl.sweep`` stays fast.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tfrl.config import safe_yaml
from tfrl.errors import ConfigError, check_output_path
from tfrl.sweep.results import SweepResult, write_results
from tfrl.sweep.spec import SweepSpec, load_spec, parse_spec

__all__ = ["run_sweep", "connect_ray", "check_cluster_resources", "METRIC", "TIME_ATTR"]

METRIC = "eval/return_mean"
"""The metric reported to Tune after every evaluation (and ASHA's objective)."""
TIME_ATTR = "env_steps"
"""ASHA's clock: environment steps of the trial."""


# ---------------------------------------------------------------------------------------------- one trial


def _final_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """What a finished trial reports to Tune, from its ``final_eval.json``."""
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


# ---------------------------------------------------------------------------------------------- trial statuses


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


# ---------------------------------------------------------------------------------------------- the sweep


def connect_ray(address: str | None) -> bool:
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


def _amount(value: float, name: str) -> str:
    return f"{value:g} {name}{'s' if value > 1 else ''}"


def check_cluster_resources(resources: Mapping[str, float], nodes: list[Mapping[str, float]]) -> None:
    """Refuse (``ConfigError``) a sweep whose trial needs more CPUs or GPUs than any node of the Ray cluster has.

    ``resources`` is the sweep's per-trial ``{cpu, gpu}``; ``nodes`` the resources of the cluster's live nodes
    as Ray reports them (``{"CPU": 2.0, "GPU": 1.0, ...}``). A trial runs on one node, so Tune would wait for
    such a node for ever: this says so at once.
    """
    for key, label in (("cpu", "CPU"), ("gpu", "GPU")):
        need = float(resources.get(key, 1.0 if key == "cpu" else 0.0))
        largest = max((float(node.get(label, 0.0)) for node in nodes), default=0.0)
        if need <= largest:
            continue
        total = {name: sum(float(node.get(name, 0.0)) for node in nodes) for name in ("CPU", "GPU")}
        shown = ", ".join(f"{name}: {value:g}" for name, value in total.items() if value or name == "CPU")
        where = (f"the Ray cluster has {largest:g} ({shown})" if len(nodes) <= 1 else
                 f"the largest node of the Ray cluster has {largest:g} (all {len(nodes)} nodes: {shown})")
        raise ConfigError(f"the sweep asks for {_amount(need, label)} per trial, and {where}; lower resources or "
                          f"add nodes that have them")


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
    # a directory that cannot be made is refused before Ray starts
    sweep_dir = check_output_path(out_dir if out_dir is not None else _default_out(spec_or_path), directory=True,
                                  example="sweeps/my_sweep").resolve()
    record = sweep_dir / "sweep.yaml"
    if resume:
        if not record.is_file():
            raise ConfigError(f"{sweep_dir} holds no sweep to resume (no sweep.yaml); run it without --resume")
        try:
            saved = safe_yaml(record.read_text())
        except (yaml.YAMLError, UnicodeDecodeError):
            saved = None
        if saved != spec.to_dict():
            raise ConfigError(f"the sweep in {sweep_dir} was started with other settings than this sweep file; "
                              f"resume it with the file it was started with (see {record}), or use another --out")
    elif record.exists():
        raise ConfigError(f"{sweep_dir} already holds a sweep; continue it with --resume, or choose another --out")

    started = connect_ray(address)
    try:
        import ray

        alive = [node.get("Resources") or {} for node in ray.nodes() if node.get("Alive", True)]
        check_cluster_resources(spec.resources, alive or [ray.cluster_resources()])
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
