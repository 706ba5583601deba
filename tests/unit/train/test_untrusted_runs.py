"""A run directory from elsewhere runs no code unless the user says so.

Each attack's payload writes a marker file; each test checks that the marker never appears and that the
message names the problem and the fix. One tiny DQN run is trained (module-scoped) and copied per test.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import stat
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml

from tfrl.cli.main import main
from tfrl.errors import RunDirError
from tfrl.runs import saved_env
from tfrl.train import evaluate_run, resume, train
from tfrl.train.checkpoint import (CheckpointManager, CorruptCheckpointError, read_loop_state, secret_key,
                                   secret_key_path, verify)

DQN = dict(total_steps=400, learning_starts=200, checkpoint_every=400, buffer_size=5000, num_envs=1,
           keep_checkpoints=1, eval_every=0, final_eval_episodes=1, tensorboard=False, verbose=False, log_every=250)
FIX = r"pass env= with the environment, or trust=True / --trust-run if you trust this run directory"
NOT_LOADED = "so it is not loaded; the resumed run starts new episodes"


@pytest.fixture(autouse=True, scope="module")
def tfrl_home(tmp_path_factory):
    """This machine's key lives in a temporary TFRL_HOME for the whole module (the trained run is signed with it)."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("tfrl-home")
        patch.setenv("TFRL_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def trained(tfrl_home, tmp_path_factory) -> Path:
    return train("dqn", "CartPole-v1", run_dir=tmp_path_factory.mktemp("trained") / "shared_run", seed=0,
                 **DQN).run_dir


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A fresh copy of the trained run, as if unpacked from a zip file into ``tmp_path``."""
    return Path(shutil.copytree(trained, tmp_path / "shared_run"))


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a payload ran"


class Payload:
    """Unpickled, it writes ``marker``: the pickle an attacker would put into loop.pkl."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def _checkpoint(run: Path) -> Path:
    (checkpoint,) = CheckpointManager(run / "checkpoints").all()
    return checkpoint


def _rewrite_checksums(checkpoint: Path, drop_hmac: bool) -> None:
    """What an attacker can do without this machine's key: make the manifest's sizes and SHA-256s match again."""
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    for name, entry in manifest["files"].items():
        data = (checkpoint / name).read_bytes()
        entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    if drop_hmac:
        del manifest["hmac"]
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))


def _name_env(run: Path, env_class: str | None, env: str | None = None) -> None:
    """Edit config.yaml to name ``env_class`` (and the id ``env``)."""
    record = yaml.safe_load((run / "config.yaml").read_text())
    record.update(env_class=env_class, env_kind="class" if env_class else "id")
    if env is not None:
        record["env"] = env
    (run / "config.yaml").write_text(yaml.safe_dump(record, sort_keys=False))


# ---------------------------------------------------------------- loop.pkl

@pytest.mark.parametrize("drop_hmac, reason", [
    (False, "was not written by tfrl on this machine (or was changed since)"),
    (True, "is not signed (an older tfrl, or one without its key, wrote it)"),
])
def test_a_pickle_payload_with_rewritten_checksums_is_never_unpickled(run, marker, capsys, drop_hmac, reason):
    checkpoint = _checkpoint(run)
    (checkpoint / "loop.pkl").write_bytes(pickle.dumps(Payload(marker)))
    _rewrite_checksums(checkpoint, drop_hmac)
    verify(checkpoint)  # the checksums match: integrity alone would have let it through
    result = resume(run, total_steps=800, verbose=False)
    assert result.steps == 800 and (run / "policy.keras").is_file()  # resumed with new episodes and finished
    warnings = [line for line in capsys.readouterr().err.splitlines() if "loop.pkl" in line]
    assert warnings == [f"warning: checkpoints/{checkpoint.name}/loop.pkl {reason}, {NOT_LOADED}"]
    assert not marker.exists()


def test_a_checkpoint_without_its_manifest_is_refused(run, marker):
    checkpoint = _checkpoint(run)
    (checkpoint / "loop.pkl").write_bytes(pickle.dumps(Payload(marker)))
    (checkpoint / "manifest.json").unlink()
    refusal = (r"has no manifest\.json: it was never completed, or was written by tfrl before manifests existed; "
               r"it is not trusted")
    with pytest.raises(CorruptCheckpointError, match=refusal):
        verify(checkpoint)
    with pytest.raises(CorruptCheckpointError, match=refusal):
        CheckpointManager.restore(checkpoint, {})
    with pytest.raises(RunDirError, match=rf"has no intact checkpoint to resume from \(checkpoint .*{refusal}\); "
                                          r"start a new run instead"):
        resume(run, total_steps=800, verbose=False)
    assert not marker.exists()


def test_the_runs_own_loop_state_is_authenticated_and_another_machines_is_not(run, tmp_path, monkeypatch):
    checkpoint = _checkpoint(run)
    blob, reason = read_loop_state(checkpoint)
    assert reason is None and blob == (checkpoint / "loop.pkl").read_bytes()
    monkeypatch.setenv("TFRL_HOME", str(tmp_path / "another-machine"))
    assert read_loop_state(checkpoint) == (
        None, f"checkpoints/{checkpoint.name}/loop.pkl was not written by tfrl on this machine (or was changed since), "
              f"{NOT_LOADED}")


def test_the_key_is_made_once_outside_the_run_with_mode_0600(tmp_path, monkeypatch):
    monkeypatch.setenv("TFRL_HOME", str(tmp_path / "home"))
    assert not secret_key_path().exists()
    key = secret_key()
    assert secret_key_path() == tmp_path / "home" / "secret.key" and len(key) == 32
    assert stat.S_IMODE(secret_key_path().stat().st_mode) == 0o600
    assert secret_key() == key


# ---------------------------------------------------------------- the environment a run names

def test_a_standard_library_function_named_as_env_class_is_never_called(run, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "getpid", lambda: calls.append("getpid") or 1)
    _name_env(run, "os:getpid")
    record = yaml.safe_load((run / "config.yaml").read_text())
    message = (rf"this run names the environment class os:getpid, which is not imported: os is part of Python's "
               rf"standard library, not an installed package; {FIX}")
    with pytest.raises(RunDirError, match=message):
        saved_env(record, run_dir=run)
    with pytest.raises(RunDirError, match=r"the run's environment class os:getpid is not a gymnasium\.Env subclass "
                                          r"\(it is a function\), so it is not used; pass env= with the environment"):
        saved_env(record, trust=True, run_dir=run)
    assert calls == []
    monkeypatch.undo()
    with pytest.raises(RunDirError, match=message):
        evaluate_run(run, episodes=1)


PAYLOAD_MODULE = """import gymnasium
open({marker!r}, "w").write("pwned")


class Evil(gymnasium.Env):
    pass
"""


@pytest.mark.parametrize("where", ["parent", "run"])
@pytest.mark.parametrize("names", ["payload:Evil", "shared_run.payload:Evil", "id payload:Evil-v0"])
def test_a_module_shipped_in_the_run_directory_is_never_imported(run, marker, monkeypatch, where, names):
    (run / "payload.py").write_text(PAYLOAD_MODULE.format(marker=str(marker)))
    here = run if where == "run" else run.parent
    monkeypatch.chdir(here)
    monkeypatch.syspath_prepend(str(here))  # as 'python -c' or 'python -m' from there would
    if names.startswith("id "):
        what = f"environment id {names[3:]}"
        _name_env(run, None, env=names[3:])
    else:
        what = f"environment class {names}"
        _name_env(run, names)
    top = names.removeprefix("id ").split(".")[0].split(":")[0]
    with pytest.raises(RunDirError, match=rf"this run names the {what}, which is not imported: {top} is not part of "
                                          rf"an installed package; {FIX}"):
        evaluate_run(run, episodes=1)
    assert "payload" not in sys.modules and "shared_run" not in sys.modules and not marker.exists()


def _installed_module_not_imported() -> str:
    """A top-level module of an installed distribution that this process has not imported."""
    for name in sorted(packages_distributions()):
        if (name.isidentifier() and not name.startswith("_") and name not in sys.modules
                and name not in sys.stdlib_module_names):
            return name
    pytest.skip("every installed top-level module is imported")


def test_a_module_in_the_run_directory_that_shadows_an_installed_package_is_never_imported(run, marker, monkeypatch):
    name = _installed_module_not_imported()
    (run / f"{name}.py").write_text(PAYLOAD_MODULE.format(marker=str(marker)))
    monkeypatch.chdir(run)
    monkeypatch.syspath_prepend(str(run))
    _name_env(run, f"{name}:Evil")
    with pytest.raises(RunDirError, match=rf"this run names the environment class {name}:Evil, which is not imported: "
                                          rf"{name} would be imported from .*{name}\.py, inside the run directory, "
                                          rf"not from an installed package; {FIX}"):
        evaluate_run(run, episodes=1)
    assert name not in sys.modules and not marker.exists()


def test_an_installed_environment_class_is_imported_without_trust(run):
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    record = {"env": "CartPoleEnv", "env_kind": "class",
              "env_class": "gymnasium.envs.classic_control.cartpole:CartPoleEnv"}
    assert saved_env(record, run_dir=run) is CartPoleEnv


def test_the_command_line_refuses_and_trust_run_still_needs_an_environment_class(run, capsys):
    _name_env(run, "os:getpid")
    assert main(["eval", str(run), "--episodes", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"tfrl: error: this run names the environment class os:getpid, which is not imported: os is part "
                   f"of Python's standard library, not an installed package; {FIX}")
    assert main(["eval", str(run), "--episodes", "1", "--trust-run"]) == 2
    assert "os:getpid is not a gymnasium.Env subclass" in capsys.readouterr().err
