"""Run logging: TensorBoard scalars, a wide ``metrics.csv``, a console progress bar, memory use.

Metric names are grouped CleanRL style: ``charts/episode_return``, ``losses/td_loss``,
``eval/return_mean``. Every call of :meth:`MetricsLogger.log` writes each scalar to TensorBoard and
one row to ``metrics.csv``, so a run can be plotted without TensorBoard (``tfrl plot``).

The CSV is wide: ``step``, ``wall_time`` (seconds since the run started, continued across resumes),
then one column per metric in the order the names were first seen. A row leaves a cell empty when it
lacks that metric. A new metric name rewrites the file once with the extended header; every other
row is appended and flushed, so the file is complete up to the last call even after a crash.

TensorFlow is imported only when TensorBoard output is asked for, so reading and writing CSVs,
plotting and the progress bar work without it.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from tfrl.errors import RunDirError
from tfrl.fileio import atomic_write_text

__all__ = ["METRICS_FILE", "MetricsLogger", "read_metrics", "Progress", "memory_mb"]

METRICS_FILE = "metrics.csv"
"""Name of the CSV file that :class:`MetricsLogger` writes inside a run directory."""

_FIXED = ("step", "wall_time")


def _to_float(value: Any) -> float:
    """A Python float from a Python number, a NumPy scalar or a scalar TensorFlow tensor."""
    if hasattr(value, "numpy"):  # tf.Tensor / tf.Variable, without importing TensorFlow
        value = value.numpy()
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"a metric must be a scalar, got an array of shape {arr.shape}")
    return float(arr.reshape(()))


def _fmt_cell(value: float) -> str:
    """Shortest text that reads back as the same float; ``nan``, ``inf``, ``-inf`` as such."""
    return repr(float(value))


_atomic_write_text = atomic_write_text


def _rows_to_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row + [""] * (len(header) - len(row)))
    return buf.getvalue()


def _read_rows(path: Path) -> tuple[str, list[tuple[int, list[str]]]]:
    """The text of a ``metrics.csv`` and its rows, each with its line number. A file that is not UTF-8, not CSV or
    whose header does not start with ``step,wall_time`` is a ``RunDirError``."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
        reader = csv.reader(io.StringIO(text))
        lines = [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError as exc:
        problem = f"is not a UTF-8 CSV file (byte 0x{data[exc.start]:02x} at position {exc.start})"
    except csv.Error as exc:  # a field over csv.field_size_limit(), say
        problem = f"is not a CSV file tfrl can read (line {reader.line_num}: {exc})"
    else:
        if text.strip() and tuple(lines[0][1][:2]) != _FIXED:
            raise RunDirError(f"{str(path)!r} is not a tfrl metrics file: its header starts with "
                              f"{[h[:40] for h in lines[0][1][:2]]}, expected {list(_FIXED)}; move it away or start "
                              f"a new run directory")
        return text, lines
    raise RunDirError(f"{str(path)!r} {problem}; the run's metrics are damaged: restore the file or delete it")


def _read_raw(path: Path) -> tuple[list[str], list[list[str]], bool]:
    """Header, rows and whether anything was dropped: a torn last line (a crash while writing it) or blank lines.
    Any other row that is not of numbers is damage, a ``RunDirError`` naming its line: no row is lost unsaid."""
    text, lines = _read_rows(path)
    if not text.strip():
        return [], [], bool(text)
    header, rows = lines[0][1], []
    torn = dropped = not text.endswith("\n")
    for i, (line, row) in enumerate(lines[1:], start=1):
        if not row or (torn and i == len(lines) - 1):
            dropped = True
            continue
        try:
            ok = 2 <= len(row) <= len(header) and math.isfinite(float(row[0]) + float(row[1]))
        except ValueError:
            ok = False
        if not ok:
            raise RunDirError(f"{str(path)!r} line {line} is not a row of step, wall_time and at most {len(header) - 2} "
                              f"metrics ({len(row)} cells: {','.join(row)[:60]!r}); the run's metrics are damaged: "
                              f"restore the file, or delete that line (or the file) to continue the run")
        rows.append(row)
    return header, rows, dropped


class MetricsLogger:
    """Write scalars to TensorBoard and to ``run_dir/metrics.csv``.

    Args:
        run_dir: the run directory; created if missing. TensorBoard event files go directly in it.
        tensorboard: also write TensorBoard event files (imports TensorFlow).
        resume_step: when continuing a run, the step of the checkpoint being resumed from: rows
            with a larger step are dropped from the CSV (they will be logged again), and
            ``wall_time`` continues from the last kept row. With ``None`` an existing
            ``metrics.csv`` is kept whole and appended to.
        resume_rows: when continuing a run, the number of rows the checkpoint saw written
            (``rows`` at that time): exactly those are kept, which also drops rows logged after the
            checkpoint at its own step (the final evaluation of a run killed while finishing).
            Takes precedence over ``resume_step``.

    TensorBoard event files from before a resume are left as they are, so TensorBoard may show the
    steps after ``resume_step`` twice; ``metrics.csv`` never has duplicates.
    """

    def __init__(
        self,
        run_dir: str | Path,
        tensorboard: bool = True,
        resume_step: int | None = None,
        resume_rows: int | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.run_dir / METRICS_FILE
        self._columns: list[str] = []  # metric names, without step and wall_time
        self.rows = 0
        """Rows in ``metrics.csv`` (checkpoints save it, so that a resume keeps exactly those)."""
        self._time_offset = 0.0
        self._closed = False

        if self.csv_path.exists():
            header, rows, dropped = _read_raw(self.csv_path)
            kept = rows
            if resume_rows is not None:
                kept = rows[:resume_rows]
            elif resume_step is not None:
                kept = [r for r in rows if float(r[0]) <= resume_step]
            if header:
                self._columns = header[2:]
            if kept:
                self._time_offset = float(kept[-1][1])
            if dropped or len(kept) != len(rows):
                _atomic_write_text(self.csv_path, _rows_to_text(header or list(_FIXED), kept))
            self.rows = len(kept)
        if not self.csv_path.exists() or self.csv_path.stat().st_size == 0:
            _atomic_write_text(self.csv_path, _rows_to_text(list(_FIXED) + self._columns, []))

        self._tb_writer: Any = None
        if tensorboard:
            import tensorflow as tf

            self._tf = tf
            self._tb_writer = tf.summary.create_file_writer(str(self.run_dir))

        self._file: TextIO | None = open(self.csv_path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._start = time.monotonic()

    @property
    def columns(self) -> list[str]:
        """The metric columns of the CSV in order (without ``step`` and ``wall_time``)."""
        return list(self._columns)

    def wall_time(self) -> float:
        """Seconds since the run started, including the time of earlier sessions of a resumed run."""
        return self._time_offset + (time.monotonic() - self._start)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        """Write every scalar at ``step`` to TensorBoard and one row to ``metrics.csv``.

        Values may be Python numbers, NumPy scalars or scalar tensors; non-finite values are written
        as ``nan``/``inf``. An empty mapping writes nothing.
        """
        if self._closed:
            raise RuntimeError("MetricsLogger.log called after close()")
        if not scalars:
            return
        step = int(step)
        values: dict[str, float] = {}
        for name, value in scalars.items():
            if not isinstance(name, str) or not name or name in _FIXED:
                raise ValueError(f"bad metric name {name!r}: use a non-empty string other than {_FIXED}")
            values[name] = _to_float(value)

        new = [n for n in values if n not in self._columns]
        if new:
            self._extend_columns(new)
        row = [str(step), f"{self.wall_time():.3f}"]
        row += [_fmt_cell(values[n]) if n in values else "" for n in self._columns]
        assert self._file is not None
        self._writer.writerow(row)
        self._file.flush()
        self.rows += 1

        if self._tb_writer is not None:
            tf = self._tf
            with self._tb_writer.as_default():
                for name, value in values.items():
                    tf.summary.scalar(name, value, step=step)

    def _extend_columns(self, new: list[str]) -> None:
        """Rewrite the CSV atomically with ``new`` columns appended to the header."""
        assert self._file is not None
        self._file.close()
        header, rows, _ = _read_raw(self.csv_path)
        self._columns += new
        _atomic_write_text(self.csv_path, _rows_to_text(list(_FIXED) + self._columns, rows))
        self._file = open(self.csv_path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file, lineterminator="\n")

    def flush(self) -> None:
        """Push buffered output to disk (the CSV is already flushed after every row)."""
        if self._file is not None and not self._file.closed:
            self._file.flush()
        if self._tb_writer is not None:
            self._tb_writer.flush()

    def close(self) -> None:
        """Flush and close the files. Calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb_writer is not None:
            self._tb_writer.close()
            self._tb_writer = None

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_metrics(path: str | Path) -> dict[str, np.ndarray]:
    """The columns of a ``metrics.csv`` (or of a run directory holding one) as float arrays.

    Empty cells, and cells that are not numbers, read as ``nan``; the keys keep the column order of the file. An
    empty file gives an empty dict; one that is not a tfrl metrics file (UTF-8 CSV) is a ``RunDirError``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise RunDirError(f"no metrics file at {path}: pass a run directory or its {METRICS_FILE}")
    lines = [row for _, row in _read_rows(path)[1] if row]
    if not lines:
        return {}
    header, rows = lines[0], lines[1:]
    data = np.full((len(rows), len(header)), np.nan, dtype=np.float64)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row[: len(header)]):
            if cell != "":
                try:
                    data[i, j] = float(cell)
                except ValueError:
                    pass
    return {name: data[:, j].copy() for j, name in enumerate(header)}


def _fmt_postfix(value: Any) -> str:
    try:
        v = _to_float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
        return f"{v:.3g}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.4g}" if v != int(v) else f"{v:.1f}"


class Progress:
    """A console progress bar (tqdm): steps done/total, steps per second, ETA and latest metrics.

    Args:
        total: the step count at which training ends.
        initial: the step to start from (a resumed run).
        desc: the label at the left of the bar.
        disable: hide the bar; ``None`` hides it when the environment variable ``TFRL_PROGRESS``
            is ``0``.
        file: the stream to write to; ``None`` means ``sys.stderr``.
    """

    postfix_interval: float = 0.25
    """Least seconds between two re-formattings of the postfix, so ``update`` is cheap per step."""

    def __init__(
        self,
        total: int,
        initial: int = 0,
        desc: str = "train",
        disable: bool | None = None,
        file: TextIO | None = None,
    ) -> None:
        from tqdm import tqdm

        if disable is None:
            disable = os.environ.get("TFRL_PROGRESS", "1").strip() == "0"
        self.disabled = bool(disable)
        self._postfix: dict[str, Any] = {}
        self._dirty = False
        self._last_postfix = -math.inf
        stream = file if file is not None else sys.stderr
        interactive = bool(getattr(stream, "isatty", lambda: False)())
        self._bar = tqdm(
            mininterval=0.1 if interactive else 15.0,  # a log file gets a line every 15 s, not a wall of updates
            total=int(total),
            initial=int(initial),
            desc=desc,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            smoothing=0.05,
            file=stream,
            disable=self.disabled,
        )
        self._n = int(initial)

    @property
    def n(self) -> int:
        """The last step passed to :meth:`update`."""
        return self._n

    def update(self, step: int, **postfix: float) -> None:
        """Move the bar to the absolute ``step`` and remember the ``postfix`` values.

        Values not given keep their last value (an evaluation score stays shown between
        evaluations). The postfix is re-formatted at most every ``postfix_interval`` seconds.
        """
        if self.disabled:
            self._n = int(step)
            return
        if postfix:
            self._postfix.update(postfix)
            self._dirty = True
        now = time.monotonic()
        if self._dirty and now - self._last_postfix >= self.postfix_interval:
            self._apply_postfix()
            self._last_postfix = now
        delta = int(step) - self._n
        if delta > 0:
            self._bar.update(delta)
            self._n = int(step)

    def _apply_postfix(self) -> None:
        text = " ".join(f"{k}={_fmt_postfix(v)}" for k, v in self._postfix.items())
        self._bar.set_postfix_str(text, refresh=False)
        self._dirty = False

    def close(self) -> None:
        """Show the latest postfix and close the bar. Calling it again does nothing."""
        if self._dirty and not self.disabled:
            self._apply_postfix()
            self._bar.refresh()
        self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def memory_mb() -> float:
    """Resident memory of this process in MB (``VmRSS``); the peak RSS where ``/proc`` is missing."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return math.nan
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0
