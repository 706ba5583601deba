"""A table of bad inputs, each asserting the one clear message it gets.

Three sections, one parametrized test each:

* ``API_CASES``: the Python API (``tfrl.train``, ``tfrl.envs.make``, the config dataclasses, ``tfrl.data``
  buffers, ``tfrl.export``, ``tfrl.tabular``, ``tfrl.sweep``): the exception type and a regex of its message.
* ``YAML_CASES``: YAML files given to ``train(config=...)``/``tfrl.sweep.load_spec`` *and* to
  ``tfrl train --config``/``tfrl sweep``: both entries are tried for every file.
* ``CLI_CASES``: the command line (``main([...])``): exit code 2 and exactly one stderr line,
  ``tfrl: error: ...``, matching the regex, and no traceback.

Each regex names the problem and, where the message gives one, the fix or the valid choices.
Cases marked ``xfail(strict=True)`` are bad inputs not yet handled well; their reason says what to change.
Only one tiny run is trained (300 steps, the session fixture finished_run of tests/conftest.py); its copies are
damaged for eval/export/resume.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces

from tfrl.errors import (
    ConfigError,
    RunDirError,
    TfrlError,
    UnknownEnvironmentError,
    UnsafeModelError,
    UnsupportedSpaceError,
)

# Gymnasium warns about an unknown render mode before tfrl refuses it
pytestmark = pytest.mark.filterwarnings("ignore:.*not in the possible render_modes:UserWarning")

# --------------------------------------------------------------------------- helpers (the finished run: tests/conftest.py)


class Ctx:
    """What a case builds its input from: a fresh directory and, on demand, damaged copies of the finished run."""

    def __init__(self, tmp: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp = tmp
        self.monkeypatch = monkeypatch
        self._request = request

    @property
    def run(self) -> Path:
        return self._request.getfixturevalue("finished_run")

    def copy_run(self, name: str = "copy") -> Path:
        target = self.tmp / name
        shutil.copytree(self.run, target)
        return target

    def run_without(self, *names: str) -> Path:
        """A copy of the finished run with the files or directories ``names`` removed."""
        copy = self.copy_run("damaged")
        for name in names:
            path = copy / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        return copy

    def run_with_config(self, old: str, new: str) -> Path:
        """A copy of the finished run whose config.yaml has ``old`` replaced by ``new``."""
        copy = self.copy_run("edited")
        text = (copy / "config.yaml").read_text()
        assert old in text
        (copy / "config.yaml").write_text(text.replace(old, new))
        return copy

    def run_with_corrupt_checkpoint(self) -> Path:
        copy = self.copy_run("torn")
        for path in (copy / "checkpoints").rglob("*"):
            if path.is_file() and path.name != "manifest.json":
                path.write_bytes(b"x")
        return copy

    def run_with_corrupt_policy(self) -> Path:
        copy = self.copy_run("junk")
        (copy / "policy.keras").write_bytes(b"junk")
        return copy

    def run_with_unsafe_policy(self) -> Path:
        """A copy of the finished run whose policy.keras holds a Python lambda (refused by Keras safe mode)."""
        import keras

        copy = self.copy_run("unsafe")
        inputs = keras.Input((4,))
        outputs = keras.layers.Lambda(lambda x: x[:, :2] * 2.0)(inputs)
        keras.Model(inputs, outputs).save(copy / "policy.keras")
        return copy

    def dir(self, name: str, config: str | None = None) -> Path:
        """A directory ``name``, with a config.yaml holding ``config`` if given."""
        path = self.tmp / name
        path.mkdir()
        if config is not None:
            (path / "config.yaml").write_text(config)
        return path

    def file(self, name: str, text: str | bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
        return path


@pytest.fixture
def ctx(tmp_path, request, monkeypatch) -> Ctx:
    monkeypatch.chdir(tmp_path)  # a default runs/ or sweeps/ directory lands in tmp_path
    return Ctx(tmp_path, request, monkeypatch)


def case(id: str, build: Callable[[Ctx], Any], error: type[BaseException], pattern: str, xfail: str | None = None,
         skip: str | None = None):
    """One row of the API table: ``build(ctx)`` makes the bad call, which raises ``error`` matching ``pattern``.
    ``skip``: the reason the row cannot run on this machine (it is then skipped)."""
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    marks += [pytest.mark.skip(reason=skip)] if skip else []
    return pytest.param(build, error, pattern, id=id, marks=marks)


def _quiet(**extra) -> dict:
    return {"verbose": False, "tensorboard": False, **extra}


# --------------------------------------------------------------------------- user environments for the table


class _Env(gymnasium.Env):
    """A one-step environment; subclasses break one promise of its spaces."""

    metadata = {"render_modes": []}
    observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = spaces.Discrete(2)
    observation = np.zeros(4, np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation, {}

    def step(self, action):
        return self.observation, 0.0, True, False, {}


class WrongShapeEnv(_Env):
    observation = np.zeros(3, np.float32)  # the space promises (4,)


class StringObservationEnv(_Env):
    observation = np.array(["a", "b", "c", "d"])


class DictObservationEnv(_Env):
    observation_space = spaces.Dict({"position": spaces.Box(-1.0, 1.0, (2,), np.float32)})


class TupleObservationEnv(_Env):
    observation_space = spaces.Tuple((spaces.Discrete(3), spaces.Discrete(2)))


class MultiDiscreteActionEnv(_Env):
    action_space = spaces.MultiDiscrete([2, 3])


class MatrixActionEnv(_Env):
    action_space = spaces.Box(-1.0, 1.0, (2, 2), np.float32)


class UnboundedBoxEnv(_Env):
    action_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)


def _unbounded_box_id() -> str:
    """``UnboundedBoxEnv`` registered under a Gymnasium id, for the command line."""
    env_id = "tfrl-test/UnboundedBox-v0"
    if env_id not in gymnasium.registry:
        gymnasium.register(env_id, entry_point=UnboundedBoxEnv, max_episode_steps=5)
    return env_id


# --------------------------------------------------------------------------- section 1: the Python API


def _train(algo, env, ctx: Ctx, **settings):
    from tfrl.train import train

    return train(algo, env, runs_root=ctx.tmp / "runs", **_quiet(**settings))


def _make(*args, **kwargs):
    from tfrl import envs

    env = envs.make(*args, **kwargs)
    env.close()


def _reset(env_like):
    from tfrl import envs

    with envs.make(env_like) as env:
        env.reset()


def _step_wrong_shape():
    from tfrl import envs

    with envs.make("CartPole-v1", seed=0) as env:
        env.reset()
        env.step(np.zeros(3, np.int64))


def _cfg(cls_name: str, **kwargs):
    import importlib

    module = {"DQNConfig": "dqn", "PPOConfig": "ppo", "A2CConfig": "a2c", "ReinforceConfig": "reinforce"}[cls_name]
    return getattr(importlib.import_module(f"tfrl.agents.{module}"), cls_name)(**kwargs)


def _run_config(**kwargs):
    from tfrl.runs import RunConfig

    return RunConfig(**kwargs)


OBS = dict(shape=(4,), dtype=np.float32, name="observation")


def _specs():
    from tfrl.specs import ArraySpec, BoundedArraySpec

    return ArraySpec(**OBS), BoundedArraySpec((), np.int64, name="action", minimum=0, maximum=1)


def _replay(*args, **kwargs):
    from tfrl.data import UniformReplayBuffer

    return UniformReplayBuffer(*args[:1], *_specs(), *args[1:], **kwargs)


def _replay_add_wrong_shape():
    from tfrl.specs import StepType, TimeStep

    def step(obs):
        return TimeStep(np.full(1, StepType.MID, np.int32), np.zeros(1, np.float32), np.ones(1, np.float32), obs)

    _replay(10).add(step(np.zeros((1, 3), np.float32)), np.zeros(1, np.int64), step(np.zeros((1, 4), np.float32)))


def _frame_replay_scalar_observation():
    from tfrl.data import FrameStackReplayBuffer
    from tfrl.specs import ArraySpec

    FrameStackReplayBuffer(10, ArraySpec((), np.uint8, name="observation"), _specs()[1])


def _rollout(num_steps, num_envs):
    from tfrl.data import RolloutBuffer

    RolloutBuffer(num_steps, num_envs, *_specs())


def _export(run_dir, **kwargs):
    from tfrl.export import export_policy

    export_policy(run_dir, **kwargs)


def _evaluate(run_dir, **kwargs):
    from tfrl.train import evaluate_run

    evaluate_run(run_dir, **kwargs)


def _watch(run_dir, **kwargs):
    from tfrl.train import watch_run

    watch_run(run_dir, **kwargs)


def _resume(run_dir, **kwargs):
    from tfrl.train import resume

    resume(run_dir, verbose=False, **kwargs)


def _tabular(name, *args, **kwargs):
    import tfrl.tabular

    return getattr(tfrl.tabular, name)(*args, **kwargs)


def _sweep(data):
    from tfrl.sweep import parse_spec

    parse_spec(data)


def _memory_unknown() -> str | None:
    """Why the rows that ask for more memory than a machine has (149 GiB and more) cannot run here, or None."""
    from tfrl.runs.memory import available_bytes

    available = available_bytes()
    if available is None:
        return "this machine does not say how much memory it has available"
    return "this machine has more memory than the case asks for" if available > 150 * 2**30 else None


_MEMORY_UNKNOWN = _memory_unknown()


def _leaves_nothing(place: Path, call: Callable[[], Any]) -> None:
    """``call()`` (which raises), then a check that it left nothing at ``place``: no directory, or an empty one
    if ``place`` was there before."""
    existed = place.exists()
    try:
        call()
    finally:
        left = sorted(str(p.relative_to(place)) for p in place.rglob("*")) if place.exists() else []
        assert not left and place.exists() == existed, f"a refused run left {left or place} behind"


def _train_seeds(ctx: Ctx, seeds: Any):
    from tfrl.train import train_seeds

    return train_seeds("dqn", "CartPole-v1", seeds, runs_root=ctx.tmp / "runs", verbose=False)


def _train_seeds_pendulum(ctx: Ctx):
    from tfrl.train import train_seeds

    return train_seeds("dqn", "Pendulum-v1", [0, 1], runs_root=ctx.tmp / "runs", verbose=False)


class _FakeRay:
    """What ``run_sweep`` asks of Ray before Tune starts, for a one-node cluster of 2 CPUs and no GPU."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def is_initialized(self) -> bool:
        return False

    def init(self, **options) -> None:
        self.calls.append("init")

    def shutdown(self) -> None:
        self.calls.append("shutdown")

    def nodes(self) -> list[dict]:
        return [{"Alive": True, "Resources": {"CPU": 2.0, "memory": 8e9, "node:10.0.0.1": 1.0}}]

    def cluster_resources(self) -> dict:
        return {"CPU": 2.0, "memory": 8e9}


def _sweep_on_small_cluster(ctx: Ctx, resources: dict) -> None:
    """``run_sweep`` asking for ``resources`` per trial on ``_FakeRay``'s cluster: refused after ``ray.init``,
    before the sweep directory is written, and Ray is shut down again."""
    from tfrl.sweep import run_sweep

    ray = _FakeRay()
    ctx.monkeypatch.setitem(__import__("sys").modules, "ray", ray)
    spec = {"algo": "dqn", "env": "CartPole-v1", "resources": resources}
    _leaves_nothing(ctx.tmp / "sweep", lambda: run_sweep(spec, out_dir=ctx.tmp / "sweep", verbose=False))
    assert ray.calls == ["init", "shutdown"]


VALID_DQN_KEYS = r"Valid keys: .*batch_size.*learning_rate.*total_steps"

API_CASES = [
    # train(): algorithm, environment, settings
    case("train-unknown-algo", lambda c: _train("dqm", "CartPole-v1", c), ConfigError,
         r"unknown algorithm 'dqm'\. Did you mean dqn\? Known algorithms: a2c, c51, ddpg, dqn, ppo, qrdqn, rainbow, reinforce, sac, td3"),
    case("train-unknown-env", lambda c: _train("dqn", "CartPol-v1", c), UnknownEnvironmentError,
         r"unknown environment id 'CartPol-v1'\. Did you mean CartPole-v1.*Run 'tfrl envs'"),
    case("train-unknown-setting", lambda c: _train("dqn", "CartPole-v1", c, learnin_rate=1e-3), ConfigError,
         r"unknown setting 'learnin_rate'.*Did you mean learning_rate.*" + VALID_DQN_KEYS),
    case("train-setting-wrong-type", lambda c: _train("dqn", "CartPole-v1", c, learning_rate="fast"), ConfigError,
         r"learning_rate: expected a number, got 'fast'"),
    case("train-zero-steps", lambda c: _train("dqn", "CartPole-v1", c, total_steps=0), ConfigError,
         r"total_steps must be >= 1"),
    case("train-config-not-a-path", lambda c: _train("dqn", "CartPole-v1", c, config={"learning_rate": 1e-3}),
         ConfigError, r"config file must be given as a path, got dict.*keyword arguments or overrides="),
    case("train-env-not-an-env", lambda c: _train("dqn", 42, c), ConfigError,
         r"cannot make an environment from 42: pass an id string, a gymnasium\.Env subclass, a factory"),
    case("train-seeds-empty", lambda c: __import__("tfrl.train", fromlist=["train_seeds"]).train_seeds(
         "dqn", "CartPole-v1", [], runs_root=c.tmp), ConfigError, r"seeds must be distinct integers, got \[\]"),
    # a user's environment that breaks its own spaces, or has spaces an agent cannot handle
    case("user-env-wrong-observation-shape", lambda c: _train("dqn", WrongShapeEnv, c, total_steps=200,
                                                              learning_starts=100, eval_every=0),
         UnsupportedSpaceError, r"'WrongShapeEnv' returned an observation of shape \(3,\).*from reset\(\).*promises "
                                r"shape \(4,\) float32 \(expected spec .*\); fix the environment's observations"),
    case("user-env-string-observations", lambda c: _reset(StringObservationEnv), UnsupportedSpaceError,
         r"returned an observation of shape \(4,\) and dtype <U1.*promises shape \(4,\) float32"),
    case("user-env-dict-observations", lambda c: _train("ppo", DictObservationEnv, c), UnsupportedSpaceError,
         r"'DictObservationEnv' has observation space Dict\(.*which tfrl does not support; supported observation "
         r"spaces are Discrete and Box \(wrap the env to flatten"),
    case("user-env-tuple-observations", lambda c: _make(TupleObservationEnv), UnsupportedSpaceError,
         r"observation space Tuple\(.*supported observation spaces are Discrete and Box"),
    case("user-env-multidiscrete-actions", lambda c: _make(MultiDiscreteActionEnv), UnsupportedSpaceError,
         r"action space MultiDiscrete.*supported action spaces are Discrete and Box"),
    case("ppo-matrix-actions", lambda c: _train("ppo", MatrixActionEnv, c), UnsupportedSpaceError,
         r"PPO supports Discrete actions and 1-D Box actions with finite bounds; this environment's actions are "
         r"\(2, 2\) float32"),
    case("dqn-continuous-actions", lambda c: _train("dqn", "Pendulum-v1", c), UnsupportedSpaceError,
         r"DQN needs a discrete action space.*Use an algorithm for continuous actions \(sac, td3, ddpg, ppo, a2c or "
         r"reinforce\)"),
    case("sac-discrete-actions", lambda c: _train("sac", "CartPole-v1", c), UnsupportedSpaceError,
         r"SAC needs continuous actions \(a gymnasium Box\), but this environment's actions are discrete "
         r"\(Discrete\(2, start=0\)\); use dqn, c51, qrdqn, rainbow, ppo, a2c or reinforce for discrete actions"),
    case("c51-continuous-actions", lambda c: _train("c51", "Pendulum-v1", c), UnsupportedSpaceError,
         r"C51 needs a discrete action space.*Use an algorithm for continuous actions"),
    case("qrdqn-continuous-actions", lambda c: _train("qrdqn", "Pendulum-v1", c), UnsupportedSpaceError,
         r"QR-DQN needs a discrete action space"),
    case("td3-unbounded-box", lambda c: _train("td3", UnboundedBoxEnv, c), UnsupportedSpaceError,
         r"TD3 needs a Box of actions with finite bounds \(it scales tanh actions onto \[low, high\]\), but this "
         r"environment's bounds are low=\[-inf, -inf\] high=\[inf, inf\]; set finite low and high"),
    case("ddpg-matrix-actions", lambda c: _train("ddpg", MatrixActionEnv, c), UnsupportedSpaceError,
         r"DDPG needs a flat Box of actions, shape \(D,\), but this environment's are shaped \(2, 2\)"),
    # envs.make
    case("make-unknown-env", lambda c: _make("CartPol-v1"), UnknownEnvironmentError,
         r"unknown environment id 'CartPol-v1'\. Did you mean CartPole-v1, CartPole-v0"),
    case("make-missing-module", lambda c: _make("no_such_pkg:Foo-v0"), UnknownEnvironmentError,
         r"cannot import module 'no_such_pkg'.*install the package that provides it"),
    case("make-zero-envs", lambda c: _make("CartPole-v1", num_envs=0), ConfigError,
         r"num_envs must be a positive integer, got 0"),
    case("make-unknown-backend", lambda c: _make("CartPole-v1", backend="gpu"), ConfigError,
         r"unknown backend 'gpu'\. Valid backends: async, envpool, sync, tf\."),
    case("make-negative-seed", lambda c: _make("CartPole-v1", seed=-1), ConfigError,
         r"seed must be a non-negative integer or None, got -1"),
    case("make-not-an-env", lambda c: _make(42), ConfigError, r"cannot make an environment from 42"),
    case("make-factory-returns-non-env", lambda c: _make(lambda: 3), ConfigError,
         r"environment factory '.*' returned int, not a gymnasium\.Env"),
    case("make-instance-with-two-envs", lambda c: _make(gymnasium.make("CartPole-v1"), num_envs=2), ConfigError,
         r"instance \(CartPole-v1\) can only be used with num_envs=1.*pass its class or a factory"),
    case("make-tf-backend-other-env", lambda c: _make("FrozenLake-v1", backend="tf"), ConfigError,
         r"backend='tf' needs one of the TF-native environment ids CartPole-v1, MountainCar-v0, Acrobot-v1, "
         r"Pendulum-v1.*Use backend='sync' or 'async'"),
    case("make-unknown-render-mode", lambda c: _make("CartPole-v1", render_mode="bogus"), ConfigError,
         r"render_mode='bogus' is not a render mode of 'CartPole-v1'; choose one of 'human', 'rgb_array'"),
    case("make-unknown-env-kwarg", lambda c: _make("CartPole-v1", env_kwargs={"foo": 1}), ConfigError,
         r"env_kwargs \{'foo': 1\} do not fit environment 'CartPole-v1'.*unexpected keyword argument 'foo'; "
         r"pass only keyword arguments its constructor takes"),
    case("step-wrong-action-shape", lambda c: _step_wrong_shape(), ValueError,
         r"action of shape \(3,\) does not fit 'CartPole-v1': expected shape \(1,\)"),
    # config dataclasses
    case("dqn-config-zero-learning-rate", lambda c: _cfg("DQNConfig", learning_rate=0), ConfigError,
         r"DQN config: learning_rate must be > 0"),
    case("dqn-config-string-learning-rate", lambda c: _cfg("DQNConfig", learning_rate="fast"), ConfigError,
         r"DQN config: learning_rate must be a number, got 'fast'"),
    case("dqn-config-float-batch-size", lambda c: _cfg("DQNConfig", batch_size=32.5), ConfigError,
         r"DQN config: batch_size must be an integer, got 32\.5"),
    case("dqn-config-buffer-below-batch", lambda c: _cfg("DQNConfig", batch_size=64, buffer_size=10), ConfigError,
         r"DQN config: buffer_size must be >= batch_size"),
    case("dqn-config-unknown-encoder", lambda c: _cfg("DQNConfig", encoder="resnet"), ConfigError,
         r"DQN config: encoder must be one of 'mlp', 'nature_cnn', 'data_efficient_cnn', got 'resnet'"),
    case("ppo-config-hidden-sizes-string", lambda c: _cfg("PPOConfig", hidden_sizes="64"), ConfigError,
         r"PPO config: hidden_sizes must be a list of integers, got '64'"),
    case("a2c-config-unknown-optimizer", lambda c: _cfg("A2CConfig", optimizer="sgd"), ConfigError,
         r"A2C config: optimizer must be one of 'rmsprop', 'adam', got 'sgd'"),
    case("reinforce-config-gamma-above-one", lambda c: _cfg("ReinforceConfig", gamma=1.5), ConfigError,
         r"REINFORCE config: gamma must lie in \[0, 1\]"),
    case("apply-overrides-unknown-key", lambda c: __import__("tfrl.config", fromlist=["x"]).apply_overrides(
         _cfg("DQNConfig"), {"learnin_rate": 1e-3}), ConfigError,
         r"unknown hyperparameter 'learnin_rate'\. Did you mean learning_rate.*Valid keys: adam_epsilon, batch_size"),
    case("run-config-zero-steps", lambda c: _run_config(total_steps=0), ConfigError,
         r"run config: total_steps must be >= 1"),
    case("run-config-async-deterministic", lambda c: _run_config(deterministic=True, backend="async"), ConfigError,
         r"deterministic mode needs backend 'sync'"),
    case("run-config-string-steps", lambda c: _run_config(total_steps="many"), ConfigError,
         r"run config: total_steps must be an integer, got 'many'"),
    case("run-config-negative-seed", lambda c: _run_config(seed=-1), ConfigError,
         r"run config: seed must lie in \[0, 2\*\*32 - 1\]"),
    # tfrl.data buffers
    case("replay-zero-capacity", lambda c: _replay(0), ConfigError, r"replay capacity must be an integer >= 1, got 0"),
    case("replay-gamma-string", lambda c: _replay(10, gamma="high"), ConfigError,
         r"gamma must lie in \[0, 1\], got 'high'"),
    case("replay-zero-n-step", lambda c: _replay(10, n_step=0), ConfigError, r"n_step must be an integer >= 1, got 0"),
    case("replay-sample-empty", lambda c: _replay(10).sample(4), ConfigError,
         r"the replay buffer is empty: add transitions before sampling"),
    case("replay-add-wrong-observation-shape", lambda c: _replay_add_wrong_shape(), ConfigError,
         r"observation has shape \(1, 3\), expected \(1, 4\) \(num_envs=1 first, then the spec's shape\)"),
    case("frame-replay-scalar-observation", lambda c: _frame_replay_scalar_observation(), ConfigError,
         r"FrameStackReplayBuffer needs an observation spec whose last axis stacks K >= 1 frames, got shape \(\)"),
    case("rollout-zero-steps", lambda c: _rollout(0, 1), ConfigError, r"num_steps must be an integer >= 1, got 0"),
    # runs on disk: export, evaluate, watch, resume
    case("export-missing-run", lambda c: _export(c.tmp / "nope"), RunDirError,
         r"run directory '.*nope' does not exist; pass a directory that 'tfrl train' created"),
    case("export-unknown-format", lambda c: _export(c.run, format="onnx"), ConfigError,
         r"unknown export format 'onnx'\. Formats: saved_model, tflite"),
    case("export-run-without-policy", lambda c: _export(c.run_without("policy.keras")), RunDirError,
         r"has no policy\.keras yet \(training has not finished\); resume it with 'tfrl train --resume"),
    case("evaluate-missing-run", lambda c: _evaluate(c.tmp / "nope"), RunDirError,
         r"run directory '.*nope' does not exist"),
    case("evaluate-unsafe-policy", lambda c: _evaluate(c.run_with_unsafe_policy(), episodes=1), UnsafeModelError,
         r"contains Python code that would run when it is loaded.*refused.*safe_mode=False in Python, "
         r"--no-safe-mode on the command line"),
    case("evaluate-zero-episodes", lambda c: _evaluate(c.run, episodes=0), ConfigError,
         r"episodes must be >= 1, got 0"),
    case("evaluate-on-other-env", lambda c: _evaluate(c.run, episodes=1, env="Acrobot-v1"), TfrlError,
         r"saved policy takes observations of shape \(4,\).*environment.s are \(6,\).*trained on \(CartPole-v1\)"),
    case("watch-zero-episodes", lambda c: _watch(c.tmp / "nope", episodes=0), ConfigError,
         r"episodes must be >= 1, got 0"),
    case("resume-missing-run", lambda c: _resume(c.tmp / "nope"), RunDirError,
         r"run directory '.*nope' does not exist"),
    case("resume-without-checkpoints", lambda c: _resume(c.run_without("checkpoints")), RunDirError,
         r"has no intact checkpoint to resume from \(none was written\); start a new run instead"),
    # tfrl.tabular
    case("tabular-gamma-one", lambda c: _tabular("q_value_iteration", _tabular("mdp_from_gymnasium", "FrozenLake-v1"),
                                                 gamma=1.0),
         ConfigError, r"gamma must lie in \[0, 1\), got 1\.0.*use e\.g\. 0\.999"),
    case("tabular-rows-not-distributions", lambda c: _tabular("FiniteMDP", np.ones((2, 2, 2)), np.zeros((2, 2, 2))),
         ConfigError, r"transition_probabilities\[0\]\[0\] sums to 2, not 1.*add up to 1"),
    case("tabular-model-of-cartpole", lambda c: _tabular("mdp_from_gymnasium", "CartPole-v1"), ConfigError,
         r"'CartPole-v1' does not publish a tabular model.*toy-text envs such as FrozenLake-v1"),
    # tfrl.sweep
    case("sweep-not-a-mapping", lambda c: _sweep([1, 2]), ConfigError,
         r"sweep must be a mapping of key: value, not list"),
    case("sweep-unknown-key", lambda c: _sweep({"algo": "dqn", "env": "CartPole-v1", "gird": {}}), ConfigError,
         r"unknown sweep key 'gird'\. Did you mean grid\? Valid keys: algo, env, grid"),
    case("sweep-unknown-setting", lambda c: _sweep({"algo": "dqn", "env": "CartPole-v1",
                                                    "grid": {"learnin_rate": [1e-3]}}), ConfigError,
         r"grid: unknown setting 'learnin_rate'\. Did you mean learning_rate"),
    case("sweep-empty-grid", lambda c: _sweep({"algo": "dqn", "env": "CartPole-v1", "grid": {"learning_rate": []}}),
         ConfigError, r"grid: learning_rate must be a non-empty list of values"),
    case("sweep-duplicate-seeds", lambda c: _sweep({"algo": "dqn", "env": "CartPole-v1", "seeds": [1, 1]}),
         ConfigError, r"'seeds' must be a list of distinct integers, got \[1, 1\]"),
    case("sweep-gpu-the-cluster-lacks", lambda c: _sweep_on_small_cluster(c, {"cpu": 1, "gpu": 1}), ConfigError,
         r"^the sweep asks for 1 GPU per trial, and the Ray cluster has 0 \(CPU: 2\); lower resources or add nodes "
         r"that have them$"),
    case("sweep-more-cpus-than-the-cluster", lambda c: _sweep_on_small_cluster(c, {"cpu": 4}), ConfigError,
         r"the sweep asks for 4 CPUs per trial, and the Ray cluster has 2 \(CPU: 2\); lower resources"),
    # arguments of the Python API that are not what they should be
    case("train-run-dir-not-a-path", lambda c: _train("dqn", "CartPole-v1", c, run_dir=123), ConfigError,
         r"^run_dir must be a path \(str or os\.PathLike\), got int 123$"),
    case("train-runs-root-not-a-path", lambda c: __import__("tfrl.train", fromlist=["train"]).train(
         "dqn", "CartPole-v1", runs_root=["runs"]), ConfigError,
         r"^runs_root must be a path \(str or os\.PathLike\), got list \['runs'\]$"),
    case("train-overrides-not-a-mapping", lambda c: _train("dqn", "CartPole-v1", c, overrides=["lr=1"]), ConfigError,
         r"^overrides must be a mapping of setting: value, got list \['lr=1'\]$"),
    case("train-seeds-not-a-list", lambda c: _train_seeds(c, 5), ConfigError,
         r"^seeds must be distinct integers, got 5$"),
    case("train-seeds-strings", lambda c: _train_seeds(c, "12"), ConfigError,
         r"^seeds must be distinct integers, got '12'$"),
    case("resume-run-dir-not-a-path", lambda c: _resume(123), ConfigError,
         r"^run_dir must be a path \(str or os\.PathLike\), got int 123$"),
    case("resume-total-steps-string", lambda c: _resume(c.tmp / "run", total_steps="lots"), ConfigError,
         r"^total_steps must be an integer >= 1, got 'lots'$"),
    case("resume-total-steps-zero", lambda c: _resume(c.tmp / "run", total_steps=0), ConfigError,
         r"^total_steps must be an integer >= 1, got 0$"),
    # settings refused before anything is built, and a refused run leaves nothing behind
    case("ppo-config-unknown-activation", lambda c: _cfg("PPOConfig", activation="foo"), ConfigError,
         r"^PPO config: activation 'foo' is not a Keras activation; use one of relu, tanh, elu"),
    case("run-config-more-envs-than-steps", lambda c: _run_config(num_envs=100_000, total_steps=1000), ConfigError,
         r"^run config: num_envs \(100000\) is larger than total_steps \(1000\): every environment would take less "
         r"than one step; lower --num-envs or raise --steps$"),
    case("replay-buffer-beyond-memory-leaves-no-run-dir", lambda c: _leaves_nothing(
         c.tmp / "x", lambda: _train("dqn", "CartPole-v1", c, run_dir=c.tmp / "x", buffer_size=10**10)), ConfigError,
         r"^the replay buffer of 10,000,000,000 transitions needs about 466 GiB, and this machine has [\d.,]+ [GMK]iB "
         r"available; lower buffer_size \(for example --set buffer_size=\d+\)$", skip=_MEMORY_UNKNOWN),
    case("failed-auto-named-run-leaves-runs-root-empty", lambda c: _leaves_nothing(
         c.dir("runs"), lambda: _train("dqn", "Pendulum-v1", c)), UnsupportedSpaceError,
         r"DQN needs a discrete action space"),
    case("failed-auto-named-run-leaves-no-runs-root", lambda c: _leaves_nothing(
         c.tmp / "a", lambda: __import__("tfrl.train", fromlist=["train"]).train(
             "dqn", "Pendulum-v1", runs_root=c.tmp / "a" / "b", verbose=False)), UnsupportedSpaceError,
         r"DQN needs a discrete action space"),
    case("failed-run-in-an-empty-dir-leaves-it-empty", lambda c: _leaves_nothing(
         c.dir("mine"), lambda: _train("dqn", "Pendulum-v1", c, run_dir=c.tmp / "mine")), UnsupportedSpaceError,
         r"DQN needs a discrete action space"),
    case("failed-seeds-leave-nothing", lambda c: _leaves_nothing(
         c.tmp / "runs", lambda: _train_seeds_pendulum(c)), UnsupportedSpaceError,
         r"DQN needs a discrete action space"),
    # values YAML's safe loader cannot build, in a --set value or a run's config.yaml; a damaged metrics.csv
    case("set-list-int-tag", lambda c: __import__("tfrl.config", fromlist=["x"]).apply_overrides(
         _cfg("DQNConfig"), {"hidden_sizes": "!!int x"}), ConfigError,
         r"^hidden_sizes: '!!int x' is not a list tfrl can read: a value cannot be read as an integer \(invalid "
         r"literal for int\(\) with base 10: 'x'\); write a list of plain values like \[64, 64\]$"),
    case("set-list-impossible-date", lambda c: __import__("tfrl.config", fromlist=["x"]).apply_overrides(
         _cfg("DQNConfig"), {"hidden_sizes": "[2001-02-30]"}), ConfigError,
         r"^hidden_sizes: '\[2001-02-30\]' is not a list tfrl can read: a value cannot be read as a date \(day is out "
         r"of range for month\); write a list of plain values like \[64, 64\]$"),
    case("set-list-5000-digits", lambda c: __import__("tfrl.config", fromlist=["x"]).apply_overrides(
         _cfg("DQNConfig"), {"hidden_sizes": "[" + "1" * 5000 + "]"}), ConfigError,
         r"^(?=.{0,300}$)hidden_sizes: .* a value cannot be read as an integer \(it has 5,000 characters, more than the "
                      r"1,000 tfrl reads\); write a list of plain values"),
    case("run-config-integer-beyond-int64", lambda c: _run_config(total_steps=10**400), ConfigError,
         r"^(?=.{0,200}$)run config: total_steps must be at most 2\*\*63 - 1 \(a 64-bit integer\), got 10+\.\.\.0+$"),
    case("run-config-number-beyond-floats", lambda c: _run_config(target_return=10**400), ConfigError,
         r"^(?=.{0,200}$)run config: target_return must be at most 1\.798e\+308 \(the largest float\), got 10+\.\.\.0+$"),
    case("dqn-config-interval-beyond-int64", lambda c: _cfg("DQNConfig", target_update_interval=10**30), ConfigError,
         r"DQN config: target_update_interval must be at most 2\*\*63 - 1 \(a 64-bit integer\), got 10+$"),
    case("evaluate-run-config-int-tag", lambda c: _evaluate(c.dir("tagged", "algo: !!int x\n"), episodes=1),
         RunDirError, r"^'.*tagged/config\.yaml' is corrupt \(not a tfrl run config\); the run cannot be read$"),
    case("plot-run-config-impossible-date", lambda c: __import__("tfrl.plotting", fromlist=["x"]).plot_runs(
         [c.dir("dated", "algo: dqn\nenv: 2001-02-30\nrun: {}\nagent: {}\n")], c.tmp / "f.png"), RunDirError,
         r"^'.*dated/config\.yaml' is missing or corrupt \(not a tfrl run config\); restore it or leave the run out$"),
    case("resume-metrics-not-utf8", lambda c: (c.copy_run(), c.file("copy/metrics.csv", b"step,\xff\n1,2,3\n"),
                                               _resume(c.tmp / "copy", total_steps=600)), RunDirError,
         r"^'.*copy/metrics\.csv' is not a UTF-8 CSV file \(byte 0xff at position 5\); the run's metrics are "
         r"damaged: restore the file or delete it$"),
    case("plot-metrics-not-utf8", lambda c: (c.copy_run(), c.file("copy/metrics.csv", b"step,\xff\n1,2,3\n"),
                                             __import__("tfrl.plotting", fromlist=["x"]).plot_runs(
                                                 [c.tmp / "copy"], c.tmp / "f.png")), RunDirError,
         r"^'.*copy/metrics\.csv' is not a UTF-8 CSV file \(byte 0xff at position 5\); the run's metrics are "
         r"damaged: restore the file or delete it$"),
    case("resume-metrics-non-numeric-step", lambda c: (
         c.copy_run(), c.file("copy/metrics.csv", "step,wall_time,a\n1,0.5,1\nabc,0.6,2\n3,0.7,3\n"),
         _resume(c.tmp / "copy", total_steps=600)), RunDirError,
         r"^'.*copy/metrics\.csv' line 3 is not a row of step, wall_time and at most 1 metrics \(3 cells: "
         r"'abc,0\.6,2'\); the run's metrics are damaged: restore the file, or delete that line \(or the file\) to "
         r"continue the run$"),
    case("plot-metrics-wrong-header", lambda c: (c.copy_run(), c.file("copy/metrics.csv", "epoch,loss\n1,0.5\n"),
                                                 __import__("tfrl.plotting", fromlist=["x"]).plot_runs(
                                                     [c.tmp / "copy"], c.tmp / "f.png")), RunDirError,
         r"^'.*copy/metrics\.csv' is not a tfrl metrics file: its header starts with \['epoch', 'loss'\], expected "
         r"\['step', 'wall_time'\]; move it away or start a new run directory$"),
]


@pytest.mark.parametrize("build, error, pattern", API_CASES)
def test_api(ctx, build, error, pattern):
    with pytest.raises(error) as info:
        build(ctx)
    message = str(info.value)
    assert re.search(pattern, message), f"{pattern!r} not found in {message!r}"
    assert "\n" not in message.strip(), f"message is not one line: {message!r}"


# --------------------------------------------------------------------------- section 2: YAML files (config=, --config)

MARKER = "pwned"  # a python tag that ran would create this file in tmp_path


def _python_tag(ctx: Ctx) -> str:
    return f'!!python/object/apply:os.system ["touch {ctx.tmp / MARKER}"]\n'


def yaml_case(id: str, content: str | bytes | Callable[[Ctx], str] | None, pattern: str, kind: str = "train",
              xfail: str | None = None):
    """A YAML file (``content``; None: a missing file) for ``train`` or, with ``kind='sweep'``, a sweep."""
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return [pytest.param(content, pattern, kind, entry, id=f"{id}[{entry}]", marks=marks) for entry in ("api", "cli")]


SWEEP = "algo: dqn\nenv: CartPole-v1\n"


def _laughs(levels: int = 9, flow: bool = False) -> str:
    """A "billion laughs" document: 9 values, then ``levels - 1`` lists of 9 aliases of the list before (9**levels
    values once expanded, from a few hundred bytes)."""
    lists = ['&l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lists += [f"&l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    if flow:  # one YAML value, for --set
        return f"[{', '.join(lists)}]"
    return "".join(f"l{i}: {text}\n" for i, text in enumerate(lists)) + f"learning_rate: *l{levels - 1}\n"


def under(length: int) -> str:
    """A regex prefix: the whole message (or stderr line) is at most ``length`` characters."""
    return rf"^(?=.{{0,{length}}}$)"


SHORT = under(300)

YAML_CASES = [
    *yaml_case("unknown-key", "learnin_rate: 0.001\n",
               r"unknown setting 'learnin_rate' in config file .* for dqn\. Did you mean learning_rate.*"
               + VALID_DQN_KEYS),
    *yaml_case("nested-mapping", "agent:\n  learning_rate: 0.1\n",
               r"unknown setting 'agent' in config file .*Valid keys"),
    *yaml_case("wrong-type", "learning_rate: fast\n", r"learning_rate: expected a number, got 'fast'"),
    *yaml_case("float-for-integer", "total_steps: 1.5\n", r"total_steps: expected an integer, got 1\.5"),
    *yaml_case("not-a-bool", "dueling: maybe\n", r"dueling: expected true or false, got 'maybe'"),
    *yaml_case("not-a-choice", "backend: gpu\n", r"backend: 'gpu' is not one of 'sync', 'async', 'tf'"),
    *yaml_case("negative", "batch_size: -5\n", r"DQN config: batch_size must be >= 1"),
    *yaml_case("zero", "total_steps: 0\n", r"run config: total_steps must be >= 1"),
    *yaml_case("out-of-range", "gamma: 1.5\n", r"DQN config: gamma must lie in \[0, 1\]"),
    *yaml_case("negative-layer", "hidden_sizes: [64, -1]\n", r"DQN config: hidden_sizes must be positive"),
    *yaml_case("python-tag", _python_tag,
               r"config file '.*' is not valid YAML for tfrl: the tag '!!python/object/apply:os\.system' is refused; "
               r"config files are read with YAML's safe loader.*remove the tag"),
    *yaml_case("list-not-mapping", "- learning_rate\n- 0.001\n", r"must hold a mapping of key: value, not list"),
    *yaml_case("syntax-error", "learning_rate: [0.1\nbatch_size: 32\n",
               r"is not valid YAML \(line \d+, column \d+: expected ',' or '\]'.*\); fix its syntax"),
    *yaml_case("tab-indent", "a:\n\tb: 1\n", r"is not valid YAML \(line 2, column 1: found character '\\t'"),
    *yaml_case("integer-key", "1: 2\n", r"has the key 1, which is not a setting name"),
    *yaml_case("binary-file", b"\xff\xfe\x00\x01", r"is not a UTF-8 text file; give the path of a YAML file"),
    *yaml_case("missing-file", None, r"config file '.*missing\.yaml' does not exist; give the path of a YAML file"),
    *yaml_case("sweep-unknown-key", SWEEP + "gird:\n  learning_rate: [0.001]\n",
               r"unknown sweep key 'gird'\. Did you mean grid\?", kind="sweep"),
    *yaml_case("sweep-unknown-algo", "algo: dqm\nenv: CartPole-v1\n", r"unknown algorithm 'dqm'\. Did you mean dqn",
               kind="sweep"),
    *yaml_case("sweep-python-tag", lambda c: SWEEP + "settings: " + _python_tag(c),
               r"is not valid YAML for tfrl: the tag '!!python/object/apply:os\.system' is refused", kind="sweep"),
    # a key twice, and files built to exhaust memory: refused before their values are built or shown
    *yaml_case("duplicate-key", "learning_rate: 0.001\nbatch_size: 32\nlearning_rate: 0.01\n",
               r"config file '.*settings\.yaml' has the key 'learning_rate' twice \(lines 1 and 3\); keep one$"),
    *yaml_case("sweep-duplicate-key", SWEEP + "grid:\n  gamma: [0.9]\n  gamma: [0.99]\n",
               r"config file '.*' has the key 'gamma' twice \(lines 4 and 5\); keep one", kind="sweep"),
    *yaml_case("billion-laughs", _laughs(),
               SHORT + r".*config file '.*' expands to more than 100,000 values through its aliases \(\*name\); write "
                       r"the settings out without nested aliases$"),
    *yaml_case("sweep-billion-laughs", SWEEP + "settings:\n  " + _laughs().replace("\n", "\n  "),
               SHORT + r".*expands to more than 100,000 values through its aliases", kind="sweep"),
    *yaml_case("recursive-alias", "hidden_sizes: &a [64, *a]\n",
               r"config file '.*' uses an alias inside its own anchor \(a recursive value\); write the values out"),
    *yaml_case("deeply-nested", "hidden_sizes: " + "[" * 200 + "]" * 200 + "\n",
               r"config file '.*' nests lists or mappings more than 50 deep; a config holds flat settings"),
    *yaml_case("oversized", "# " + "x" * 100 + "\n" + "learning_rate: 0.001\n" * 60_000,
               r"config file '.*' is larger than 1,024 KiB; a config file holds a few settings \(key: value lines\), "
               r"so give the right file"),
    *yaml_case("huge-key", "? " + "learning_rate" * 10_000 + "\n: 1\n",  # an explicit key: no 1024-character limit
               under(1500) + r".*unknown setting 'learning_ratelearning_rate[a-z_]*\.\.\.' in config file"),
    # values YAML's safe loader cannot build: one line with their position, not a traceback
    *yaml_case("int-tag", "learning_rate: !!int x\n",
               r"config file '.*settings\.yaml' is not valid YAML for tfrl: the value at line 1, column 16 cannot be "
               r"read as an integer \(invalid literal for int\(\) with base 10: 'x'\); write a plain number, "
               r"true/false, or text in quotes$"),
    *yaml_case("bool-tag", "dueling: !!bool x\n",
               r"is not valid YAML for tfrl: the value at line 1, column 10 cannot be read \('x' is not true or "
               r"false\); write a plain number, true/false, or text in quotes$"),
    *yaml_case("timestamp-tag", "gamma: !!timestamp x\n",
               r"the value at line 1, column 8 cannot be read \('x' is not a date\); write a plain number"),
    *yaml_case("impossible-date", "gamma: 2001-02-30\n",
               r"the value at line 1, column 8 cannot be read as a date \(day is out of range for month\); write a "
               r"plain number, true/false, or text in quotes$"),
    *yaml_case("5000-digits", "gamma: " + "1" * 5000 + "\n",
               SHORT + r".*the value at line 1, column 8 cannot be read as an integer \(it has 5,000 characters, more "
                       r"than the 1,000 tfrl reads\); write a shorter number$"),
    *yaml_case("bad-base64", "gamma: !!binary x\n",
               r"the value at line 1, column 8 cannot be read as base64 data \(failed to decode base64 data: .*\); "
               r"write a plain number"),
    *yaml_case("unhashable-key", "? [1]\n: 2\n",
               r"the value at line 1, column 3 cannot be read \(found unhashable key\); write a plain number"),
    *yaml_case("sweep-int-tag", "algo: dqn\nenv: !!int x\n",
               r"is not valid YAML for tfrl: the value at line 2, column 6 cannot be read as an integer", kind="sweep"),
    *yaml_case("sweep-impossible-dates-list", "\n  - 2001-02-30\n  - 2001-02-30\n",
               r"the value at line 2, column 5 cannot be read as a date \(day is out of range", kind="sweep"),
    *yaml_case("number-beyond-floats", "gamma: 1" + "0" * 400 + "\n",
               SHORT + r".*gamma: expected a finite number, got 10+\.\.\.0+$"),
]


@pytest.mark.parametrize("content, pattern, kind, entry", YAML_CASES)
def test_yaml(ctx, capsys, content, pattern, kind, entry):
    path = ctx.tmp / ("missing.yaml" if content is None else "settings.yaml")
    if content is not None:
        ctx.file(path.name, content(ctx) if callable(content) else content)
    if entry == "api":
        with pytest.raises(ConfigError) as info:
            if kind == "sweep":
                from tfrl.sweep import load_spec

                load_spec(path)
            else:
                _train("dqn", "CartPole-v1", ctx, config=path)
        message = str(info.value)
        assert re.search(pattern, message), f"{pattern!r} not found in {message!r}"
        assert "\n" not in message
    else:
        argv = ["sweep", str(path)] if kind == "sweep" else ["train", "dqn", "CartPole-v1", "--config", str(path)]
        _assert_cli_error(capsys, argv, pattern)
    assert not (ctx.tmp / MARKER).exists(), "a python tag in a YAML file was executed"
    assert not list(ctx.tmp.glob("runs/*/config.yaml")), "a bad config file left a run directory behind"


# --------------------------------------------------------------------------- section 3: the command line


def _assert_cli_error(capsys, argv: list[str], pattern: str) -> None:
    from tfrl.cli.main import main

    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("tfrl: error: "), f"not exactly one error line: {err!r}"
    assert re.search(pattern, lines[0]), f"{pattern!r} not found in {lines[0]!r}"


def cli(id: str, build: Callable[[Ctx], list], pattern: str, xfail: str | None = None, skip: str | None = None):
    """One row: ``build(ctx)`` returns the argv (or ``[argv, check]`` with a further check to pass afterwards).
    ``skip``: the reason the row cannot run on this machine (it is then skipped)."""
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    marks += [pytest.mark.skip(reason=skip)] if skip else []
    return pytest.param(build, pattern, id=id, marks=marks)


def _leaves_run_dir(ctx: Ctx) -> list:
    """The bad input, then a check that the --run-dir it named holds no run (a retry would be refused)."""
    argv = ["train", "dqn", "Pendulum-v1", "--run-dir", ctx.tmp / "pendulum"]
    return [argv, lambda: not (ctx.tmp / "pendulum" / "config.yaml").exists()]


def _huge_buffer(ctx: Ctx) -> list:
    """A replay buffer of 10**10 transitions (466 GiB) into --run-dir, then a check that the directory is not there."""
    argv = [*TRAIN, "--set", "buffer_size=10000000000", "--run-dir", ctx.tmp / "huge"]
    return [argv, lambda: not (ctx.tmp / "huge").exists()]


def _resume_more_steps_refused(ctx: Ctx) -> list:
    """A resume to more steps that is refused, then a check that config.yaml still says the old total_steps."""
    run = ctx.run_without("checkpoints")
    before = (run / "config.yaml").read_text()
    return [["train", "--resume", run, "--steps", "2000"], lambda: (run / "config.yaml").read_text() == before]


TRAIN = ["train", "dqn", "CartPole-v1"]

CLI_CASES = [
    # train ALGO ENV
    cli("unknown-algo", lambda c: ["train", "dqm", "CartPole-v1"],
        r"unknown algorithm 'dqm'\. Did you mean dqn\? Known algorithms: a2c, c51, ddpg, dqn, ppo, qrdqn, rainbow, reinforce, sac, td3\."),
    cli("unknown-env", lambda c: ["train", "dqn", "CartPol-v1"],
        r"unknown environment id 'CartPol-v1'\. Did you mean CartPole-v1, CartPole-v0.*Run 'tfrl envs' to list"),
    cli("env-module-missing", lambda c: ["train", "dqn", "no_such_pkg:Foo-v0"],
        r"cannot import module 'no_such_pkg'.*install the package that provides it"),
    cli("train-without-env", lambda c: ["train", "dqn"],
        r"train needs ALGO and ENV, e\.g\. 'tfrl train dqn CartPole-v1' \(or --resume RUN\)"),
    cli("set-without-equals", lambda c: [*TRAIN, "--set", "learning_rate"],
        r"--set expects key=value, got 'learning_rate' \(for example --set learning_rate=0\.001\)"),
    cli("set-unknown-key", lambda c: [*TRAIN, "--set", "learnin_rate=1e-3"],
        r"unknown setting 'learnin_rate'.*Did you mean learning_rate.*" + VALID_DQN_KEYS),
    cli("set-wrong-type", lambda c: [*TRAIN, "--set", "learning_rate=fast"],
        r"learning_rate: expected a number, got 'fast'"),
    cli("set-not-a-choice", lambda c: [*TRAIN, "--set", "encoder=resnet"],
        r"encoder: 'resnet' is not one of 'mlp', 'nature_cnn'"),
    cli("set-out-of-range", lambda c: [*TRAIN, "--set", "exploration_final_eps=2"],
        r"DQN config: exploration_final_eps must lie in \[0, 1\]"),
    cli("steps-zero", lambda c: [*TRAIN, "--steps", "0"], r"run config: total_steps must be >= 1"),
    cli("seed-too-large", lambda c: [*TRAIN, "--seed", "18446744073709551616", "--run-dir", c.tmp / "big"],
        r"run config: seed must lie in \[0, 2\*\*32 - 1\]"),
    cli("set-nan", lambda c: [*TRAIN, "--set", "target_return=nan", "--run-dir", c.tmp / "nan"],
        r"target_return: expected a finite number, got 'nan'"),
    cli("set-inf", lambda c: [*TRAIN, "--set", "learning_rate=inf", "--run-dir", c.tmp / "inf"],
        r"learning_rate: expected a finite number, got 'inf'"),
    cli("empty-run-dir", lambda c: [*TRAIN, "--run-dir", ""],
        r"run_dir is empty; name a directory \(or leave it out for runs/<algo>-<env>-<time>\)"),
    cli("params-unknown-env", lambda c: ["params", "dqn", "NoSuchEnv-v0"],
        r"unknown environment id 'NoSuchEnv-v0'\..*Run 'tfrl envs' to list"),
    cli("num-envs-zero", lambda c: [*TRAIN, "--num-envs", "0"], r"run config: num_envs must be >= 1"),
    cli("seed-and-seeds", lambda c: [*TRAIN, "--seed", "1", "--seeds", "1", "2"],
        r"give either --seed or --seeds, not both"),
    cli("seeds-too-large-leaves-no-dir", lambda c: [[*TRAIN, "--seeds", "1", str(2**64), "--run-dir", c.tmp / "sd"],
                                                    lambda: not (c.tmp / "sd").exists()],
        r"run config: seed must lie in \[0, 2\*\*32 - 1\]"),
    cli("seeds-duplicate", lambda c: [*TRAIN, "--seeds", "1", "1", "--run-dir", c.tmp / "seeds"],
        r"seeds must be distinct integers, got \[1, 1\]"),
    cli("tf-backend-reinforce", lambda c: ["train", "reinforce", "CartPole-v1", "--backend", "tf"],
        r"backend 'tf' \(the compiled loop\) trains dqn, a2c, ppo, sac, td3, ddpg, c51, qrdqn, rainbow; reinforce uses "
        r"backend 'sync' or "
        r"'async'"),
    cli("tf-backend-rainbow-n-step", lambda c: [["train", "rainbow", "CartPole-v1", "--backend", "tf", "--run-dir",
                                                 c.tmp / "rb"], lambda: not (c.tmp / "rb").exists()],
        r"the compiled loop \(backend 'tf'\) supports 1-step targets only \(n_step=1\), got n_step=3"),
    cli("tf-backend-prioritized", lambda c: ["train", "dqn", "CartPole-v1", "--backend", "tf", "--set",
                                              "prioritized_replay=true", "--run-dir", c.tmp / "pr"],
        r"the compiled loop \(backend 'tf'\) replays uniformly; use backend 'sync' for prioritized replay"),
    cli("set-priority-alpha-out-of-range", lambda c: ["train", "rainbow", "CartPole-v1", "--set", "priority_alpha=2"],
        r"Rainbow config: priority_alpha must lie in \[0, 1\]"),
    cli("run-dir-holds-a-run", lambda c: [*TRAIN, "--run-dir", c.run, "--steps", "100"],
        r"already holds a run; use --resume .* to continue it or choose another --run-dir"),
    cli("dqn-continuous-actions", lambda c: ["train", "dqn", "Pendulum-v1", "--run-dir", c.tmp / "p"],
        r"DQN needs a discrete action space \(gymnasium Discrete\).*\(1,\) float32.*Use an algorithm for continuous "
        r"actions \(sac, td3, ddpg, ppo, a2c or reinforce\)"),
    cli("sac-discrete-actions", lambda c: ["train", "sac", "CartPole-v1", "--run-dir", c.tmp / "s"],
        r"SAC needs continuous actions \(a gymnasium Box\), but this environment's actions are discrete"),
    cli("td3-discrete-actions", lambda c: ["train", "td3", "Acrobot-v1", "--run-dir", c.tmp / "t"],
        r"TD3 needs continuous actions \(a gymnasium Box\).*Discrete\(3, start=0\)"),
    cli("ddpg-discrete-actions", lambda c: ["train", "ddpg", "MountainCar-v0", "--run-dir", c.tmp / "d"],
        r"DDPG needs continuous actions \(a gymnasium Box\)"),
    cli("sac-unbounded-box", lambda c: ["train", "sac", _unbounded_box_id(), "--run-dir", c.tmp / "u"],
        r"SAC needs a Box of actions with finite bounds.*low=\[-inf, -inf\] high=\[inf, inf\]"),
    cli("dqn-refused-env-leaves-no-run-dir", _leaves_run_dir, r"DQN needs a discrete action space"),
    cli("nature-cnn-on-vectors", lambda c: [*TRAIN, "--set", "encoder=nature_cnn", "--run-dir", c.tmp / "cnn"],
        r"DQN with encoder='nature_cnn' needs uint8 image observations of shape \(height, width, channels\).*got "
        r"shape \(4,\) and dtype float32\. Use encoder='mlp' for vector observations"),
    cli("tuple-observations", lambda c: ["train", "ppo", "Blackjack-v1", "--run-dir", c.tmp / "bj"],
        r"'Blackjack-v1' has observation space Tuple\(.*supported observation spaces are Discrete and Box"),
    cli("set-unknown-activation", lambda c: ["train", "ppo", "CartPole-v1", "--set", "activation=foo"],
        r"PPO config: activation 'foo' is not a Keras activation; use one of relu, tanh, elu, selu, gelu"),
    cli("more-envs-than-steps", lambda c: [*TRAIN, "--num-envs", "100000", "--steps", "1000"],
        r"run config: num_envs \(100000\) is larger than total_steps \(1000\): every environment would take less than "
        r"one step; lower --num-envs or raise --steps"),
    cli("replay-buffer-beyond-memory-leaves-no-run-dir", _huge_buffer,
        r"the replay buffer of 10,000,000,000 transitions needs about 466 GiB, and this machine has [\d.,]+ [GMK]iB "
        r"available; lower buffer_size \(for example --set buffer_size=\d+\)", skip=_MEMORY_UNKNOWN),
    cli("hidden-layers-beyond-memory", lambda c: [*TRAIN, "--set", "hidden_sizes=[100000,100000]",
                                                  "--run-dir", c.tmp / "wide"],
        r"the network of 10,000,800,002 parameters \(kept 4 times for Adam and the target network\) needs about "
        r"149 GiB, and this machine has .* available; lower hidden_sizes \(for example --set hidden_sizes=\[256,256\]\)",
        skip=_MEMORY_UNKNOWN),
    cli("set-alias-bomb", lambda c: [*TRAIN, "--set", f"hidden_sizes={_laughs(flow=True)}"],
        SHORT + r"tfrl: error: hidden_sizes: the value expands to more than 100,000 values through its aliases"),

    # train --resume
    cli("resume-missing-dir", lambda c: ["train", "--resume", c.tmp / "nope"],
        r"run directory '.*nope' does not exist; pass a directory that 'tfrl train' created"),
    cli("resume-dir-without-config", lambda c: ["train", "--resume", c.dir("empty")],
        r"'.*empty' is not a tfrl run: it has no config\.yaml; pass a directory that 'tfrl train' created"),
    cli("resume-corrupt-config", lambda c: ["train", "--resume", c.dir("corrupt", "{{{{ not: yaml")],
        r"config\.yaml' is corrupt \(not a tfrl run config\); the run cannot be read"),
    cli("resume-config-python-tag", lambda c: ["train", "--resume", c.dir("tagged", _python_tag(c))],
        r"config\.yaml' is corrupt \(not a tfrl run config\)"),
    cli("resume-with-algo-env", lambda c: [*TRAIN, "--resume", c.run],
        r"give either ALGO ENV \(a new run\) or --resume RUN, not both"),
    cli("resume-with-set", lambda c: ["train", "--resume", c.run, "--set", "learning_rate=1"],
        r"--resume continues a run with its saved settings; only --steps may change \(learning_rate given\)"),
    cli("resume-without-checkpoints", lambda c: ["train", "--resume", c.run_without("checkpoints")],
        r"has no intact checkpoint to resume from \(none was written\); start a new run instead"),
    cli("resume-torn-checkpoint", lambda c: ["train", "--resume", c.run_with_corrupt_checkpoint()],
        r"has no intact checkpoint to resume from \(checkpoint .* has 1 bytes, the manifest says \d+\)"),
    # eval, watch, export, plot, params, sweep
    cli("eval-missing-dir", lambda c: ["eval", c.tmp / "nope"], r"run directory '.*nope' does not exist"),
    cli("eval-without-policy", lambda c: ["eval", c.run_without("policy.keras")],
        r"has no policy\.keras yet \(training has not finished\); resume it with 'tfrl train --resume .*'"),
    cli("eval-corrupt-policy", lambda c: ["eval", c.run_with_corrupt_policy(), "--episodes", "1"],
        r"policy\.keras' cannot be loaded \(ValueError\); the file is corrupt"),
    cli("eval-unsafe-policy", lambda c: ["eval", c.run_with_unsafe_policy(), "--episodes", "1"],
        r"contains Python code that would run when it is loaded.*it was refused.*--no-safe-mode on the command line"),
    cli("eval-zero-episodes", lambda c: ["eval", c.run, "--episodes", "0"], r"--episodes must be >= 1, got 0"),
    cli("export-on-other-env", lambda c: ["export", c.run_with_config("env: CartPole-v1", "env: Acrobot-v1")],
        r"the saved policy takes observations of shape \(4,\), but this environment.s are \(6,\); export it on "
        r"the environment it was trained on \(Acrobot-v1\)"),
    cli("resume-steps-refused-keeps-config", lambda c: _resume_more_steps_refused(c),
        r"has no intact checkpoint to resume from \(none was written\)"),
    cli("eval-corrupt-run-settings", lambda c: ["eval", c.run_with_config("total_steps: 300", "total_steps: lots"),
                                                 "--episodes", "1"],
        r"config\.yaml.*total_steps: expected an integer, got 'lots'"),
    cli("watch-zero-episodes", lambda c: ["watch", c.run, "--episodes", "0"], r"--episodes must be >= 1, got 0"),
    cli("watch-without-policy", lambda c: ["watch", c.run_without("policy.keras")],
        r"has no policy\.keras yet.*resume it with 'tfrl train --resume"),
    cli("export-onnx", lambda c: ["export", c.run, "--format", "onnx"],
        r"unknown export format 'onnx'\. Formats: saved_model, tflite\."),
    cli("export-without-policy", lambda c: ["export", c.run_without("policy.keras")],
        r"has no policy\.keras yet \(training has not finished\)"),
    cli("plot-missing-dir", lambda c: ["plot", c.tmp / "nope"],
        r"run directory '.*nope' does not exist; pass directories that 'tfrl train' created"),
    cli("plot-dir-without-runs", lambda c: ["plot", c.dir("empty")], r"is not a tfrl run \(no config\.yaml\)"),
    cli("plot-labels-mismatch", lambda c: ["plot", c.run, "--label", "a", "--label", "b", "--out", c.tmp / "f.png"],
        r"2 labels for 1 runs; give one label per run"),
    cli("params-unknown-algo", lambda c: ["params", "dqm"], r"unknown algorithm 'dqm'\. Did you mean dqn\?"),
    cli("sweep-missing-file", lambda c: ["sweep", c.tmp / "nope.yaml"],
        r"config file '.*nope\.yaml' does not exist; give the path of a YAML file"),
    # environments whose package is not installed (skipped where it is), module parts that are no module names
    cli("env-needs-missing-module-leaves-no-run-dir",
        lambda c: [["train", "ppo", "phys2d/CartPole-v1", "--run-dir", c.tmp / "jax"],
                   lambda: not (c.tmp / "jax").exists()],
        r"environment 'phys2d/CartPole-v1' needs the module 'jax', which is not installed; install it \(pip install jax\)",
        skip="jax is installed" if __import__("importlib.util").util.find_spec("jax") else None),
    cli("env-needs-box2d", lambda c: ["train", "ppo", "LunarLander-v3", "--run-dir", c.tmp / "ll"],
        r"environment 'LunarLander-v3' needs Box2D, which is not installed; .*pip install .*gymnasium\[box2d\]",
        skip="Box2D is installed" if __import__("importlib.util").util.find_spec("Box2D") else None),
    cli("env-module-needs-box2d", lambda c: ["params", "ppo", "gymnasium.envs.box2d:LunarLander-v3"],
        r"environment 'gymnasium\.envs\.box2d:LunarLander-v3' needs Box2D, which is not installed; "
        r".*gymnasium\[box2d\]",
        skip="Box2D is installed" if __import__("importlib.util").util.find_spec("Box2D") else None),
    cli("env-needs-mujoco", lambda c: ["eval", c.run_with_config("env: CartPole-v1", "env: HalfCheetah-v5")],
        r"environment 'HalfCheetah-v5' needs MuJoCo, which is not installed; .*pip install .*gymnasium\[mujoco\]",
        skip="MuJoCo is installed" if __import__("importlib.util").util.find_spec("mujoco") else None),
    cli("env-empty-module", lambda c: ["train", "dqn", ":CartPole-v1"],
        r"':CartPole-v1' names the module '', which is not an importable module name; write module:EnvId with an "
        r"absolute module \(for example my_package\.envs:MyEnv-v0\)"),
    cli("env-relative-module", lambda c: ["train", "ppo", "..:CartPole-v1"],
        r"'\.\.:CartPole-v1' names the module '\.\.', which is not an importable module name; write module:EnvId"),
    # --seed of eval and watch, --out of plot, watch, export and sweep
    cli("eval-seed-too-large", lambda c: ["eval", c.run, "--seed", "18446744073709551616"],
        r"--seed must lie in \[0, 2\*\*32 - 1\], got 18446744073709551616"),
    cli("plot-out-empty", lambda c: ["plot", c.run, "--out", ""],
        r"--out is empty; name a file \(for example --out returns\.png\)"),
    cli("watch-out-a-directory", lambda c: ["watch", c.run, "--out", "."],
        r"cannot write '\.': it is a directory; name a file for --out \(for example video\.mp4\)"),
    cli("export-out-under-a-file", lambda c: ["export", c.run, "--out", c.file("f.txt", "mine") / "sub"],
        r"cannot write '.*f\.txt/sub': '.*f\.txt' is a file, not a directory; choose another --out"),
    cli("sweep-out-too-long",
        lambda c: ["sweep", c.file("s.yaml", "algo: dqn\nenv: CartPole-v1\n"), "--out", "a" * 300],
        r"cannot write 'a+\.\.\.a+': File name too long \(names of at most \d+ bytes\); choose a shorter --out"),
    cli("plot-svg-is-a-directory", lambda c: (c.dir("fig.svg"), ["plot", c.run, "--out", "fig.png"])[1],
        r"cannot use 'fig\.svg': Is a directory; a directory stands where a file is needed; choose another path"),
]


@pytest.mark.parametrize("build, pattern", CLI_CASES)
def test_cli(ctx, capsys, build, pattern):
    built = build(ctx)
    argv, check = (built[0], built[1]) if built and isinstance(built[0], list) else (built, None)
    capsys.readouterr()  # drop anything printed while building the input
    _assert_cli_error(capsys, argv, pattern)
    if check is not None:
        assert check()


def test_the_table_is_long_enough():
    assert len(API_CASES) + len(YAML_CASES) + len(CLI_CASES) >= 40
    print(f"bad inputs: API {len(API_CASES)}, YAML {len(YAML_CASES)}, CLI {len(CLI_CASES)}")
