"""Benchmark: TF-native environments and the compiled loop against Gymnasium and the host loop.

Prints, in one run on this machine:

1. environment steps per second of a random-policy CartPole-v1 rollout for N = 1, 64, 1024, 4096:
   tfrl's native environments in a compiled ``tf.while_loop`` (graph, and ``jit_compile``), against
   Gymnasium's own NumPy-vectorized CartPole (``gymnasium.make_vec(..., "vector_entry_point")``);
2. the same native rollout with a 64x64 MLP policy sampled in the graph;
3. compiled PPO training end to end (steps per second after compilation), the compile time, and the
   wall time after compilation until the evaluation mean (on Gymnasium's CartPole-v1) reached 475;
4. the host loop (Gymnasium vector environments, the same agent and preset) for comparison.

    python benchmarks/compiled.py [--steps 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFRL_PROGRESS", "0")


def native_rollout(num_envs: int, steps: int, jit: bool, policy: bool = False) -> float:
    """Steps per second of a ``steps``-long rollout of ``num_envs`` native CartPoles in one call."""
    import numpy as np
    import tensorflow as tf

    from tfrl import distributions
    from tfrl.envs.native import native_env
    from tfrl.networks import actor_critic

    env = native_env("CartPole-v1")
    model = actor_critic(env.observation_spec(), env.action_spec(), (64, 64), seed=0) if policy else None

    def rollout(state, time_step):
        total = tf.constant(0.0)
        for t in tf.range(steps):
            key = tf.stack([tf.constant(7, tf.int64), tf.cast(t, tf.int64)])
            if policy:
                logits = model(tf.cast(time_step.observation, tf.float32))["logits"]
                noise = tf.random.stateless_uniform([num_envs, 2], key)
                action = distributions.categorical_sample(logits, noise)
            else:
                action = tf.random.stateless_uniform([num_envs], key, maxval=2, dtype=tf.int64)
            state, time_step = env.step(state, action)
            total += tf.reduce_sum(time_step.reward)
        return total

    fn = tf.function(rollout, jit_compile=jit)
    state, time_step = env.reset(0, num_envs)
    fn(state, time_step).numpy()  # compile
    best = np.inf
    for _ in range(3):
        t = time.perf_counter()
        fn(state, time_step).numpy()
        best = min(best, time.perf_counter() - t)
    return num_envs * steps / best


def gymnasium_rollout(num_envs: int, steps: int) -> float:
    """Steps per second of Gymnasium's NumPy-vectorized CartPole with random actions."""
    import gymnasium
    import numpy as np

    env = gymnasium.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 2, size=(steps, num_envs))
    t = time.perf_counter()
    for i in range(steps):
        env.step(actions[i])
    elapsed = time.perf_counter() - t
    env.close()
    return num_envs * steps / elapsed


def compiled_preset() -> dict:
    """The settings of the packaged preset ppo-CartPole-v1-tf.yaml."""
    from tfrl.config import load_yaml
    from tfrl.runs import preset_path

    return load_yaml(preset_path("ppo", "CartPole-v1", "tf"))


def train_run(backend: str, seed: int, root: str, steps: int | None = None, stop: bool = True, evaluate: bool = True):
    from tfrl.train import train

    settings = dict(runs_root=root, seed=seed, tensorboard=False, verbose=False, final_eval_episodes=0,
                    backend=backend, stop_at_target=stop)
    if backend != "tf":
        # the host loop with the compiled preset's settings, on Gymnasium vector environments
        settings.update(use_preset=False, **{k: v for k, v in compiled_preset().items() if k != "backend"})
    if steps is not None:
        settings["total_steps"] = steps
    if not evaluate:
        settings["eval_every"] = 0
    t = time.perf_counter()
    result = train("ppo", "CartPole-v1", **settings)
    return result, time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="rollout length for the rollout rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-rollouts", action="store_true", help="only the training comparison")
    args = parser.parse_args()

    from tfrl.cli.main import _quiet_tensorflow

    _quiet_tensorflow()
    if not args.skip_rollouts:
        rollout_tables(args.steps)
    train_tables(args.seed)
    return 0


def rollout_tables(rollout_steps: int) -> None:
    """Print the rollout tables (random actions; MLP policy in the graph)."""
    print(f"\nCartPole-v1 rollouts, random actions, {rollout_steps} steps, {os.cpu_count()} CPU cores (env steps/s)")
    print("| N | native graph | native jit | Gymnasium vector_entry_point | native jit / Gymnasium |")
    print("|---:|---:|---:|---:|---:|")
    for n in (1, 64, 1024, 4096):
        steps = rollout_steps if n >= 64 else max(rollout_steps, 2000)
        graph = native_rollout(n, steps, jit=False)
        jit = native_rollout(n, steps, jit=True)
        gym = gymnasium_rollout(n, steps)
        print(f"| {n} | {graph:,.0f} | {jit:,.0f} | {gym:,.0f} | {jit / gym:.1f}x |")
    print("\nNative rollout with a 64x64 MLP policy sampled in the graph (env steps/s)")
    print("| N | graph | jit |")
    print("|---:|---:|---:|")
    for n in (64, 1024, 4096):
        print(f"| {n} | {native_rollout(n, rollout_steps, False, True):,.0f} "
              f"| {native_rollout(n, rollout_steps, True, True):,.0f} |")


def steady_compiled(jit: bool, iterations: int = 12, num_envs: int = 256) -> tuple[float, float]:
    """(first-call seconds, env steps/s after it) of compiled PPO training with the CartPole-tf settings."""
    from tfrl.agents.ppo import PPOAgent, PPOConfig
    from tfrl.envs.native import native_env
    from tfrl.train.loops.compiled_on_policy import CompiledOnPolicy

    env = native_env("CartPole-v1")
    config = PPOConfig(num_steps=32, batch_size=1024, update_epochs=4, learning_rate=1e-3, gamma=0.99,
                       gae_lambda=0.95, jit_compile=jit)
    agent = PPOAgent(config, env.observation_spec(), env.action_spec(), 10_000_000, seed=0, num_envs=num_envs)
    compiled = CompiledOnPolicy([agent], env, num_envs, [0], 10_000_000, jit_compile=jit)
    t = time.perf_counter()
    [(_, stats)] = compiled.run([0], 1)
    first = time.perf_counter() - t
    t = time.perf_counter()
    [(_, stats)] = compiled.run([int(stats[0])], iterations)
    return first, float(stats[0]) / (time.perf_counter() - t)


def steady_host(seed: int, steps: int = 65_536) -> float:
    """Env steps/s of the host loop (256 Gymnasium envs, the settings of ``steady_compiled``), no evaluations."""
    from tfrl.train import train

    with tempfile.TemporaryDirectory() as root:
        result = train("ppo", "CartPole-v1", runs_root=root, seed=seed, tensorboard=False, verbose=False,
                       final_eval_episodes=0, use_preset=False, num_envs=256, num_steps=32, batch_size=1024,
                       update_epochs=4, learning_rate=1e-3, eval_every=0, log_every=20_000, total_steps=steps)
    return result.steps / result.wall_time


def train_tables(seed: int) -> None:
    """Print compiled PPO against the host loop on CartPole-v1 (same agent settings)."""
    import json

    import numpy as np

    from tfrl.logging import read_metrics

    with tempfile.TemporaryDirectory() as root:
        compiled, total = train_run("tf", seed, root)
        first = json.loads((compiled.run_dir / "final_eval.json").read_text())
        compile_s = float(np.nanmax(read_metrics(compiled.run_dir / "metrics.csv")["charts/first_call_seconds"]))
        host, host_total = train_run("sync", seed, root, steps=compiled.steps, stop=False)
    n = compiled_preset()["num_envs"]
    rows = [(f"compiled (backend tf, {n} native envs)", compiled, total),
            (f"host loop (backend sync, {n} Gymnasium envs)", host, host_total)]
    print(f"\nPPO on CartPole-v1, preset ppo-CartPole-v1-tf, seed {seed}")
    print("| loop | env steps | train s | env steps/s | steps to 475 | s to 475 | process s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r, t in rows:
        solved = "-" if r.first_solved_step is None else str(r.first_solved_step)
        solved_s = "-" if r.first_solved_time is None else f"{r.first_solved_time:.1f}"
        print(f"| {name} | {r.steps} | {r.wall_time:.1f} | {r.steps / r.wall_time:,.0f} | {solved} | {solved_s} | {t:.1f} |")
    if compiled.first_solved_time is not None:
        print(f"compiled loop: first call (tracing, XLA compilation, one iteration) {compile_s:.1f} s; "
              f"solved {compiled.first_solved_time - compile_s:.1f} s after it")
    print("\nSteady training throughput after compilation, no evaluations (PPO, CartPole-v1, 256 envs, 8192 "
          "transitions per update, 4 epochs of 8 minibatches)")
    print("| loop | first call s | env steps/s |")
    print("|---|---:|---:|")
    rates = {}
    for jit in (True, False):
        first_s, rate = steady_compiled(jit)
        rates[jit] = rate
        print(f"| compiled, jit_compile={jit} | {first_s:.1f} | {rate:,.0f} |")
    host_rate = steady_host(seed)
    print(f"| host loop, 256 Gymnasium envs (sync) | - | {host_rate:,.0f} |")
    print(f"steady speed-up of the compiled loop (best of jit on/off) over the host loop: "
          f"{max(rates.values()) / host_rate:.1f}x")
    print(f"end-to-end speed-up of the compiled loop over the host loop: {(compiled.steps / compiled.wall_time) / (host.steps / host.wall_time):.1f}x "
          f"(wall time includes compilation and evaluations on Gymnasium; best eval {first['best_eval']})")


if __name__ == "__main__":
    sys.exit(main())
