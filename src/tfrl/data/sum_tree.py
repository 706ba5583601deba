"""A sum tree over non-negative leaves, and the proportional draws of prioritized replay from it.

Proportional prioritized replay (Schaul et al. 2016, arXiv:1511.05952) draws slot ``i`` with
probability ``P(i) = p_i / sum_k p_k``. ``SumTree`` keeps the priorities ``p_i`` as the leaves of a
binary tree whose every inner node holds the sum of its two children, so changing a leaf and finding
the leaf under a prefix sum cost O(log n) each. Both are vectorised over a batch: one NumPy operation
per level of the tree for all items together, never a Python loop over items.

The array ``nodes`` holds the root at index 1, the children of node ``j`` at ``2j`` and ``2j + 1`` and
the leaves at ``[size, 2 * size)``, ``size`` being ``capacity`` rounded up to a power of two (the
padding leaves stay 0). An inner node is always recomputed as ``nodes[2j] + nodes[2j + 1]``, never
adjusted by a difference, so every inner node is the same function of the leaves however they were
set: rebuilding the tree from its leaves (``set_leaves``, for checkpoints) gives it back bit for bit,
and rounding errors do not accumulate over millions of updates.

``stratified_draw`` draws a batch as in Schaul et al., Appendix B.2.1 (one point in each of ``B``
equal segments of the total), and ``importance_weights`` computes their correction ``(N * P(i)) **
-beta``, normalised by the largest of each batch.

NumPy only: importing this module does not import TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["MAX_REDRAWS", "SumTree", "importance_weights", "stratified_draw"]

MAX_REDRAWS = 32
"""Rounds of proportional redraws of unsampleable slots before the exact fallback of ``stratified_draw``."""


class SumTree:
    """Non-negative float64 values on ``capacity`` leaves, with their sum and prefix-sum search.

    Args:
        capacity: number of leaves, all 0 at first.
    """

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
            raise ValueError(f"SumTree capacity must be an integer >= 1, got {capacity!r}")
        self._capacity = int(capacity)
        self._size = 1 << (self._capacity - 1).bit_length()  # the next power of two
        self._levels = self._size.bit_length() - 1  # edges from the root down to a leaf
        self._nodes = np.zeros(2 * self._size, dtype=np.float64)

    @property
    def capacity(self) -> int:
        """Number of leaves."""
        return self._capacity

    @property
    def total(self) -> float:
        """Sum of all leaves (the root)."""
        return float(self._nodes[1])

    @property
    def leaves(self) -> np.ndarray:
        """A copy of the ``[capacity]`` leaf values (what a checkpoint needs: see ``set_leaves``)."""
        return self._nodes[self._size: self._size + self._capacity].copy()

    def _indices(self, indices: np.ndarray) -> np.ndarray:
        """``indices`` flattened to int64, which must all lie in ``[0, capacity)``."""
        flat = np.asarray(indices).reshape(-1)
        if flat.size and not np.issubdtype(flat.dtype, np.integer):
            raise ValueError(f"SumTree indices must be integers, got dtype {flat.dtype}")
        flat = flat.astype(np.int64, copy=False)
        if flat.size and (flat.min() < 0 or flat.max() >= self._capacity):
            raise ValueError(f"SumTree indices must lie in [0, {self._capacity}), got {flat.min()} .. {flat.max()}")
        return flat

    @staticmethod
    def _check_values(values: np.ndarray) -> None:
        if values.size and not (values.min() >= 0.0 and values.max() < np.inf):  # a NaN fails both
            raise ValueError("SumTree values must be finite and >= 0")

    def get(self, indices: np.ndarray) -> np.ndarray:
        """The float64 leaf values at ``indices`` (any shape; the result has that shape)."""
        shape = np.shape(indices)
        return self._nodes[self._size + self._indices(indices)].reshape(shape)

    def update(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Set the leaves ``indices`` to ``values`` (same shape, any), then recompute their ancestors.

        Where an index occurs more than once in one call, the value given last (in row-major order)
        wins. Values must be finite and >= 0 (``ValueError`` otherwise, and nothing is changed). A few
        NumPy operations per level for the whole batch: the parents of the level are recomputed from
        their children (a parent shared by several items is written several times with the one value
        its children give, so repeats need no removal), a contiguous range of leaves by slices.
        """
        if np.shape(indices) != np.shape(values):
            raise ValueError(f"SumTree.update: indices have shape {np.shape(indices)}, values {np.shape(values)}")
        flat = self._indices(indices)
        vals = np.asarray(values, dtype=np.float64).reshape(-1)
        self._check_values(vals)
        if flat.size == 0:
            return
        tree = self._nodes
        if flat.size == 1 or np.all(np.diff(flat) == 1):  # increasing and contiguous: a row of the replay ring
            low, high = self._size + int(flat[0]), self._size + int(flat[-1])
            tree[low: high + 1] = vals
            for _ in range(self._levels):
                low, high = low // 2, high // 2
                if low == high:
                    tree[low] = tree[2 * low] + tree[2 * low + 1]
                else:
                    tree[low: high + 1] = tree[2 * low: 2 * high + 2: 2] + tree[2 * low + 1: 2 * high + 2: 2]
            return
        # The last occurrence of each index: the first one in the reversed arrays.
        nodes, first = np.unique(flat[::-1], return_index=True)
        nodes += self._size
        tree[nodes] = vals[::-1][first]
        for _ in range(self._levels):
            nodes //= 2
            tree[nodes] = tree[2 * nodes] + tree[2 * nodes + 1]

    def set_leaves(self, values: np.ndarray) -> None:
        """Set all ``[capacity]`` leaves at once and rebuild every inner node (restoring a checkpoint).

        The inner nodes come out bit-identical to those of a tree whose leaves reached ``values``
        through any sequence of ``update`` calls.
        """
        vals = np.asarray(values, dtype=np.float64)
        if vals.shape != (self._capacity,):
            raise ValueError(f"SumTree.set_leaves: values have shape {vals.shape}, expected ({self._capacity},)")
        self._check_values(vals)
        size = self._size
        self._nodes[size: size + self._capacity] = vals
        self._nodes[size + self._capacity:] = 0.0
        low = size // 2
        while low >= 1:
            self._nodes[low: 2 * low] = self._nodes[2 * low: 4 * low: 2] + self._nodes[2 * low + 1: 4 * low: 2]
            low //= 2

    def find(self, prefix: np.ndarray) -> np.ndarray:
        """For each prefix sum ``u`` (any shape), the leaf ``i`` with ``cumsum[i - 1] <= u < cumsum[i]``.

        All queries descend together, one level at a time: at a node whose left child sums to ``L``
        and right child to ``R``, a query goes right (and subtracts ``L``) when ``u >= L`` and
        ``R > 0``, else left. A zero leaf is never returned: the descent starts at a root ``> 0`` and
        only enters a child ``> 0`` (going right needs ``R > 0``; going left means ``u < L``, so
        ``L > u >= 0``, or ``R == 0``, so ``L`` is the whole node ``> 0``). Prefixes are clipped to
        ``[0, total]``; rounding that leaves ``u >= total`` (or beyond the sum of a subtree) ends on
        the last non-zero leaf of that subtree. ``ValueError`` if the tree sums to 0 or a prefix is
        not finite.
        """
        u = np.asarray(prefix, dtype=np.float64)
        shape = u.shape
        total = self._nodes[1]
        if not total > 0.0:
            raise ValueError("SumTree.find needs a tree with a positive total: every leaf is 0")
        if u.size and not np.all(np.isfinite(u)):
            raise ValueError("SumTree.find: prefix sums must be finite")
        u = np.clip(u.reshape(-1), 0.0, total)
        tree = self._nodes
        node = np.ones(u.shape, dtype=np.int64)
        for _ in range(self._levels):
            node *= 2  # the left child
            left = tree[node]
            right = (u >= left) & (tree[node + 1] > 0.0)
            u = np.where(right, u - left, u)
            node += right
        return (node - self._size).reshape(shape)


def stratified_draw(tree: SumTree, rng: np.random.Generator, sampleable: Callable[[np.ndarray], np.ndarray],
                    batch_size: int, num_batches: int) -> np.ndarray:
    """``[num_batches, batch_size]`` leaves of ``tree`` drawn with probabilities proportional to their values.

    Each batch splits ``[0, total)`` into ``batch_size`` equal segments and draws one uniform point in
    each (Schaul et al. 2016, Appendix B.2.1), so one batch spreads over the whole distribution. A
    leaf for which ``sampleable(leaves)`` is False is redrawn from the whole tree (proportionally) up to
    ``MAX_REDRAWS`` rounds, then drawn exactly among the sampleable non-zero leaves (proportionally),
    so such a leaf is never returned. ``sampleable`` must accept any array of leaves of positive value
    and at least one of them must pass it; ``rng`` makes the draws reproducible.
    """
    total = tree.total
    points = (np.arange(batch_size) + rng.random((num_batches, batch_size))) * (total / batch_size)
    slots = tree.find(points).reshape(-1)
    bad = np.flatnonzero(~sampleable(slots))
    rounds = 0
    while bad.size:
        if rounds == MAX_REDRAWS:
            leaves = tree.leaves
            candidates = np.flatnonzero(leaves > 0.0)
            candidates = candidates[sampleable(candidates)]
            cumulative = np.cumsum(leaves[candidates])
            picks = np.searchsorted(cumulative, rng.random(bad.size) * cumulative[-1], side="right")
            slots[bad] = candidates[np.minimum(picks, candidates.size - 1)]
            break
        redraw = tree.find(rng.random(bad.size) * total)
        ok = sampleable(redraw)
        slots[bad[ok]] = redraw[ok]
        bad = bad[~ok]
        rounds += 1
    return slots.reshape(num_batches, batch_size)


def importance_weights(probabilities: np.ndarray, count: int, beta: float) -> np.ndarray:
    """``w_i = (count * P(i)) ** -beta`` divided by the largest ``w`` of its batch (the last axis).

    ``probabilities`` are the ``P(i) > 0`` of the drawn items, ``[..., batch_size]``; ``count`` is the
    number ``N`` of transitions that could be drawn. The largest weight of every batch is 1 (that of
    its least probable item), so the weights only ever scale a loss down (Schaul et al. 2016, Sec. 3.4).
    """
    weights = (count * np.asarray(probabilities, dtype=np.float64)) ** (-float(beta))
    return weights / weights.max(axis=-1, keepdims=True)
