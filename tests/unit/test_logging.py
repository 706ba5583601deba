"""Tests of tfrl.logging: the wide metrics CSV, resume, TensorBoard scalars, progress bar, memory."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest

from tfrl.errors import RunDirError
from tfrl.logging import MetricsLogger, Progress, memory_mb, read_metrics


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_rows_and_header(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        logger.log(10, {"charts/episode_return": 12.5, "losses/td_loss": np.float32(0.25)})
        logger.log(20, {"charts/episode_return": 20, "losses/td_loss": 0.5})
    rows = _rows(tmp_path / "metrics.csv")
    assert rows[0] == ["step", "wall_time", "charts/episode_return", "losses/td_loss"]
    assert [r[0] for r in rows[1:]] == ["10", "20"]
    assert [float(r[2]) for r in rows[1:]] == [12.5, 20.0]
    assert [float(r[3]) for r in rows[1:]] == [0.25, 0.5]
    wall = [float(r[1]) for r in rows[1:]]
    assert 0.0 <= wall[0] <= wall[1] < 60.0


def test_rows_are_on_disk_before_close(tmp_path: Path) -> None:
    logger = MetricsLogger(tmp_path, tensorboard=False)
    logger.log(1, {"a": 1.0})
    assert len(_rows(tmp_path / "metrics.csv")) == 2
    logger.close()
    logger.close()  # idempotent
    with pytest.raises(RuntimeError, match="after close"):
        logger.log(2, {"a": 2.0})


def test_missing_metric_leaves_empty_cell(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        logger.log(1, {"a": 1.0, "b": 2.0})
        logger.log(2, {"b": 3.0})
    rows = _rows(tmp_path / "metrics.csv")
    assert rows[2][2] == ""
    assert float(rows[2][3]) == 3.0


def test_new_metric_mid_run_extends_header_and_keeps_rows(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        logger.log(1, {"charts/episode_return": 1.0})
        logger.log(2, {"charts/episode_return": 2.0})
        logger.log(3, {"eval/return_mean": 9.0, "eval/return_std": 1.5})
        logger.log(4, {"charts/episode_return": 4.0})
        assert logger.columns == ["charts/episode_return", "eval/return_mean", "eval/return_std"]
    rows = _rows(tmp_path / "metrics.csv")
    assert rows[0] == ["step", "wall_time", "charts/episode_return", "eval/return_mean", "eval/return_std"]
    assert all(len(r) == 5 for r in rows)
    assert rows[1][2:] == ["1.0", "", ""]
    assert rows[2][2:] == ["2.0", "", ""]
    assert rows[3][2:] == ["", "9.0", "1.5"]
    assert rows[4][2:] == ["4.0", "", ""]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_non_finite_values_are_written(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        logger.log(1, {"a": float("nan"), "b": float("inf"), "c": -math.inf})
    m = read_metrics(tmp_path / "metrics.csv")
    assert np.isnan(m["a"][0]) and m["b"][0] == np.inf and m["c"][0] == -np.inf


def test_bad_metric_names_and_values_are_refused(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        with pytest.raises(ValueError, match="bad metric name"):
            logger.log(1, {"step": 1.0})
        with pytest.raises(ValueError, match="scalar"):
            logger.log(1, {"a": np.zeros(3)})


def test_resume_drops_later_rows_and_continues_wall_time(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        for step in (100, 200, 300, 400):
            logger.log(step, {"charts/episode_return": step / 10})
    # Pretend the first session ran for a long time, so continuation is visible.
    path = tmp_path / "metrics.csv"
    rows = _rows(path)
    for i, r in enumerate(rows[1:], start=1):
        r[1] = f"{1000.0 * i:.3f}"
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)

    with MetricsLogger(tmp_path, tensorboard=False, resume_step=200) as logger:
        assert logger.columns == ["charts/episode_return"]
        assert [r[0] for r in _rows(path)[1:]] == ["100", "200"]
        logger.log(300, {"charts/episode_return": 31.0, "losses/loss": 0.1})
    m = read_metrics(path)
    np.testing.assert_array_equal(m["step"], [100, 200, 300])
    np.testing.assert_array_equal(m["charts/episode_return"], [10.0, 20.0, 31.0])
    assert m["wall_time"][1] == 2000.0
    assert 2000.0 <= m["wall_time"][2] < 2060.0
    assert np.isnan(m["losses/loss"][:2]).all() and m["losses/loss"][2] == pytest.approx(0.1)


def test_reopen_without_resume_step_appends(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        logger.log(1, {"a": 1.0})
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        logger.log(2, {"a": 2.0})
    np.testing.assert_array_equal(read_metrics(tmp_path)["a"], [1.0, 2.0])


def test_torn_last_line_is_dropped_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("step,wall_time,a\n1,0.5,1.0\n2,0.7,2.")  # crash mid-row
    with MetricsLogger(tmp_path, tensorboard=False, resume_step=10) as logger:
        logger.log(2, {"a": 2.5})
    m = read_metrics(path)
    np.testing.assert_array_equal(m["step"], [1, 2])
    np.testing.assert_array_equal(m["a"], [1.0, 2.5])


def test_foreign_csv_is_refused(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text("epoch,loss\n1,0.5\n")
    with pytest.raises(RunDirError, match="not a tfrl metrics file"):
        MetricsLogger(tmp_path, tensorboard=False)


def test_read_metrics_round_trip(tmp_path: Path) -> None:
    values = {"x": [0.1, 1e-12, 123456789.125], "y": [1.0, None, 3.0]}
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        for i in range(3):
            logger.log(i * 5, {k: v[i] for k, v in values.items() if v[i] is not None})
    m = read_metrics(tmp_path / "metrics.csv")
    assert list(m) == ["step", "wall_time", "x", "y"]
    assert all(a.dtype == np.float64 and a.shape == (3,) for a in m.values())
    np.testing.assert_array_equal(m["step"], [0, 5, 10])
    np.testing.assert_array_equal(m["x"], values["x"])  # exact: repr round-trips floats
    assert m["y"][0] == 1.0 and np.isnan(m["y"][1]) and m["y"][2] == 3.0


def test_read_metrics_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="no metrics file"):
        read_metrics(tmp_path / "nope.csv")


def test_tensorboard_scalars_are_written(tmp_path: Path) -> None:
    import tensorflow as tf

    with MetricsLogger(tmp_path, tensorboard=True) as logger:
        logger.log(7, {"charts/episode_return": 187.0, "losses/td_loss": tf.constant(0.5)})
        logger.log(8, {"charts/episode_return": 200.0})
    events = list(tmp_path.glob("events.out.tfevents.*"))
    assert len(events) == 1
    seen: dict[tuple[str, int], float] = {}
    for event in tf.compat.v1.train.summary_iterator(str(events[0])):
        for value in event.summary.value:
            seen[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    assert seen == {
        ("charts/episode_return", 7): 187.0,
        ("losses/td_loss", 7): 0.5,
        ("charts/episode_return", 8): 200.0,
    }


def test_progress_disabled() -> None:
    buf = io.StringIO()
    bar = Progress(100, disable=True, file=buf)
    for step in range(1, 101):
        bar.update(step, ret=1.0)
    assert bar.n == 100
    bar.close()
    assert buf.getvalue() == ""


def test_progress_env_variable_disables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFRL_PROGRESS", "0")
    buf = io.StringIO()
    with Progress(10, file=buf) as bar:
        bar.update(5)
    assert bar.disabled and buf.getvalue() == ""


def test_progress_writes_steps_and_postfix() -> None:
    buf = io.StringIO()
    bar = Progress(1000, initial=100, desc="train", disable=False, file=buf)
    bar.update(150, **{"return": 187.0, "eps": 0.05})
    for step in range(151, 1001):
        bar.update(step)  # cheap per step, keeps the last postfix
    bar.update(1000, eval=500.0)
    bar.close()
    out = buf.getvalue()
    assert "train" in out
    assert "1.00k/1.00k" in out
    assert "return=187.0" in out and "eps=0.05" in out and "eval=500.0" in out
    assert bar.n == 1000


def test_memory_mb_is_plausible() -> None:
    mb = memory_mb()
    assert 1.0 < mb < 1_000_000.0


def test_resume_rows_keeps_exactly_the_rows_a_checkpoint_saw(tmp_path):
    # a run killed while finishing: its final evaluation row has the checkpoint's own step
    with MetricsLogger(tmp_path, tensorboard=False) as logger:
        for step in (100, 200, 300):
            logger.log(step, {"charts/episode_return": float(step)})
        rows_at_checkpoint = logger.rows
        logger.log(300, {"eval/final_return_mean": 1.0})
    assert rows_at_checkpoint == 3
    with MetricsLogger(tmp_path, tensorboard=False, resume_step=300) as logger:
        assert logger.rows == 4  # a step filter cannot tell the final row from the others at step 300
    with MetricsLogger(tmp_path, tensorboard=False, resume_rows=rows_at_checkpoint) as logger:
        assert logger.rows == 3
    assert len(read_metrics(tmp_path)["step"]) == 3
