"""The ``tfrl`` command, in-process: bad input gives one line and exit code 2; a short run end to end."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from tfrl.cli.main import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("tfrl: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_unknown_environment_names_the_closest_ids(capsys):
    code, _, err = run_cli(capsys, "train", "dqn", "CartPol-v1")
    assert code == 2
    line = one_error_line(err)
    assert "CartPol-v1" in line and "CartPole-v1" in line


def test_unknown_algorithm(capsys):
    code, _, err = run_cli(capsys, "train", "dqm", "CartPole-v1")
    assert code == 2
    assert "dqn" in one_error_line(err)


def test_continuous_actions_refused_by_dqn(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "dqn", "Pendulum-v1", "--steps", "100", "--run-dir", str(tmp_path / "r"))
    assert code == 2
    line = one_error_line(err)
    assert "discrete" in line and "DQN" in line


def test_unknown_set_key_lists_valid_keys(capsys):
    code, _, err = run_cli(capsys, "train", "dqn", "CartPole-v1", "--set", "lerning_rate=0.1")
    assert code == 2
    line = one_error_line(err)
    assert "'lerning_rate'" in line and "Did you mean learning_rate" in line
    assert "gradient_steps" in line and "total_steps" in line  # the valid keys are listed


def test_bad_set_value(capsys):
    code, _, err = run_cli(capsys, "train", "dqn", "CartPole-v1", "--set", "batch_size=many")
    assert code == 2
    assert "batch_size" in one_error_line(err)


def test_out_of_range_value(capsys):
    code, _, err = run_cli(capsys, "train", "dqn", "CartPole-v1", "--set", "gamma=1.5")
    assert code == 2
    assert "gamma" in one_error_line(err)


def test_missing_config_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "dqn", "CartPole-v1", "--config", str(tmp_path / "nope.yaml"))
    assert code == 2
    assert "nope.yaml" in one_error_line(err)


def test_eval_missing_run_dir(capsys, tmp_path):
    code, _, err = run_cli(capsys, "eval", str(tmp_path / "no-such-run"))
    assert code == 2
    assert "does not exist" in one_error_line(err)


def test_eval_directory_that_is_not_a_run(capsys, tmp_path):
    code, _, err = run_cli(capsys, "eval", str(tmp_path))
    assert code == 2
    assert "config.yaml" in one_error_line(err)


def test_eval_corrupt_run_config(capsys, tmp_path):
    (tmp_path / "config.yaml").write_text("{{{ not yaml")
    code, _, err = run_cli(capsys, "eval", str(tmp_path))
    assert code == 2
    assert "corrupt" in one_error_line(err)


def test_resume_missing_run(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--resume", str(tmp_path / "gone"))
    assert code == 2
    assert "does not exist" in one_error_line(err)


def test_envs_lists_classic_control(capsys):
    code, out, _ = run_cli(capsys, "envs")
    assert code == 0
    ids = out.split()
    assert "CartPole-v1" in ids and "MountainCar-v0" in ids and "Acrobot-v1" in ids


def test_params_shows_docs_and_preset(capsys):
    code, out, _ = run_cli(capsys, "params", "dqn", "CartPole-v1")
    assert code == 0
    assert "target_update_interval" in out and "Gradient steps (not environment steps, unlike SB3's setting of this name) between two target-network" in out
    assert "preset dqn-CartPole-v1.yaml" in out


def test_train_eval_resume_end_to_end(capsys, tmp_path):
    run = tmp_path / "run"
    args = ["train", "dqn", "CartPole-v1", "--steps", "1500", "--seed", "3", "--num-envs", "2", "--run-dir", str(run),
            "--set", "learning_starts=300", "--set", "eval_every=500", "--set", "eval_episodes=2",
            "--set", "final_eval_episodes=3", "--set", "checkpoint_every=1000", "--set", "log_every=250",
            "--set", "hidden_sizes=[32,32]", "--set", "train_freq=50", "--set", "gradient_steps=10"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert f"run directory: {run}" in out
    assert "final evaluation: mean return" in out
    assert "tensorboard --logdir" in out
    for name in ("config.yaml", "metrics.csv", "policy.keras", "final_eval.json", "learning_curve.png"):
        assert (run / name).is_file(), name
    assert list(run.glob("events.out.tfevents.*"))
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints[-1] == "step-000001500" or checkpoints[-1].startswith("step-00000150")
    summary = json.loads((run / "final_eval.json").read_text())
    assert summary["final_eval_episodes"] == 3 and summary["steps"] >= 1500

    code, out, err = run_cli(capsys, "eval", str(run), "--episodes", "3", "--video")
    assert code == 0, err
    assert "mean return" in out
    video = Path(out.split("video: ")[1].strip())
    assert video.is_file() and video.stat().st_size > 1000

    code, out, err = run_cli(capsys, "train", "--resume", str(run), "--steps", "2500")
    assert code == 0, err
    with open(run / "metrics.csv") as f:
        steps = [int(float(row["step"])) for row in csv.DictReader(f) if row.get("charts/steps_per_sec")]
    assert steps == sorted(steps) and len(steps) == len(set(steps)), steps  # no row repeated after resume
    assert max(steps) >= 2500


def test_resume_refuses_changed_settings(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--resume", str(tmp_path), "--set", "learning_rate=1")
    assert code == 2
    assert "only --steps" in one_error_line(err)


def test_real_process_exit_code_and_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "tfrl.cli.main", "train", "dqn", "NoSuchEnv-v0"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("tfrl: error: unknown environment id 'NoSuchEnv-v0'")


def test_watch_writes_a_video_of_several_episodes(capsys, tmp_path):
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "dqn", "CartPole-v1", "--steps", "600", "--run-dir", str(run),
                           "--set", "learning_starts=200", "--set", "eval_every=0", "--set", "final_eval_episodes=1",
                           "--set", "hidden_sizes=[16]")
    assert code == 0, err
    out_file = tmp_path / "clip.mp4"
    code, out, err = run_cli(capsys, "watch", str(run), "--episodes", "2", "--out", str(out_file))
    assert code == 0, err
    assert out_file.is_file() and out_file.stat().st_size > 1000
    assert len(out.split("returns: ")[1].split(",")) == 2


def test_watch_missing_run(capsys, tmp_path):
    code, _, err = run_cli(capsys, "watch", str(tmp_path / "nope"))
    assert code == 2
    assert "does not exist" in one_error_line(err)
