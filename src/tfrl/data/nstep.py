"""Uniform draws of stored slots and the n-step transitions the replay buffers compute from them.

A replay ring is laid out ``[rows, num_envs, ...]`` and read through flat views ``[rows * num_envs,
...]`` with ``slot = row * num_envs + env``. Each slot holds the action, the reward and the *step
discount* of the next time step (0 on termination, 1 otherwise), a ``last`` flag (the next time step
ended an episode) and a ``valid`` flag (False for the auto-reset rows, never sampled).

A sampled ``Transition`` carries the *whole* bootstrap multiplier, so every value method uses
``target = reward + discount * V(next_observation)`` whatever ``n`` is. Starting at a sampled
slot ``(row, env)`` the n-step walk moves forward in that environment's column and, with
``d_j`` the step discount of the ``j``-th step walked, computes::

    reward   = sum_{k<m} gamma**k * prod_{j<k} d_j * r_k
    discount = gamma**m * prod_{j<m} d_j          (0 if the episode terminated within m steps)
    next_observation = next_observation of step m - 1

where ``m <= n`` is the number of steps walked. The walk stops early, after step ``k``, when step
``k`` is LAST (terminated: discount 0, truncated: bootstrap from that step's next observation),
when step ``k`` is the newest row written (a shorter ``m``-step return is still a valid target), or
when the next row is invalid. It never crosses the write position into older data.

NumPy only: importing this module does not import TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

__all__ = ["MAX_REDRAWS", "Transition", "draw_slots", "walk_n_steps"]

MAX_REDRAWS = 32
"""Rounds of vectorised redraws of unsampleable slots before falling back to an exact draw over the
sampleable ones (only reached when nearly every stored slot is unsampleable)."""


class Transition(NamedTuple):
    """A batch of (possibly n-step) transitions; the target is ``reward + discount * V(next_observation)``.

    ``reward`` (float32) is the discounted sum of the ``m <= n`` rewards walked and ``discount``
    (float32) the whole bootstrap multiplier ``gamma**m * d``, with ``d = 0`` if the episode
    terminated within those ``m`` steps and 1 otherwise. ``observation`` and ``next_observation``
    have the observation spec's dtype, ``action`` the action spec's dtype.
    """

    observation: Any
    action: Any
    reward: Any
    discount: Any
    next_observation: Any


def draw_slots(rng: np.random.Generator, num_slots: int, sampleable: Callable[[np.ndarray], np.ndarray],
               size: int) -> np.ndarray:
    """``size`` slots uniform over the sampleable ones among ``0 .. num_slots - 1``, with replacement.

    Draws over all ``num_slots`` and redraws those for which ``sampleable(slots)`` is False, then
    after ``MAX_REDRAWS`` rounds draws the rest exactly among the sampleable slots.
    """
    slots = rng.integers(0, num_slots, size=size)
    bad = np.flatnonzero(~sampleable(slots))
    rounds = 0
    while bad.size:
        if rounds == MAX_REDRAWS:
            candidates = np.flatnonzero(sampleable(np.arange(num_slots)))
            slots[bad] = candidates[rng.integers(0, candidates.size, size=bad.size)]
            break
        redraw = rng.integers(0, num_slots, size=bad.size)
        ok = sampleable(redraw)
        slots[bad[ok]] = redraw[ok]
        bad = bad[~ok]
        rounds += 1
    return slots


def walk_n_steps(flat: Mapping[str, np.ndarray], slots: np.ndarray, n: int, gamma: float, rows: int, envs: int,
                 newest: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The n-step ``(reward, discount, end)`` of flat ``slots`` (see the module docstring).

    ``flat`` maps ``reward``, ``discount``, ``last`` and ``valid`` to flat views of a ring of ``rows``
    rows of ``envs`` slots whose row ``newest`` was written last; ``end`` is the slot of the last step walked, whose
    next observation is the transition's.
    """
    gamma = np.float32(gamma)
    if n == 1:
        return flat["reward"][slots], gamma * flat["discount"][slots], slots
    row0, env = np.divmod(slots, envs)
    # Rows available from row0 to the newest row, inclusive, walking forward in the ring.
    available = (newest - row0) % rows + 1
    reward = np.zeros(slots.shape, dtype=np.float32)
    discount = np.ones(slots.shape, dtype=np.float32)  # gamma**k * prod_{j<k} d_j
    end = slots.copy()  # slot of the last step walked
    active = np.ones(slots.shape, dtype=bool)
    for k in range(n):
        slot = ((row0 + k) % rows) * envs + env
        reward = np.where(active, reward + discount * flat["reward"][slot], reward)
        discount = np.where(active, discount * gamma * flat["discount"][slot], discount)
        end = np.where(active, slot, end)
        if k + 1 == n:
            break
        stop = flat["last"][slot] | (k + 1 >= available)
        following = ((row0 + k + 1) % rows) * envs + env
        stop |= ~flat["valid"][following]
        active &= ~stop
        if not active.any():
            break
    return reward, discount, end
