"""Arrays that grow in place: a prefix view of a buffer with room to spare.

An incremental profile update adds a few thousand users to arrays of a million rows. Copying
those arrays into fresh ones for every batch costs more than the update itself (hundreds of MB
written and page-faulted); with room at the end, a batch writes only its own rows, and a copy
happens once every quarter of growth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Spare rows allocated with a buffer, as a fraction of its used rows.
SPARE = 0.25
_MIN_SPARE = 1024


def _buffer(shape: tuple[int, ...], dtype: np.dtype, spare: float) -> np.ndarray:
    """An uninitialised buffer of ``shape`` plus ``spare`` of its rows (and a minimum) more.

    The spare rows are allocated but never touched, so they cost address space, not memory.
    """
    return np.empty((shape[0] + int(spare * shape[0]) + _MIN_SPARE, *shape[1:]), dtype)


def with_room(array: np.ndarray, spare: float = SPARE) -> np.ndarray:
    """A writable copy of ``array`` that can later grow in place by ``spare`` of its rows."""
    buffer = _buffer(array.shape, array.dtype, spare)
    buffer[:len(array)] = array
    return buffer[:len(array)]


def load_npy_with_room(path: str | Path, spare: float = SPARE) -> np.ndarray:
    """:func:`numpy.load` of a ``.npy`` file straight into a buffer with room to grow (one pass
    over the data, not a load and then a copy)."""
    with open(path, "rb") as file:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(file)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(file)
        if fortran or dtype.hasobject or not shape:
            return with_room(np.load(path), spare)
        view = _buffer(shape, dtype, spare)[:shape[0]]
        if view.nbytes and file.readinto(memoryview(view).cast("B")) != view.nbytes:
            raise ValueError(f"{path}: truncated .npy file (expected {view.nbytes} bytes)")
    return view


def grown(array: np.ndarray, n: int) -> np.ndarray:
    """``array`` extended to ``n`` rows; rows past the old end are uninitialised.

    In place (the same buffer; views of the old length stay valid) when ``array`` is a writable
    prefix view of a buffer with room, else a copy made by :func:`with_room`.
    """
    if n < len(array):
        raise ValueError(f"cannot grow {len(array)} rows to {n}")
    if n == len(array) and array.flags.writeable:
        return array
    base = array.base
    if (isinstance(base, np.ndarray) and base.flags.writeable and base.flags.c_contiguous
            and array.flags.c_contiguous and base.dtype == array.dtype
            and base.shape[1:] == array.shape[1:] and len(base) >= n
            and base.ctypes.data == array.ctypes.data):
        return base[:n]
    needed = (n - len(array)) / max(len(array), 1)
    return with_room(array, spare=max(SPARE, needed)).base[:n]


def put_rows(array: np.ndarray, slots: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``rows`` written over ``array`` at ``slots`` (as many as both have) and the rest of
    them appended (in place when there is room): the array to use from now on. Slots left
    over are the caller's to free or drop."""
    reuse = min(len(slots), len(rows))
    out = grown(array, len(array) + len(rows) - reuse)
    out[slots[:reuse]] = rows[:reuse]
    out[len(array):] = rows[reuse:]
    return out
