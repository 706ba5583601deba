"""Building blocks shared by the replay-buffer agents (DQN, SAC, TD3, DDPG); not an algorithm itself.

An off-policy agent gives the loops (``tfrl.train.loops.host_off_policy`` and ``compiled_off_policy``):

* ``gradient_step(observation, action, reward, discount, next_observation)``: one gradient step on a batch
  ``[B, ...]`` inside a ``tf.function``, returning scalars named by ``metric_names``;
* ``train(batch)``: ``G`` of them on a ``Transition`` of ``[G, B, ...]`` arrays in one compiled call
  (``multi_step_train`` builds it);
* ``explore_graph(observation, step, key, warmup)``: the exploring action inside a graph, from stateless
  random ops keyed by ``key(stream)`` (``warmup``: uniform random actions before ``learning_starts``);
* ``policy.action(observation, step)`` for the host loop, and ``schedule_metrics(step)``: what the loops log
  beside the training metrics (DQN's epsilon).

Random streams: the compiled loop keys every stateless random op by the run's seed, a counter and one of
the ``STREAM_*`` numbers below, so no two draws share a key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from tfrl.errors import UnsupportedSpaceError
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["check_box_actions", "clip_gradients",
           "STREAM_COIN", "STREAM_RANDOM_ACTION", "STREAM_REPLAY", "STREAM_NOISE", "Key", "multi_step_train",
           "uniform_random_action", "update_key"]

STREAM_COIN, STREAM_RANDOM_ACTION, STREAM_REPLAY, STREAM_NOISE = 1, 2, 3, 4
"""Stream numbers of the compiled loop's random keys: epsilon coin flips, uniform random actions, replay
indices, and exploration noise (SAC's sample, TD3's Gaussian noise)."""

Key = Callable[[int], tf.Tensor]
"""``key(stream)``: the ``[2]`` int64 seed of a stateless random op for one stream at the current counter."""


def _describe(action_spec: ArraySpec) -> str:
    if getattr(action_spec, "is_discrete", False):
        return f"Discrete({action_spec.num_values}, start={int(action_spec.minimum)})"
    return f"{np.dtype(action_spec.dtype).name}, shape {tuple(action_spec.shape)}"


def check_box_actions(action_spec: ArraySpec, who: str) -> BoundedArraySpec:
    """``action_spec`` if it is a Box of floats with finite bounds, shape ``(D,)``; else ``UnsupportedSpaceError``
    naming what the environment has and what to use instead (SAC, TD3 and DDPG scale tanh actions to the bounds)."""
    floating = np.issubdtype(np.dtype(action_spec.dtype), np.floating)
    if not floating or getattr(action_spec, "is_discrete", False):
        raise UnsupportedSpaceError(
            f"{who} needs continuous actions (a gymnasium Box), but this environment's actions are discrete "
            f"({_describe(action_spec)}); use dqn, c51, qrdqn, rainbow, ppo, a2c or reinforce for discrete actions")
    if len(action_spec.shape) != 1 or action_spec.shape[0] < 1:
        raise UnsupportedSpaceError(
            f"{who} needs a flat Box of actions, shape (D,), but this environment's are shaped "
            f"{tuple(action_spec.shape)}; reshape them to one dimension in a gymnasium.ActionWrapper")
    low = np.asarray(getattr(action_spec, "minimum", -np.inf), np.float64)
    high = np.asarray(getattr(action_spec, "maximum", np.inf), np.float64)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(high > low)):
        raise UnsupportedSpaceError(
            f"{who} needs a Box of actions with finite bounds (it scales tanh actions onto [low, high]), but this "
            f"environment's bounds are low={low.tolist()} high={high.tolist()}; set finite low and high on its "
            f"action_space (the actuator limits), or use ppo, whose Gaussian policy needs no bounds")
    return action_spec


def clip_gradients(grads: list[tf.Tensor], max_norm: float | None) -> list[tf.Tensor]:
    """``grads`` scaled to a global norm of at most ``max_norm`` (unchanged when it is None)."""
    if max_norm is None:
        return grads
    return tf.clip_by_global_norm(grads, max_norm)[0]


def uniform_random_action(action_spec: BoundedArraySpec, batch: int, key: tf.Tensor) -> tf.Tensor:
    """``batch`` uniform random actions of ``action_spec`` (integers in ``[min, max]``, or floats in the Box)."""
    dtype = tf.as_dtype(action_spec.dtype)
    if dtype.is_integer:
        draw = tf.random.stateless_uniform([batch, *action_spec.shape], key, minval=int(action_spec.minimum),
                                           maxval=int(action_spec.maximum) + 1, dtype=tf.int64)
        return tf.cast(draw, dtype)
    low = tf.constant(np.broadcast_to(action_spec.minimum, action_spec.shape), tf.float32)
    high = tf.constant(np.broadcast_to(action_spec.maximum, action_spec.shape), tf.float32)
    unit = tf.random.stateless_uniform([batch, *action_spec.shape], key)
    return tf.cast(low + unit * (high - low), dtype)


def update_key(seed: int, num_updates: tf.Variable, stream: int) -> tf.Tensor:
    """The ``[2]`` key of a gradient step's stateless random op: the agent's ``seed`` and ``stream``, and the
    update counter (checkpointed with the agent, so a resumed run draws the same noise)."""
    return tf.stack([tf.constant(seed * 1_000_003 + stream, tf.int64), tf.cast(num_updates, tf.int64)])


def multi_step_train(
    gradient_step: Callable[..., Sequence[tf.Tensor]],
    observation_spec: ArraySpec,
    action_spec: ArraySpec,
    metric_names: Sequence[str],
    jit_compile: bool,
    weighted: bool = False,
) -> Callable[..., object]:
    """``train(batch)``: ``G`` calls of ``gradient_step`` on a ``Transition`` of ``[G, B, ...]`` arrays, in one
    compiled call; returns each metric of ``metric_names`` averaged over the ``G`` steps. It is traced at its first
    call (calling the concrete function then skips ``tf.function``'s argument binding).

    With ``weighted=True`` (prioritized replay) it is ``train(batch, weights)``: ``gradient_step`` takes the
    importance weights ``[B]`` of its batch as a sixth argument and returns its metrics followed by the new
    priorities ``[B]`` of its transitions, and ``train`` returns ``(metrics, priorities)`` with priorities
    ``[G, B]``, so sampling, training and the priority update cost one compiled call per training phase.

    The loop is an explicit ``tf.while_loop`` rather than AutoGraph, so the graph does not depend on AutoGraph
    converting the agent's source (which once failed in a resumed process and fell back to Python).
    """
    obs_shape = tuple(observation_spec.shape)
    obs_dtype = tf.as_dtype(observation_spec.dtype)
    signature = [
        tf.TensorSpec((None, None, *obs_shape), obs_dtype),
        tf.TensorSpec((None, None, *action_spec.shape), tf.as_dtype(action_spec.dtype)),
        tf.TensorSpec((None, None), tf.float32),
        tf.TensorSpec((None, None), tf.float32),
        tf.TensorSpec((None, None, *obs_shape), obs_dtype),
    ] + ([tf.TensorSpec((None, None), tf.float32)] if weighted else [])
    names = tuple(metric_names)

    @tf.function(input_signature=signature, jit_compile=jit_compile, autograph=False)
    def train(*arrays):
        reward = arrays[2]
        steps = tf.shape(reward)[0]

        def body(i, totals, priorities):
            out = gradient_step(*(a[i] for a in arrays))
            stats = out[:len(names)]
            if weighted:
                priorities = tf.tensor_scatter_nd_update(priorities, [[i]], tf.cast(out[len(names)], tf.float32)[None])
            return i + 1, totals + tf.stack([tf.cast(s, tf.float32) for s in stats]), priorities

        start = (tf.constant(0), tf.zeros([len(names)], tf.float32), tf.zeros_like(reward))
        _, totals, priorities = tf.while_loop(lambda i, *_: i < steps, body, start)
        return totals / tf.cast(tf.maximum(steps, 1), tf.float32), priorities

    dtypes = [s.dtype for s in signature]
    traced: list = []  # traced on the first call: the compiled loop, which never calls it, pays nothing

    def run(batch, weights=None):
        if not traced:
            traced.append(train.get_concrete_function())
        arrays = [batch.observation, batch.action, batch.reward, batch.discount, batch.next_observation]
        if weighted:
            arrays.append(weights)
        values, priorities = traced[0](*(tf.convert_to_tensor(a, d) for a, d in zip(arrays, dtypes)))
        metrics = {name: float(v) for name, v in zip(names, values.numpy())}
        return (metrics, priorities.numpy()) if weighted else metrics

    return run
