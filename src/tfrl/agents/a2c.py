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

from tfrl.agents.actor_critic import ActorCriticAgent, ActorCriticCore
from tfrl.agents.ppo import masked_mean, policy_from_model
from tfrl.config import check_types
from tfrl.data.returns import gae
from tfrl.errors import ConfigError
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["A2CConfig", "A2CAgent", "a2c_loss", "policy_from_model"]


@dataclass(frozen=True)
class A2CConfig:
    """Hyperparameters of A2C."""

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
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Units of each hidden layer."""
    shared_torso: bool = False
    """One torso for actor and critic instead of two."""
    encoder: Literal["mlp", "nature_cnn"] = "mlp"
    """Observation encoder: MLPs (hidden_sizes) or one Nature DQN CNN shared by actor and critic, for uint8
    images such as (84, 84, 4) (scaled by 1/255 inside the network; hidden_sizes and shared_torso ignored)."""
    activation: str = "tanh"
    """Activation of the hidden layers."""
    log_std_init: float = 0.0
    """Initial log standard deviation of Gaussian actions."""
    normalize_observations: bool = False
    """Standardize observations with running statistics (saved with checkpoints and in the policy file)."""
    normalize_rewards: bool = False
    """Scale rewards by the running std of the discounted return."""
    jit_compile: bool | None = None
    """Compile with XLA. None (the default) chooses: XLA for MLPs (several times faster here), not for the
    Nature CNN (XLA's CPU convolutions made a gradient step 188 ms against 16.5 ms without it)."""

    def __post_init__(self) -> None:
        check_types(self, "A2C config")
        checks = [
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.optimizer in ("rmsprop", "adam"), "optimizer must be 'rmsprop' or 'adam'"),
            (self.num_steps >= 1, "num_steps must be >= 1"),
            (0.0 <= self.gamma <= 1.0, "gamma must lie in [0, 1]"),
            (0.0 <= self.gae_lambda <= 1.0, "gae_lambda must lie in [0, 1]"),
            (self.value_coef >= 0, "value_coef must be >= 0"),
            (self.entropy_coef >= 0, "entropy_coef must be >= 0"),
            (self.max_grad_norm > 0, "max_grad_norm must be > 0"),
            (len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes), "hidden_sizes must be positive"),
            (self.encoder in ("mlp", "nature_cnn"), "encoder must be 'mlp' or 'nature_cnn'"),
            (not (self.encoder == "nature_cnn" and self.normalize_observations),
             "normalize_observations does not apply to encoder 'nature_cnn' (it scales images by 1/255 itself)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"A2C config: {message}")

    @property
    def xla(self) -> bool:
        """Whether XLA compiles this agent's functions (``jit_compile``, or the default for the encoder)."""
        return self.jit_compile if self.jit_compile is not None else self.encoder != "nature_cnn"


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
        seed = 0 if seed is None else int(seed)
        self.config = config
        self.core = ActorCriticCore(
            observation_spec, action_spec, config.hidden_sizes, config.shared_torso, config.activation,
            config.log_std_init, seed, config.xla, "A2C", encoder=config.encoder,
        )
        self.greedy_policy = self.core.greedy_policy
        self.stored_action_spec = self.core.stored_action_spec
        if config.optimizer == "rmsprop":
            self.optimizer = keras.optimizers.RMSprop(learning_rate=config.learning_rate, rho=0.99, epsilon=1e-5)
        else:
            self.optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, epsilon=1e-5)
        self.optimizer.build(self.core.model.trainable_variables)
        self.num_updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="num_updates")
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
            mean = masked_mean(adv, mask)
            adv = (adv - mean) / (tf.sqrt(masked_mean(tf.square(adv - mean), mask)) + 1e-8)
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
        if self.config.anneal_lr:
            self.optimizer.learning_rate.assign(self.config.learning_rate * max(1.0 - progress, 0.0))
        train, dtypes = self._train
        arrays = (batch.observation, batch.action, batch.reward, batch.discount, batch.last, batch.valid, batch.value)
        values = train(*(tf.convert_to_tensor(np.asarray(a), d) for a, d in zip(arrays, dtypes))).numpy()
        return {f"losses/{n}": float(v) for n, v in zip(self.METRICS, values)}
