"""Reading the arrays of an ``.npz`` file one at a time, and into memory that already exists.

``np.load`` of an ``.npz`` gives each array as a new NumPy array; a replay buffer restored that way holds
its rows twice while it copies them in. ``read_array_into`` reads an array's bytes from the archive
straight into a preallocated array, ``_CHUNK`` bytes at a time, with NumPy's own ``.npy`` header
readers (``numpy.lib.format``); nothing is ever unpickled.
"""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

__all__ = ["array_layout", "read_array", "read_array_into"]


_CHUNK = 1 << 20
"""Bytes read from a ``.npz`` file at a time by ``load``."""


def _header(f: Any) -> tuple[tuple[int, ...], np.dtype, bool] | None:
    """Shape, dtype and Fortran order from the header of an open ``.npy`` stream, which is left at its
    data; None for a format version other than 1.0 and 2.0 (``np.save`` writes 3.0 only for dtypes with
    unicode field names)."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        return None
    return tuple(shape), np.dtype(dtype), bool(fortran)


def array_layout(archive: zipfile.ZipFile, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the array ``key`` of an ``.npz`` archive, from its header."""
    with archive.open(key + ".npy") as f:
        header = _header(f)
    if header is None:
        array = read_array(archive, key)
        return array.shape, array.dtype
    return header[:2]


def read_array(archive: zipfile.ZipFile, key: str) -> np.ndarray:
    """The array ``key`` of an ``.npz`` archive (no pickles)."""
    with archive.open(key + ".npy") as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def read_array_into(archive: zipfile.ZipFile, key: str, out: np.ndarray) -> None:
    """Read the array ``key`` of an ``.npz`` archive into the C-contiguous ``out`` (its shape and dtype),
    ``_CHUNK`` bytes at a time: no temporary copy of the whole array."""
    with archive.open(key + ".npy") as f:
        header = _header(f)
        if header is None or (header[2] and out.ndim > 1):  # not the layout ``save`` writes: read it whole
            out[...] = read_array(archive, key)
            return
        view = memoryview(out.reshape(-1).view(np.uint8))
        done = 0
        while done < view.nbytes:
            count = f.readinto(view[done: done + _CHUNK])
            if not count:
                raise EOFError(f"{key}.npy ends after {done} of {view.nbytes} bytes")
            done += count
        if f.read(1):
            raise ValueError(f"{key}.npy holds more than {view.nbytes} bytes")
