"""Tests of ``plot_runs`` and ``tfrl plot``: seeds grouped by config, PNG and SVG written, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from tfrl.cli.main import main
from tfrl.errors import ConfigError, RunDirError
from tfrl.plotting import _aggregate, plot_runs


def _make_run(path: Path, seed: int, lr: float = 1e-3, with_eval: bool = True, slope: float = 1.0) -> Path:
    """A run directory with config.yaml and metrics.csv, as 'tfrl train' leaves them (no TensorFlow)."""
    path.mkdir(parents=True)
    record = {"algo": "ppo", "env": "CartPole-v1", "run": {"total_steps": 10_000, "seed": seed, "eval_every": 1000,
                                                            "tensorboard": False},
              "agent": {"learning_rate": lr, "gamma": 0.99}}
    (path / "config.yaml").write_text(yaml.safe_dump(record))
    rng = np.random.default_rng(seed)
    rows = ["step,wall_time,charts/episode_return,eval/return_mean,eval/return_std"]
    for step in range(250, 10_001, 250):
        wall = step / 1000 * (1 + 0.2 * seed)  # seeds that run at different speeds
        rows.append(f"{step},{wall:.3f},{slope * step / 50 + rng.normal(0, 5)},,")
        if with_eval and step % 1000 == 0:
            rows.append(f"{step},{wall + 0.1:.3f},,{slope * step / 40 + 10 * seed},3.0")
    (path / "metrics.csv").write_text("\n".join(rows) + "\n")
    return path


def _svg_text(path: Path) -> str:
    text = path.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    return text


def test_aggregate_interpolates_and_holds_the_last_value():
    xs = [np.array([0.0, 10.0, 20.0]), np.array([0.0, 5.0])]
    ys = [np.array([0.0, 10.0, 20.0]), np.array([2.0, 4.0])]
    grid, mean, lo, hi, count = _aggregate(xs, ys)
    np.testing.assert_array_equal(grid, [0.0, 5.0, 10.0, 20.0])
    # run 2 holds 4.0 after step 5; run 1 is 5.0 at step 5 by interpolation
    np.testing.assert_allclose(mean, [1.0, 4.5, 7.0, 12.0])
    np.testing.assert_allclose(lo, [0.0, 4.0, 4.0, 4.0])
    np.testing.assert_allclose(hi, [2.0, 5.0, 10.0, 20.0])
    np.testing.assert_array_equal(count, [2, 2, 2, 2])


def test_aggregate_counts_a_curve_from_its_first_point():
    grid, mean, lo, hi, count = _aggregate([np.array([1.0, 3.0]), np.array([2.0, 3.0])],
                                           [np.array([10.0, 30.0]), np.array([0.0, 2.0])])
    np.testing.assert_array_equal(grid, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(count, [1, 2, 2])
    np.testing.assert_allclose(mean, [10.0, 10.0, 16.0])
    np.testing.assert_allclose(lo, [10.0, 0.0, 2.0])


def test_two_seeds_make_one_group_and_both_files(tmp_path):
    runs = [_make_run(tmp_path / "exp" / f"seed-{s}", seed=s) for s in (0, 1)]
    png, svg = plot_runs(runs, tmp_path / "fig" / "returns.png")
    assert (png, svg) == (tmp_path / "fig" / "returns.png", tmp_path / "fig" / "returns.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 20_000 < png.stat().st_size < 2_000_000
    import matplotlib.image

    pixels = matplotlib.image.imread(png)
    assert pixels.shape[0] >= 400 and pixels.shape[1] >= 1000  # two panels side by side
    rgb = pixels[..., :3]
    assert np.mean(np.any(rgb < 0.9, axis=-1)) > 0.02  # far from a blank white canvas
    assert np.unique(rgb.reshape(-1, 3), axis=0).shape[0] > 20
    text = _svg_text(svg)
    assert "ppo CartPole-v1 (2 seeds)" in text
    assert "thick: mean over seeds; shaded: min to max" in text
    assert "environment steps" in text and "wall time (s)" in text
    assert not list((tmp_path / "fig").glob(".*"))  # no temporary files left


def test_configs_are_told_apart_and_runs_without_evaluations_fall_back(tmp_path):
    runs = [_make_run(tmp_path / f"a{s}", seed=s) for s in (0, 1)]
    runs.append(_make_run(tmp_path / "b", seed=0, lr=3e-4, with_eval=False, slope=0.5))
    _, svg = plot_runs(runs, tmp_path / "cmp.svg", x="steps", title="my comparison")
    text = _svg_text(svg)
    assert "ppo CartPole-v1 (learning_rate=0.001) (2 seeds)" in text
    assert "ppo CartPole-v1 (learning_rate=0.0003) - training returns" in text
    assert "my comparison" in text
    assert "wall time" not in text  # one panel
    assert (tmp_path / "cmp.png").is_file()


def test_labels_group_runs(tmp_path):
    runs = [_make_run(tmp_path / f"r{s}", seed=s, lr=lr) for s, lr in ((0, 1e-3), (1, 3e-4))]
    _, svg = plot_runs(runs, tmp_path / "lab", x="time", labels=["tuned", "tuned"])
    text = _svg_text(svg)
    assert "tuned (2 seeds)" in text and "learning_rate" not in text
    assert "environment steps" not in text and "wall time (s)" in text
    with pytest.raises(ConfigError, match="one label per run"):
        plot_runs(runs, tmp_path / "x.png", labels=["only one"])


def test_bad_input(tmp_path):
    run = _make_run(tmp_path / "r", seed=0)
    with pytest.raises(RunDirError, match="does not exist"):
        plot_runs([tmp_path / "missing"], tmp_path / "x.png")
    with pytest.raises(ConfigError, match="x must be one of"):
        plot_runs([run], tmp_path / "x.png", x="episodes")
    with pytest.raises(ConfigError, match=".pdf"):
        plot_runs([run], tmp_path / "x.pdf")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match="holds none"):
        plot_runs([tmp_path / "empty"], tmp_path / "x.png")


def test_cli_plot_directory_of_seeds(tmp_path, capsys):
    for s in (0, 1):
        _make_run(tmp_path / "exp" / f"seed-{s}", seed=s)
    assert main(["plot", str(tmp_path / "exp")]) == 0
    out = capsys.readouterr().out
    assert f"figure: {(tmp_path / 'exp' / 'returns.png').resolve()}" in out
    assert (tmp_path / "exp" / "returns.svg").is_file()

    target = tmp_path / "figs" / "seeds.png"
    assert main(["plot", str(tmp_path / "exp" / "seed-0"), str(tmp_path / "exp" / "seed-1"), "--out", str(target),
                 "--x", "steps"]) == 0
    assert f"figure: {target}" in capsys.readouterr().out and target.with_suffix(".svg").is_file()


def test_cli_plot_errors(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tfrl: error: ") and "does not exist" in err[0]
    run = _make_run(tmp_path / "r", seed=0)
    assert main(["plot", str(run), "--out", str(tmp_path / "f.jpg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ".png or .svg" in err[0]
