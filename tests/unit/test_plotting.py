"""Tests of tfrl.plotting: learning-curve PNGs from metrics.csv, with and without data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tfrl.errors import RunDirError
from tfrl.logging import MetricsLogger
from tfrl.plotting import plot_learning_curve, smooth


def _png_pixels(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(path).convert("RGB"))


def _write_run(run: Path, with_train: bool = True, with_eval: bool = True, with_std: bool = True) -> Path:
    rng = np.random.default_rng(0)
    with MetricsLogger(run, tensorboard=False) as logger:
        for step in range(0, 20_000, 100):
            if with_train:
                logger.log(step, {"charts/episode_return": step / 100 + rng.normal(0, 10), "losses/td_loss": 1.0})
            if with_eval and step % 2000 == 0:
                scalars = {"eval/return_mean": step / 90}
                if with_std:
                    scalars["eval/return_std"] = 15.0
                logger.log(step, scalars)
    return run / "metrics.csv"


def test_plot_full_run(tmp_path: Path) -> None:
    csv_path = _write_run(tmp_path / "dqn-CartPole-v1-20250101-000000")
    out = plot_learning_curve(csv_path, tmp_path / "plots" / "curve.png", title="DQN on CartPole")
    assert out == tmp_path / "plots" / "curve.png"
    assert out.stat().st_size > 10_000
    pixels = _png_pixels(out)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 300
    assert pixels.std() > 10  # not a blank image
    # the blue training curve and the orange evaluation band are both present
    assert (np.abs(pixels.astype(int) - (31, 119, 180)).sum(axis=2) < 30).sum() > 100
    assert (np.abs(pixels.astype(int) - (255, 127, 14)).sum(axis=2) < 30).sum() > 100
    assert not [p for p in out.parent.iterdir() if p.name != "curve.png"]  # no temp file left


@pytest.mark.parametrize(
    "kwargs", [dict(with_eval=False), dict(with_train=False), dict(with_std=False)], ids=["no-eval", "no-train", "no-std"]
)
def test_plot_missing_columns(tmp_path: Path, kwargs: dict) -> None:
    csv_path = _write_run(tmp_path / "run", **kwargs)
    out = plot_learning_curve(tmp_path / "run", tmp_path / "curve")  # a run dir; suffix added
    assert out.suffix == ".png"
    assert out.stat().st_size > 5_000
    assert _png_pixels(out).std() > 10
    assert csv_path.exists()


def test_plot_no_data_still_writes_a_figure(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path / "run", tensorboard=False):
        pass  # header only
    out = plot_learning_curve(tmp_path / "run" / "metrics.csv", tmp_path / "empty.png")
    assert out.stat().st_size > 3_000
    assert _png_pixels(out).std() > 1


def test_plot_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RunDirError):
        plot_learning_curve(tmp_path / "missing.csv", tmp_path / "x.png")


def test_smooth_matches_naive_centred_mean() -> None:
    values = np.array([1.0, 5.0, 2.0, 8.0, 3.0, 0.0])
    expected = [np.mean(values[max(0, i - 1): i + 2]) for i in range(len(values))]
    np.testing.assert_allclose(smooth(values, 3), expected)
    np.testing.assert_array_equal(smooth(values, 1), values)
