"""Per-environment stateless uniform draws: ``tf.random.stateless_uniform`` batched over keys.

``tf.random.stateless_uniform(shape, seed)`` takes one seed for the whole tensor, and
``tf.vectorized_map`` falls back to a sequential loop for it. A batch of environments needs
one independent stream per environment, so :func:`stateless_uniform_rows` computes, with
elementwise integer ops only (graph mode and XLA alike), exactly what
``tf.random.stateless_uniform([d], seed=key[i], dtype=tf.float64, alg="philox")`` returns on
the CPU for every row ``i`` of a key tensor ``[N, 2]``: the Philox-4x32-10 counter-based
generator, seeded as TensorFlow's ``StatelessRandomGetKeyCounter`` seeds it, and TensorFlow's
52-bit-mantissa conversion to float64. A test checks it bit for bit against TensorFlow.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["stateless_uniform_rows", "stateless_uniform_columns"]

_MASK32 = 0xFFFFFFFF
_M0, _M1 = 0xD2511F53, 0xCD9E8D57  # Philox-4x32 multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # Philox-4x32 key increments (Weyl sequence)
_ROUNDS = 10


def _u64(value: int) -> tf.Tensor:
    return tf.constant(value, tf.uint64)


def _philox(counter: list[tf.Tensor], key: list[tf.Tensor]) -> list[tf.Tensor]:
    """Philox-4x32-10 of a counter (4 words) under a key (2 words); words are uint64 in [0, 2**32)."""
    mask = _u64(_MASK32)
    shift = _u64(32)
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(_ROUNDS):
        p0 = _u64(_M0) * c0
        p1 = _u64(_M1) * c2
        hi0, lo0 = tf.bitwise.right_shift(p0, shift), tf.bitwise.bitwise_and(p0, mask)
        hi1, lo1 = tf.bitwise.right_shift(p1, shift), tf.bitwise.bitwise_and(p1, mask)
        c0, c1, c2, c3 = (
            tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(hi1, c1), k0),
            lo1,
            tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(hi0, c3), k1),
            lo0,
        )
        if r < _ROUNDS - 1:
            k0 = tf.bitwise.bitwise_and(k0 + _u64(_W0), mask)
            k1 = tf.bitwise.bitwise_and(k1 + _u64(_W1), mask)
    return [c0, c1, c2, c3]


def stateless_uniform_rows(key: tf.Tensor, num: int, dtype: tf.DType = tf.float64) -> tf.Tensor:
    """Uniform draws in ``[0, 1)``, ``[N, num]``, row ``i`` drawn from the seed ``key[i]``.

    Row ``i`` equals ``tf.random.stateless_uniform([num], seed=key[i], dtype=tf.float64,
    alg="philox")`` as TensorFlow computes it on the CPU (then cast to ``dtype``).

    Args:
        key: int64 ``[N, 2]``, one stateless seed per row.
        num: number of draws per row (a Python int).
        dtype: float dtype of the result.
    """
    return tf.cast(tf.stack(stateless_uniform_columns(key, num), axis=1), dtype)


def stateless_uniform_columns(key: tf.Tensor, num: int) -> list[tf.Tensor]:
    """The columns of ``stateless_uniform_rows(key, num)``: ``num`` float64 tensors ``[N]``.

    Kept as separate ``[N]`` tensors, XLA computes each row's generator once, in one
    vectorized loop over ``N``; stacking them first makes it recompute it per column.
    """
    key = tf.bitcast(tf.convert_to_tensor(key, tf.int64), tf.uint64)
    mask = _u64(_MASK32)
    shift = _u64(32)
    seed0, seed1 = key[:, 0], key[:, 1]
    # TensorFlow's StatelessRandomGetKeyCounter: one Philox block of the seed under a fixed key.
    seed_counter = [
        tf.bitwise.bitwise_and(seed0, mask),
        tf.bitwise.right_shift(seed0, shift),
        tf.bitwise.bitwise_and(seed1, mask),
        tf.bitwise.right_shift(seed1, shift),
    ]
    zeros = tf.zeros_like(seed0)
    mix = _philox(seed_counter, [zeros + _u64(0x3EC8F720), zeros + _u64(0x02461E29)])
    philox_key = [mix[0], mix[1]]
    draws: list[tf.Tensor] = []
    for block in range((num + 1) // 2):  # one block of 4 words gives two float64 values
        words = _philox([zeros + _u64(block), zeros, mix[2], mix[3]], philox_key)
        for j in range(2):
            if len(draws) < num:
                # TensorFlow's conversion: 52 random mantissa bits, exactly k / 2**52.
                high = tf.bitwise.bitwise_and(words[2 * j], _u64(0xFFFFF))
                mantissa = tf.bitwise.bitwise_or(tf.bitwise.left_shift(high, shift), words[2 * j + 1])
                draws.append(tf.cast(mantissa, tf.float64) * (2.0**-52))
    return draws
