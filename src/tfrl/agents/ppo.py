"""Proximal Policy Optimization (Schulman et al., 2017), clipped-surrogate variant, in one file.

One update, given a rollout of ``num_steps`` x ``num_envs`` transitions:

1. advantages and returns by GAE(lambda) (``tfrl.data.returns.gae``), bootstrapping through
   truncation and never through termination;
2. ``update_epochs`` passes over the rollout in shuffled minibatches of ``batch_size``, each a
   gradient step on ``ppo_loss``: the clipped surrogate
   ``-min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)`` with ``ratio = pi(a|s) / pi_old(a|s)``,
   plus ``value_coef`` times the (optionally clipped) squared value error, minus ``entropy_coef``
   times the entropy; advantages normalized per minibatch;
3. optional early stop of the epochs once the approximate KL ``E[(r - 1) - log r]`` of an epoch
   exceeds ``target_kl``.

The whole update (GAE, epochs, minibatches) is one compiled call. The shuffling permutations are
drawn on the host from a seeded generator and passed in. The learning rate is annealed linearly to
zero over the run when ``anneal_lr`` is set. Implementation details follow Huang et al. (2022),
"The 37 Implementation Details of Proximal Policy Optimization".
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from tfrl.agents.actor_critic import ActorCriticAgent, ActorCriticConfig, masked_mean, normalized, policy_from_model
from tfrl.agents.base import Algorithm, check_config
from tfrl.config import check_types
from tfrl.data.returns import gae
from tfrl.errors import ConfigError
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["PPOConfig", "PPOAgent", "ppo_loss", "ALGORITHM"]


@dataclass(frozen=True)
class PPOConfig(ActorCriticConfig):
    """Hyperparameters of PPO (the network and normalization settings are ``ActorCriticConfig``'s)."""

    learning_rate: float = 3e-4
    """Adam step size (at the start, when annealed)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to zero over the run."""
    num_steps: int = 128
    """Vector steps per rollout (the rollout holds num_steps x num_envs transitions)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda: 1 gives Monte Carlo advantages, 0 one-step TD errors."""
    batch_size: int = 64
    """Transitions per minibatch; must divide num_steps x num_envs."""
    update_epochs: int = 10
    """Passes over each rollout."""
    clip_coef: float = 0.2
    """Clipping range epsilon of the probability ratio."""
    clip_value_loss: bool = False
    """Clip the value update to the same range around the rollout's values."""
    value_coef: float = 0.5
    """Weight of the value loss."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus."""
    normalize_advantages: bool = True
    """Standardize advantages within each minibatch."""
    max_grad_norm: float = 0.5
    """Clip gradients to this global norm."""
    target_kl: float | None = None
    """Stop an update's epochs early once an epoch's approximate KL exceeds this (None: never)."""

    def __post_init__(self) -> None:
        check_types(self, "PPO config")
        check_config("PPO config", [
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.num_steps >= 1, "num_steps must be >= 1"),
            (0.0 <= self.gamma <= 1.0, "gamma must lie in [0, 1]"),
            (0.0 <= self.gae_lambda <= 1.0, "gae_lambda must lie in [0, 1]"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.update_epochs >= 1, "update_epochs must be >= 1"),
            (self.clip_coef > 0, "clip_coef must be > 0"),
            (self.value_coef >= 0, "value_coef must be >= 0"),
            (self.entropy_coef >= 0, "entropy_coef must be >= 0"),
            (self.max_grad_norm > 0, "max_grad_norm must be > 0"),
            (self.target_kl is None or self.target_kl > 0, "target_kl must be > 0 or None"),
            *self.network_checks(),
        ])


def ppo_loss(
    new_log_prob: tf.Tensor,
    old_log_prob: tf.Tensor,
    advantages: tf.Tensor,
    new_value: tf.Tensor,
    old_value: tf.Tensor,
    returns: tf.Tensor,
    entropy: tf.Tensor,
    mask: tf.Tensor,
    clip_coef: float,
    value_coef: float,
    entropy_coef: float,
    clip_value_loss: bool = False,
) -> dict[str, tf.Tensor]:
    """The PPO objective on a minibatch (all inputs ``[B]``; ``mask`` 1 for real transitions).

    Returns ``loss`` (to minimize) and its parts: ``policy_loss``, ``value_loss``, ``entropy``,
    ``approx_kl`` (``E[(r - 1) - log r]``) and ``clip_fraction`` (share of ratios outside the range).
    """
    log_ratio = new_log_prob - old_log_prob
    ratio = tf.exp(log_ratio)
    surrogate = -advantages * ratio
    clipped = -advantages * tf.clip_by_value(ratio, 1.0 - clip_coef, 1.0 + clip_coef)
    policy_loss = masked_mean(tf.maximum(surrogate, clipped), mask)
    if clip_value_loss:
        value_clipped = old_value + tf.clip_by_value(new_value - old_value, -clip_coef, clip_coef)
        value_error = tf.maximum(tf.square(new_value - returns), tf.square(value_clipped - returns))
    else:
        value_error = tf.square(new_value - returns)
    value_loss = 0.5 * masked_mean(value_error, mask)
    entropy_mean = masked_mean(entropy, mask)
    return {
        "loss": policy_loss + value_coef * value_loss - entropy_coef * entropy_mean,
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy_mean,
        "approx_kl": masked_mean((ratio - 1.0) - log_ratio, mask),
        "clip_fraction": masked_mean(tf.cast(tf.abs(ratio - 1.0) > clip_coef, tf.float32), mask),
    }


class PPOAgent(ActorCriticAgent):
    """PPO: an ``ActorCriticCore``, Adam, and one compiled update per rollout."""

    METRICS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance", "epochs")

    def __init__(
        self,
        config: PPOConfig,
        observation_spec: ArraySpec,
        action_spec: BoundedArraySpec,
        total_steps: int,
        seed: int | None = None,
        num_envs: int = 1,
    ):
        rollout_size = config.num_steps * num_envs
        if rollout_size % config.batch_size != 0:
            raise ConfigError(
                f"PPO batch_size {config.batch_size} does not divide the rollout of num_steps {config.num_steps} x "
                f"num_envs {num_envs} = {rollout_size} transitions; choose a divisor of {rollout_size}"
            )
        self._build(config, observation_spec, action_spec, seed, "PPO",
                    keras.optimizers.Adam(learning_rate=config.learning_rate, epsilon=1e-5))
        self.num_envs = num_envs
        self.shuffle_rng = np.random.default_rng((0 if seed is None else int(seed)) + 2)
        self._num_minibatches = rollout_size // config.batch_size
        self._train = self._build_train(observation_spec)

    def _build_train(self, observation_spec: ArraySpec):
        config, core = self.config, self.core
        obs_dtype = tf.as_dtype(observation_spec.dtype)
        act_spec = core.stored_action_spec
        signature = [
            tf.TensorSpec((None, None, *observation_spec.shape), obs_dtype),  # observation [T+1, N]
            tf.TensorSpec((None, None, *act_spec.shape), tf.as_dtype(act_spec.dtype)),  # action [T, N]
            tf.TensorSpec((None, None), tf.float32),  # reward
            tf.TensorSpec((None, None), tf.float32),  # discount
            tf.TensorSpec((None, None), tf.float32),  # last
            tf.TensorSpec((None, None), tf.float32),  # valid
            tf.TensorSpec((None, None), tf.float32),  # log_prob
            tf.TensorSpec((None, None), tf.float32),  # value [T+1, N]
            tf.TensorSpec((None, None), tf.int32),  # permutations [epochs, T*N]
        ]
        train = tf.function(self.update, input_signature=signature, jit_compile=config.xla)
        return train.get_concrete_function(), [s.dtype for s in signature]

    def update(self, observation, action, reward, discount, last, valid, log_prob, value, permutations) -> tf.Tensor:
        """The PPO update as a TensorFlow function of a time-major rollout (call it inside a ``tf.function``).

        ``observation`` and ``value`` are ``[T+1, N, ...]``, the other rollout arrays ``[T, N, ...]``,
        ``permutations`` ``[update_epochs, T*N]`` int32. Returns the mean policy loss, value loss,
        entropy, approximate KL and clip fraction, the explained variance and the epochs run. The host
        loop's ``train`` and the compiled loops both run this one function.
        """
        config, core = self.config, self.core
        variables = core.model.trainable_variables
        batch_size, num_minibatches = config.batch_size, self._num_minibatches
        advantages, returns = gae(reward, value, discount, last, config.gamma, config.gae_lambda)
        steps = tf.shape(reward)[0] * tf.shape(reward)[1]
        flat = lambda x: tf.reshape(x, tf.concat([[steps], tf.shape(x)[2:]], 0))  # noqa: E731
        obs = flat(observation[:-1])
        act, old_logp, old_value = flat(action), flat(log_prob), flat(value[:-1])
        adv, ret, mask = flat(advantages), flat(returns), flat(valid)
        totals = tf.zeros([5])
        count = tf.constant(0.0)
        epochs_run = tf.constant(0)
        for epoch in tf.range(config.update_epochs):
            epoch_kl = tf.constant(0.0)
            for m in tf.range(num_minibatches):
                idx = tf.slice(permutations[epoch], [m * batch_size], [batch_size])
                mb_mask = tf.gather(mask, idx)
                mb_adv = tf.gather(adv, idx)
                if config.normalize_advantages:
                    mb_adv = normalized(mb_adv, mb_mask)
                with tf.GradientTape() as tape:
                    outputs = core.model(tf.gather(obs, idx), training=True)
                    new_logp, entropy = core.log_prob_entropy(outputs, tf.gather(act, idx))
                    terms = ppo_loss(new_logp, tf.gather(old_logp, idx), mb_adv, outputs["value"],
                                     tf.gather(old_value, idx), tf.gather(ret, idx), entropy, mb_mask,
                                     config.clip_coef, config.value_coef, config.entropy_coef,
                                     config.clip_value_loss)
                grads = tape.gradient(terms["loss"], variables)
                grads, _ = tf.clip_by_global_norm(grads, config.max_grad_norm)
                self.optimizer.apply_gradients(zip(grads, variables))
                self.num_updates.assign_add(1)
                totals += tf.stack([terms["policy_loss"], terms["value_loss"], terms["entropy"],
                                    terms["approx_kl"], terms["clip_fraction"]])
                count += 1.0
                epoch_kl += terms["approx_kl"] / num_minibatches
            epochs_run += 1
            if config.target_kl is not None and epoch_kl > config.target_kl:
                break
        variance = masked_mean(tf.square(ret - masked_mean(ret, mask)), mask)
        residual = masked_mean(tf.square(ret - old_value - masked_mean(ret - old_value, mask)), mask)
        explained = 1.0 - residual / tf.maximum(variance, 1e-8)
        return tf.concat([totals / tf.maximum(count, 1.0), [explained, tf.cast(epochs_run, tf.float32)]], 0)

    def train(self, batch, progress: float = 0.0) -> dict[str, float]:
        """One PPO update on a ``RolloutBatch``; ``progress`` in [0, 1] anneals the learning rate."""
        config = self.config
        self.optimizer.learning_rate.assign(self.learning_rate_at(progress))
        size = batch.reward.shape[0] * batch.reward.shape[1]
        permutations = np.stack([self.shuffle_rng.permutation(size) for _ in range(config.update_epochs)])
        train, dtypes = self._train
        arrays = (batch.observation, batch.action, batch.reward, batch.discount, batch.last, batch.valid,
                  batch.log_prob, batch.value, permutations)
        values = train(*(tf.convert_to_tensor(np.asarray(a), d) for a, d in zip(arrays, dtypes))).numpy()
        out = {f"losses/{name}": float(v) for name, v in zip(self.METRICS, values)}
        out["charts/learning_rate"] = float(self.optimizer.learning_rate.numpy())
        return out

    def host_state(self) -> dict:
        """Host random generators (sampling and shuffling)."""
        return {**super().host_state(), "shuffle_rng": self.shuffle_rng.bit_generator.state}

    def load_host_state(self, state: dict) -> None:
        """Restore what ``host_state`` returned."""
        super().load_host_state(state)
        if "shuffle_rng" in state:
            self.shuffle_rng.bit_generator.state = state["shuffle_rng"]



ALGORITHM = Algorithm("ppo", PPOConfig, PPOAgent, host_loop="on_policy", compiled=True,
                      policy_from_model=policy_from_model)
"""PPO's registration: the on-policy host loop, and the compiled loop with backend 'tf'."""
