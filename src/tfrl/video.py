"""Video files of episodes: MP4 (H.264 through imageio-ffmpeg) with a GIF fallback, and captions.

``write_video`` is what ``tfrl watch`` and the video wrapper call. When no FFmpeg encoder can be
used (``imageio-ffmpeg`` missing, its binary failing, or H.264 unavailable) the frames are written as
a GIF with Pillow next to the requested path, and that path is returned: a video is never lost to a
codec problem.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from tfrl.errors import check_output_path
from tfrl.fileio import atomic_path

__all__ = ["write_video", "video_path", "annotate"]

_log = logging.getLogger(__name__)


def _as_rgb(frame: np.ndarray, index: int) -> np.ndarray:
    """Check one frame: uint8, (H, W, 3); (H, W) grey and (H, W, 4) RGBA are converted."""
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        raise ValueError(
            f"frame {index} has dtype {arr.dtype}; frames must be uint8 RGB "
            "(convert floats in [0, 1] with (frame * 255).astype(np.uint8))"
        )
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"frame {index} has shape {np.asarray(frame).shape}; expected (H, W, 3)")
    return np.ascontiguousarray(arr)


def _check_frames(frames: Iterable[np.ndarray]) -> list[np.ndarray]:
    if not isinstance(frames, (Sequence, np.ndarray)):
        frames = list(frames)
    if len(frames) == 0:
        raise ValueError("no frames to write: the frame list is empty")
    checked = [_as_rgb(f, i) for i, f in enumerate(frames)]
    shape = checked[0].shape
    for i, f in enumerate(checked):
        if f.shape != shape:
            raise ValueError(f"frame {i} has shape {f.shape} but frame 0 has {shape}; all frames must match")
    return checked


def _pad_even(frame: np.ndarray) -> np.ndarray:
    """Repeat the last row/column so both sides are even (H.264 with yuv420p needs that)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


@contextlib.contextmanager
def _ffmpeg_log() -> Iterator[Callable[[], str]]:
    """Point file descriptor 2, which the ffmpeg process inherits, at a temporary file while the block runs.

    Yields a function that reads what was written there: ffmpeg's error lines become part of the error
    instead of reaching the console.
    """
    sys.stderr.flush()
    with tempfile.TemporaryFile() as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        read = lambda: (log.seek(0), log.read().decode(errors="replace"))[1]  # noqa: E731
        try:
            yield read
            text = read()  # the block succeeded: pass on anything written meanwhile
            if text:
                os.write(saved, text.encode())
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _write_mp4(frames: Sequence[np.ndarray], path: Path, fps: int) -> None:
    """Encode ``frames`` as H.264 (yuv420p, so every player reads it) into ``path``; on failure (an exception,
    or no file written), raise a RuntimeError with ffmpeg's last error line."""
    import imageio.v2 as imageio

    with _ffmpeg_log() as log:
        try:
            writer = imageio.get_writer(str(path), format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                        pixelformat="yuv420p", macro_block_size=1, quality=7, ffmpeg_log_level="error")
            try:
                for frame in frames:
                    writer.append_data(_pad_even(frame))
            finally:
                writer.close()
            if not path.is_file() or path.stat().st_size == 0:  # ffmpeg can fail without a Python error
                raise OSError(f"ffmpeg wrote no file {str(path)!r}")
        except Exception as exc:
            lines = [line.strip() for line in log().splitlines() if line.strip()]
            raise RuntimeError(f"ffmpeg: {lines[-1]}" if lines else f"{type(exc).__name__}: {exc}") from exc


def _write_gif(frames: Sequence[np.ndarray], path: Path, fps: int) -> None:
    """Write ``frames`` as a looping GIF with Pillow (adaptive palette per frame)."""
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    duration = max(20, round(1000 / fps))  # ms; GIF stores hundredths of a second
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=duration,
        loop=0,
        optimize=False,
    )


def _atomic(
    write: Callable[[Sequence[np.ndarray], Path, int], None], frames: Sequence[np.ndarray], path: Path, fps: int
) -> None:
    """Run ``write`` into a temporary file next to ``path``, then move it into place."""
    with atomic_path(path) as tmp:
        write(frames, tmp, fps)


def video_path(path: str | Path, what: str = "--out") -> Path:
    """The file ``write_video`` writes for ``path`` (``.mp4`` added when it has no suffix), checked before any
    frame is made: ``ConfigError`` (naming ``what``) for an empty path, a directory, a path through a file or
    a name too long for the file system."""
    path = check_output_path(path, what=what, example="video.mp4")
    return path if path.suffix else check_output_path(path.with_suffix(".mp4"), what=what, example="video.mp4")


def write_video(frames: Iterable[np.ndarray], path: str | Path, fps: int = 30) -> Path:
    """Write RGB uint8 frames of shape (H, W, 3) to an MP4 and return the path written.

    Odd frame sizes are padded by one pixel to even. If the MP4 cannot be encoded, a GIF is written
    at ``path`` with the suffix ``.gif`` instead and that path is returned (a warning is logged). A
    ``path`` ending in ``.gif`` writes a GIF directly; a ``path`` without a suffix gets ``.mp4``.
    The frames are held in memory; the file appears atomically.

    Raises:
        ValueError: no frames, frames that are not uint8 (H, W, 3), frames of different shapes, or
            ``fps`` below 1.
        ConfigError: a ``path`` that cannot be written (see ``video_path``).
    """
    if int(fps) < 1:
        raise ValueError(f"fps must be at least 1, got {fps}")
    fps = int(fps)
    checked = _check_frames(frames)
    path = video_path(path, what="path")
    path.parent.mkdir(parents=True, exist_ok=True)

    if path.suffix.lower() == ".gif":
        _atomic(_write_gif, checked, path, fps)
        return path
    try:
        _atomic(_write_mp4, checked, path, fps)
        return path
    except Exception as exc:  # ImportError, a missing or failing ffmpeg binary, no libx264, ...
        gif = path.with_suffix(".gif")
        _log.warning("could not write %s (%s: %s); writing %s instead", path, type(exc).__name__, exc, gif)
        _atomic(_write_gif, checked, gif, fps)
        return gif


def annotate(
    frame: np.ndarray,
    text: str,
    color: tuple[int, int, int] = (255, 255, 255),
    background: tuple[int, int, int] | None = (0, 0, 0),
) -> np.ndarray:
    """A copy of ``frame`` with ``text`` (e.g. ``"score 12"``) drawn at the top left.

    Uses Pillow's default font, sized to the frame height, on a filled ``background`` box (``None``
    for no box) so the text reads on any image. Accepts the same frames as :func:`write_video`.
    """
    from PIL import Image, ImageDraw, ImageFont

    arr = _as_rgb(frame, 0)
    image = Image.fromarray(arr.copy())
    draw = ImageDraw.Draw(image)
    size = max(10, round(arr.shape[0] / 24))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        font = ImageFont.load_default()
    margin = max(2, size // 4)
    left, top, right, bottom = draw.textbbox((margin, margin), text, font=font)
    if background is not None:
        draw.rectangle((left - margin // 2, top - margin // 2, right + margin // 2, bottom + margin // 2),
                       fill=background)
    draw.text((margin, margin), text, fill=color, font=font)
    return np.asarray(image, dtype=np.uint8).copy()
