"""REINFORCE (Williams, 1992), as the TensorFlow tutorials teach it, in one file.

Play ``episodes_per_update`` whole episodes with the current policy; for every step compute the
discounted return to go ``G_t = r_t + gamma * G_{t+1}`` of its episode; normalize all those
returns together across the episodes (subtract their mean, divide by their standard deviation:
``tfrl.data.returns.discount_and_normalize``); then take one gradient step on

    -mean_t( log pi(a_t | s_t) * G_t_normalized )  -  entropy_coef * mean_t H(pi(.|s_t))

With ``baseline=True`` a learned state value is subtracted instead (``A_t = G_t - V(s_t)``,
normalized) and the value head is fitted to ``G_t`` with a squared error. A truncated episode is
treated as ended: Monte Carlo returns have no critic to bootstrap from.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tfrl.agents.actor_critic import ActorCriticAgent, ActorCriticConfig, masked_mean, normalized, policy_from_model
from tfrl.agents.base import Algorithm, check_config
from tfrl.config import check_types
from tfrl.data.returns import discount_and_normalize, episode_returns
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["ReinforceConfig", "ReinforceAgent", "reinforce_loss", "ALGORITHM"]


@dataclass(frozen=True)
class ReinforceConfig(ActorCriticConfig):
    """Hyperparameters of REINFORCE (the network and normalization settings are ``ActorCriticConfig``'s)."""

    learning_rate: float = 1e-3
    """Adam step size."""
    episodes_per_update: int = 8
    """Whole episodes played before each gradient step."""
    gamma: float = 0.99
    """Discount factor of the returns to go."""
    baseline: bool = False
    """Subtract a learned state value from the returns (and fit it)."""
    value_coef: float = 0.5
    """Weight of the value loss (with a baseline)."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus."""
    max_grad_norm: float | None = None
    """Clip gradients to this global norm (None: no clipping)."""

    def __post_init__(self) -> None:
        check_types(self, "REINFORCE config")
        check_config("REINFORCE config", [
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.episodes_per_update >= 1, "episodes_per_update must be >= 1"),
            (0.0 <= self.gamma <= 1.0, "gamma must lie in [0, 1]"),
            (self.value_coef >= 0, "value_coef must be >= 0"),
            (self.entropy_coef >= 0, "entropy_coef must be >= 0"),
            (self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm must be > 0 or None"),
            *self.network_checks(),
        ])


def reinforce_loss(log_prob: tf.Tensor, weights: tf.Tensor, entropy: tf.Tensor, mask: tf.Tensor,
                   entropy_coef: float) -> dict[str, tf.Tensor]:
    """``-mean(log_prob * weights) - entropy_coef * mean(entropy)`` over the masked steps."""
    policy_loss = -masked_mean(log_prob * tf.stop_gradient(weights), mask)
    entropy_mean = masked_mean(entropy, mask)
    return {"loss": policy_loss - entropy_coef * entropy_mean, "policy_loss": policy_loss, "entropy": entropy_mean}


def _bucket(n: int) -> int:
    return 1 << max(int(n - 1).bit_length(), 6)


class ReinforceAgent(ActorCriticAgent):
    """REINFORCE with an optional learned baseline; one compiled gradient step per batch of episodes."""

    def __init__(
        self,
        config: ReinforceConfig,
        observation_spec: ArraySpec,
        action_spec: BoundedArraySpec,
        total_steps: int,
        seed: int | None = None,
        num_envs: int = 1,
    ):
        self._build(config, observation_spec, action_spec, seed, "REINFORCE",
                    keras.optimizers.Adam(learning_rate=config.learning_rate))
        self._train = self._build_train(observation_spec)

    def _build_train(self, observation_spec: ArraySpec):
        config, core = self.config, self.core
        variables = core.model.trainable_variables
        act_spec = core.stored_action_spec
        signature = [
            tf.TensorSpec((None, *observation_spec.shape), tf.as_dtype(observation_spec.dtype)),
            tf.TensorSpec((None, *act_spec.shape), tf.as_dtype(act_spec.dtype)),
            tf.TensorSpec((None,), tf.float32),  # weights: normalized returns, or raw returns with a baseline
            tf.TensorSpec((None,), tf.float32),  # mask (padding)
        ]

        @tf.function(input_signature=signature, jit_compile=config.xla)
        def train(observation, action, returns, mask):
            with tf.GradientTape() as tape:
                outputs = core.model(observation, training=True)
                log_prob, entropy = core.log_prob_entropy(outputs, action)
                value_loss = tf.constant(0.0)
                weights = returns
                if config.baseline:
                    advantages = returns - tf.stop_gradient(outputs["value"])
                    weights = normalized(advantages, mask)
                    value_loss = 0.5 * masked_mean(tf.square(outputs["value"] - returns), mask)
                terms = reinforce_loss(log_prob, weights, entropy, mask, config.entropy_coef)
                loss = terms["loss"] + config.value_coef * value_loss
            grads = tape.gradient(loss, variables)
            grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
            norm = tf.linalg.global_norm(grads)
            if config.max_grad_norm is not None:
                grads, _ = tf.clip_by_global_norm(grads, config.max_grad_norm, use_norm=norm)
            self.optimizer.apply_gradients(zip(grads, variables))
            self.num_updates.assign_add(1)
            return tf.stack([terms["policy_loss"], value_loss, terms["entropy"], norm])

        return train.get_concrete_function(), [s.dtype for s in signature]

    def train(self, batch, progress: float = 0.0) -> dict[str, float]:
        """One gradient step on an ``EpisodeBatch`` of whole episodes."""
        config = self.config
        if config.baseline:
            weights = [np.asarray(episode_returns(r, config.gamma), np.float32) for r in batch.rewards]
        else:
            weights = [np.asarray(w, np.float32) for w in discount_and_normalize(batch.rewards, config.gamma)]
        observation = np.concatenate(batch.observations)
        action = np.concatenate(batch.actions)
        flat_weights = np.concatenate(weights)
        n = len(flat_weights)
        size = _bucket(n)  # a few padded sizes, so XLA compiles a few times, not once per batch
        pad = size - n
        mask = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)])
        observation = np.concatenate([observation, np.repeat(observation[:1], pad, 0)])
        action = np.concatenate([action, np.repeat(action[:1], pad, 0)])
        flat_weights = np.concatenate([flat_weights, np.zeros(pad, np.float32)])
        train, dtypes = self._train
        arrays = (observation, action, flat_weights, mask)
        values = train(*(tf.convert_to_tensor(a, d) for a, d in zip(arrays, dtypes))).numpy()
        names = ("policy_loss", "value_loss", "entropy", "grad_norm")
        out = {f"losses/{k}": float(v) for k, v in zip(names, values)}
        out["charts/batch_episode_return"] = float(np.mean([np.sum(r) for r in batch.rewards]))
        return out


ALGORITHM = Algorithm("reinforce", ReinforceConfig, ReinforceAgent, host_loop="on_policy", compiled=False,
                      policy_from_model=policy_from_model)
"""REINFORCE's registration: the on-policy host loop, collecting whole episodes."""
