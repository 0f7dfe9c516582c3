"""Arrays that grow in place: the buffer is reused while there is room, copied when not."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.growable import grown, load_npy_with_room, put_rows, with_room


def test_grown_writes_into_the_room_it_was_given_and_copies_when_it_runs_out():
    start = with_room(np.arange(12, dtype=np.float32).reshape(6, 2))
    bigger = grown(start, 8)
    assert np.shares_memory(bigger, start) and bigger.shape == (8, 2)
    np.testing.assert_array_equal(bigger[:6], start)
    capacity = len(start.base)
    beyond = grown(bigger, capacity + 1)
    assert not np.shares_memory(beyond, bigger)
    np.testing.assert_array_equal(beyond[:6], np.arange(12).reshape(6, 2))
    with pytest.raises(ValueError, match="cannot grow 8 rows to 7"):
        grown(bigger, 7)


def test_a_read_only_or_plain_array_is_copied_never_written():
    frozen = np.arange(5)
    frozen.setflags(write=False)
    out = grown(frozen, 5)
    assert out.flags.writeable and not np.shares_memory(out, frozen)
    middle = with_room(np.arange(10))[2:5]  # a view, but not a prefix of its buffer
    assert not np.shares_memory(grown(middle, 4), middle)


def test_put_rows_fills_slots_then_appends():
    array = with_room(np.array([0, 1, 2, 3]))
    out = put_rows(array, np.array([1, 3]), np.array([10, 30, 40, 50]))
    assert out.tolist() == [0, 10, 2, 30, 40, 50] and np.shares_memory(out, array)
    fewer = put_rows(out, np.array([0, 2, 4]), np.array([7]))
    assert fewer.tolist() == [7, 10, 2, 30, 40, 50]  # the spare slots are the caller's


@pytest.mark.parametrize("shape", [(7, 3), (0, 4), (5,)])
def test_load_npy_with_room_reads_what_numpy_saved(tmp_path, shape):
    data = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    np.save(tmp_path / "a.npy", data)
    loaded = load_npy_with_room(tmp_path / "a.npy")
    np.testing.assert_array_equal(loaded, data)
    assert grown(loaded, shape[0] + 2).base is loaded.base  # room to grow in place
    (tmp_path / "b.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:-4])
    if data.nbytes:
        with pytest.raises(ValueError, match=r"b\.npy: truncated"):
            load_npy_with_room(tmp_path / "b.npy")
