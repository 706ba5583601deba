"""Steps to the threshold of every learning test in the default suite, seeds 0 to 4, against the test's budget.

A learning test must pass on any x86 CPU, so its step budget must be at least 1.5 times the steps that
the slowest of seeds 0 to 4 needs on the machine that measured it (float results differ between CPUs, so
a seed that barely makes it here can miss elsewhere). For each test's configuration this trains seeds 0
to 4 with the test's settings and ``stop_at_target=True`` (as the learning tests do; the one unit test
that trains its whole budget and asserts the final evaluation runs without it), and prints one row per
configuration as soon as it is done: the steps at which the evaluation mean first reached the threshold
for each seed ("-" when it did not within the cap), the slowest, 1.5 x the slowest, the test's budget,
the cap, the longest seed's wall time and OK / NOT OK (for a test that also asserts the final
evaluation, that every seed's final evaluation reached the threshold too). Per-seed lines go to stderr
as each seed finishes. For the tests of tests/learning/test_pg_learning.py, which assert the median
over seeds of the best evaluation, the rule is applied per seed all the same. The exit status is 1 when
a row is NOT OK.

The cap: PPO anneals its learning rate to zero over ``total_steps`` and DQN decays epsilon over a
fraction of it, so a run with a larger ``total_steps`` is not the test's run. Those configurations are
trained with ``total_steps`` equal to the test's budget (a seed that does not reach the threshold fails
the test); the others (A2C and REINFORCE, whose schedules do not depend on ``total_steps``) with
``--cap-factor`` (default 3) times the budget, which plays the test's run step for step and goes on.
The evaluation interval (the preset's or the test's ``eval_every``) quantizes steps-to-threshold; it
is kept as the test has it.

Usage (from the repository root; each configuration takes from seconds to minutes on 2 cores):

    python benchmarks/learning_margins.py --list
    python benchmarks/learning_margins.py --only compiled-ppo-cartpole
    python benchmarks/learning_margins.py --only pg-a2c-cartpole --seeds 0,1
    python benchmarks/learning_margins.py --only compiled-ppo-cartpole --budget 200000 --set num_envs=64

``--budget`` and ``--set`` try a new budget or preset setting without editing the preset (the table
then says which). Run it with ``PYTHONPATH=src`` (or the installed package) from a quiet tree.

Only the public API ``tfrl.train.train`` is used.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")

import gymnasium
import numpy as np


@dataclasses.dataclass(frozen=True)
class Case:
    """One learning test's configuration."""

    name: str
    test: str
    algo: str
    env: str
    target: float
    budget: int
    settings: dict = dataclasses.field(default_factory=dict)
    final_eval_episodes: int = 0  # > 0 when the test also asserts the final evaluation's mean
    stop_at_target: bool = True  # False for a test that trains its whole budget and asserts the final evaluation

    def schedule_tied_to_total(self, settings: dict) -> bool:
        """True when a run with a larger ``total_steps`` would not be the test's run (lr annealing, epsilon)."""
        if self.algo in ("dqn", "c51", "qrdqn", "rainbow"):  # epsilon and the priorities' beta follow total_steps
            return True
        anneal_default = self.algo == "ppo"  # every PPO preset anneals; no A2C preset does
        return bool(settings.get("anneal_lr", anneal_default))


CASES = [
    Case("compiled-ppo-cartpole", "test_compiled_learning.py::test_compiled_ppo_and_a2c_on_native_cartpole_reach_475[ppo]",
         "ppo", "CartPole-v1", 475.0, 500_000, {"backend": "tf"}),
    Case("compiled-a2c-cartpole", "test_compiled_learning.py::test_compiled_ppo_and_a2c_on_native_cartpole_reach_475[a2c]",
         "a2c", "CartPole-v1", 475.0, 500_000, {"backend": "tf"}),
    Case("compiled-dqn-cartpole", "test_compiled_learning.py::test_compiled_dqn_on_native_cartpole_reaches_475",
         "dqn", "CartPole-v1", 475.0, 320_000, {"backend": "tf"}),
    Case("compiled-ppo-acrobot", "test_compiled_learning.py::test_compiled_ppo_on_native_acrobot_and_pendulum[Acrobot]",
         "ppo", "Acrobot-v1", -100.0, 300_000, {"backend": "tf"}),
    Case("compiled-ppo-pendulum", "test_compiled_learning.py::test_compiled_ppo_on_native_acrobot_and_pendulum[Pendulum]",
         "ppo", "Pendulum-v1", -250.0, 500_000, {"backend": "tf"}),
    Case("dqn-cartpole", "test_dqn_learning.py::test_cartpole_preset_reaches_475_within_80k_steps",
         "dqn", "CartPole-v1", 475.0, 80_000, {}, final_eval_episodes=20),
    Case("c51-cartpole", "test_value_learning.py::test_value_based_agents_on_cartpole_reach_475_within_50k[c51-*]",
         "c51", "CartPole-v1", 475.0, 50_000),
    Case("qrdqn-cartpole", "test_value_learning.py::test_value_based_agents_on_cartpole_reach_475_within_50k[qrdqn-*]",
         "qrdqn", "CartPole-v1", 475.0, 50_000),
    Case("rainbow-cartpole",
         "test_value_learning.py::test_value_based_agents_on_cartpole_reach_475_within_50k[rainbow-*]",
         "rainbow", "CartPole-v1", 475.0, 50_000),
    Case("dqn-per-cartpole",
         "test_value_learning.py::test_value_based_agents_on_cartpole_reach_475_within_50k[dqn-per-*]",
         "dqn", "CartPole-v1", 475.0, 50_000, {"prioritized_replay": True, "n_step": 3, "exploration_fraction": 0.16}),
    Case("pg-ppo-cartpole", "test_pg_learning.py::test_ppo_cartpole_reaches_475_within_100k_steps",
         "ppo", "CartPole-v1", 475.0, 100_000),
    Case("pg-a2c-cartpole", "test_pg_learning.py::test_a2c_cartpole_reaches_475_within_500k_steps",
         "a2c", "CartPole-v1", 475.0, 500_000),
    Case("pg-reinforce-cartpole", "test_pg_learning.py::test_reinforce_cartpole_reaches_450_within_300k_steps",
         "reinforce", "CartPole-v1", 450.0, 300_000),
    Case("sac-pendulum", "test_continuous_learning.py::test_sac_td3_ddpg_presets_on_pendulum[*-sac]",
         "sac", "Pendulum-v1", -200.0, 20_000),
    Case("td3-pendulum", "test_continuous_learning.py::test_sac_td3_ddpg_presets_on_pendulum[*-td3]",
         "td3", "Pendulum-v1", -200.0, 20_000),
    Case("ddpg-pendulum", "test_continuous_learning.py::test_sac_td3_ddpg_presets_on_pendulum[0-ddpg]",
         "ddpg", "Pendulum-v1", -250.0, 20_000),
    Case("compiled-sac-pendulum", "test_continuous_learning.py::test_compiled_sac_on_native_pendulum_reaches_minus_200",
         "sac", "Pendulum-v1", -200.0, 20_000, {"backend": "tf"}),
    Case("compiled-td3-pendulum", "(no test: the compiled TD3 preset)", "td3", "Pendulum-v1", -200.0, 20_000,
         {"backend": "tf"}),
    # tests/unit: DQN on a user's own environment must play the shortest path after its 3,000 steps (the
    # final evaluation's mean is 1.0); it trains the whole budget, so no stop at the target here.
    Case("unit-user-env-corridor", "unit/train/test_user_env.py::test_user_class_trains_evaluates_and_resumes",
         "dqn", "Corridor", 1.0, 3_000,
         {"num_envs": 2, "learning_starts": 200, "train_freq": 50, "gradient_steps": 25, "hidden_sizes": (32,),
          "learning_rate": 3e-3, "gamma": 0.9, "target_update_interval": 50, "eval_every": 1000,
          "eval_episodes": 4, "checkpoint_every": 1000, "exploration_fraction": 0.3},
         final_eval_episodes=4, stop_at_target=False),
]


class Corridor(gymnasium.Env):
    """tests/unit/train/test_user_env.py's environment: positions 0..5; action 1 moves right, 0 left;
    reaching 5 pays 1 and terminates; 30-step limit."""

    def __init__(self):
        self.observation_space = gymnasium.spaces.Box(0.0, 1.0, (6,), np.float32)
        self.action_space = gymnasium.spaces.Discrete(2)
        self.position, self.t = 0, 0

    def _obs(self):
        obs = np.zeros(6, np.float32)
        obs[self.position] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.t = 0, 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        self.position = min(5, self.position + 1) if int(action) == 1 else max(0, self.position - 1)
        done = self.position == 5
        return self._obs(), float(done), done, self.t >= 30 and not done, {}


def parse_value(text: str):
    import yaml

    return yaml.safe_load(text)


def run_seed(case: Case, seed: int, cap: int, settings: dict):
    from tfrl.train import train

    with tempfile.TemporaryDirectory(prefix="tfrl-margins-") as root:
        start = time.perf_counter()
        env = Corridor if case.env == "Corridor" else case.env
        result = train(case.algo, env, runs_root=root, seed=seed, target_return=case.target,
                       stop_at_target=case.stop_at_target,
                       total_steps=cap, tensorboard=False, final_eval_episodes=case.final_eval_episodes,
                       verbose=False, **settings)
        seconds = time.perf_counter() - start
    final = None if result.final_eval is None else float(result.final_eval.mean)
    return result.first_solved_step, seconds, final


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt_steps(value) -> str:
    return "-" if value is None else f"{value:,}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[],
                        help="configuration name(s) to run (repeat or comma-separate); default: all")
    parser.add_argument("--list", action="store_true", help="list the configurations and exit")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default 0,1,2,3,4)")
    parser.add_argument("--cap-factor", type=float, default=3.0,
                        help="cap = this x the budget for configurations whose schedule does not depend on total_steps")
    parser.add_argument("--budget", type=int, default=None,
                        help="use this budget instead of the test's (to try a new one)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra setting passed to train (to try a retuned preset); YAML value")
    args = parser.parse_args(argv)

    if args.list:
        for case in CASES:
            print(f"{case.name:24s} {case.algo:9s} {case.env:12s} {case.settings or ''} threshold {case.target:g} "
                  f"budget {case.budget:,}  ({case.test})")
        return 0
    names = [n for item in args.only for n in item.split(",") if n]
    unknown = sorted(set(names) - {c.name for c in CASES})
    if unknown:
        parser.error(f"unknown configuration(s) {', '.join(unknown)}; --list shows them")
    cases = [c for c in CASES if not names or c.name in names]
    seeds = [int(s) for s in args.seeds.split(",")]
    extra = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set takes KEY=VALUE, not {item!r}")
        extra[key.strip()] = parse_value(value)

    import tensorflow as tf

    print(f"# {cpu_name()}, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}, seeds {seeds}"
          + (f", extra settings {extra}" if extra else ""), flush=True)
    header = (f"{'test':24s} {'thresh':>6s} " + " ".join(f"{'seed ' + str(s):>9s}" for s in seeds)
              + f" {'slowest':>9s} {'1.5x':>9s} {'budget':>9s} {'cap':>9s} {'max s':>6s}  verdict")
    print(header, flush=True)
    all_ok = True
    for case in cases:
        settings = {**case.settings, **extra}
        budget = args.budget if args.budget is not None else case.budget
        tied = case.schedule_tied_to_total(settings)
        cap = budget if tied else math.ceil(args.cap_factor * budget)
        steps, seconds, finals = [], [], []
        for seed in seeds:
            solved, secs, final = run_seed(case, seed, cap, settings)
            steps.append(solved)
            seconds.append(secs)
            finals.append(final)
            note = "" if final is None else f", final eval {final:.1f}"
            print(f"  {case.name} seed {seed}: {fmt_steps(solved)} steps to {case.target:g} ({secs:.1f} s{note})",
                  file=sys.stderr, flush=True)
        unsolved = any(s is None for s in steps)
        slowest = None if unsolved else max(steps)
        needed = None if unsolved else math.ceil(1.5 * slowest)
        ok = not unsolved and needed <= budget
        if case.final_eval_episodes:
            ok = ok and all(f is not None and f >= case.target for f in finals)
        all_ok &= ok
        row = (f"{case.name:24s} {case.target:6g} " + " ".join(f"{fmt_steps(s):>9s}" for s in steps)
               + f" {fmt_steps(slowest) if not unsolved else 'unsolved':>9s} {fmt_steps(needed):>9s}"
               + f" {budget:>9,} {cap:>9,} {max(seconds):6.1f}  {'OK' if ok else 'NOT OK'}")
        if case.final_eval_episodes:
            row += "  final evals " + " ".join("-" if f is None else f"{f:.0f}" for f in finals)
        print(row, flush=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
