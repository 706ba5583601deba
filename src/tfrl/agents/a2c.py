"""Advantage actor-critic (A2C; Mnih et al., 2016, synchronous form), in one file.

``num_envs`` environments each take ``num_steps`` steps; the targets are bootstrapped n-step
returns (``tfrl.data.returns.bootstrapped_returns``, or GAE when ``gae_lambda < 1``) that bootstrap
from the critic at the rollout's end and at truncations, never at terminations. One gradient step
on the whole rollout minimizes ``a2c_loss``:

    -E[log pi(a|s) * A]  +  value_coef * E[(V(s) - R)^2]  -  entropy_coef * E[H(pi(.|s))]

with ``A = R - V(s)`` held constant. RMSprop (as in the paper and Stable-Baselines3) or Adam.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from tfrl.agents.actor_critic import ActorCriticAgent, ActorCriticConfig, masked_mean, normalized, policy_from_model
from tfrl.agents.base import Algorithm, check_config
from tfrl.config import check_types
from tfrl.data.returns import gae
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["A2CConfig", "A2CAgent", "a2c_loss", "ALGORITHM"]


@dataclass(frozen=True)
class A2CConfig(ActorCriticConfig):
    """Hyperparameters of A2C (the network and normalization settings are ``ActorCriticConfig``'s)."""

    learning_rate: float = 7e-4
    """Optimizer step size."""
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    """RMSprop (decay 0.99, epsilon 1e-5, as Stable-Baselines3) or Adam."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to zero over the run."""
    num_steps: int = 5
    """Vector steps per update: the n of the n-step returns."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 1.0
    """1 gives plain bootstrapped n-step returns; below 1, GAE(lambda) advantages."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus."""
    normalize_advantages: bool = False
    """Standardize advantages within each rollout."""
    max_grad_norm: float = 0.5
    """Clip gradients to this global norm."""

    def __post_init__(self) -> None:
        check_types(self, "A2C config")
        check_config("A2C config", [
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.optimizer in ("rmsprop", "adam"), "optimizer must be 'rmsprop' or 'adam'"),
            (self.num_steps >= 1, "num_steps must be >= 1"),
            (0.0 <= self.gamma <= 1.0, "gamma must lie in [0, 1]"),
            (0.0 <= self.gae_lambda <= 1.0, "gae_lambda must lie in [0, 1]"),
            (self.value_coef >= 0, "value_coef must be >= 0"),
            (self.entropy_coef >= 0, "entropy_coef must be >= 0"),
            (self.max_grad_norm > 0, "max_grad_norm must be > 0"),
            *self.network_checks(),
        ])


def a2c_loss(log_prob: tf.Tensor, advantages: tf.Tensor, value: tf.Tensor, returns: tf.Tensor, entropy: tf.Tensor,
             mask: tf.Tensor, value_coef: float, entropy_coef: float) -> dict[str, tf.Tensor]:
    """The A2C objective over a rollout (inputs flattened to ``[B]``; ``mask`` 1 for real transitions)."""
    policy_loss = -masked_mean(log_prob * tf.stop_gradient(advantages), mask)
    value_loss = masked_mean(tf.square(value - returns), mask)
    entropy_mean = masked_mean(entropy, mask)
    return {
        "loss": policy_loss + value_coef * value_loss - entropy_coef * entropy_mean,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy_mean,
    }


class A2CAgent(ActorCriticAgent):
    """A2C: an ``ActorCriticCore``, RMSprop or Adam, one compiled gradient step per rollout."""

    METRICS = ("policy_loss", "value_loss", "entropy", "grad_norm")

    def __init__(
        self,
        config: A2CConfig,
        observation_spec: ArraySpec,
        action_spec: BoundedArraySpec,
        total_steps: int,
        seed: int | None = None,
        num_envs: int = 1,
    ):
        if config.optimizer == "rmsprop":
            optimizer = keras.optimizers.RMSprop(learning_rate=config.learning_rate, rho=0.99, epsilon=1e-5)
        else:
            optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, epsilon=1e-5)
        self._build(config, observation_spec, action_spec, seed, "A2C", optimizer)
        self._train = self._build_train(observation_spec)

    def _build_train(self, observation_spec: ArraySpec):
        config, core = self.config, self.core
        act_spec = core.stored_action_spec
        signature = [
            tf.TensorSpec((None, None, *observation_spec.shape), tf.as_dtype(observation_spec.dtype)),
            tf.TensorSpec((None, None, *act_spec.shape), tf.as_dtype(act_spec.dtype)),
            tf.TensorSpec((None, None), tf.float32),  # reward
            tf.TensorSpec((None, None), tf.float32),  # discount
            tf.TensorSpec((None, None), tf.float32),  # last
            tf.TensorSpec((None, None), tf.float32),  # valid
            tf.TensorSpec((None, None), tf.float32),  # value [T+1, N]
        ]

        def train(observation, action, reward, discount, last, valid, value):
            return self.update(observation, action, reward, discount, last, valid, None, value)

        train = tf.function(train, input_signature=signature, jit_compile=config.xla)
        return train.get_concrete_function(), [s.dtype for s in signature]

    def update(self, observation, action, reward, discount, last, valid, log_prob, value,
               permutations=None) -> tf.Tensor:
        """The A2C update as a TensorFlow function of a time-major rollout (call it inside a ``tf.function``).

        The arguments are those of ``PPOAgent.update`` (``log_prob`` and ``permutations`` are not used), so
        the host loop's ``train`` and the compiled loop run this one function. Returns ``METRICS``.
        """
        config, core = self.config, self.core
        variables = core.model.trainable_variables
        advantages, returns = gae(reward, value, discount, last, config.gamma, config.gae_lambda)
        steps = tf.shape(reward)[0] * tf.shape(reward)[1]
        flat = lambda x: tf.reshape(x, tf.concat([[steps], tf.shape(x)[2:]], 0))  # noqa: E731
        obs, act, adv, ret, mask = flat(observation[:-1]), flat(action), flat(advantages), flat(returns), flat(valid)
        if config.normalize_advantages:
            adv = normalized(adv, mask)
        with tf.GradientTape() as tape:
            outputs = core.model(obs, training=True)
            log_prob, entropy = core.log_prob_entropy(outputs, act)
            terms = a2c_loss(log_prob, adv, outputs["value"], ret, entropy, mask,
                             config.value_coef, config.entropy_coef)
        grads = tape.gradient(terms["loss"], variables)
        grads, norm = tf.clip_by_global_norm(grads, config.max_grad_norm)
        self.optimizer.apply_gradients(zip(grads, variables))
        self.num_updates.assign_add(1)
        return tf.stack([terms["policy_loss"], terms["value_loss"], terms["entropy"], norm])

    def train(self, batch, progress: float = 0.0) -> dict[str, float]:
        """One gradient step on a ``RolloutBatch``; ``progress`` in [0, 1] anneals the learning rate."""
        self.optimizer.learning_rate.assign(self.learning_rate_at(progress))
        train, dtypes = self._train
        arrays = (batch.observation, batch.action, batch.reward, batch.discount, batch.last, batch.valid, batch.value)
        values = train(*(tf.convert_to_tensor(np.asarray(a), d) for a, d in zip(arrays, dtypes))).numpy()
        return {f"losses/{n}": float(v) for n, v in zip(self.METRICS, values)}


ALGORITHM = Algorithm("a2c", A2CConfig, A2CAgent, host_loop="on_policy", compiled=True,
                      policy_from_model=policy_from_model)
"""A2C's registration: the on-policy host loop, and the compiled on-policy loop with backend 'tf'."""
