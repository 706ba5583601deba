"""Schedules of a training run as pure functions of the step, for Python numbers and tensors alike.

The host loops call them with Python ints between compiled calls; the compiled loops call them with
tensors inside a ``tf.function``. Both run the same function, so the two execution paths cannot
drift apart (``tests/unit/test_schedules.py`` runs both loops and compares them step for step).

* ``linear(step, start, end, duration)``: epsilon-greedy exploration (DQN);
* ``remaining_fraction(progress)``: linear learning-rate annealing to zero (PPO, A2C);
* ``periods_due(step, periods_done, learning_starts, train_freq)``: whether a training phase of an
  off-policy agent is due after an environment step, and how many ``train_freq`` periods it covers;
* ``every(count, interval)``: whether a count (gradient steps) has reached a multiple of an interval,
  as for target-network updates.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["linear", "remaining_fraction", "periods_due", "every"]

def _maximum(a, b):
    return tf.maximum(a, b) if tf.is_tensor(a) or tf.is_tensor(b) else max(a, b)


def linear(step, start: float, end: float, duration: int):
    """``start`` moving linearly to ``end`` over ``duration`` steps, then ``end`` (``end`` at once if 0).

    With a tensor ``step`` the result is a float32 tensor; with a Python number, a Python float.
    """
    if not tf.is_tensor(step):
        if duration <= 0 or step >= duration:
            return float(end)
        return start + max(step, 0) / duration * (end - start)
    if duration <= 0:
        return tf.constant(end, tf.float32)
    fraction = tf.minimum(tf.maximum(tf.cast(step, tf.float32), 0.0) / duration, 1.0)
    return start + fraction * (end - start)


def remaining_fraction(progress):
    """``1 - progress``, floored at 0: the factor of a learning rate annealed linearly to zero."""
    return _maximum(1.0 - progress, 0.0)


def periods_due(step, periods_done, learning_starts: int, train_freq: int):
    """The ``train_freq`` periods an off-policy training phase at environment ``step`` covers (0: no phase).

    Every ``train_freq`` environment steps (summed over environments) is one period to train for, with
    ``gradient_steps`` gradient steps each: ``step // train_freq - periods_done`` are due, where
    ``periods_done`` counts the periods trained for so far. Nothing is due before ``learning_starts``,
    and the first phase covers one period however many have passed by then (the random warm-up is not
    made up for). The caller runs one phase of ``due * gradient_steps`` gradient steps, then sets
    ``periods_done = step // train_freq``.
    """
    due = step // train_freq - periods_done
    if tf.is_tensor(due):
        due = tf.where(tf.logical_and(periods_done == 0, due > 0), tf.ones_like(due), due)
        return tf.where(step >= learning_starts, tf.maximum(due, 0), tf.zeros_like(due))
    if step < learning_starts or due <= 0:
        return 0
    return 1 if periods_done == 0 else due


def every(count, interval: int):
    """Whether ``count`` (>= 1) is a multiple of ``interval``: a target update after every ``interval``
    gradient steps."""
    return count % interval == 0
