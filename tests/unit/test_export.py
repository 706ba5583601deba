"""Tests of ``tfrl.export`` and ``tfrl export``: the exported policy acts like the Python one, without tfrl.

Four tiny runs (dqn on CartPole, ppo with observation normalization on CartPole, ppo and sac on Pendulum) are
exported as SavedModels and TFLite files; one fresh interpreter that imports only TensorFlow and NumPy
computes their actions on saved observations, which must equal the Python policy's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tfrl.export
import tfrl.export.graph
from tfrl import envs
from tfrl.cli.main import main
from tfrl.errors import ConfigError, RunDirError
from tfrl.export import ExportMismatchError, export_model, export_policy, sample_observations
from tfrl.specs import BoundedArraySpec
from tfrl.train import train
from tfrl.train import load_saved_policy

TINY = dict(eval_every=256, eval_episodes=2, final_eval_episodes=2, tensorboard=False, verbose=False,
            use_preset=False)
RUNS = {
    "dqn_cartpole": ("dqn", "CartPole-v1", dict(total_steps=600, learning_starts=100, train_freq=4,
                                                 hidden_sizes=[32, 32])),
    "ppo_cartpole_norm": ("ppo", "CartPole-v1", dict(total_steps=512, num_envs=2, num_steps=64, update_epochs=2,
                                                      normalize_observations=True)),
    "ppo_pendulum": ("ppo", "Pendulum-v1", dict(total_steps=512, num_envs=2, num_steps=64, update_epochs=2)),
    # the deterministic actor of SAC (TD3 and DDPG save the same kind of model): scale(tanh(mean))
    "sac_pendulum": ("sac", "Pendulum-v1", dict(total_steps=300, learning_starts=100, train_freq=50, gradient_steps=5,
                                                 batch_size=32, hidden_sizes=[16, 16], jit_compile=False)),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export-runs")
    return {name: train(algo, env, run_dir=root / name, **TINY, **settings).run_dir
            for name, (algo, env, settings) in RUNS.items()}


def _python_actions(run: Path, observations: np.ndarray) -> np.ndarray:
    saved = load_saved_policy(run)
    with envs.make(saved.record["env"]) as env:
        policy = saved.algorithm.policy_from_model(saved.model, env.observation_spec(), env.action_spec())
    return policy.action(observations)


_FRESH = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    assert "tfrl" not in sys.modules, sorted(m for m in sys.modules if m.startswith("tfrl"))
    for job in json.loads(sys.argv[1]):
        obs = np.load(job["observations"])
        serve = tf.saved_model.load(job["saved_model"]).signatures["serving_default"]
        np.save(job["saved_model_actions"], serve(observation=tf.constant(obs))["action"].numpy())
        runner = tf.lite.Interpreter(model_path=job["tflite"]).get_signature_runner("serving_default")
        np.save(job["tflite_actions"], runner(observation=obs)["action"])
    assert "tfrl" not in sys.modules
    print("ok", len(json.loads(sys.argv[1])))
""")


def test_exported_policies_act_like_python_in_plain_tensorflow(runs, tmp_path):
    jobs, expected = [], {}
    for name, run in runs.items():
        saved_model = export_policy(run, "saved_model")
        tflite = export_policy(run, "tflite")
        assert saved_model == run / "export" / "saved_model" and (saved_model / "saved_model.pb").is_file()
        assert tflite == run / "export" / "policy.tflite" and tflite.stat().st_size > 1000
        with envs.make(RUNS[name][1], num_envs=3, seed=7) as env:
            observations = sample_observations(env.observation_spec(), 48, seed=7, env=env)
        assert observations.dtype == np.float32 and len(observations) == 48
        np.save(tmp_path / f"{name}-obs.npy", observations)
        expected[name] = _python_actions(run, observations)
        jobs.append({"observations": str(tmp_path / f"{name}-obs.npy"), "saved_model": str(saved_model),
                     "tflite": str(tflite), "saved_model_actions": str(tmp_path / f"{name}-sm.npy"),
                     "tflite_actions": str(tmp_path / f"{name}-tfl.npy")})

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-c", _FRESH, json.dumps(jobs)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ok 4" in done.stdout

    for name in runs:
        want = expected[name]
        for kind in ("sm", "tfl"):
            got = np.load(tmp_path / f"{name}-{kind}.npy")
            assert got.dtype == want.dtype and got.shape == want.shape, (name, kind)
            if name.endswith("pendulum"):
                assert want.dtype == np.float32 and want.shape == (48, 1)
                assert np.all(np.abs(want) <= 2.0) and len(np.unique(want)) > 10
                np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
            else:
                assert want.dtype == np.int64 and set(np.unique(want)) == {0, 1}  # both actions occur
                np.testing.assert_array_equal(got, want)


def test_signature_json_describes_the_model(runs):
    run = runs["ppo_pendulum"]
    out = export_policy(run, "tflite", out=run / "elsewhere" / "pendulum.tflite")
    sig = json.loads((run / "elsewhere" / "pendulum.signature.json").read_text())
    assert sig["format"] == "tflite" and sig["file"] == "pendulum.tflite" and out.is_file()
    assert sig["signature"] == "serving_default"
    assert sig["inputs"] == {"observation": {"dtype": "float32", "shape": [None, 3],
                                             "description": sig["inputs"]["observation"]["description"]}}
    assert sig["outputs"]["action"]["dtype"] == "float32" and sig["outputs"]["action"]["shape"] == [None, 1]
    assert sig["action_space"] == {"type": "box", "dtype": "float32", "shape": [1], "minimum": -2.0, "maximum": 2.0}
    assert sig["algo"] == "ppo" and sig["env"] == "Pendulum-v1" and "clipped" in sig["policy"]
    assert sig["check"]["passed"] and sig["check"]["observations"] == 64
    assert sig["check"]["max_abs_action_diff"] <= 1e-5

    sig = json.loads((runs["sac_pendulum"] / "export" / "saved_model" / "signature.json").read_text())
    assert sig["algo"] == "sac" and sig["policy"].startswith("deterministic: the actor's action")
    assert sig["check"]["passed"] and sig["check"]["max_abs_action_diff"] <= 1e-5

    sig = json.loads((runs["ppo_cartpole_norm"] / "export" / "saved_model" / "signature.json").read_text())
    assert sig["action_space"] == {"type": "discrete", "n": 2, "start": 0}
    assert sig["observation_normalization"] == "inside the model"
    assert sig["check"]["max_abs_action_diff"] == 0.0


def test_a_mismatch_raises_and_writes_nothing(runs, tmp_path, monkeypatch):
    real = tfrl.export.graph.action_fn

    def off_by_one(algo, model, action_spec):
        act = real(algo, model, action_spec)
        return lambda observation: 1 - act(observation)

    monkeypatch.setattr(tfrl.export.graph, "action_fn", off_by_one)
    for fmt, out in (("saved_model", tmp_path / "sm"), ("tflite", tmp_path / "p.tflite")):
        with pytest.raises(ExportMismatchError, match="other actions than the Python policy"):
            export_policy(runs["dqn_cartpole"], fmt, out=out)
        assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary directories left behind
    export_policy(runs["dqn_cartpole"], "tflite", out=tmp_path / "unchecked.tflite", check=False)
    assert json.loads((tmp_path / "unchecked.signature.json").read_text())["check"] is None


def test_export_replaces_an_old_saved_model_but_no_other_directory(runs, tmp_path):
    out = tmp_path / "model"
    export_policy(runs["dqn_cartpole"], out=out)
    (out / "stale.txt").write_text("from an older export")
    export_policy(runs["dqn_cartpole"], out=out)
    assert (out / "saved_model.pb").is_file() and not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ConfigError, match="not a SavedModel directory"):
        export_policy(runs["dqn_cartpole"], out=foreign)
    assert (foreign / "cat.jpg").is_file()


def test_image_q_network_exports_to_tflite(tmp_path):
    """uint8 Atari-shaped observations, a nature CNN and a dueling head, without an Atari run."""
    from tfrl.networks import q_network

    observation_spec = BoundedArraySpec((84, 84, 4), np.uint8, 0, 255)
    action_spec = BoundedArraySpec((), np.int64, 0, 5)
    model = q_network(observation_spec, 6, dueling=True, encoder="nature_cnn", seed=3)
    out = export_model(model, "dqn", observation_spec, action_spec, tmp_path / "atari.tflite", format="tflite")
    sig = json.loads((tmp_path / "atari.signature.json").read_text())
    assert sig["inputs"]["observation"]["dtype"] == "uint8"
    assert sig["inputs"]["observation"]["shape"] == [None, 84, 84, 4]
    assert sig["check"]["passed"]
    observations = sample_observations(observation_spec, 8, seed=1)
    assert observations.dtype == np.uint8 and observations.max() > 200
    got = tfrl.export.tflite_runner(out)(observation=observations)["action"]
    want = np.argmax(model(observations).numpy(), axis=-1)
    np.testing.assert_array_equal(got, want)


def test_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean tflite"):
        export_policy("runs/whatever", format="tflit")
    with pytest.raises(RunDirError, match="does not exist"):
        export_policy("/nonexistent/run")
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "config.yaml").write_text("algo: dqn\n")
    with pytest.raises(RunDirError, match="no policy.keras yet"):
        export_policy(tmp_path / "unfinished")
    with pytest.raises(ConfigError, match="unknown algorithm 'sacc'. Did you mean sac"):
        tfrl.export.graph.action_fn("sacc", None, BoundedArraySpec((), np.int64, 0, 1))


def test_cli_export(runs, tmp_path, capsys):
    out = tmp_path / "cli" / "policy.tflite"
    assert main(["export", str(runs["ppo_cartpole_norm"]), "--format", "tflite", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"tflite: {out}" in printed and f"signature: {tmp_path / 'cli' / 'policy.signature.json'}" in printed
    assert out.is_file()


@pytest.mark.parametrize("argv, message", [
    (["export", "/nonexistent/run"], "does not exist"),
    (["export", "RUN", "--format", "onnx"], "unknown export format 'onnx'"),
    (["export", "RUN", "--out", "FOREIGN"], "not a SavedModel directory"),
])
def test_cli_export_errors(runs, tmp_path, capsys, argv, message):
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    argv = [{"RUN": str(runs["dqn_cartpole"]), "FOREIGN": str(tmp_path / "foreign")}.get(a, a) for a in argv]
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tfrl: error: ") and message in lines[0], lines
