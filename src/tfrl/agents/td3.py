"""Twin Delayed DDPG (Fujimoto et al. 2018, "Addressing Function Approximation Error in Actor-Critic Methods",
arXiv:1802.09477), in one file; DDPG (``tfrl.agents.ddpg``) is this agent with one critic, no delay and no
target smoothing.

The actor ``mu(s)`` is deterministic, a tanh output in ``[-1, 1]`` scaled onto the action Box; exploration adds
Gaussian noise ``exploration_noise * N(0, 1)`` (relative to half the Box's width) and clips. One gradient step
on a batch ``(s, a, r, discount, s')``:

1. critics: ``y = r + discount * min(Q1'(s', a'), Q2'(s', a'))`` at the smoothed target action
   ``a' = clip(mu'(s') + clip(target_policy_noise * N(0, 1), -c, c), -1, 1)``; loss
   ``0.5 * MSE(Q1, y) + 0.5 * MSE(Q2, y)`` (with one critic, DDPG's ``y = r + discount * Q'(s', mu'(s'))``
   and ``0.5 * MSE``). ``discount`` is 0 after a termination and ``gamma`` after a truncation;
2. every ``policy_delay`` gradient steps: the actor on ``-mean(Q1(s, mu(s)))``, then Polyak averaging of the
   target actor and target critics with ``tau``.

The math is the pure functions of ``tfrl.agents.sac_math``; the smoothing noise comes from stateless random
ops keyed by the seed and the update counter. Several gradient steps run in one compiled call, and the
compiled loop for TF-native environments calls the same ``gradient_step``.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from tfrl import distributions, schedules
from tfrl.agents.base import Algorithm, activation_check, check_config
from tfrl.agents.off_policy import (STREAM_NOISE, STREAM_RANDOM_ACTION, Key, check_box_actions, clip_gradients,
                                    multi_step_train, uniform_random_action, update_key)
from tfrl.agents.sac import policy_from_model
from tfrl.agents.sac_math import (ddpg_target, deterministic_actor_loss, polyak_update, sac_critic_loss,
                                  smoothed_target_action, td3_target)
from tfrl.config import check_types
from tfrl.continuous_networks import continuous_critic, deterministic_actor, tanh_policy_model
from tfrl.continuous_policies import DeterministicPolicy, NoisyActorPolicy
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["TD3Config", "TD3Agent", "ALGORITHM"]


@dataclass(frozen=True)
class TD3Config:
    """Hyperparameters of TD3 and of its off-policy training schedule (defaults: Stable-Baselines3's, the paper's)."""

    learning_rate: float = 1e-3
    """Adam step size of the actor and the critics."""
    batch_size: int = 256
    """Transitions per gradient step."""
    buffer_size: int = 1_000_000
    """Replay buffer capacity in transitions (all environments together)."""
    learning_starts: int = 100
    """Environment steps of uniform random actions before the first gradient step."""
    gamma: float = 0.99
    """Discount factor."""
    n_step: int = 1
    """Steps summed in each target before bootstrapping (1 is the paper's TD3)."""
    tau: float = 0.005
    """Polyak rate of the target actor and critics."""
    train_freq: int = 1
    """Environment steps (summed over parallel environments) between two training phases."""
    gradient_steps: int = 1
    """Gradient steps per training phase, run in one compiled call."""
    policy_delay: int = 2
    """Gradient steps of the critics per step of the actor and of the target networks."""
    exploration_noise: float = 0.1
    """Standard deviation of the Gaussian exploration noise, relative to half the action Box's width."""
    target_policy_noise: float = 0.2
    """Standard deviation of the target policy smoothing noise (relative, as above); 0 turns smoothing off."""
    target_noise_clip: float = 0.5
    """The smoothing noise is clipped to [-target_noise_clip, target_noise_clip]."""
    twin_critics: bool = True
    """Two critics and the minimum of their targets (TD3); False is one critic (DDPG)."""
    hidden_sizes: tuple[int, ...] = (400, 300)
    """Units of each hidden layer of the actor and of each critic (the paper's 400 x 300)."""
    activation: str = "relu"
    """Activation of the hidden layers."""
    max_grad_norm: float | None = None
    """Clip each network's gradients to this global norm; None turns clipping off."""
    normalize_observations: bool = False
    """Standardize observations with running statistics (frozen for evaluation, built into the saved policy)."""
    jit_compile: bool = True
    """Compile the gradient steps and the policy with XLA."""

    def __post_init__(self) -> None:
        check_types(self, f"{self._label} config")
        check_config(f"{self._label} config", [
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.buffer_size >= self.batch_size, "buffer_size must be >= batch_size"),
            (self.learning_starts >= 0, "learning_starts must be >= 0"),
            (0.0 <= self.gamma <= 1.0, "gamma must lie in [0, 1]"),
            (self.n_step >= 1, "n_step must be >= 1"),
            (0.0 < self.tau <= 1.0, "tau must lie in (0, 1]"),
            (self.train_freq >= 1, "train_freq must be >= 1"),
            (self.gradient_steps >= 1, "gradient_steps must be >= 1"),
            (self.policy_delay >= 1, "policy_delay must be >= 1"),
            (self.exploration_noise >= 0, "exploration_noise must be >= 0"),
            (self.target_policy_noise >= 0, "target_policy_noise must be >= 0"),
            (self.target_noise_clip >= 0, "target_noise_clip must be >= 0"),
            (len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes), "hidden_sizes must be positive"),
            activation_check(self.activation),
            (self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm must be > 0 or None"),
        ])

    _label = "TD3"

    @property
    def xla(self) -> bool:
        """Whether XLA compiles this agent's functions."""
        return self.jit_compile


class TD3Agent:
    """A TD3 (or, with ``twin_critics=False``, ``policy_delay=1`` and no smoothing, DDPG) agent.

    ``policy`` adds Gaussian noise to the actor (exploration); ``eval_policy`` plays ``policy_model``, the
    actor scaled to the action bounds. ``train(batch)`` runs ``G`` gradient steps on a ``[G, B, ...]`` batch.
    """

    metric_names = ("losses/critic_loss", "losses/actor_loss", "losses/q_values")
    """Names of the scalars ``gradient_step`` returns (``losses/actor_loss``: the latest actor update's)."""

    def __init__(self, config: TD3Config, observation_spec: ArraySpec, action_spec: BoundedArraySpec,
                 total_steps: int, seed: int | None = None, num_envs: int = 1):
        check_box_actions(action_spec, config._label)
        self.config, self.observation_spec, self.action_spec = config, observation_spec, action_spec
        self.seed = seed = 0 if seed is None else int(seed)
        self.action_dim = action_spec.shape[0]
        build = dict(hidden_sizes=config.hidden_sizes, activation=config.activation)
        self.actor = deterministic_actor(observation_spec, action_spec, seed=seed, **build)
        self.target_actor = deterministic_actor(observation_spec, action_spec, name="target_actor", **build)
        self.target_actor.set_weights(self.actor.get_weights())
        count = 2 if config.twin_critics else 1
        self.critics = [continuous_critic(observation_spec, action_spec, seed=seed + i, name=f"critic{i}", **build)
                        for i in range(1, count + 1)]
        self.target_critics = [continuous_critic(observation_spec, action_spec, name=f"target_critic{i}", **build)
                               for i in range(1, count + 1)]
        for target, online in zip(self.target_critics, self.critics):
            target.set_weights(online.get_weights())
        self.actor_optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
        self.critic_optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
        self.actor_optimizer.build(self.actor.trainable_variables)
        self.critic_optimizer.build(self._critic_variables)
        self.num_updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="num_updates")
        self.last_actor_loss = tf.Variable(0.0, dtype=tf.float32, trainable=False, name="last_actor_loss")
        self._low = tf.constant(action_spec.minimum, tf.float32)
        self._high = tf.constant(action_spec.maximum, tf.float32)

        self.policy = NoisyActorPolicy(self.actor, observation_spec, action_spec, config.exploration_noise,
                                       seed=seed + 1, jit_compile=config.xla)
        """The exploring policy of training: the actor plus clipped Gaussian noise, scaled to the bounds."""
        self.policy_model = tanh_policy_model(self.actor, action_spec, squashed_mean=False)
        """The model saved as the run's policy (``policy.keras``): observations to the actor's scaled action."""
        self.eval_policy = DeterministicPolicy(self.policy_model, observation_spec, action_spec,
                                               jit_compile=config.xla)
        """The policy evaluations play: the actor without noise."""
        self.train = multi_step_train(self.gradient_step, observation_spec, action_spec, self.metric_names,
                                      config.xla)
        """``train(batch)``: ``G`` gradient steps on a ``Transition`` of ``[G, B, ...]`` arrays in one compiled call."""

    @property
    def _critic_variables(self) -> list[tf.Variable]:
        return [v for critic in self.critics for v in critic.trainable_variables]

    def gradient_step(self, observation, action, reward, discount, next_observation) -> tuple[tf.Tensor, ...]:
        """One critic step, and every ``policy_delay`` steps an actor step and the target updates, on a batch
        ``[B, ...]`` (call it inside a ``tf.function``); returns ``metric_names``."""
        config = self.config
        next_action = self.target_actor(next_observation, training=False)
        if config.target_policy_noise > 0:
            noise = config.target_policy_noise * tf.random.stateless_normal(
                tf.shape(next_action), update_key(self.seed, self.num_updates, 0))
            next_action = smoothed_target_action(next_action, noise, config.target_noise_clip, -1.0, 1.0)
        next_q = [critic([next_observation, next_action], training=False) for critic in self.target_critics]
        if config.twin_critics:
            target = td3_target(reward, discount, next_q[0], next_q[1])
        else:
            target = ddpg_target(reward, discount, next_q[0])
        squashed = tf.clip_by_value(distributions.unscale_action(tf.cast(action, tf.float32), self._low, self._high),
                                    -1.0, 1.0)
        critic_vars = self._critic_variables
        with tf.GradientTape() as tape:
            q = [critic([observation, squashed], training=True) for critic in self.critics]
            critic_loss = sac_critic_loss(q[0], q[1], target) if config.twin_critics else \
                0.5 * tf.reduce_mean(tf.square(q[0] - target))
        grads = clip_gradients(tape.gradient(critic_loss, critic_vars), config.max_grad_norm)
        self.critic_optimizer.apply_gradients(zip(grads, critic_vars))
        self.num_updates.assign_add(1)

        def update_actor_and_targets():
            actor_vars = self.actor.trainable_variables
            with tf.GradientTape() as tape:
                actor_loss = deterministic_actor_loss(self.critics[0]([observation, self.actor(observation,
                                                                                                 training=True)]))
            grads = clip_gradients(tape.gradient(actor_loss, actor_vars), config.max_grad_norm)
            self.actor_optimizer.apply_gradients(zip(grads, actor_vars))
            self.last_actor_loss.assign(actor_loss)
            polyak_update(self.target_actor.trainable_variables, actor_vars, config.tau)
            for target_critic, critic in zip(self.target_critics, self.critics):
                polyak_update(target_critic.trainable_variables, critic.trainable_variables, config.tau)
            return tf.constant(True)

        tf.cond(schedules.every(self.num_updates, config.policy_delay), update_actor_and_targets,
                lambda: tf.constant(False))
        return critic_loss, self.last_actor_loss.read_value(), tf.reduce_mean(q[0])

    def explore_graph(self, observation: tf.Tensor, step: tf.Tensor, key: Key, warmup: tf.Tensor) -> tf.Tensor:
        """Exploring actions inside a graph (the compiled loop): uniform in the Box while ``warmup``, else the actor
        plus ``exploration_noise`` Gaussian noise, clipped and scaled to the bounds."""
        n = tf.shape(observation)[0]
        noise = self.config.exploration_noise * tf.random.stateless_normal([n, self.action_dim], key(STREAM_NOISE))
        action = tf.clip_by_value(self.actor(observation, training=False) + noise, -1.0, 1.0)
        noisy = tf.cast(distributions.scale_action(action, self._low, self._high), self.action_spec.dtype)
        return tf.where(warmup, uniform_random_action(self.action_spec, n, key(STREAM_RANDOM_ACTION)), noisy)

    def schedule_metrics(self, step) -> dict:
        """Nothing besides the training metrics."""
        return {}

    def checkpoint_items(self) -> dict[str, object]:
        """Trackable objects that make up the agent's state, for ``tf.train.Checkpoint``."""
        items = {"actor": self.actor, "target_actor": self.target_actor, "actor_optimizer": self.actor_optimizer,
                 "critic_optimizer": self.critic_optimizer, "num_updates": self.num_updates,
                 "last_actor_loss": self.last_actor_loss}
        for i, (critic, target) in enumerate(zip(self.critics, self.target_critics), start=1):
            items[f"critic{i}"], items[f"target_critic{i}"] = critic, target
        return items

    def host_state(self) -> dict:
        """JSON-friendly host-side state (the exploration generator), saved with checkpoints."""
        return {"explore_rng": self.policy.rng.bit_generator.state}

    def load_host_state(self, state: dict) -> None:
        """Restore what ``host_state`` returned."""
        if "explore_rng" in state:
            self.policy.rng.bit_generator.state = state["explore_rng"]


ALGORITHM = Algorithm("td3", TD3Config, TD3Agent, host_loop="off_policy", compiled=True,
                      policy_from_model=policy_from_model, policy_output="action")
"""TD3's registration: the off-policy host loop, and the compiled off-policy loop with backend 'tf'."""
