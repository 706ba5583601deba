"""Tests of tfrl.specs: array specs, bounds, discrete action counts and TimeStep masks."""

from __future__ import annotations

import numpy as np
import pytest

from tfrl.specs import ArraySpec, BoundedArraySpec, StepType, TimeStep


def test_array_spec_normalises_shape_and_dtype():
    spec = ArraySpec([4, np.int64(2)], "float32", name="obs")
    assert spec.shape == (4, 2)
    assert all(type(d) is int for d in spec.shape)
    assert spec.dtype == np.dtype(np.float32)
    assert spec.name == "obs"


def test_array_spec_name_is_keyword_only():
    with pytest.raises(TypeError):
        ArraySpec((2,), np.float32, "obs")  # name must be given by keyword


def test_array_spec_is_frozen():
    spec = ArraySpec((2,), np.float32)
    with pytest.raises(AttributeError):
        spec.shape = (3,)


def test_check_array_unbatched():
    spec = ArraySpec((3,), np.float32)
    assert spec.check_array(np.zeros(3, np.float32))
    assert not spec.check_array(np.zeros(4, np.float32))  # wrong shape
    assert not spec.check_array(np.zeros(3, np.float64))  # wrong dtype
    assert not spec.check_array(np.zeros((2, 3), np.float32))  # a batch is not one array


def test_check_array_batched():
    spec = ArraySpec((3,), np.float32)
    assert spec.check_array(np.zeros((5, 3), np.float32), batched=True)
    assert spec.check_array(np.zeros((1, 3), np.float32), batched=True)
    assert not spec.check_array(np.zeros(3, np.float32), batched=True)
    assert not spec.check_array(np.zeros((5, 4), np.float32), batched=True)


def test_check_array_scalar_spec():
    spec = ArraySpec((), np.int64)
    assert spec.check_array(np.int64(3))
    assert spec.check_array(np.arange(4, dtype=np.int64), batched=True)
    assert not spec.check_array(np.arange(4, dtype=np.int64))


def test_zeros_with_and_without_batch():
    spec = ArraySpec((2, 3), np.int32)
    z = spec.zeros()
    assert z.shape == (2, 3) and z.dtype == np.int32 and not z.any()
    zb = spec.zeros(batch_size=4)
    assert zb.shape == (4, 2, 3) and zb.dtype == np.int32


def test_bounded_spec_broadcasts_scalar_bounds():
    spec = BoundedArraySpec((3,), np.float32, -1.0, 2.0, name="act")
    np.testing.assert_array_equal(spec.minimum, np.full(3, -1.0, np.float32))
    np.testing.assert_array_equal(spec.maximum, np.full(3, 2.0, np.float32))
    assert spec.minimum.dtype == np.float32 and spec.maximum.dtype == np.float32
    assert spec.name == "act"


def test_bounded_spec_array_bounds():
    spec = BoundedArraySpec((2,), np.float32, [-1.0, 0.0], [1.0, 5.0])
    np.testing.assert_array_equal(spec.maximum, [1.0, 5.0])
    assert spec.check_array(np.array([0.5, 4.0], np.float32))
    assert not spec.check_array(np.array([0.5, 5.5], np.float32))  # second bound violated
    assert not spec.check_array(np.array([-1.5, 0.0], np.float32))


def test_bounded_check_array_bounds_are_inclusive_and_batched():
    spec = BoundedArraySpec((), np.int64, 0, 2)
    assert spec.check_array(np.array([0, 1, 2], np.int64), batched=True)
    assert not spec.check_array(np.array([0, 3], np.int64), batched=True)
    assert not spec.check_array(np.array([-1, 0], np.int64), batched=True)
    assert not spec.check_array(np.array([0, 1], np.int32), batched=True)  # dtype still checked


def test_bounded_spec_minimum_above_maximum_refused():
    with pytest.raises(ValueError, match="minimum .* exceeds maximum"):
        BoundedArraySpec((), np.int64, 3, 2)
    with pytest.raises(ValueError, match="exceeds maximum"):
        BoundedArraySpec((2,), np.float32, [0.0, 1.0], [1.0, 0.5])  # only one element inverted


def test_bounded_spec_equal_bounds_allowed():
    spec = BoundedArraySpec((), np.int64, 4, 4)
    assert spec.num_values == 1


def test_discrete_spec_num_values():
    spec = BoundedArraySpec((), np.int64, 0, 5)
    assert spec.is_discrete
    assert spec.num_values == 6
    shifted = BoundedArraySpec((), np.int32, 1, 4)
    assert shifted.is_discrete and shifted.num_values == 4


def test_num_values_refused_for_non_discrete_specs():
    box = BoundedArraySpec((2,), np.float32, -1.0, 1.0, name="box")
    assert not box.is_discrete
    with pytest.raises(ValueError, match="not discrete"):
        box.num_values
    float_scalar = BoundedArraySpec((), np.float32, 0.0, 1.0)
    assert not float_scalar.is_discrete
    vector_int = BoundedArraySpec((3,), np.int64, 0, 1)  # multi-discrete is not "discrete"
    assert not vector_int.is_discrete
    with pytest.raises(ValueError):
        vector_int.num_values


def test_bounded_spec_equality_and_hash():
    a = BoundedArraySpec((2,), np.float32, -1.0, 1.0, name="a")
    b = BoundedArraySpec((2,), np.float32, [-1.0, -1.0], [1.0, 1.0], name="a")
    c = BoundedArraySpec((2,), np.float32, -1.0, 2.0, name="a")
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert len({a, b}) == 1


def test_step_type_values():
    assert (StepType.FIRST, StepType.MID, StepType.LAST) == (0, 1, 2)


def test_time_step_masks():
    step_type = np.array([StepType.FIRST, StepType.MID, StepType.LAST, StepType.MID], np.int32)
    ts = TimeStep(
        step_type=step_type,
        reward=np.array([0.0, 1.0, 1.0, 1.0], np.float32),
        discount=np.array([1.0, 1.0, 0.0, 1.0], np.float32),
        observation=np.zeros((4, 2), np.float32),
    )
    np.testing.assert_array_equal(ts.is_first(), [True, False, False, False])
    np.testing.assert_array_equal(ts.is_mid(), [False, True, False, True])
    np.testing.assert_array_equal(ts.is_last(), [False, False, True, False])
    assert ts.is_first().dtype == bool
    # every step is exactly one of the three
    np.testing.assert_array_equal(ts.is_first().astype(int) + ts.is_mid() + ts.is_last(), 1)


def test_time_step_masks_accept_lists():
    ts = TimeStep([2, 0], [1.0, 0.0], [1.0, 1.0], None)
    np.testing.assert_array_equal(ts.is_last(), [True, False])
    np.testing.assert_array_equal(ts.is_first(), [False, True])


@pytest.mark.parametrize(
    "make",
    [
        lambda: BoundedArraySpec((2,), np.float32),  # bounds forgotten
        lambda: BoundedArraySpec((2,), np.float32, 0.0, np.nan),
    ],
    ids=["no-bounds", "nan-maximum"],
)
def test_bounded_spec_refuses_missing_or_nan_bounds(make):
    with pytest.raises(ValueError):
        make()
