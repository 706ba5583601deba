"""Tests of tfrl.data.sum_tree: the sum tree against a naive array, and the prioritized draws from it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfrl.data.sum_tree import SumTree, importance_weights, stratified_draw


def naive_find(leaves: np.ndarray, prefix: np.ndarray) -> np.ndarray:
    """The leaf i with cumsum[i - 1] <= u < cumsum[i] for each u (zero leaves are never chosen)."""
    return np.searchsorted(np.cumsum(leaves), prefix, side="right")


# ---------------------------------------------------------------- the tree


def test_hand_worked_example():
    tree = SumTree(5)  # padded to 8 leaves
    tree.update(np.array([0, 1, 2, 3, 4]), np.array([3.0, 0.0, 1.0, 4.0, 2.0]))
    assert tree.total == 10.0
    assert tree.capacity == 5
    np.testing.assert_array_equal(tree.leaves, [3, 0, 1, 4, 2])
    np.testing.assert_array_equal(tree.get(np.array([[3, 0]])), [[4.0, 3.0]])
    # cumsum 3, 3, 4, 8, 10: [0, 3) -> 0, [3, 4) -> 2 (leaf 1 is 0), [4, 8) -> 3, [8, 10) -> 4
    prefix = np.array([0.0, 2.999, 3.0, 3.5, 4.0, 7.99, 8.0, 9.999])
    np.testing.assert_array_equal(tree.find(prefix), [0, 0, 2, 2, 3, 3, 4, 4])
    np.testing.assert_array_equal(tree.find(prefix.reshape(2, 4)), [[0, 0, 2, 2], [3, 3, 4, 4]])
    tree.update(np.array([3]), np.array([0.0]))
    assert tree.total == 6.0
    np.testing.assert_array_equal(tree.find(np.array([3.0, 4.0, 5.9])), [2, 4, 4])
    # the inner nodes: root 6 = (3 + 0) + (1 + 0) + (2 + 0 + 0 + 0)
    np.testing.assert_array_equal(tree._nodes[1:4], [6.0, 4.0, 2.0])


def test_duplicate_indices_the_last_value_wins():
    tree = SumTree(4)
    tree.update(np.array([2, 1, 2, 2]), np.array([5.0, 1.0, 7.0, 3.0]))
    np.testing.assert_array_equal(tree.leaves, [0, 1, 3, 0])
    assert tree.total == 4.0
    tree.update(np.array([[0, 0], [1, 0]]), np.array([[9.0, 8.0], [2.0, 6.0]]))
    np.testing.assert_array_equal(tree.leaves, [6, 2, 3, 0])
    assert tree.total == 11.0


def test_prefix_at_or_above_the_total_and_zero_leaves_are_never_returned():
    tree = SumTree(8)
    tree.update(np.arange(8), np.array([0.0, 0.1, 0.0, 0.2, 0.0, 0.0, 0.3, 0.0]))
    total = tree.total
    below = np.nextafter(total, 0.0)
    # u just below, at and far above the total: the last non-zero leaf; below 0: the first one
    np.testing.assert_array_equal(tree.find(np.array([below, total, 10 * total, -1.0])), [6, 6, 6, 1])
    # a subtree whose sum rounding leaves u >= its sum: still a non-zero leaf
    draws = tree.find(np.random.default_rng(0).random(10_000) * total)
    assert set(draws.tolist()) == {1, 3, 6}


def test_find_never_returns_a_zero_leaf_when_rounding_overshoots():
    # 0.1 + 0.2 != 0.3 in floats: the left subtree's sum and the leaf values disagree in the last bit
    tree = SumTree(4)
    tree.update(np.arange(4), np.array([0.1, 0.2, 0.0, 0.0]))
    left = tree._nodes[2]
    edges = np.array([np.nextafter(left, 0.0), left, np.nextafter(left, 1.0), 0.30000000000000004, 0.3])
    np.testing.assert_array_equal(tree.find(edges), [1, 1, 1, 1, 1])


def test_single_leaf_tree():
    tree = SumTree(1)
    tree.update(np.array([0]), np.array([2.5]))
    assert tree.total == 2.5
    np.testing.assert_array_equal(tree.find(np.array([0.0, 2.4, 2.5])), [0, 0, 0])


def test_bad_input_is_a_value_error():
    with pytest.raises(ValueError, match="capacity must be an integer >= 1"):
        SumTree(0)
    tree = SumTree(4)
    with pytest.raises(ValueError, match="positive total"):
        tree.find(np.array([0.0]))
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="finite and >= 0"):
            tree.update(np.array([0, 1]), np.array([1.0, bad]))
    assert tree.total == 0.0 and not tree.leaves.any()  # nothing was changed
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\)"):
        tree.update(np.array([4]), np.array([1.0]))
    with pytest.raises(ValueError, match="shape"):
        tree.update(np.array([0, 1]), np.array([1.0]))
    tree.update(np.array([1]), np.array([1.0]))
    with pytest.raises(ValueError, match="finite"):
        tree.find(np.array([np.nan]))
    with pytest.raises(ValueError, match="expected"):
        tree.set_leaves(np.ones(3))


def test_set_leaves_rebuilds_the_same_tree_bit_for_bit():
    rng = np.random.default_rng(3)
    tree = SumTree(37)
    for _ in range(200):
        k = int(rng.integers(1, 9))
        tree.update(rng.integers(0, 37, size=k), rng.random(k) ** 3 * 10.0 ** rng.integers(-5, 5))
    rebuilt = SumTree(37)
    rebuilt.set_leaves(tree.leaves)
    np.testing.assert_array_equal(rebuilt._nodes, tree._nodes)
    prefix = rng.random(1000) * tree.total
    np.testing.assert_array_equal(rebuilt.find(prefix), tree.find(prefix))


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    capacity=st.integers(1, 70),
    num_updates=st.integers(1, 12),
)
def test_update_total_and_find_match_a_naive_array(data, capacity, num_updates):
    tree = SumTree(capacity)
    naive = np.zeros(capacity)
    index = st.integers(0, capacity - 1)
    # multiples of 1/8: every sum and difference is exact in float64, so the tree and the
    # sequential cumsum must agree exactly, boundaries included
    value = st.one_of(st.just(0.0), st.integers(0, 400).map(lambda k: k / 8))
    for _ in range(num_updates):
        size = data.draw(st.integers(0, 2 * capacity))
        indices = np.array(data.draw(st.lists(index, min_size=size, max_size=size)), dtype=np.int64)
        values = np.array(data.draw(st.lists(value, min_size=size, max_size=size)), dtype=np.float64)
        tree.update(indices, values)
        for i, v in zip(indices, values):  # the last value of a duplicated index wins
            naive[i] = v
        np.testing.assert_array_equal(tree.leaves, naive)
        assert tree.total == naive.sum()
        if naive.sum() > 0:
            cumsum = np.cumsum(naive)
            positive = np.flatnonzero(naive > 0)
            boundaries = np.concatenate([cumsum[positive], cumsum[positive] - naive[positive]])
            boundaries = boundaries[boundaries < naive.sum()]
            randoms = np.array(data.draw(st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=1, max_size=20)))
            prefix = np.concatenate([boundaries, randoms * naive.sum(), [np.nextafter(naive.sum(), 0.0)]])
            found = tree.find(prefix)
            np.testing.assert_array_equal(found, naive_find(naive, prefix))
            assert np.all(naive[found] > 0)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), capacity=st.integers(1, 50))
def test_find_on_arbitrary_floats_lands_on_a_nonzero_leaf_within_rounding(data, capacity):
    values = np.array(data.draw(st.lists(
        st.one_of(st.just(0.0), st.floats(1e-6, 1e3)), min_size=capacity, max_size=capacity)))
    if not values.sum() > 0:
        values[-1] = 1.0
    tree = SumTree(capacity)
    tree.update(np.arange(capacity), values)
    assert tree.total == pytest.approx(values.sum(), rel=1e-12)
    prefix = np.array(data.draw(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))) * tree.total
    found = tree.find(prefix)
    assert np.all(values[found] > 0)
    cumsum = np.cumsum(values)
    slack = 1e-9 * tree.total
    assert np.all(cumsum[found] - values[found] <= prefix + slack)
    assert np.all((prefix < cumsum[found] + slack) | (found == np.flatnonzero(values)[-1]))


def test_contiguous_and_scattered_updates_give_the_same_tree():
    rng = np.random.default_rng(0)
    values = rng.random(100)
    a, b = SumTree(100), SumTree(100)
    a.update(np.arange(20, 60), values[20:60])  # one contiguous range: the slice path
    order = rng.permutation(np.arange(20, 60))
    for chunk in np.array_split(order, 7):  # scattered: the per-level unique path
        b.update(chunk, values[chunk])
    np.testing.assert_array_equal(a._nodes, b._nodes)


# ---------------------------------------------------------------- draws and weights


def test_stratified_draw_puts_one_draw_in_each_segment():
    tree = SumTree(4)
    tree.update(np.arange(4), np.array([1.0, 1.0, 1.0, 1.0]))
    slots = stratified_draw(tree, np.random.default_rng(0), lambda s: np.ones(s.shape, bool), 4, 50)
    assert slots.shape == (50, 4)
    np.testing.assert_array_equal(slots, np.tile(np.arange(4), (50, 1)))  # segment k is exactly leaf k
    tree.update(np.arange(4), np.array([3.0, 1.0, 0.0, 0.0]))
    slots = stratified_draw(tree, np.random.default_rng(0), lambda s: np.ones(s.shape, bool), 2, 1000)
    np.testing.assert_array_equal(slots[:, 0], 0)  # [0, 2) lies in leaf 0
    assert abs(np.mean(slots[:, 1] == 0) - 0.5) < 0.06  # [2, 4): half leaf 0, half leaf 1


def test_stratified_draw_redraws_and_falls_back_to_sampleable_leaves():
    tree = SumTree(6)
    tree.update(np.arange(6), np.array([1e6, 1e6, 1e6, 1e6, 1.0, 3.0]))
    allowed = np.array([False, False, False, False, True, True])
    rng = np.random.default_rng(1)
    slots = stratified_draw(tree, rng, lambda s: allowed[s], 8, 500)  # the fallback does almost everything
    assert set(np.unique(slots)) == {4, 5}
    assert abs(np.mean(slots == 5) - 0.75) < 0.03  # proportional among the sampleable leaves


def test_importance_weights_by_hand():
    p = np.array([[0.5, 0.25, 0.125, 0.125], [0.25, 0.25, 0.25, 0.25]])
    # beta 1: w = 1 / (N P), divided by the batch's largest (smallest P): P_min / P
    np.testing.assert_allclose(importance_weights(p, 4, 1.0), [[0.25, 0.5, 1.0, 1.0], [1, 1, 1, 1]])
    # beta 0.5: (P_min / P) ** 0.5 = (1/4) ** 0.5, (1/2) ** 0.5, 1, 1
    np.testing.assert_allclose(importance_weights(p, 4, 0.5), [[0.5, 0.5 ** 0.5, 1.0, 1.0], [1, 1, 1, 1]])
    np.testing.assert_array_equal(importance_weights(p, 4, 0.0), np.ones((2, 4)))
