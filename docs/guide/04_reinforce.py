"""Chapter 4: REINFORCE with discounted and normalized returns, written out by hand.

Each iteration plays one whole CartPole episode in each of 8 environments with the current
stochastic policy, turns every episode's rewards into discounted returns-to-go normalized across
the 8 episodes (``tfrl.data.returns.discount_and_normalize``), and takes one gradient step on
``-mean(log pi(a_t | s_t) * G_t)``. Every few iterations the most probable action is evaluated.

    python docs/guide/04_reinforce.py          # 200 iterations (about 1,600 episodes)
    python docs/guide/04_reinforce.py --fast   # 3 iterations, in a temporary directory
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf

from tfrl import distributions, envs
from tfrl.data.returns import discount_and_normalize
from tfrl.policies import CategoricalPolicy, ModePolicy
from tfrl.train import evaluate_policy

FIGURES = Path(__file__).resolve().parent / "figures"

EPISODES_PER_UPDATE = 8
GAMMA = 0.99
LEARNING_RATE = 0.01


def build_policy_network(seed: int) -> keras.Model:
    """Observation in, a dict with one logit per action out (the form tfrl's policies read)."""
    init = keras.initializers.GlorotUniform(seed=seed)
    observation = keras.Input(shape=(4,), name="observation")
    hidden = keras.layers.Dense(32, activation="tanh", kernel_initializer=init)(observation)
    logits = keras.layers.Dense(2, kernel_initializer=keras.initializers.Zeros())(hidden)  # starts uniform
    return keras.Model(observation, {"logits": logits})


def play_episodes(env, policy) -> tuple[list, list, list]:
    """One whole episode in each environment of the batch: per-episode observations, actions, rewards."""
    n = env.num_envs
    observations, actions, rewards = [[] for _ in range(n)], [[] for _ in range(n)], [[] for _ in range(n)]
    playing = np.ones(n, bool)
    time_step = env.reset()
    while playing.any():
        action = policy.action(time_step.observation)
        next_time_step = env.step(action)
        for i in np.flatnonzero(playing):
            observations[i].append(time_step.observation[i])
            actions[i].append(action[i])
            rewards[i].append(next_time_step.reward[i])
        playing &= ~next_time_step.is_last()  # an env that finished keeps stepping, unrecorded
        time_step = next_time_step
    return [np.array(o) for o in observations], [np.array(a) for a in actions], [np.array(r) for r in rewards]


def make_update(model: keras.Model, optimizer: keras.optimizers.Optimizer):
    """The REINFORCE gradient step, compiled once for batches of any length."""

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32), tf.TensorSpec([None], tf.int64),
                                  tf.TensorSpec([None], tf.float32)])
    def update(observations, actions, returns):
        with tf.GradientTape() as tape:
            logits = model(observations, training=True)["logits"]
            log_prob = distributions.categorical_log_prob(logits, actions)
            loss = -tf.reduce_mean(log_prob * returns)  # raise log pi(a|s) in proportion to the return
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return update


def plot(steps, batch_means, eval_steps, eval_means, path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(steps, batch_means, alpha=0.5,
            label=f"training: mean return of each batch of {EPISODES_PER_UPDATE} episodes")
    ax.plot(eval_steps, eval_means, marker="o", lw=2, label="evaluation: most probable action, 10 episodes")
    ax.axhline(500, color="0.5", ls=":", lw=1)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.set_title(f"REINFORCE on CartPole-v1 (gamma {GAMMA}, Adam {LEARNING_RATE}, returns normalized per batch)")
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=90)
    return path


def main(fast: bool = False, out_dir: Path = FIGURES, seed: int = 0) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    iterations, eval_every = (3, 1) if fast else (200, 10)

    env = envs.make("CartPole-v1", num_envs=EPISODES_PER_UPDATE, seed=seed)
    eval_env = envs.make("CartPole-v1", num_envs=10, seed=seed + 1000)
    model = build_policy_network(seed)
    optimizer = keras.optimizers.Adam(learning_rate=LEARNING_RATE)
    update = make_update(model, optimizer)
    explore = CategoricalPolicy(model, env.observation_spec(), env.action_spec(), seed=seed)  # samples pi(.|s)
    greedy = ModePolicy(model, env.observation_spec(), env.action_spec())                  # argmax pi(.|s)

    total_steps, steps, batch_means, eval_steps, eval_means = 0, [], [], [], []
    for iteration in range(1, iterations + 1):
        observations, actions, rewards = play_episodes(env, explore)
        returns = discount_and_normalize(rewards, GAMMA)  # one array per episode, standardized together
        update(np.concatenate(observations), np.concatenate(actions), np.concatenate(returns))
        total_steps += sum(len(r) for r in rewards)
        steps.append(total_steps)
        batch_means.append(float(np.mean([r.sum() for r in rewards])))
        if iteration % eval_every == 0:
            evaluation = evaluate_policy(eval_env, greedy, num_episodes=10, seed=seed + iteration)
            eval_steps.append(total_steps)
            eval_means.append(evaluation.mean)
            print(f"iteration {iteration:4d}  steps {total_steps:7d}  batch mean return {batch_means[-1]:6.1f}  "
                  f"evaluation {evaluation.mean:6.1f}")
    env.close()
    eval_env.close()

    first_solved = next((s for s, m in zip(eval_steps, eval_means) if m >= 475), None)
    print(f"first evaluation at or above 475: step {first_solved}; last evaluation {eval_means[-1]:.1f}; "
          f"best {max(eval_means):.1f}")
    return {
        "steps": total_steps,
        "batch_means": batch_means,
        "first_batch_mean": batch_means[0],
        "eval_means": eval_means,
        "final_eval": eval_means[-1],
        "best_eval": max(eval_means),
        "first_solved_step": first_solved,
        "figures": [plot(steps, batch_means, eval_steps, eval_means, out_dir / "04_reinforce_curve.png")],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings, figures in a temporary directory")
    args = parser.parse_args()
    main(fast=True, out_dir=Path(tempfile.mkdtemp())) if args.fast else main()
