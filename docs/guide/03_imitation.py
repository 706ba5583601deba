"""Chapter 3: a neural policy that imitates the hard-coded one.

Records the states the lean policy of chapter 2 visits and the actions it takes there, fits a small
Keras classifier to them (supervised learning: state in, the teacher's action out), then plays the
network's most probable action and compares its returns with the teacher's.

    python docs/guide/03_imitation.py          # 200 teacher episodes, 500 evaluation episodes
    python docs/guide/03_imitation.py --fast   # 40 and 50, 10 epochs, in a temporary directory
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

from tfrl import envs
from tfrl.policies import GreedyPolicy, ScriptedPolicy, cartpole_lean_policy
from tfrl.train import Driver, evaluate_policy

FIGURES = Path(__file__).resolve().parent / "figures"


def record_demonstrations(env, teacher, num_episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """The (observation, action) pairs of ``num_episodes`` episodes of ``teacher``."""
    observations, actions = [], []

    def observer(time_step, action, next_time_step):
        real = ~time_step.is_last()  # after a LAST step the env auto-resets and ignores the action
        observations.append(time_step.observation[real])
        actions.append(action[real])

    Driver(env, teacher, observers=[observer]).run_episodes(num_episodes)
    return np.concatenate(observations), np.concatenate(actions)


def build_classifier(seed: int) -> keras.Model:
    """Four state variables in, one logit per action out."""
    init = keras.initializers.GlorotUniform(seed=seed)
    model = keras.Sequential([
        keras.Input(shape=(4,)),
        keras.layers.Dense(16, activation="relu", kernel_initializer=init),
        keras.layers.Dense(2, kernel_initializer=init),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def plot(history: dict, model: keras.Model, path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    epochs = np.arange(1, len(history["accuracy"]) + 1)
    left.plot(epochs, history["accuracy"], marker="o", label="training")
    left.plot(epochs, history["val_accuracy"], marker="o", label="held-out 20%")
    left.set_xlabel("epoch")
    left.set_ylabel("agreement with the teacher")
    left.set_title("Imitation accuracy")
    left.legend()
    left.grid(alpha=0.3)

    angles = np.linspace(-0.2, 0.2, 201, dtype=np.float32)
    states = np.zeros((len(angles), 4), np.float32)
    states[:, 2] = angles  # cart at rest in the middle, only the pole angle varies
    probs = keras.ops.softmax(model(states)).numpy()[:, 1]
    right.plot(angles, probs, label="network: P(push right)")
    right.step(angles, (angles > 0).astype(float), where="post", ls="--", label="teacher: push right if angle > 0")
    right.set_xlabel("pole angle (rad), other variables 0")
    right.set_title("What the network learned")
    right.legend(loc="upper left", fontsize="small")
    right.grid(alpha=0.3)
    fig.savefig(path, dpi=90)
    return path


def main(fast: bool = False, out_dir: Path = FIGURES) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    demo_episodes, eval_episodes, epochs = (40, 50, 10) if fast else (200, 500, 20)

    with envs.make("CartPole-v1", num_envs=25, seed=0) as env:
        teacher = ScriptedPolicy(cartpole_lean_policy, env.action_spec())
        x, y = record_demonstrations(env, teacher, demo_episodes)
        print(f"{demo_episodes} teacher episodes: {len(x)} (state, action) pairs, {y.mean():.1%} 'push right'")

        keras.utils.set_random_seed(0)  # the order of the minibatches
        model = build_classifier(seed=0)
        history = model.fit(x, y, epochs=epochs, batch_size=64, validation_split=0.2, verbose=0).history
        print(f"after {epochs} epochs: training accuracy {history['accuracy'][-1]:.4f}, "
              f"held-out accuracy {history['val_accuracy'][-1]:.4f}")

        # The network's most probable action: GreedyPolicy takes the argmax of any network's outputs.
        student = GreedyPolicy(model, env.observation_spec(), env.action_spec())
        student_returns = evaluate_policy(env, student, eval_episodes, seed=1000).returns
        teacher_returns = evaluate_policy(env, teacher, eval_episodes, seed=1000).returns
        # On the states the student itself visits, how often does it do what the teacher would?
        x_student, a_student = record_demonstrations(env, student, 25)
        agreement = float(np.mean(a_student == cartpole_lean_policy(x_student)))

    for name, returns in (("teacher", teacher_returns), ("student", student_returns)):
        print(f"{name} over {eval_episodes} episodes: mean return {returns.mean():.2f} +/- {returns.std():.2f}")
    print(f"on the student's own states it agrees with the teacher {agreement:.2%} of the time")
    return {
        "pairs": len(x),
        "train_accuracy": float(history["accuracy"][-1]),
        "val_accuracy": float(history["val_accuracy"][-1]),
        "teacher_mean": float(teacher_returns.mean()),
        "student_mean": float(student_returns.mean()),
        "student_std": float(student_returns.std()),
        "agreement": agreement,
        "figures": [plot(history, model, out_dir / "03_imitation.png")],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny settings, figures in a temporary directory")
    args = parser.parse_args()
    main(fast=True, out_dir=Path(tempfile.mkdtemp())) if args.fast else main()
