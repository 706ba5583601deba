"""The greedy action function that an export serves, written with public TensorFlow ops.

It is what ``tfrl eval`` plays greedily (``policy_from_model`` of the algorithm), chosen by the algorithm's
``policy_output``: ``argmax`` of the Q values (dqn); the most probable action, i.e. the argmax of the logits
or the Gaussian mean clipped to the action bounds (ppo, a2c, reinforce); or the model's own action clipped to
the bounds (sac, td3, ddpg: the squashed and scaled mean or deterministic actor).
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
    from tfrl.agents import get_algorithm

    dtype = tf.as_dtype(action_spec.dtype)
    discrete = isinstance(action_spec, BoundedArraySpec) and action_spec.is_discrete
    output = get_algorithm(algo).policy_output
    if output == "q_values":
        offset = int(action_spec.minimum)

        def act(observation):
            q = model(observation, training=False)
            return tf.cast(tf.argmax(q, axis=-1), dtype) + tf.cast(offset, dtype)

    elif output == "distribution" and discrete:
        offset = int(action_spec.minimum)

        def act(observation):
            logits = tf.cast(model(observation, training=False)["logits"], tf.float32)
            return tf.cast(distributions.categorical_mode(logits), dtype) + tf.cast(offset, dtype)

    elif output in ("distribution", "action"):
        low = tf.constant(action_spec.minimum, tf.float32)
        high = tf.constant(action_spec.maximum, tf.float32)

        def act(observation):
            outputs = model(observation, training=False)
            action = outputs["mean"] if output == "distribution" else outputs
            return tf.cast(tf.clip_by_value(tf.cast(action, tf.float32), low, high), dtype)

    else:
        raise ConfigError(f"export does not know the policy output {output!r} of {algo!r}")
    return act


def policy_description(algo: str, action_spec: BoundedArraySpec) -> str:
    """One line saying which action ``action_fn`` picks, for ``signature.json``."""
    from tfrl.agents import get_algorithm

    output = get_algorithm(algo).policy_output
    if output == "q_values":
        return "greedy: argmax of the Q values (plus the action minimum)"
    if output == "action":
        return "deterministic: the actor's action (tanh of the mean for sac), scaled and clipped to the action bounds"
    if action_spec.is_discrete:
        return "mode: argmax of the policy logits (plus the action minimum)"
    return "mode: the Gaussian mean clipped to the action bounds"
