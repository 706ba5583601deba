"""The ``tfrl`` command: ``train``, ``eval``, ``watch``, ``plot``, ``export``, ``sweep``, ``envs`` and ``params``.

``tfrl train ALGO ENV`` trains any algorithm of ``tfrl.agents.ALGORITHMS``
with its tuned preset for ENV when one ships in ``tfrl/presets/``. ``tfrl plot RUN...`` draws the
evaluation returns of runs (seeds of one configuration as a mean with a band) against steps and wall
time; ``tfrl export RUN`` writes a run's greedy policy as a SavedModel or a TFLite file.

Bad input (an unknown environment or setting, a missing run directory, an action space an
algorithm cannot handle) prints one line, ``tfrl: error: ...``, and exits with code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from tfrl.agents import ALGORITHMS
from tfrl.errors import ConfigError, TfrlError, check_output_path, os_error_message
from tfrl.runs import backend_names

__all__ = ["main", "build_parser"]


_TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"


def _quiet_environment() -> None:
    """Ask TensorFlow's C++ logging for fatal messages only, unless the user chose a level (start of ``main``).

    Set before TensorFlow is imported, so that no command prints TensorFlow's notes; a level the user
    set in the environment is kept.
    """
    os.environ.setdefault(_TF_LOG_LEVEL, "3")


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null while the block runs (C++ log lines, too, go there)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _quiet_tensorflow() -> None:
    """Import TensorFlow with its start-up log lines (absl, CUDA probing) sent to /dev/null.

    Some of those lines are written before TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` (``cudart_stub``,
    ``All log messages before absl::InitializeLog()``), so file descriptor 2 itself is pointed at
    /dev/null while TensorFlow is imported and probes its devices; Python warnings raised meanwhile
    go there too. A user who set ``TF_CPP_MIN_LOG_LEVEL=0`` asked for every line and gets them.
    """
    if "tensorflow" in sys.modules:
        return
    _quiet_environment()
    if os.environ[_TF_LOG_LEVEL].strip() == "0":  # set by the user: show TensorFlow's notes
        import tensorflow as tf

        tf.config.list_physical_devices()
        return
    with _stderr_to_devnull():
        import tensorflow as tf

        tf.config.list_physical_devices()
        tf.get_logger().setLevel("ERROR")


_TRUST_RUN_HELP = ("import the environment class this run names even if it is not from an installed package: only "
                  "for run directories you trust")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``tfrl`` command."""
    parser = argparse.ArgumentParser(prog="tfrl", description="Deep reinforcement learning on TensorFlow 2 and Keras 3.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train an agent in a new run directory, or resume one",
                       description="Train ALGO on ENV, e.g. 'tfrl train dqn CartPole-v1', or continue a run with --resume RUN.")
    p.add_argument("algo", nargs="?", help=f"algorithm: {', '.join(ALGORITHMS)}")
    p.add_argument("env", nargs="?", help="environment id, e.g. CartPole-v1 ('tfrl envs' lists them)")
    p.add_argument("--steps", type=int, help="environment steps to train for (total_steps)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--seeds", type=int, nargs="+", metavar="S",
                   help="train one run per seed under RUN_DIR/seed-S (with --backend tf and ppo, all in one compiled loop)")
    p.add_argument("--num-envs", type=int, help="parallel training environments")
    p.add_argument("--backend", choices=backend_names(),
                   help="training environments: Gymnasium in this process (sync), in workers (async), "
                        "TF-native with the compiled loop (tf: ppo, a2c, dqn), or EnvPool (envpool: Atari ids)")
    p.add_argument("--set", dest="assignments", action="append", metavar="KEY=VALUE", default=[],
                   help="override a setting; repeatable ('tfrl params ALGO' lists the keys)")
    p.add_argument("--config", help="YAML file of settings (flat key: value)")
    p.add_argument("--run-dir", help="directory of the run (default runs/<algo>-<env>-<time>)")
    p.add_argument("--no-preset", action="store_true", help="ignore the tuned preset for ALGO and ENV")
    p.add_argument("--resume", metavar="RUN", help="continue the run in directory RUN from its newest intact checkpoint")
    p.add_argument("--deterministic", action="store_true",
                   help="TensorFlow op determinism and fixed seeds: the same seed gives the same weights, "
                        "also across a stop and resume")
    p.add_argument("--no-save-replay", action="store_true",
                   help="do not save the replay buffer with checkpoints (a resumed run refills it)")
    p.add_argument("--trust-run", action="store_true", help=f"with --resume: {_TRUST_RUN_HELP}")

    p = sub.add_parser("eval", help="evaluate the saved policy of a run", description="Play RUN's saved policy greedily.")
    p.add_argument("run", help="run directory written by 'tfrl train'")
    p.add_argument("--episodes", type=int, default=20, help="episodes to play (default 20)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the evaluation episodes")
    p.add_argument("--video", action="store_true", help="also record one episode to RUN/videos/ (MP4, or GIF)")
    p.add_argument("--no-safe-mode", action="store_true",
                   help="load a policy file that holds Python code (only for files you trust)")
    p.add_argument("--trust-run", action="store_true", help=_TRUST_RUN_HELP)

    p = sub.add_parser("watch", help="play a run's saved policy and write a video with the score drawn on",
                       description="Play RUN's saved policy and write an MP4 (or GIF where no encoder works).")
    p.add_argument("run", help="run directory written by 'tfrl train'")
    p.add_argument("--episodes", type=int, default=1, help="episodes to play (default 1)")
    p.add_argument("--out", help="video file (default RUN/videos/watch-<time>.mp4)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the episodes")
    p.add_argument("--no-safe-mode", action="store_true",
                   help="load a policy file that holds Python code (only for files you trust)")
    p.add_argument("--trust-run", action="store_true", help=_TRUST_RUN_HELP)

    p = sub.add_parser("envs", help="list the environment ids that the installed Gymnasium (and ale-py) know")
    p.add_argument("filter", nargs="?", default="", help="show only ids containing this text")

    p = sub.add_parser("params", help="list an algorithm's settings with their defaults and meaning")
    p.add_argument("algo", help=f"algorithm: {', '.join(ALGORITHMS)}")
    p.add_argument("env", nargs="?", help="also show the tuned preset for this environment")

    p = sub.add_parser("sweep", help="train every configuration of a sweep file on every seed, on Ray Tune",
                       description="Run the hyperparameter sweep of CONFIG (YAML; see docs/sweeps.md) on Ray Tune and "
                                   "write results.csv and results.md (mean final return with a 95% CI per configuration).")
    p.add_argument("config", help="sweep file, e.g. examples/sweep_cartpole.yaml")
    p.add_argument("--out", help="sweep directory (default sweeps/<CONFIG name>)")
    p.add_argument("--address", help="an existing Ray cluster, e.g. HEAD:6379 (default: local Ray on this machine's cores)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in --out: keep finished trials, train the rest")
    p.add_argument("--max-concurrent", type=int, metavar="N", help="at most N trials at once")

    p = sub.add_parser("plot", help="plot the evaluation returns of runs against steps and wall time",
                       description="Plot the evaluation returns of RUN... (seeds of one configuration as their mean "
                                   "with a min-max band); writes a PNG and an SVG.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directory, or a directory of runs (train --seeds)")
    p.add_argument("--out", help="figure file, FILE.png (FILE.svg is written too); default returns.png in the "
                                 "runs' common parent directory")
    p.add_argument("--x", choices=["steps", "time", "both"], default="both",
                   help="horizontal axis: environment steps, wall time, or both panels (default)")
    p.add_argument("--label", dest="labels", action="append", metavar="NAME",
                   help="name of each run's curve, once per run in order; runs with one name form a group")
    p.add_argument("--title", help="title of the figure")

    p = sub.add_parser("export", help="export a run's greedy policy as a SavedModel or a TFLite file",
                       description="Export RUN's saved policy (observation -> greedy action) for TensorFlow, "
                                   "TF Serving or TFLite, checked against the Python policy.")
    p.add_argument("run", help="run directory written by 'tfrl train'")
    p.add_argument("--format", default="saved_model", help="saved_model (default) or tflite")
    p.add_argument("--out", help="SavedModel directory or .tflite file (default RUN/export/saved_model or "
                                 "RUN/export/policy.tflite)")
    p.add_argument("--no-check", action="store_true",
                   help="skip comparing the exported actions with the Python policy's")
    p.add_argument("--no-safe-mode", action="store_true",
                   help="load a policy.keras that runs Python code when loaded (only from a trusted source)")
    p.add_argument("--trust-run", action="store_true", help=_TRUST_RUN_HELP)
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    from tfrl.config import parse_assignments

    overrides = parse_assignments(args.assignments)
    for flag, key in (("steps", "total_steps"), ("seed", "seed"), ("num_envs", "num_envs"), ("backend", "backend")):
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = value
    if args.deterministic:
        overrides["deterministic"] = True
    if args.no_save_replay:
        overrides["save_replay"] = False
    if args.resume:
        if args.algo or args.env:
            raise ConfigError("give either ALGO ENV (a new run) or --resume RUN, not both")
        extra = set(overrides) - {"total_steps"}
        if extra:
            raise ConfigError(f"--resume continues a run with its saved settings; only --steps may change ({', '.join(sorted(extra))} given)")
        from tfrl.runs import load_record

        load_record(Path(args.resume))  # a clear error before TensorFlow is imported
        _quiet_tensorflow()
        from tfrl.train import resume

        result = resume(args.resume, total_steps=overrides.get("total_steps"), trust=args.trust_run)
    else:
        if not args.algo or not args.env:
            raise ConfigError("train needs ALGO and ENV, e.g. 'tfrl train dqn CartPole-v1' (or --resume RUN)")
        if args.trust_run:
            raise ConfigError("--trust-run only applies to --resume RUN (a new run reads no run directory)")
        from tfrl.agents import check_algorithm_name
        from tfrl.envs.ids import check_env_id

        check_algorithm_name(args.algo)
        check_env_id(args.env)
        _quiet_tensorflow()
        if args.seeds:
            if args.seed is not None:
                raise ConfigError("give either --seed or --seeds, not both")
            from tfrl.train import train_seeds

            results = train_seeds(args.algo, args.env, args.seeds, config=args.config, run_dir=args.run_dir,
                                  overrides=overrides, use_preset=not args.no_preset)
            for result in results:
                _print_result(result)
            print(f"all seeds: {results[0].run_dir.parent}")
            return 0
        from tfrl.train import train

        result = train(args.algo, args.env, config=args.config, run_dir=args.run_dir, overrides=overrides,
                       use_preset=not args.no_preset)
    if result.interrupted is not None:  # the message and the run directory are already printed
        import signal

        return 128 + int(getattr(signal, result.interrupted))
    _print_result(result)
    return 0


def _print_result(result) -> None:
    print(f"run directory: {result.run_dir}")
    print(f"trained {result.steps} environment steps in {result.wall_time:.1f} s")
    if result.first_solved_step is not None:
        print(f"evaluation reached the target return at step {result.first_solved_step} "
              f"({result.first_solved_time:.1f} s)")
    if result.final_eval is not None:
        fe = result.final_eval
        print(f"final evaluation: mean return {fe.mean:.1f} +/- {fe.std:.1f} over {len(fe.returns)} episodes")
    print(f"learning curve: {result.run_dir / 'learning_curve.png'}")
    print(f"TensorBoard: tensorboard --logdir {result.run_dir.parent}")


def _check_run_and_episodes(args: argparse.Namespace) -> None:
    """Refuse a bad --episodes, --seed, --out or RUN before TensorFlow is imported (then import it quietly)."""
    from tfrl.runs import load_record

    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    if not 0 <= args.seed <= 2**32 - 1:
        raise ConfigError(f"--seed must lie in [0, 2**32 - 1], got {args.seed}")
    if getattr(args, "out", None) is not None:  # watch
        from tfrl.video import video_path

        video_path(args.out)
    load_record(Path(args.run))
    _quiet_tensorflow()


def _cmd_eval(args: argparse.Namespace) -> int:
    _check_run_and_episodes(args)
    from tfrl.train import evaluate_run

    result, video = evaluate_run(args.run, episodes=args.episodes, video=args.video, seed=args.seed,
                                 safe_mode=not args.no_safe_mode, trust=args.trust_run)
    print(f"mean return {result.mean:.1f} +/- {result.std:.1f} over {len(result.returns)} episodes "
          f"(min {result.returns.min():.1f}, max {result.returns.max():.1f}, mean length {result.lengths.mean():.1f})")
    if video is not None:
        print(f"video: {video}")
    return 0


def _cmd_watch(args: argparse.Namespace) -> int:
    _check_run_and_episodes(args)
    from tfrl.train import watch_run

    path, result = watch_run(args.run, episodes=args.episodes, out=args.out, seed=args.seed,
                             safe_mode=not args.no_safe_mode, trust=args.trust_run)
    print(f"video: {path}")
    print(f"returns: {', '.join(f'{r:.1f}' for r in result.returns)}")
    return 0


def _cmd_envs(args: argparse.Namespace) -> int:
    from tfrl.envs import list_env_ids

    ids = [i for i in list_env_ids() if args.filter.lower() in i.lower()]
    print("\n".join(ids))
    print(f"({len(ids)} environment ids)", file=sys.stderr)
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    import yaml

    from tfrl.agents import check_algorithm_name
    from tfrl.config import describe
    from tfrl.runs import RunConfig, preset_path

    check_algorithm_name(args.algo)
    if args.env:
        from tfrl.envs.ids import check_env_id

        check_env_id(args.env)
    _quiet_tensorflow()
    from tfrl.agents import get_algorithm

    info = get_algorithm(args.algo)
    print(f"{info.name} settings (use --set KEY=VALUE):")
    print(describe(info.config))
    print("\nrun settings:")
    print(describe(RunConfig))
    if args.env:
        preset = preset_path(info.name, args.env)
        if preset is None:
            print(f"\nno tuned preset for {info.name} on {args.env}: defaults apply")
        else:
            print(f"\npreset {preset.name}:")
            print(yaml.safe_dump(yaml.safe_load(preset.read_text()), sort_keys=False).rstrip())
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from tfrl.plotting import expand_runs, plot_runs

    out = args.out
    if out is not None:
        check_output_path(out, example="returns.png")
    else:
        runs = [p.resolve() for p in expand_runs(args.runs)]
        parent = runs[0] if len(runs) == 1 else Path(os.path.commonpath(runs))
        out = parent / "returns.png"
    for path in plot_runs(args.runs, out, x=args.x, labels=args.labels, title=args.title):
        print(f"figure: {path}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from tfrl.export import check_export_args

    check_export_args(args.run, args.format, args.out)  # a clear error before TensorFlow is imported
    _quiet_tensorflow()
    from tfrl.export import export_policy

    # TensorFlow's C++ logging (device probing, the TFLite converter's notes) would bury the two lines
    # printed below; failures still arrive as Python exceptions, after stderr is restored.
    with _stderr_to_devnull():
        path = export_policy(args.run, format=args.format, out=args.out, check=not args.no_check,
                             safe_mode=not args.no_safe_mode, trust=args.trust_run)
    print(f"{args.format}: {path}")
    signature = path / "signature.json" if path.is_dir() else path.with_name(f"{path.stem}.signature.json")
    print(f"signature: {signature}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    if args.out:
        check_output_path(args.out, directory=True, example="sweeps/my_sweep")
    _quiet_tensorflow()  # the sweep file is checked against the agents' configs
    from tfrl.sweep import load_spec, run_sweep

    spec = load_spec(args.config)
    result = run_sweep(spec, out_dir=args.out if args.out else Path("sweeps") / Path(args.config).stem,
                       address=args.address, resume=args.resume, max_concurrent=args.max_concurrent)
    count = {s: sum(t["status"] == s for t in result.trials) for s in ("completed", "failed", "unfinished")}
    if count["failed"]:
        print(f"{count['failed']} of {len(result.trials)} trials failed (errors in {result.trials_path})", file=sys.stderr)
    if count["unfinished"]:
        print(f"{count['unfinished']} trials unfinished: continue with --resume --out {result.sweep_dir}", file=sys.stderr)
    return 0 if count["completed"] and not count["unfinished"] else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tfrl`` command; returns the exit code."""
    _quiet_environment()
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"train": _cmd_train, "eval": _cmd_eval, "watch": _cmd_watch, "envs": _cmd_envs,
                "params": _cmd_params, "plot": _cmd_plot, "export": _cmd_export, "sweep": _cmd_sweep}
    try:
        return commands[args.command](args)
    except TfrlError as exc:
        print(f"tfrl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfrl: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a full disk, or a path that cannot be read or written: one line, not a traceback
        message = os_error_message(exc, training=args.command == "train")
        if message is None:
            raise
        print(f"tfrl: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
