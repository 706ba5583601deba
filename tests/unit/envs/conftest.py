"""A scripted Gymnasium env whose every number can be worked out by hand."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import pytest


class Countdown(gymnasium.Env):
    """Observation ``[t, sum of the episode's actions]`` (float64), reward ``action + 1``.

    Terminates on step ``terminate_at`` and reports truncation from step ``truncate_at`` on
    (None: never). Counts its resets and records every action it receives.
    """

    metadata = {"render_modes": []}
    observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gymnasium.spaces.Discrete(3)

    def __init__(self, terminate_at: int | None = None, truncate_at: int | None = None) -> None:
        self.terminate_at = terminate_at
        self.truncate_at = truncate_at
        self.t = 0
        self.total = 0
        self.resets = 0
        self.actions: list[int] = []

    def _obs(self) -> np.ndarray:
        return np.array([self.t, self.total], dtype=np.float64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.t, self.total = 0, 0
        self.resets += 1
        return self._obs(), {}

    def step(self, action):
        action = int(action)
        self.actions.append(action)
        self.t += 1
        self.total += action
        terminated = self.terminate_at is not None and self.t >= self.terminate_at
        truncated = self.truncate_at is not None and self.t >= self.truncate_at
        return self._obs(), float(action + 1), terminated, truncated, {}


@pytest.fixture
def countdown() -> type[Countdown]:
    """The ``Countdown`` env class."""
    return Countdown
