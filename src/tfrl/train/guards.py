"""Guards of a training run: stop cleanly on SIGINT/SIGTERM, stop loudly on NaN or Inf.

``StopSignals`` turns the first SIGINT or SIGTERM into a request that the loop reads between steps
(``LoopContext.after_steps`` asks the session's ``StopSignals``): the current step finishes, a checkpoint is written and the run
returns with ``RunResult.interrupted`` set. A second signal of the same kind acts as usual
(Ctrl-C twice still interrupts at once).

``check_finite_metrics`` and ``check_finite_time_step`` raise ``TrainingDivergedError`` naming the
step, the quantity and the last good checkpoint; the loop then writes no checkpoint of its own,
so the checkpoints on disk all predate the divergence.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType, TracebackType

import numpy as np

from tfrl.errors import TfrlError
from tfrl.specs import TimeStep

__all__ = ["StopSignals", "TrainingDivergedError", "check_finite_metrics", "check_finite_time_step"]


class TrainingDivergedError(TfrlError, FloatingPointError):
    """A loss, gradient norm, reward or observation became NaN or infinite."""


def _diverged(step: int, what: str, value: str, last_good: Path | None) -> TrainingDivergedError:
    where = (f"the last good checkpoint is {last_good} (the run can be resumed from it)" if last_good is not None
             else "no checkpoint was written before it")
    return TrainingDivergedError(
        f"training stopped at step {step}: {what} is {value}; {where}. Lower the learning rate, clip "
        f"gradients (max_grad_norm) or check the environment's rewards and observations"
    )


def check_finite_metrics(metrics: Mapping[str, float], step: int, last_good: Path | None = None) -> None:
    """Raise ``TrainingDivergedError`` if any training metric (loss, gradient norm...) is NaN or infinite."""
    for name, value in metrics.items():
        if not np.isfinite(value):
            raise _diverged(step, name, str(value), last_good)


def check_finite_time_step(time_step: TimeStep, step: int, last_good: Path | None = None) -> None:
    """Raise ``TrainingDivergedError`` if a reward or a floating-point observation is NaN or infinite."""
    if not np.isfinite(time_step.reward).all():
        bad = int(np.flatnonzero(~np.isfinite(time_step.reward))[0])
        raise _diverged(step, f"the reward of environment {bad}", str(time_step.reward[bad]), last_good)
    observation = time_step.observation
    if observation.dtype.kind == "f" and not np.isfinite(observation).all():
        bad = int(np.flatnonzero(~np.isfinite(observation).reshape(len(observation), -1).all(axis=1))[0])
        raise _diverged(step, f"the observation of environment {bad}", np.array2string(observation[bad], threshold=8),
                        last_good)


class StopSignals:
    """Within ``with StopSignals() as stop:``, the first SIGINT or SIGTERM sets ``stop.received``.

    Handlers are only installed in the main thread (elsewhere, such as in a Ray worker thread, this
    does nothing); the previous handlers are put back on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[int, object] = {}

    @property
    def name(self) -> str | None:
        """``"SIGINT"`` or ``"SIGTERM"`` once one was received, else None."""
        return self.received.name if self.received is not None else None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and self.received == signum:  # asked twice: do what it would have done
            previous = self._previous.get(signum)
            if callable(previous):
                previous(signum, frame)
                return
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.received = signal.Signals(signum)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
