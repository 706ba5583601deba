"""Stable-Baselines3's SAC on Pendulum-v1 with the rl-baselines3-zoo settings: one seed, timed, one JSON line.

Run by ``benchmarks/sac_vs_sb3.py`` with the Python of SB3's own virtual environment; it imports only
Stable-Baselines3, Gymnasium, PyTorch and NumPy (no tfrl, no TensorFlow), so that each library pays its
own imports in its own process.

The settings are rl-baselines3-zoo's for SAC on Pendulum-v1 (``hyperparams/sac.yml`` of
github.com/DLR-RM/rl-baselines3-zoo)::

    Pendulum-v1:
      n_timesteps: 20000
      policy: 'MlpPolicy'
      learning_rate: !!float 1e-3

and SB3's defaults for everything else (buffer 1M, batch 256, learning_starts 100, train_freq 1,
gradient_steps 1, gamma 0.99, tau 0.005, ent_coef 'auto', target entropy -1, net_arch [256, 256]).

The script times ``model.learn(steps)`` alone (the model, its environment and PyTorch are built before the
clock starts), then plays the deterministic policy for ``--eval-episodes`` episodes on a new Pendulum-v1
seeded with ``seed + 100_003`` (as tfrl's evaluations are) and prints one JSON line to stdout: steps, train
seconds, env steps/s, the evaluation's mean and std, the settings SB3 actually used and the versions.

    .../sb3-venv/bin/python benchmarks/sb3_sac_runner.py --seed 0 [--steps 20000] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=20_000, help="training steps (the zoo's n_timesteps: 20000)")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (this machine has 2 cores)")
    args = parser.parse_args()

    import gymnasium as gym
    import numpy as np
    import stable_baselines3
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.set_num_threads(args.threads)
    model = SAC("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, seed=args.seed, verbose=0, device="cpu")
    start = time.perf_counter()
    model.learn(total_timesteps=args.steps)
    train_s = time.perf_counter() - start

    eval_env = DummyVecEnv([lambda: Monitor(gym.make("Pendulum-v1"))])
    eval_env.seed(args.seed + 100_003)
    start = time.perf_counter()
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True,
                                 return_episode_rewards=True)
    eval_s = time.perf_counter() - start
    eval_env.close()

    settings = {
        "learning_rate": model.learning_rate,
        "buffer_size": model.buffer_size,
        "batch_size": model.batch_size,
        "learning_starts": model.learning_starts,
        "train_freq": [model.train_freq.frequency, model.train_freq.unit.value],
        "gradient_steps": model.gradient_steps,
        "gamma": model.gamma,
        "tau": model.tau,
        "ent_coef": "auto" if model.ent_coef_optimizer is not None else model.ent_coef,
        "target_entropy": float(model.target_entropy),
        "net_arch": model.policy.net_arch,
    }
    print(json.dumps({
        "library": "sb3",
        "seed": args.seed,
        "steps": int(model.num_timesteps),
        "train_s": train_s,
        "steps_per_s": model.num_timesteps / train_s,
        "eval_mean": float(np.mean(returns)),
        "eval_std": float(np.std(returns)),
        "eval_episodes": len(returns),
        "eval_s": eval_s,
        "threads": torch.get_num_threads(),
        "settings": settings,
        "versions": {"stable-baselines3": stable_baselines3.__version__, "torch": torch.__version__,
                     "gymnasium": gym.__version__, "numpy": np.__version__,
                     "python": sys.version.split()[0]},
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
