"""The ``tfrl`` command: ``train``, ``eval``, ``watch``, ``envs`` and ``params``.

``tfrl train ALGO ENV`` trains any algorithm of ``tfrl.agents.ALGORITHMS`` (dqn, reinforce, a2c, ppo)
with its tuned preset for ENV when one ships in ``tfrl/presets/``.

Bad input (an unknown environment or setting, a missing run directory, an action space an
algorithm cannot handle) prints one line, ``tfrl: error: ...``, and exits with code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tfrl.agents import ALGORITHMS
from tfrl.errors import TfrlError

__all__ = ["main", "build_parser"]


def _quiet_tensorflow() -> None:
    """Import TensorFlow with its start-up log lines (absl, CUDA probing) sent to /dev/null."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
        tf.get_logger().setLevel("ERROR")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


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
    p.add_argument("--backend", choices=["sync", "async", "tf"],
                   help="training environments: Gymnasium in this process (sync), in workers (async), or "
                        "TF-native with the compiled loop (tf: ppo, a2c, dqn)")
    p.add_argument("--set", dest="assignments", action="append", metavar="KEY=VALUE", default=[],
                   help="override a setting; repeatable ('tfrl params ALGO' lists the keys)")
    p.add_argument("--config", help="YAML file of settings (flat key: value)")
    p.add_argument("--run-dir", help="directory of the run (default runs/<algo>-<env>-<time>)")
    p.add_argument("--no-preset", action="store_true", help="ignore the tuned preset for ALGO and ENV")
    p.add_argument("--resume", metavar="RUN", help="continue the run in directory RUN from its newest checkpoint")

    p = sub.add_parser("eval", help="evaluate the saved policy of a run", description="Play RUN's saved policy greedily.")
    p.add_argument("run", help="run directory written by 'tfrl train'")
    p.add_argument("--episodes", type=int, default=20, help="episodes to play (default 20)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the evaluation episodes")
    p.add_argument("--video", action="store_true", help="also record one episode to RUN/videos/ (MP4, or GIF)")

    p = sub.add_parser("watch", help="play a run's saved policy and write a video with the score drawn on",
                       description="Play RUN's saved policy and write an MP4 (or GIF where no encoder works).")
    p.add_argument("run", help="run directory written by 'tfrl train'")
    p.add_argument("--episodes", type=int, default=1, help="episodes to play (default 1)")
    p.add_argument("--out", help="video file (default RUN/videos/watch-<time>.mp4)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the episodes")

    p = sub.add_parser("envs", help="list the environment ids that the installed Gymnasium (and ale-py) know")
    p.add_argument("filter", nargs="?", default="", help="show only ids containing this text")

    p = sub.add_parser("params", help="list an algorithm's settings with their defaults and meaning")
    p.add_argument("algo", help=f"algorithm: {', '.join(ALGORITHMS)}")
    p.add_argument("env", nargs="?", help="also show the tuned preset for this environment")
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    from tfrl.config import parse_assignments
    from tfrl.errors import ConfigError

    overrides = parse_assignments(args.assignments)
    for flag, key in (("steps", "total_steps"), ("seed", "seed"), ("num_envs", "num_envs"), ("backend", "backend")):
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = value
    if args.resume:
        if args.algo or args.env:
            raise ConfigError("give either ALGO ENV (a new run) or --resume RUN, not both")
        extra = set(overrides) - {"total_steps"}
        if extra:
            raise ConfigError(f"--resume continues a run with its saved settings; only --steps may change ({', '.join(sorted(extra))} given)")
        from tfrl.train.run import _load_record

        _load_record(Path(args.resume))  # a clear error before TensorFlow is imported
        _quiet_tensorflow()
        from tfrl.train import resume

        result = resume(args.resume, total_steps=overrides.get("total_steps"))
    else:
        if not args.algo or not args.env:
            raise ConfigError("train needs ALGO and ENV, e.g. 'tfrl train dqn CartPole-v1' (or --resume RUN)")
        from tfrl.agents import get_algorithm
        from tfrl.envs.registry import check_env_id

        get_algorithm(args.algo)
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


def _cmd_eval(args: argparse.Namespace) -> int:
    from tfrl.errors import ConfigError
    from tfrl.train.run import _load_record

    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    _load_record(Path(args.run))
    _quiet_tensorflow()
    from tfrl.train import evaluate_run

    result, video = evaluate_run(args.run, episodes=args.episodes, video=args.video, seed=args.seed)
    print(f"mean return {result.mean:.1f} +/- {result.std:.1f} over {len(result.returns)} episodes "
          f"(min {result.returns.min():.1f}, max {result.returns.max():.1f}, mean length {result.lengths.mean():.1f})")
    if video is not None:
        print(f"video: {video}")
    return 0


def _cmd_watch(args: argparse.Namespace) -> int:
    from tfrl.errors import ConfigError
    from tfrl.train.run import _load_record

    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    _load_record(Path(args.run))
    _quiet_tensorflow()
    from tfrl.train import watch_run

    path, result = watch_run(args.run, episodes=args.episodes, out=args.out, seed=args.seed)
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

    from tfrl.agents import get_algorithm
    from tfrl.config import describe
    from tfrl.train.run import RunConfig, preset_path

    info = get_algorithm(args.algo)
    print(f"{info.name} settings (use --set KEY=VALUE):")
    print(describe(info.config_type()))
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tfrl`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"train": _cmd_train, "eval": _cmd_eval, "watch": _cmd_watch, "envs": _cmd_envs,
                "params": _cmd_params}
    try:
        return commands[args.command](args)
    except TfrlError as exc:
        print(f"tfrl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfrl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
