"""The greedy action function that an export serves, written with public TensorFlow ops.

It is what ``tfrl eval`` plays greedily (``policy_from_model`` of the algorithm): ``argmax`` of the Q
values for dqn; for ppo, a2c and reinforce the most probable action, i.e. the argmax of the logits or
the Gaussian mean clipped to the action bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfrl.errors import ConfigError
from tfrl.specs import BoundedArraySpec

__all__ = ["action_fn", "policy_description"]


def action_fn(algo: str, model: Any, action_spec: BoundedArraySpec) -> Callable[[Any], Any]:
    """The greedy action graph of ``policy_from_model`` for ``algo``: a batch of observations to actions."""
    import tensorflow as tf

    from tfrl import distributions

    dtype = tf.as_dtype(action_spec.dtype)
    discrete = isinstance(action_spec, BoundedArraySpec) and action_spec.is_discrete
    if algo == "dqn":
        offset = int(action_spec.minimum)

        def act(observation):
            q = model(observation, training=False)
            return tf.cast(tf.argmax(q, axis=-1), dtype) + tf.cast(offset, dtype)

    elif algo in ("ppo", "a2c", "reinforce") and discrete:
        offset = int(action_spec.minimum)

        def act(observation):
            logits = tf.cast(model(observation, training=False)["logits"], tf.float32)
            return tf.cast(distributions.categorical_mode(logits), dtype) + tf.cast(offset, dtype)

    elif algo in ("ppo", "a2c", "reinforce"):
        low = tf.constant(action_spec.minimum, tf.float32)
        high = tf.constant(action_spec.maximum, tf.float32)

        def act(observation):
            mean = tf.cast(model(observation, training=False)["mean"], tf.float32)
            return tf.cast(tf.clip_by_value(mean, low, high), dtype)

    else:
        raise ConfigError(f"export knows the policies of dqn, ppo, a2c and reinforce, not {algo!r}")
    return act


def policy_description(algo: str, action_spec: BoundedArraySpec) -> str:
    """One line saying which action ``action_fn`` picks, for ``signature.json``."""
    if algo == "dqn":
        return "greedy: argmax of the Q values (plus the action minimum)"
    if action_spec.is_discrete:
        return "mode: argmax of the policy logits (plus the action minimum)"
    return "mode: the Gaussian mean clipped to the action bounds"
