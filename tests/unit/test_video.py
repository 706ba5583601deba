"""Tests of tfrl.video: MP4 writing and reading back, the GIF fallback, input checks, captions."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from tfrl import video
from tfrl.video import annotate, write_video


def _frames(n: int, h: int, w: int) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:, : (i * w) // n + 1] = (200, 60, 30)  # a bar growing left to right
        frames.append(f)
    return frames


def test_mp4_written_and_readable(tmp_path: Path) -> None:
    out = write_video(_frames(12, 64, 96), tmp_path / "videos" / "ep.mp4", fps=15)
    assert out == tmp_path / "videos" / "ep.mp4"
    read = imageio.mimread(out, format="FFMPEG")
    assert len(read) == 12
    assert read[0].shape == (64, 96, 3)
    # lossy, but the content survives: first frame mostly dark, last mostly orange
    assert read[0].mean() < 20 and read[-1][:, :, 0].mean() > 150
    assert sorted(p.name for p in out.parent.iterdir()) == ["ep.mp4"]


def test_mp4_odd_size_and_generator_input(tmp_path: Path) -> None:
    out = write_video((f for f in _frames(5, 33, 47)), tmp_path / "odd.mp4", fps=30)
    read = imageio.mimread(out, format="FFMPEG")
    assert len(read) == 5
    assert read[0].shape == (34, 48, 3)  # padded by one pixel to even sides


def test_gif_fallback_when_mp4_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    def broken(frames, path, fps):  # type: ignore[no-untyped-def]
        Path(path).write_bytes(b"partial")
        raise RuntimeError("no libx264")

    monkeypatch.setattr(video, "_write_mp4", broken)
    out = write_video(_frames(4, 20, 30), tmp_path / "ep.mp4", fps=10)
    assert out == tmp_path / "ep.gif"
    assert not (tmp_path / "ep.mp4").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ep.gif"]  # partial temp file removed
    read = imageio.mimread(out)
    assert len(read) == 4 and read[0].shape[:2] == (20, 30)
    assert "no libx264" in caplog.text


def test_gif_fallback_when_imageio_ffmpeg_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name.startswith("imageio"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    out = write_video(_frames(3, 10, 10), tmp_path / "ep.mp4")
    monkeypatch.undo()
    assert out.suffix == ".gif" and out.exists()


def test_gif_requested_directly(tmp_path: Path) -> None:
    out = write_video(_frames(3, 10, 12), tmp_path / "ep.gif", fps=5)
    assert out == tmp_path / "ep.gif"
    assert len(imageio.mimread(out)) == 3


def test_bad_input_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        write_video([], tmp_path / "ep.mp4")
    with pytest.raises(ValueError, match="empty"):
        write_video(iter(()), tmp_path / "ep.mp4")
    with pytest.raises(ValueError, match="uint8"):
        write_video([np.zeros((4, 4, 3), np.float32)], tmp_path / "ep.mp4")
    with pytest.raises(ValueError, match="must match"):
        write_video([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)], tmp_path / "ep.mp4")
    with pytest.raises(ValueError, match="fps"):
        write_video(_frames(2, 4, 4), tmp_path / "ep.mp4", fps=0)
    assert list(tmp_path.iterdir()) == []


def test_annotate_draws_top_left_and_copies() -> None:
    frame = np.full((120, 160, 3), 128, np.uint8)
    out = annotate(frame, "score 12")
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (frame == 128).all()  # input untouched
    changed = (out != frame).any(axis=2)
    assert changed.sum() > 50
    ys, xs = np.nonzero(changed)
    assert ys.max() < 60 and xs.min() < 20  # top-left corner
    assert not changed[60:, :].any()
