"""The frame processing of the Atari pipeline (``tfrl.envs.atari``) as ``gymnasium.Wrapper`` classes:
``MaxAndSkip`` (frame skip and flicker removal), ``ResizeObservation`` with ``area_resize`` (pure NumPy, no
OpenCV) and ``FrameStack``. They need no ALE: any env with 2-D uint8 frames will do.
"""

from __future__ import annotations

import collections
import functools
from typing import Any, SupportsFloat

import gymnasium
import numpy as np

from tfrl.envs.checks import positive_int
from tfrl.errors import ConfigError

__all__ = ["MaxAndSkip", "ResizeObservation", "FrameStack", "area_resize"]


class MaxAndSkip(gymnasium.Wrapper):
    """Repeat each action for ``skip`` frames, summing rewards; observe the max of the last two frames.

    Stops early when the game ends; the observation is then the max of the last two frames played
    (or the one frame, if only one was played).
    """

    def __init__(self, env: gymnasium.Env, skip: int = 4) -> None:
        super().__init__(env)
        self.skip = positive_int("frame_skip", skip)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Play ``action`` for up to ``skip`` frames."""
        total = 0.0
        last_two: collections.deque[np.ndarray] = collections.deque(maxlen=2)
        for _ in range(self.skip):
            observation, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            last_two.append(observation)
            if terminated or truncated:
                break
        frame = last_two[-1] if len(last_two) == 1 else np.maximum(last_two[0], last_two[1])
        return frame, total, terminated, truncated, info


def _area_weights(size_in: int, size_out: int) -> np.ndarray:
    """``[size_out, size_in]`` matrix: row j averages input cells over [j, j+1) * size_in / size_out."""
    scale = size_in / size_out
    edges = np.arange(size_out + 1) * scale
    cells = np.arange(size_in)
    lo = np.maximum(edges[:-1, None], cells[None, :])
    hi = np.minimum(edges[1:, None], cells[None, :] + 1)
    return (np.clip(hi - lo, 0.0, None) / scale).astype(np.float32)


def _sparse_area_weights(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray]:
    """The nonzero entries of ``_area_weights`` per output cell: ``(indices, weights)``, both ``[size_out, k]``."""
    weights = _area_weights(size_in, size_out)
    nonzero = weights > 0
    k = int(nonzero.sum(axis=1).max())
    indices = np.sort(np.argsort(~nonzero, axis=1, kind="stable")[:, :k], axis=1)
    return indices, np.take_along_axis(weights, indices, axis=1)


@functools.lru_cache(maxsize=8)
def _resize_weights(
    in_shape: tuple[int, int], out_shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rows, row_weights = _sparse_area_weights(in_shape[0], out_shape[0])
    cols, col_weights = _sparse_area_weights(in_shape[1], out_shape[1])
    return rows, row_weights[:, :, None], cols, col_weights[None, :, :]


def area_resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D uint8 frame by area averaging (as OpenCV's ``INTER_AREA`` when shrinking), rounded.

    Each output pixel is the area-weighted mean of the input pixels its cell covers; the weights are
    applied as a gather and a weighted sum per axis (about 0.15 ms for 210x160 to 84x84, no BLAS call).
    """
    rows, row_weights, cols, col_weights = _resize_weights(frame.shape[:2], (height, width))
    tall = (frame[rows].astype(np.float32) * row_weights).sum(axis=1)  # [height, in_width]
    out = (tall[:, cols] * col_weights).sum(axis=2)  # [height, width]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class ResizeObservation(gymnasium.ObservationWrapper):
    """Area-resize a 2-D grayscale uint8 observation to ``(height, width)``."""

    def __init__(self, env: gymnasium.Env, height: int = 84, width: int = 84) -> None:
        super().__init__(env)
        self.height = positive_int("screen_size", height)
        self.width = positive_int("screen_size", width)
        if len(env.observation_space.shape or ()) != 2:
            raise ConfigError(f"ResizeObservation needs 2-D grayscale frames, got {env.observation_space}")
        self.observation_space = gymnasium.spaces.Box(0, 255, (self.height, self.width), np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """The resized frame."""
        return area_resize(np.asarray(observation), self.height, self.width)


class FrameStack(gymnasium.Wrapper):
    """Observe the last ``num_frames`` 2-D frames stacked on a last axis, oldest first, as uint8.

    After a reset the stack holds ``num_frames`` copies of the reset frame.
    """

    def __init__(self, env: gymnasium.Env, num_frames: int = 4) -> None:
        super().__init__(env)
        self.num_frames = positive_int("frame_stack", num_frames)
        shape = env.observation_space.shape
        self.observation_space = gymnasium.spaces.Box(0, 255, (*shape, self.num_frames), np.uint8)
        self._frames: collections.deque[np.ndarray] = collections.deque(maxlen=self.num_frames)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset and fill the stack with the first frame."""
        observation, info = self.env.reset(**kwargs)
        for _ in range(self.num_frames):
            self._frames.append(observation)
        return self._stacked(), info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step and push the new frame."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._frames.append(observation)
        return self._stacked(), reward, terminated, truncated, info

    def _stacked(self) -> np.ndarray:
        return np.stack(self._frames, axis=-1).astype(np.uint8, copy=False)
