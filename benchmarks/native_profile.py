"""Where the time of a native CartPole rollout goes: random actions versus constant ones, float64
versus float32 physics, N = 4096 environments, 1,000 steps in one XLA-compiled call.

    python benchmarks/native_profile.py
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(num_envs: int = 4096, steps: int = 1000) -> None:
    """Print steps per second and microseconds per vector step for each variant."""
    import tensorflow as tf

    from tfrl.envs.native import native_env

    print(f"| physics | actions | env steps/s | us per vector step |  (N = {num_envs}, {steps} steps, XLA)")
    print("|---|---|---:|---:|")
    for dtype in (tf.float64, tf.float32):
        env = native_env("CartPole-v1", dtype=dtype)
        for mode in ("random", "constant"):
            def rollout(state, time_step, mode=mode, env=env):
                total = tf.constant(0.0)
                for t in tf.range(steps):
                    if mode == "random":
                        key = tf.stack([tf.constant(7, tf.int64), tf.cast(t, tf.int64)])
                        action = tf.random.stateless_uniform([num_envs], key, maxval=2, dtype=tf.int64)
                    else:
                        action = tf.zeros([num_envs], tf.int64) + tf.cast(t % 2, tf.int64)
                    state, time_step = env.step(state, action)
                    total += tf.reduce_sum(time_step.reward)
                return total

            fn = tf.function(rollout, jit_compile=True)
            state, time_step = env.reset(0, num_envs)
            fn(state, time_step).numpy()
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                fn(state, time_step).numpy()
                best = min(best, time.perf_counter() - start)
            print(f"| {dtype.name} | {mode} | {num_envs * steps / best:,.0f} | {best / steps * 1e6:.0f} |")


if __name__ == "__main__":
    main()
