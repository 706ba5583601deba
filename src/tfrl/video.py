"""Video files of episodes: MP4 (H.264 through imageio-ffmpeg) with a GIF fallback, and captions.

``write_video`` is what ``tfrl watch`` and the video wrapper call. When no FFmpeg encoder can be
used (``imageio-ffmpeg`` missing, its binary failing, or H.264 unavailable) the frames are written as
a GIF with Pillow next to the requested path, and that path is returned: a video is never lost to a
codec problem.

MuJoCo draws its frames with OpenGL. On a machine without a display, ``ensure_headless_gl`` picks the
back-end that works there (``MUJOCO_GL=egl``, ``osmesa`` or ``glfw``) before the first frame, or fails with one
message naming what to install; tfrl's Gymnasium adapter calls it for every MuJoCo environment made with
``render_mode="rgb_array"`` (training renders nothing and never calls it). See docs/mujoco.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from tfrl.errors import MissingDependencyError, check_output_path
from tfrl.fileio import atomic_path

__all__ = ["write_video", "video_path", "annotate", "GL_BACKENDS", "ensure_headless_gl", "gl_error"]

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


# --------------------------------------------------------------------------- OpenGL for MuJoCo frames

GL_BACKENDS: tuple[str, ...] = ("egl", "osmesa", "glfw")
"""The values of ``MUJOCO_GL`` that ``ensure_headless_gl`` tries, in its order: EGL (GPU, or Mesa's llvmpipe on
the CPU), OSMesa (Mesa on the CPU, PyOpenGL plus the system's libOSMesa), GLFW (a window, so only with a display)."""

_GL_FIX = ("install EGL (Debian/Ubuntu: apt install libegl1 libgl1-mesa-dri) or OSMesa (apt install libosmesa6), "
           "or set MUJOCO_GL to a back-end that works (docs/mujoco.md)")

# Run in a fresh interpreter with MUJOCO_GL set: an OpenGL context, MuJoCo's rendering context and one frame,
# exactly what Gymnasium's MuJoCo renderer needs. A back-end that crashes takes only this process with it.
_GL_PROBE = """
import mujoco
model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='0.1'/></worldbody></mujoco>")
renderer = mujoco.Renderer(model, 16, 16)
renderer.update_scene(mujoco.MjData(model))
assert renderer.render().shape == (16, 16, 3)
renderer.close()
"""


def _has_display() -> bool:
    """Whether an X11 or Wayland display is set, where glfw can open its (hidden) window."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _probe_gl(backend: str, timeout: float = 60.0) -> str | None:
    """None if MuJoCo renders a frame with ``MUJOCO_GL=backend`` (in a subprocess), else why not (one short line)."""
    env = {**os.environ, "MUJOCO_GL": backend}
    try:
        done = subprocess.run([sys.executable, "-c", _GL_PROBE], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"no frame after {timeout:.0f} s"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    reason = lines[-1] if lines else f"exit code {done.returncode}"
    return reason if len(reason) <= 120 else reason[:117] + "..."


_PROBED: dict[str, str | None] = {}
"""``_probe_gl``'s answer for each back-end tried in this process."""

_CHECKED_VARIABLE = "TFRL_MUJOCO_GL_CHECKED"
"""Environment variable naming the back-end a probe found working, so that the worker processes which draw the
frames (they inherit it) do not probe again."""


def _probe(backend: str) -> str | None:
    """``_probe_gl(backend)``, once per process tree; glfw is not tried without a display, where it cannot work."""
    if backend == "glfw" and not _has_display():
        return "needs a display (DISPLAY is not set)"
    if backend not in _PROBED:
        _PROBED[backend] = None if os.environ.get(_CHECKED_VARIABLE) == backend else _probe_gl(backend)
        if _PROBED[backend] is None:
            os.environ[_CHECKED_VARIABLE] = backend
    return _PROBED[backend]


def ensure_headless_gl() -> str | None:
    """Choose MuJoCo's OpenGL back-end (``MUJOCO_GL``) for off-screen frames where there is no display.

    With ``MUJOCO_GL`` set (by the user), that back-end is checked and its name returned. With a display
    (``DISPLAY`` or ``WAYLAND_DISPLAY``) and no ``MUJOCO_GL``, nothing changes and None is returned (Gymnasium
    then tries glfw, egl and osmesa itself). Otherwise ``GL_BACKENDS`` are tried in their order, ``MUJOCO_GL`` is
    set to the first that works and its name returned. A back-end is checked by rendering one MuJoCo frame in a
    short subprocess (about a second, once per back-end and process), so one that crashes cannot take this process
    with it.

    Call it before the first MuJoCo frame is drawn: Gymnasium reads ``MUJOCO_GL`` when its renderer makes the
    OpenGL context, and PyOpenGL fixes its platform when it is first imported. Making the environment (and
    importing ``mujoco``) before the call is fine.

    Raises:
        MissingDependencyError: the user's ``MUJOCO_GL``, or every back-end when it is not set, cannot render
            here; the message names what to install.
    """
    chosen = os.environ.get("MUJOCO_GL", "").strip()
    if chosen:
        reason = _probe(chosen)
        if reason is not None:
            raise MissingDependencyError(
                f"MUJOCO_GL={chosen!r} cannot render MuJoCo frames on this machine ({reason}); unset MUJOCO_GL to "
                f"let tfrl pick a back-end that works, or {_GL_FIX}")
        return chosen
    if _has_display():
        return None
    reasons = []
    for backend in GL_BACKENDS:
        reason = _probe(backend)
        if reason is None:
            os.environ["MUJOCO_GL"] = backend
            return backend
        reasons.append(f"{backend}: {reason}")
    raise MissingDependencyError(
        f"cannot render MuJoCo frames on this machine, which has no display: no OpenGL back-end works "
        f"({'; '.join(reasons)}); {_GL_FIX}")


def gl_error(env_name: str, exc: BaseException) -> MissingDependencyError:
    """The one-line error for ``exc``, raised when MuJoCo environment ``env_name`` could not set up OpenGL: at its
    first ``render()`` (a ``MUJOCO_GL`` the user chose, or a display glfw cannot use) or already when ``mujoco``
    was imported (``MUJOCO_GL`` unknown, or naming a back-end whose system library is missing)."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if len(detail) > 160:
        detail = detail[:157] + "..."
    setting, display = os.environ.get("MUJOCO_GL"), os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    where = f"MUJOCO_GL={setting!r}" if setting else f"the display {display!r}" if display else "MUJOCO_GL unset"
    return MissingDependencyError(
        f"MuJoCo environment {env_name!r} cannot use OpenGL with {where} ({type(exc).__name__}: {detail}); unset "
        f"MUJOCO_GL (and DISPLAY) to let tfrl pick a back-end that works, or {_GL_FIX}")
