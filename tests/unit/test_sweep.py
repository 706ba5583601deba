"""Sweeps on Ray Tune (``tfrl.sweep``): the sweep file's checks, the statistics, and one real sweep.

The real sweep trains dqn on CartPole-v1 for 1500 steps: 2 batch sizes x 2 seeds, plus batch_size 0, which
passes the file's checks (a searched value is checked by its trial) and fails both of its trials. Ray is
started once for the module; the resume test continues the same sweep through the command line.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import yaml

from tfrl.cli.main import main
from tfrl.errors import ConfigError
from tfrl.sweep import mean_ci, parse_spec, summarize, t_quantile

BASE = {"algo": "dqn", "env": "CartPole-v1", "seeds": [0, 1]}

# Two-sided quantiles of Student's t from printed tables: (p, df) -> t.
T_TABLE = {(0.975, 1): 12.706, (0.975, 2): 4.303, (0.975, 3): 3.182, (0.975, 4): 2.776, (0.975, 9): 2.262,
           (0.975, 30): 2.042, (0.995, 5): 4.032, (0.95, 10): 1.812}


@pytest.mark.parametrize("p, df", sorted(T_TABLE))
def test_t_quantile_matches_the_printed_tables(p, df):
    assert t_quantile(p, df) == pytest.approx(T_TABLE[(p, df)], abs=6e-4)
    assert t_quantile(1 - p, df) == pytest.approx(-T_TABLE[(p, df)], abs=6e-4)


def test_t_quantile_tends_to_the_normal_quantile():
    assert t_quantile(0.975, 100_000) == pytest.approx(1.95996, abs=1e-4)


def test_mean_ci_against_a_naive_computation():
    values = [10.0, 12.0, 15.0, 19.0]
    mean = sum(values) / 4
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / 3)
    assert mean_ci(values) == pytest.approx((mean, 3.182446 * s / 2.0), rel=1e-5)
    assert math.isnan(mean_ci([5.0])[1]) and mean_ci([5.0])[0] == 5.0


@pytest.mark.parametrize("values, t", [
    ([3.0, 5.0], 12.706205),                                             # n = 2
    ([1.0, 2.0, 6.0], 4.302653),                                         # n = 3
    ([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0, 1.0, 3.0], 2.262157),     # n = 10
])
def test_ci_half_width_is_scipy_t_times_s_over_root_n(values, t):
    from scipy.stats import t as student_t

    n = len(values)
    s = float(np.std(values, ddof=1))
    assert student_t.ppf(0.975, n - 1) == pytest.approx(t, rel=1e-6)  # the printed tables, to 7 digits
    mean, half = mean_ci(values)
    assert mean == pytest.approx(float(np.mean(values)), rel=1e-12)
    assert half == pytest.approx(student_t.ppf(0.975, n - 1) * s / math.sqrt(n), rel=1e-12)


def test_one_seed_has_a_mean_and_no_interval():
    mean, half = mean_ci([7.5])
    assert mean == 7.5 and math.isnan(half)
    assert all(math.isnan(v) for v in mean_ci([]))
    spec = parse_spec(BASE)
    row, = summarize(spec, [{"config": "default", "seed": 0, "status": "completed", "final_return": 7.5,
                             "first_solved_step": None, "wall_time": 1.0, "error": ""}])
    assert row["final_return_mean"] == 7.5 and row["final_return_ci95"] is None


def test_grid_is_the_cartesian_product_with_fixed_settings_and_target():
    spec = parse_spec({**BASE, "settings": {"total_steps": 4000}, "target_return": 100,
                       "grid": {"learning_rate": [0.001, 0.002], "hidden_sizes": [[32], [64, 64]]},
                       "scheduler": "asha"})
    assert list(spec.configs) == ["learning_rate=0.001,hidden_sizes=32", "learning_rate=0.001,hidden_sizes=64x64",
                                  "learning_rate=0.002,hidden_sizes=32", "learning_rate=0.002,hidden_sizes=64x64"]
    assert spec.configs["learning_rate=0.002,hidden_sizes=64x64"] == {"learning_rate": 0.002, "hidden_sizes": [64, 64]}
    assert spec.settings == {"total_steps": 4000, "target_return": 100.0}
    assert spec.scheduler == {"type": "asha", "grace_period": 1000, "reduction_factor": 3.0, "max_t": 4001}
    assert spec.seeds == (0, 1) and spec.resources == {"cpu": 1.0}


def test_random_samples_are_drawn_once_from_the_seed_within_their_ranges():
    data = {**BASE, "random": {"num_samples": 6, "space": {"learning_rate": {"loguniform": [1e-5, 1e-2]},
                                                          "batch_size": {"choice": [32, 64]}}}}
    spec = parse_spec(data)
    assert list(spec.configs) == [f"sample-{i:03d}" for i in range(6)]
    rates = [c["learning_rate"] for c in spec.configs.values()]
    assert all(1e-5 <= r <= 1e-2 for r in rates) and len(set(rates)) == 6
    assert {c["batch_size"] for c in spec.configs.values()} <= {32, 64}
    steps = parse_spec({**BASE, "random": {"num_samples": 3, "space": {"batch_size": {"qrandint": [16, 128, 16]}}}})
    assert all(isinstance(c["batch_size"], int) and c["batch_size"] % 16 == 0 for c in steps.configs.values())
    assert parse_spec(data).configs == spec.configs  # the same draw again (resume trains the same configurations)
    yaml.safe_dump(spec.to_dict())  # plain Python values only


@pytest.mark.parametrize("change, message", [
    ({"grdi": {"learning_rate": [0.1]}}, "unknown sweep key 'grdi'. Did you mean grid? Valid keys: algo, env, grid"),
    ({"grid": {"learnig_rate": [0.1]}}, "grid: unknown setting 'learnig_rate'. Did you mean learning_rate"),
    ({"random": {"num_samples": 2, "space": {"gama": {"uniform": [0.9, 0.99]}}}}, "random.space: unknown setting 'gama'. Did you mean gamma"),
    ({"settings": {"total_step": 10}}, "settings: unknown setting 'total_step'. Did you mean total_steps"),
    ({"settings": {"batch_size": 0}}, "batch_size must be >= 1"),
    ({"grid": {"learning_rate": ["fast"]}}, "grid: learning_rate: expected a number, got 'fast'"),
    ({"grid": {"learning_rate": []}}, "learning_rate must be a non-empty list"),
    ({"grid": {"seed": [1, 2]}}, "list the seeds under 'seeds'"),
    ({"grid": {"gamma": [0.9]}, "random": {"num_samples": 1, "space": {}}}, "either 'grid' or 'random'"),
    ({"random": {"num_samples": 2, "space": {"gamma": {"normal": [0, 1]}}}}, "unknown distribution 'normal'"),
    ({"random": {"num_samples": 2, "space": {"gamma": {"uniform": [0.9]}}}}, "uniform takes a list of 2 numbers"),
    ({"random": {"num_samples": 2, "space": {"gamma": {"loguniform": [0, 1]}}}}, "random.space: gamma: loguniform"),
    ({"random": {"num_samples": 2, "space": {"batch_size": {"uniform": [16, 64]}}}}, "batch_size: expected an integer"),
    ({"seeds": [0, 0]}, "'seeds' must be a list of distinct integers"),
    ({"algo": "dqm"}, "unknown algorithm 'dqm'"),
    ({"scheduler": "median"}, "scheduler type must be 'asha' or 'none'"),
    ({"resources": {"cpus": 2}}, "unknown resource 'cpus'"),
    ({"settings": {"gamma": 0.9}, "grid": {"gamma": [0.9, 0.99]}}, "gamma both fixed in 'settings' and searched"),
])
def test_bad_sweep_files_are_refused_with_the_fix(change, message):
    with pytest.raises(ConfigError) as info:
        parse_spec({**BASE, **change}, origin="sweep file 's.yaml'")
    assert message in str(info.value)
    assert str(info.value).startswith(("sweep file 's.yaml'", "unknown algorithm"))


def test_cli_refuses_a_bad_sweep_file_with_exit_code_2(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("algo: dqn\nenv: CartPole-v1\ngrid: {learnig_rate: [0.001]}\n")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tfrl: error: sweep file") and "learning_rate" in err[0]
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_summary_counts_statuses_and_averages_completed_seeds():
    spec = parse_spec({**BASE, "seeds": [0, 1, 2], "grid": {"gamma": [0.9, 0.99]}, "target_return": 50})
    a, b = list(spec.configs)
    trials = [
        {"config": a, "seed": 0, "status": "completed", "final_return": 40.0, "first_solved_step": None, "wall_time": 3.0, "error": ""},
        {"config": a, "seed": 1, "status": "completed", "final_return": 60.0, "first_solved_step": 2000, "wall_time": 5.0, "error": ""},
        {"config": a, "seed": 2, "status": "completed", "final_return": 80.0, "first_solved_step": 1000, "wall_time": 4.0, "error": ""},
        {"config": b, "seed": 0, "status": "failed", "final_return": None, "first_solved_step": None, "wall_time": None, "error": "ValueError: x"},
        {"config": b, "seed": 1, "status": "stopped", "final_return": None, "first_solved_step": None, "wall_time": None, "error": ""},
        {"config": b, "seed": 2, "status": "completed", "final_return": 10.0, "first_solved_step": None, "wall_time": 2.0, "error": ""},
    ]
    first, second = summarize(spec, trials)
    assert first["gamma"] == 0.9 and (first["completed"], first["failed"], first["stopped"]) == (3, 0, 0)
    assert first["final_return_mean"] == pytest.approx(60.0)
    assert first["final_return_ci95"] == pytest.approx(4.302653 * 20.0 / math.sqrt(3), rel=1e-5)
    assert (first["solved"], first["steps_to_target_mean"], first["wall_time_mean"]) == (2, 1500.0, 4.0)
    assert (second["completed"], second["failed"], second["stopped"]) == (1, 1, 1)
    assert second["final_return_mean"] == 10.0 and second["final_return_ci95"] is None
    assert second["errors"] == "ValueError: x"


# ---------------------------------------------------------------------------------------------- a real sweep

SWEEP = {
    **BASE,
    "settings": {"total_steps": 1500, "num_envs": 1, "learning_starts": 500, "eval_every": 500, "eval_episodes": 3,
                 "final_eval_episodes": 5, "checkpoint_every": 0, "tensorboard": False},
    "grid": {"batch_size": [32, 64, 0]},
    "target_return": 30,
}
GOOD = ["batch_size=32", "batch_size=64"]


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    from tfrl.sweep import connect_ray

    started = connect_ray(None)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def sweep(ray_session, tmp_path_factory):
    from tfrl.sweep import run_sweep

    root = tmp_path_factory.mktemp("sweep")
    (root / "sweep.yaml").write_text(yaml.safe_dump(SWEEP))
    return run_sweep(root / "sweep.yaml", out_dir=root / "out", max_concurrent=2, verbose=False), root


def test_every_trial_is_an_ordinary_run_directory(sweep):
    result, _ = sweep
    for name in GOOD:
        for seed in (0, 1):
            run_dir = result.sweep_dir / "trials" / name / f"seed-{seed}"
            for item in ("config.yaml", "metrics.csv", "final_eval.json", "policy.keras"):
                assert (run_dir / item).is_file(), (run_dir, item)
            record = yaml.safe_load((run_dir / "config.yaml").read_text())
            assert record["run"]["seed"] == seed and record["run"]["total_steps"] == 1500
            assert record["agent"]["batch_size"] == int(name.split("=")[1])
            assert record["run"]["target_return"] == 30
    assert (result.sweep_dir / "ray" / "tune").is_dir()  # Ray's records stay inside the sweep


def test_the_failing_configuration_is_recorded_and_the_others_complete(sweep):
    result, _ = sweep
    by_config = {row["config"]: row for row in result.table}
    assert [(by_config[n]["completed"], by_config[n]["failed"]) for n in GOOD] == [(2, 0), (2, 0)]
    bad = by_config["batch_size=0"]
    assert (bad["completed"], bad["failed"], bad["final_return_mean"]) == (0, 2, None)
    assert "ConfigError" in bad["errors"] and "batch_size must be >= 1" in bad["errors"]
    statuses = {(t["config"], t["seed"]): t["status"] for t in result.trials}
    assert statuses == {**{(n, s): "completed" for n in GOOD for s in (0, 1)},
                        ("batch_size=0", 0): "failed", ("batch_size=0", 1): "failed"}
    error = (result.sweep_dir / "trials" / "batch_size=0" / "seed-0" / "error.txt").read_text()
    assert error.startswith("ConfigError:") and "Traceback" in error


def test_results_csv_and_markdown_agree_with_the_run_directories(sweep):
    result, _ = sweep
    rows = {row["config"]: row for row in csv.DictReader(result.csv_path.open())}
    assert list(rows) == GOOD + ["batch_size=0"]
    markdown = result.markdown_path.read_text()
    for name in GOOD:
        summaries = [json.loads((result.sweep_dir / "trials" / name / f"seed-{s}" / "final_eval.json").read_text())
                     for s in (0, 1)]
        finals = np.array([s["final_eval_mean"] for s in summaries])
        half = 12.706205 * finals.std(ddof=1) / math.sqrt(2)
        row = rows[name]
        assert float(row["final_return_mean"]) == pytest.approx(finals.mean(), rel=1e-9)
        assert float(row["final_return_ci95"]) == pytest.approx(half, rel=1e-5)
        assert float(row["wall_time_mean"]) == pytest.approx(np.mean([s["wall_time"] for s in summaries]), rel=1e-9)
        solved = [s["first_solved_step"] for s in summaries if s["first_solved_step"] is not None]
        assert int(row["solved"]) == len(solved)
        if solved:
            assert float(row["steps_to_target_mean"]) == pytest.approx(np.mean(solved))
        assert f"| {name} | {name.split('=')[1]} | 2/2 | 0 | 0 | {finals.mean():.1f} | ± {half:.1f} |" in markdown
    assert "| batch_size=0 | 0 | 0/2 | 2 | 0 |" in markdown and "steps to 30" in markdown
    trials = list(csv.DictReader(result.trials_path.open()))
    assert len(trials) == 6 and {t["status"] for t in trials} == {"completed", "failed"}


def test_resume_keeps_finished_trials_and_retries_failed_ones(sweep, capsys):
    result, root = sweep
    finished = result.sweep_dir / "trials" / GOOD[0] / "seed-0" / "final_eval.json"
    stamp = finished.stat().st_mtime_ns
    capsys.readouterr()
    code = main(["sweep", str(root / "sweep.yaml"), "--out", str(result.sweep_dir), "--resume", "--max-concurrent", "2"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "| batch_size=32 | 32 | 2/2 |" in out and "2 of 6 trials failed" in err
    assert finished.stat().st_mtime_ns == stamp  # not trained again
    again = {row["config"]: row for row in csv.DictReader(result.csv_path.open())}
    assert again[GOOD[0]]["final_return_mean"] == str(result.table[0]["final_return_mean"])
    assert again["batch_size=0"]["failed"] == "2"
    # a sweep directory is not started twice
    assert main(["sweep", str(root / "sweep.yaml"), "--out", str(result.sweep_dir)]) == 2
    assert "already holds a sweep; continue it with --resume" in capsys.readouterr().err
