"""Soft Actor-Critic (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications", arXiv:1812.05905),
with twin critics and automatic entropy tuning, in one file.

The policy is a tanh-squashed diagonal Gaussian ``a = tanh(u)``, ``u ~ N(mean(s), exp(log_std(s)))``, scaled onto
the action Box. One gradient step on a batch ``(s, a, r, discount, s')``:

1. critics: ``y = r + discount * (min(Q1'(s', a'), Q2'(s', a')) - alpha * log pi(a'|s'))`` with ``a' ~ pi(.|s')``
   and the target critics ``Q'``; loss ``0.5 * MSE(Q1(s, a), y) + 0.5 * MSE(Q2(s, a), y)``. ``discount`` is
   the replay buffer's bootstrap multiplier: 0 after a termination, ``gamma`` after a truncation;
2. actor: ``mean(alpha * log pi(a~|s) - min(Q1(s, a~), Q2(s, a~)))`` with ``a~ ~ pi(.|s)`` reparameterised;
3. temperature: ``-mean(log_alpha * (log pi(a~|s) + target_entropy))``, target entropy ``-dim(A)``;
4. every ``target_update_interval`` gradient steps, Polyak averaging of the target critics with ``tau``.

The order and the alpha used in 1 and 2 (the one before step 3) follow Stable-Baselines3. The math is the pure
functions of ``tfrl.agents.sac_math`` and ``tfrl.distributions``; this file holds the networks, the
optimizers and the step. The noise of both samples comes from stateless random ops keyed by the seed and the
update counter, so a run is reproducible and a resumed run draws what the uninterrupted one would have.
Several gradient steps run in one compiled call (``tfrl.agents.off_policy.multi_step_train``), and the compiled
loop for TF-native environments calls the same ``gradient_step``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import keras
import tensorflow as tf

from tfrl import distributions, schedules
from tfrl.agents.base import Algorithm, activation_check, check_config
from tfrl.agents.off_policy import (STREAM_NOISE, STREAM_RANDOM_ACTION, Key, check_box_actions, clip_gradients,
                                    multi_step_train, uniform_random_action, update_key)
from tfrl.agents.sac_math import (default_target_entropy, polyak_update, sac_actor_loss, sac_critic_loss,
                                  soft_q_target, temperature_loss)
from tfrl.config import check_types
from tfrl.continuous_networks import continuous_critic, squashed_gaussian_actor, tanh_policy_model
from tfrl.continuous_policies import DeterministicPolicy, SquashedGaussianPolicy
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["SACConfig", "SACAgent", "policy_from_model", "ALGORITHM"]


@dataclass(frozen=True)
class SACConfig:
    """Hyperparameters of SAC and of its off-policy training schedule (defaults: Stable-Baselines3's)."""

    learning_rate: float = 3e-4
    """Adam step size of the actor, the critics and the temperature."""
    learning_rate_decay: Literal["constant", "linear"] = "constant"
    """``linear``: from ``learning_rate`` down to 0 over the run's gradient steps (the zoo's ``lin_`` schedules)."""
    batch_size: int = 256
    """Transitions per gradient step."""
    buffer_size: int = 1_000_000
    """Replay buffer capacity in transitions (all environments together)."""
    learning_starts: int = 100
    """Environment steps of uniform random actions before the first gradient step."""
    gamma: float = 0.99
    """Discount factor."""
    n_step: int = 1
    """Steps summed in each target before bootstrapping (1 is the paper's SAC)."""
    tau: float = 0.005
    """Polyak rate of the target critics: ``target <- tau * online + (1 - tau) * target``."""
    train_freq: int = 1
    """Environment steps (summed over parallel environments) between two training phases."""
    gradient_steps: int = 1
    """Gradient steps per training phase, run in one compiled call."""
    target_update_interval: int = 1
    """Gradient steps between two Polyak updates of the target critics."""
    alpha: float | None = None
    """A fixed entropy temperature; None learns it (automatic entropy tuning)."""
    alpha_init: float = 1.0
    """The learned temperature's initial value."""
    target_entropy: float | None = None
    """Entropy the learned temperature aims at; None is ``-dim(A)`` (the paper's heuristic)."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Units of each hidden layer of the actor and of each critic."""
    activation: str = "relu"
    """Activation of the hidden layers."""
    max_grad_norm: float | None = None
    """Clip each network's gradients to this global norm; None (the paper's and SB3's) turns clipping off."""
    normalize_observations: bool = False
    """Standardize observations with running statistics (frozen for evaluation, built into the saved policy)."""
    jit_compile: bool = True
    """Compile the gradient steps and the policy with XLA."""

    def __post_init__(self) -> None:
        check_types(self, "SAC config")
        check_config("SAC config", [
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.learning_rate_decay in ("constant", "linear"), "learning_rate_decay must be 'constant' or 'linear'"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.buffer_size >= self.batch_size, "buffer_size must be >= batch_size"),
            (self.learning_starts >= 0, "learning_starts must be >= 0"),
            (0.0 <= self.gamma <= 1.0, "gamma must lie in [0, 1]"),
            (self.n_step >= 1, "n_step must be >= 1"),
            (0.0 < self.tau <= 1.0, "tau must lie in (0, 1]"),
            (self.train_freq >= 1, "train_freq must be >= 1"),
            (self.gradient_steps >= 1, "gradient_steps must be >= 1"),
            (self.target_update_interval >= 1, "target_update_interval must be >= 1"),
            (self.alpha is None or self.alpha >= 0, "alpha must be >= 0 or None (learned)"),
            (self.alpha_init > 0, "alpha_init must be > 0"),
            (len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes), "hidden_sizes must be positive"),
            activation_check(self.activation),
            (self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm must be > 0 or None"),
        ])

    @property
    def xla(self) -> bool:
        """Whether XLA compiles this agent's functions."""
        return self.jit_compile


class SACAgent:
    """A SAC agent: a tanh-Gaussian actor, twin critics and their targets, a learned temperature, three Adams.

    ``policy`` samples the actor (exploration); ``eval_policy`` plays ``policy_model``, the deterministic
    ``scale(tanh(mean))``. ``train(batch)`` runs ``G`` gradient steps on a ``Transition`` of ``[G, B, ...]``.
    """

    metric_names = ("losses/critic_loss", "losses/actor_loss", "losses/alpha_loss", "charts/alpha",
                    "losses/q_values", "charts/entropy")
    """Names of the scalars ``gradient_step`` returns, in order (``charts/entropy`` is ``-mean log pi``)."""

    def __init__(self, config: SACConfig, observation_spec: ArraySpec, action_spec: BoundedArraySpec,
                 total_steps: int, seed: int | None = None, num_envs: int = 1):
        check_box_actions(action_spec, "SAC")
        self.config, self.observation_spec, self.action_spec = config, observation_spec, action_spec
        self.seed = seed = 0 if seed is None else int(seed)
        self.action_dim = action_spec.shape[0]
        build = dict(hidden_sizes=config.hidden_sizes, activation=config.activation)
        self.actor = squashed_gaussian_actor(observation_spec, action_spec, seed=seed, **build)
        self.critics = [continuous_critic(observation_spec, action_spec, seed=seed + i, name=f"critic{i}", **build)
                        for i in (1, 2)]
        self.target_critics = [continuous_critic(observation_spec, action_spec, name=f"target_critic{i}", **build)
                               for i in (1, 2)]
        for target, online in zip(self.target_critics, self.critics):
            target.set_weights(online.get_weights())
        self.log_alpha = tf.Variable(math.log(config.alpha_init), dtype=tf.float32, trainable=True, name="log_alpha")
        self.target_entropy = (config.target_entropy if config.target_entropy is not None
                               else default_target_entropy(self.action_dim))
        # linear decay: to 0 at the run's last gradient step, counted by each optimizer's (checkpointed) iterations
        updates = max(1, (total_steps - config.learning_starts) * config.gradient_steps // config.train_freq)

        def rate():
            if config.learning_rate_decay == "linear":
                return keras.optimizers.schedules.PolynomialDecay(config.learning_rate, updates, end_learning_rate=0.0)
            return config.learning_rate

        self.actor_optimizer = keras.optimizers.Adam(learning_rate=rate())
        self.critic_optimizer = keras.optimizers.Adam(learning_rate=rate())
        self.alpha_optimizer = keras.optimizers.Adam(learning_rate=rate())
        self.actor_optimizer.build(self.actor.trainable_variables)
        self.critic_optimizer.build(self._critic_variables)
        self.alpha_optimizer.build([self.log_alpha])
        self.num_updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="num_updates")
        self._low = tf.constant(action_spec.minimum, tf.float32)
        self._high = tf.constant(action_spec.maximum, tf.float32)

        self.policy = SquashedGaussianPolicy(self.actor, observation_spec, action_spec, seed=seed + 1,
                                             jit_compile=config.xla)
        """The exploring policy of training: a sample of the tanh-Gaussian, scaled to the bounds."""
        self.policy_model = tanh_policy_model(self.actor, action_spec, squashed_mean=True)
        """The model saved as the run's policy (``policy.keras``): observations to ``scale(tanh(mean))``."""
        self.eval_policy = DeterministicPolicy(self.policy_model, observation_spec, action_spec,
                                               jit_compile=config.xla)
        """The policy evaluations play: the deterministic ``scale(tanh(mean))``."""
        self.train = multi_step_train(self.gradient_step, observation_spec, action_spec, self.metric_names,
                                      config.xla)
        """``train(batch)``: ``G`` gradient steps on a ``Transition`` of ``[G, B, ...]`` arrays in one compiled call;
        returns ``metric_names`` averaged over them."""

    @property
    def _critic_variables(self) -> list[tf.Variable]:
        return [v for critic in self.critics for v in critic.trainable_variables]

    def alpha(self) -> tf.Tensor:
        """The entropy temperature: ``exp(log_alpha)``, or the fixed ``config.alpha``."""
        if self.config.alpha is not None:
            return tf.constant(self.config.alpha, tf.float32)
        return tf.exp(self.log_alpha)

    def _sample(self, observation: tf.Tensor, noise: tf.Tensor, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        outputs = self.actor(observation, training=training)
        return distributions.squashed_gaussian_sample(outputs["mean"], outputs["log_std"], noise)

    def gradient_step(self, observation, action, reward, discount, next_observation) -> tuple[tf.Tensor, ...]:
        """One gradient step of the critics, the actor and the temperature on a batch ``[B, ...]`` (call it inside
        a ``tf.function``); returns ``metric_names``. ``action`` is in the environment's units; ``discount`` is the
        whole bootstrap multiplier ``gamma**m * d``."""
        config = self.config
        batch = tf.shape(reward)[0]
        noise_next = tf.random.stateless_normal([batch, self.action_dim], update_key(self.seed, self.num_updates, 0))
        noise_pi = tf.random.stateless_normal([batch, self.action_dim], update_key(self.seed, self.num_updates, 1))
        alpha = tf.stop_gradient(self.alpha())

        next_action, next_log_prob = self._sample(next_observation, noise_next, training=False)
        next_q1, next_q2 = (critic([next_observation, next_action], training=False) for critic in self.target_critics)
        target = soft_q_target(reward, discount, next_q1, next_q2, next_log_prob, alpha)
        squashed = tf.clip_by_value(distributions.unscale_action(tf.cast(action, tf.float32), self._low, self._high),
                                    -1.0, 1.0)
        critic_vars = self._critic_variables
        with tf.GradientTape() as tape:
            q1, q2 = (critic([observation, squashed], training=True) for critic in self.critics)
            critic_loss = sac_critic_loss(q1, q2, target)
        grads = clip_gradients(tape.gradient(critic_loss, critic_vars), config.max_grad_norm)
        self.critic_optimizer.apply_gradients(zip(grads, critic_vars))

        actor_vars = self.actor.trainable_variables
        with tf.GradientTape() as tape:
            pi_action, log_prob = self._sample(observation, noise_pi, training=True)
            q1_pi, q2_pi = (critic([observation, pi_action], training=False) for critic in self.critics)
            actor_loss = sac_actor_loss(q1_pi, q2_pi, log_prob, alpha)
        grads = clip_gradients(tape.gradient(actor_loss, actor_vars), config.max_grad_norm)
        self.actor_optimizer.apply_gradients(zip(grads, actor_vars))

        if config.alpha is None:
            with tf.GradientTape() as tape:
                alpha_loss = temperature_loss(self.log_alpha, log_prob, self.target_entropy)
            self.alpha_optimizer.apply_gradients([(tape.gradient(alpha_loss, self.log_alpha), self.log_alpha)])
        else:
            alpha_loss = tf.constant(0.0)
        self.num_updates.assign_add(1)

        def update_targets():
            for target_critic, critic in zip(self.target_critics, self.critics):
                polyak_update(target_critic.trainable_variables, critic.trainable_variables, config.tau)
            return tf.constant(True)

        tf.cond(schedules.every(self.num_updates, config.target_update_interval), update_targets,
                lambda: tf.constant(False))
        return critic_loss, actor_loss, alpha_loss, alpha, tf.reduce_mean(q1), -tf.reduce_mean(log_prob)

    def explore_graph(self, observation: tf.Tensor, step: tf.Tensor, key: Key, warmup: tf.Tensor) -> tf.Tensor:
        """Exploring actions inside a graph (the compiled loop): uniform in the Box while ``warmup``, else a sample
        of the tanh-Gaussian scaled to the bounds."""
        n = tf.shape(observation)[0]
        noise = tf.random.stateless_normal([n, self.action_dim], key(STREAM_NOISE))
        squashed, _ = self._sample(observation, noise, training=False)
        sampled = tf.cast(distributions.scale_action(squashed, self._low, self._high), self.action_spec.dtype)
        return tf.where(warmup, uniform_random_action(self.action_spec, n, key(STREAM_RANDOM_ACTION)), sampled)

    def schedule_metrics(self, step) -> dict:
        """Nothing besides the training metrics (the temperature is one of them)."""
        return {}

    def checkpoint_items(self) -> dict[str, object]:
        """Trackable objects that make up the agent's state, for ``tf.train.Checkpoint``."""
        return {
            "actor": self.actor, "critic1": self.critics[0], "critic2": self.critics[1],
            "target_critic1": self.target_critics[0], "target_critic2": self.target_critics[1],
            "log_alpha": self.log_alpha, "actor_optimizer": self.actor_optimizer,
            "critic_optimizer": self.critic_optimizer, "alpha_optimizer": self.alpha_optimizer,
            "num_updates": self.num_updates,
        }

    def host_state(self) -> dict:
        """JSON-friendly host-side state (the exploration generator), saved with checkpoints."""
        return {"explore_rng": self.policy.rng.bit_generator.state}

    def load_host_state(self, state: dict) -> None:
        """Restore what ``host_state`` returned."""
        if "explore_rng" in state:
            self.policy.rng.bit_generator.state = state["explore_rng"]


def policy_from_model(model: keras.Model, observation_spec: ArraySpec, action_spec: BoundedArraySpec,
                      epsilon: float = 0.0, seed: int | None = None) -> DeterministicPolicy:
    """The policy of a saved SAC, TD3 or DDPG policy model (observations to actions) that ``tfrl eval`` plays."""
    return DeterministicPolicy(model, observation_spec, action_spec)


ALGORITHM = Algorithm("sac", SACConfig, SACAgent, host_loop="off_policy", compiled=True,
                      policy_from_model=policy_from_model, policy_output="action")
"""SAC's registration: the off-policy host loop, and the compiled off-policy loop with backend 'tf'."""
