"""Benchmark: tfrl's SAC against Stable-Baselines3's SAC on Pendulum-v1, side by side in one run on this machine.

Both train Pendulum-v1 for ``--steps`` environment steps (default 20,000, rl-baselines3-zoo's budget) and
then play their deterministic policy for 10 episodes. Each run is a fresh process of its own library's
Python, so that each pays its own imports and TensorFlow and PyTorch never share a process:

- SB3: ``benchmarks/sb3_sac_runner.py`` in SB3's own virtual environment, with ``torch.set_num_threads(2)``
  and the zoo's settings for SAC Pendulum-v1 (``learning_rate: 1e-3``, SB3's defaults otherwise; the
  runner's docstring quotes them). It times ``model.learn(steps)``. (On this shared machine two torch threads
  are sometimes much slower than one, when other work holds a core; ``--torch-threads`` tries another count.)
- tfrl, twice: with SB3's settings (``SB3_SETTINGS``: 256x256 networks, one gradient step per call, the same
  learning rate, batch, buffer, warm-up, gamma and tau) and with its packaged preset (64x64 networks, 64
  gradient steps per compiled call). Both use ``tfrl.train.train("sac", "Pendulum-v1", ...)`` in this
  repository's ``.venv``, with ``total_steps``, ``seed``, ``eval_every=0`` (no evaluation during training),
  ``final_eval_episodes=10``, ``stop_at_target=False`` and ``tensorboard=False`` (SB3 writes no event files
  unless asked); checkpoints stay at the run default, so tfrl pays for its own. Its train seconds are
  ``RunResult.wall_time``.

The runs alternate (SB3 seed 0, tfrl seed 0, SB3 seed 1, ...) because this machine's speed drifts. Prints
the CPU, the versions and the date, one row per run as it ends (library, seed, steps, train seconds, env
steps/s, process seconds, evaluation mean +- std), the settings each library used, the per-library means
and tfrl's steps/s as a multiple of SB3's.

SB3's virtual environment (default ``~/.cache/tfrl-bench/sb3-venv``, ``--sb3-venv`` to move it) is built
the first time it is needed, and only while its stamp file is missing: ``python3 -m venv``, then PyTorch's
CPU-only build alone from PyTorch's CPU wheel index (``--no-deps``, pip's configuration files left out for
that one install so that no other index offers a CUDA build; ``--find-links`` given in the environment still
count), then ``stable-baselines3==2.*`` and ``gymnasium`` with their dependencies and torch's from the
ordinary index. It downloads about 200 MB once.

    python benchmarks/sac_vs_sb3.py [--steps 20000] [--seeds 0 1 2] [--sb3-venv DIR] [--only sb3|tfrl|tfrl-same]
                                    [--torch-threads 2]
    python benchmarks/sac_vs_sb3.py --only sb3 --steps 2000 --seeds 0    # a quick check of the SB3 side

20,000 steps take about 4 minutes per SB3 run on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")

from learning_margins import cpu_name  # noqa: E402  (benchmarks/ is the script's folder, first on sys.path)

ENV_ID = "Pendulum-v1"
EVAL_EPISODES = 10
HERE = Path(__file__).resolve().parent
RUNNER = HERE / "sb3_sac_runner.py"
DEFAULT_SB3_VENV = Path("~/.cache/tfrl-bench/sb3-venv").expanduser()
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
SB3_REQUIREMENTS = ["stable-baselines3==2.*", "gymnasium"]
STAMP = "tfrl-bench-stamp.json"
LIBRARIES = {"sb3": "SB3", "tfrl-same": "tfrl (SB3's settings)", "tfrl": "tfrl (preset)"}
SB3_SETTINGS = {"learning_rate": 1e-3, "buffer_size": 1_000_000, "batch_size": 256, "learning_starts": 100,
                "train_freq": 1, "gradient_steps": 1, "gamma": 0.99, "tau": 0.005, "hidden_sizes": (256, 256)}
"""tfrl's settings equal to SB3's SAC with the zoo's Pendulum-v1 settings (the ``tfrl-same`` side)."""

_VERSIONS = """
import importlib.metadata as m, json, sys
out = {"python": sys.version.split()[0]}
for name in sys.argv[1:]:
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        out[name] = None
print(json.dumps(out))
"""


def tfrl_python() -> str:
    """This repository's ``.venv`` Python if there is one, else the Python running this script."""
    candidate = HERE.parent / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def child_env() -> dict[str, str]:
    """The environment of a benchmark process: this one's, without PYTHONPATH (each venv imports its own)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def versions(python: str, *names: str) -> dict[str, str | None]:
    """Installed versions of ``names`` in ``python``'s environment (package metadata only, nothing imported)."""
    out = subprocess.run([python, "-c", _VERSIONS, *names], capture_output=True, text=True, check=True,
                         env=child_env())
    return json.loads(out.stdout)


def run_command(command: list[str], env: dict[str, str] | None = None) -> None:
    print("+ " + " ".join(command), flush=True)
    subprocess.run(command, check=True, env=env if env is not None else child_env())


def ensure_sb3_venv(venv: Path) -> str:
    """The Python of SB3's virtual environment in ``venv``, building it first if its stamp file is missing."""
    python = venv / "bin" / "python"
    stamp = venv / STAMP
    if python.exists() and stamp.is_file():
        try:
            if json.loads(stamp.read_text()).get("requirements") == SB3_REQUIREMENTS:
                return str(python)
        except (OSError, ValueError):
            pass
    print(f"# building Stable-Baselines3's virtual environment in {venv} (once; downloads about 200 MB)",
          flush=True)
    if not python.exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        run_command([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)])
    pip = [str(python), "-m", "pip", "install"]
    # torch alone from the CPU index, with pip's configuration files left out (an extra index they name could
    # offer a newer CUDA build, which pip would prefer); --find-links given in the environment still count.
    # Its dependencies (filelock, sympy, ...) come with SB3's from the ordinary index in the next step.
    print(f"# installing torch: the CPU-only build, from {TORCH_INDEX} only", flush=True)
    run_command(pip + ["--no-deps", "torch", "--index-url", TORCH_INDEX],
                env={**child_env(), "PIP_CONFIG_FILE": os.devnull})
    print(f"# installing {' '.join(SB3_REQUIREMENTS)} and their dependencies (with torch's)", flush=True)
    run_command(pip + SB3_REQUIREMENTS)
    probe = "import json, torch; print(json.dumps([torch.__version__, torch.version.cuda]))"
    check = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True, env=child_env())
    torch_version, cuda = json.loads(check.stdout)
    if cuda is not None:
        print(f"warning: torch {torch_version} is a CUDA {cuda} build; the CPU-only build was asked for",
              file=sys.stderr)
    installed = versions(str(python), "stable-baselines3", "torch", "gymnasium", "numpy")
    print("# installed: " + ", ".join(f"{k} {v}" for k, v in installed.items()), flush=True)
    stamp.write_text(json.dumps({"requirements": SB3_REQUIREMENTS, "torch_index": TORCH_INDEX,
                                 "installed": installed,
                                 "built": datetime.datetime.now().isoformat(timespec="seconds")}, indent=1))
    return str(python)


def run_process(command: list[str], what: str) -> dict:
    """Run one benchmark process; its last stdout line is a JSON object, returned with the process seconds."""
    with tempfile.TemporaryDirectory(prefix="tfrl-sac-bench-") as cwd:
        start = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=child_env(), check=False)
        process_s = time.perf_counter() - start
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        sys.stderr.write(out.stdout[-4000:] + out.stderr[-4000:])
        raise SystemExit(f"{what} failed (exit status {out.returncode})")
    row = json.loads(lines[-1])
    row["process_s"] = process_s
    return row


def run_sb3(python: str, seed: int, steps: int, threads: int) -> dict:
    return run_process([python, str(RUNNER), "--seed", str(seed), "--steps", str(steps),
                        "--eval-episodes", str(EVAL_EPISODES), "--threads", str(threads)], f"SB3 seed {seed}")


def run_tfrl(seed: int, steps: int, same: bool) -> dict:
    return run_process([tfrl_python(), str(Path(__file__).resolve()), "--tfrl-child", "--seeds", str(seed),
                        "--steps", str(steps), *(["--same-settings"] if same else [])], f"tfrl seed {seed}")


def tfrl_child(seed: int, steps: int, same: bool) -> int:
    """In the fresh tfrl process: train SAC with the preset (or SB3's settings), print one JSON line."""
    from tfrl.cli.main import _quiet_tensorflow

    _quiet_tensorflow()
    import yaml

    from tfrl.train import train

    overrides = {"total_steps": steps, "seed": seed, "eval_every": 0, "final_eval_episodes": EVAL_EPISODES,
                 "stop_at_target": False, "tensorboard": False, **(SB3_SETTINGS if same else {})}
    with tempfile.TemporaryDirectory(prefix="tfrl-sac-bench-") as root:
        result = train("sac", ENV_ID, run_dir=Path(root) / "run", overrides=overrides, use_preset=True,
                       verbose=False)
        record = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    print(json.dumps({
        "library": "tfrl-same" if same else "tfrl",
        "seed": seed,
        "steps": int(result.steps),
        "train_s": float(result.wall_time),
        "steps_per_s": result.steps / result.wall_time,
        "eval_mean": float(result.final_eval.mean),
        "eval_std": float(result.final_eval.std),
        "eval_episodes": EVAL_EPISODES,
        "settings": {"preset": record.get("preset"), **record.get("agent", {})},
    }), flush=True)
    return 0


def fmt_row(r: dict) -> str:
    return (f"| {LIBRARIES[r['library']]} | {r['seed']} | {r['steps']:,} | {r['train_s']:.1f} | {r['steps_per_s']:.1f} "
            f"| {r['process_s']:.1f} | {r['eval_mean']:.1f} ± {r['eval_std']:.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="environment steps per run (default 20000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sb3-venv", type=Path, default=DEFAULT_SB3_VENV,
                        help=f"SB3's virtual environment, built here if missing (default {DEFAULT_SB3_VENV})")
    parser.add_argument("--only", choices=sorted(LIBRARIES), help="run one library's side only")
    parser.add_argument("--torch-threads", type=int, default=2,
                        help="torch.set_num_threads for SB3 (default 2, this machine's cores)")
    parser.add_argument("--tfrl-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--same-settings", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tfrl_child:
        return tfrl_child(args.seeds[0], args.steps, args.same_settings)

    sides = [args.only] if args.only else list(LIBRARIES)
    sb3_python = ensure_sb3_venv(args.sb3_venv.expanduser()) if "sb3" in sides else None
    tf_versions = versions(tfrl_python(), "tensorflow", "keras", "gymnasium", "tfrl")
    sb3_venv_python = args.sb3_venv.expanduser() / "bin" / "python"
    sb3_versions = (versions(str(sb3_venv_python), "stable-baselines3", "torch", "gymnasium")
                    if sb3_venv_python.exists() else {})

    print(f"\nSAC on {ENV_ID}, {args.steps:,} steps, {EVAL_EPISODES}-episode deterministic evaluation; "
          f"{cpu_name()}, {os.cpu_count()} CPU cores; {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"tfrl: tfrl {tf_versions['tfrl']}, tensorflow {tf_versions['tensorflow']}, keras {tf_versions['keras']}, "
          f"gymnasium {tf_versions['gymnasium']}, Python {tf_versions['python']}")
    if sb3_versions:
        print(f"SB3: stable-baselines3 {sb3_versions['stable-baselines3']}, torch {sb3_versions['torch']} "
              f"({args.torch_threads} threads), gymnasium {sb3_versions['gymnasium']}, "
              f"Python {sb3_versions['python']} ({args.sb3_venv})")
    print("| library | seed | env steps | train s | env steps/s | process s | eval mean ± std |")
    print("|---|---:|---:|---:|---:|---:|---:|", flush=True)
    rows = []
    for seed in args.seeds:
        for side in sides:
            if side == "sb3":
                row = run_sb3(sb3_python, seed, args.steps, args.torch_threads)
            else:
                row = run_tfrl(seed, args.steps, same=side == "tfrl-same")
            rows.append(row)
            print(fmt_row(row), flush=True)

    means = {}
    for side in sides:
        mine = [r for r in rows if r["library"] == side]
        means[side] = {key: statistics.mean(r[key] for r in mine)
                       for key in ("train_s", "steps_per_s", "process_s", "eval_mean")}
        print(f"{LIBRARIES[side]} settings: {mine[0]['settings']}")
    for side in sides:
        m = means[side]
        print(f"{LIBRARIES[side]} mean over {len(args.seeds)} seed(s): {m['steps_per_s']:.1f} env steps/s, "
              f"train {m['train_s']:.1f} s, process {m['process_s']:.1f} s, eval mean {m['eval_mean']:.1f}")
    for side in (s for s in sides if s != "sb3" and "sb3" in sides):
        ratio = means[side]["steps_per_s"] / means["sb3"]["steps_per_s"]
        print(f"{LIBRARIES[side]} / SB3 env steps/s: {ratio:.2f}x (goal: 5x or more); eval mean "
              f"{means[side]['eval_mean']:.1f} vs SB3 {means['sb3']['eval_mean']:.1f} (goal: no worse)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
