"""Deep Q-Networks (Mnih et al., 2015) with the Double (van Hasselt et al., 2016) and Dueling
(Wang et al., 2016) variants, in one file.

The math is three pure functions of tensors:

* ``q_targets``: ``y = r + discount * Q_target(s', a*)``, where ``a* = argmax_a Q_target(s', a)``
  for DQN and ``a* = argmax_a Q_online(s', a)`` for Double DQN. ``discount`` is the replay
  buffer's whole bootstrap multiplier, ``gamma**m * d``: 0 after a termination, so targets
  bootstrap through truncation and never through termination, for 1-step and n-step alike.
* ``td_loss``: Huber (delta 1) or squared error between ``Q(s, a)`` and ``y``, averaged over the batch.
* ``update_target``: hard copy (``tau = 1``) or Polyak averaging of the online weights.

``DQNAgent`` holds the networks, the optimizer and one compiled ``train`` function that runs
``G`` gradient steps in a single call on a stack of ``G`` batches ``[G, B, ...]``, updating the
target network every ``target_update_interval`` gradient steps inside the graph. Each of those steps
is ``DQNAgent.gradient_step``, a TensorFlow function of one batch that the compiled loop for TF-native
environments (``tfrl.train.loops.compiled_off_policy``) calls too. Dueling is only
a different network (``tfrl.networks.q_network(dueling=True)``); Double DQN only a different target.

Two options serve every value-based agent (C51, QR-DQN and Rainbow build on this class):

* prioritized replay (Schaul et al., 2016): the host loop samples ``P(i) ~ (|delta_i| + eps) ** alpha``
  (``tfrl.data.ring``), each loss term is weighted by ``(N P(i)) ** -beta`` (beta annealed linearly to 1 over the
  run), and ``weighted_step`` returns the new priorities (here ``|delta|``) from the same call;
* noisy nets (Fortunato et al., 2018): factorised Gaussian layers (``tfrl.value_networks.NoisyDense``) that draw
  fresh noise at every training-mode call; the exploring policy acts with noise, evaluation with the mean weights.
A subclass changes only what a value is: ``_build_network``, ``q_values`` and ``loss_items``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import keras
import tensorflow as tf

from tfrl import schedules
from tfrl.agents.base import Algorithm, check_config
from tfrl.agents.off_policy import STREAM_COIN, STREAM_RANDOM_ACTION, Key, multi_step_train, uniform_random_action
from tfrl.agents.sac_math import polyak_update
from tfrl.config import check_types
from tfrl.errors import UnsupportedSpaceError
from tfrl.networks import check_image_spec, q_network
from tfrl.policies import EpsilonGreedyPolicy, GreedyPolicy
from tfrl.specs import ArraySpec, BoundedArraySpec
from tfrl.value_networks import VALUE_ENCODERS, q_values_model, value_network

__all__ = ["DQNConfig", "DQNAgent", "q_targets", "td_loss", "td_loss_items", "update_target", "ALGORITHM"]


@dataclass(frozen=True)
class DQNConfig:
    """Hyperparameters of DQN and of its off-policy training schedule."""

    learning_rate: float = 1e-3
    """Adam step size."""
    batch_size: int = 64
    """Transitions per gradient step."""
    buffer_size: int = 100_000
    """Replay buffer capacity in transitions (all environments together)."""
    learning_starts: int = 1_000
    """Environment steps of uniform random actions before the first gradient step."""
    gamma: float = 0.99
    """Discount factor."""
    n_step: int = 1
    """Steps summed in each target before bootstrapping (1 is classic DQN)."""
    train_freq: int = 4
    """Environment steps (summed over parallel environments) between two training phases."""
    gradient_steps: int = 1
    """Gradient steps per training phase, run in one compiled call."""
    target_update_interval: int = 1_000
    """Gradient steps (not environment steps, unlike SB3's setting of this name) between two target-network
    updates: with train_freq 4 and gradient_steps 1, 1000 here is 4000 environment steps."""
    tau: float = 1.0
    """Target update rate: 1.0 copies the online weights (hard update); below 1 is Polyak averaging."""
    double_dqn: bool = True
    """Choose the bootstrap action with the online network and value it with the target network."""
    dueling: bool = False
    """Use a dueling head (separate state-value and advantage streams)."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Units of each hidden layer of the MLP torso."""
    encoder: Literal["mlp", "nature_cnn", "data_efficient_cnn"] = "mlp"
    """An MLP (hidden_sizes), the Nature DQN CNN for uint8 images such as (84, 84, 4), or Atari 100k's data-efficient
    CNN (two 5x5 stride-5 convolutions, then hidden_sizes)."""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss: Huber (delta 1, as in the Nature paper) or mean squared error."""
    max_grad_norm: float | None = 10.0
    """Clip gradients to this global norm; None turns clipping off."""
    exploration_fraction: float = 0.1
    """Fraction of the total environment steps over which epsilon decays linearly."""
    eval_epsilon: float = 0.0
    """Epsilon of the evaluation policy (and of ``tfrl eval``/``watch``); 0 plays greedily. The Atari
    presets use 0.05 as Mnih et al. (2015) did, so that a policy that never presses FIRE cannot stall a
    game until the time limit."""
    exploration_initial_eps: float = 1.0
    """Epsilon at the start of training."""
    exploration_final_eps: float = 0.05
    """Epsilon after the decay."""
    jit_compile: bool | None = None
    """Compile with XLA. None (the default) chooses: XLA for MLPs (several times faster here), not for the
    CNNs (XLA's CPU convolutions made a Nature CNN gradient step 188 ms against 16.5 ms without it)."""
    adam_epsilon: float = 1e-7
    """Adam's epsilon (Keras's default; Rainbow and DER use 1.5e-4 with a learning rate of 6.25e-5 or 1e-4)."""
    noisy: bool = False
    """Noisy nets (Fortunato et al., 2018): every dense layer is a factorised Gaussian noisy layer; set the
    exploration epsilons to 0 to explore by the noise alone."""
    noisy_sigma0: float = 0.5
    """Initial noise scale of the noisy layers: sigma = noisy_sigma0 / sqrt(inputs) (0.5 in the paper)."""
    prioritized_replay: bool = False
    """Proportional prioritized replay (Schaul et al., 2016), host loop only."""
    priority_alpha: float = 0.6
    """Priority exponent: P(i) is proportional to p_i ** alpha (0 is uniform)."""
    priority_beta0: float = 0.4
    """Importance-sampling exponent at the start; annealed linearly to 1 over the run's total steps."""
    priority_epsilon: float = 1e-6
    """Added to |TD error| so that no transition's priority is 0."""

    _label = "DQN"

    def __post_init__(self) -> None:
        check_types(self, f"{self._label} config")
        check_config(f"{self._label} config", [
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.buffer_size >= self.batch_size, "buffer_size must be >= batch_size"),
            (self.learning_starts >= 0, "learning_starts must be >= 0"),
            (0.0 <= self.gamma <= 1.0, "gamma must lie in [0, 1]"),
            (self.n_step >= 1, "n_step must be >= 1"),
            (self.train_freq >= 1, "train_freq must be >= 1"),
            (self.gradient_steps >= 1, "gradient_steps must be >= 1"),
            (self.target_update_interval >= 1, "target_update_interval must be >= 1"),
            (0.0 < self.tau <= 1.0, "tau must lie in (0, 1]"),
            (len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes), "hidden_sizes must be positive"),
            (self.encoder in VALUE_ENCODERS, "encoder must be 'mlp', 'nature_cnn' or 'data_efficient_cnn'"),
            (self.loss in ("huber", "mse"), "loss must be 'huber' or 'mse'"),
            (self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm must be > 0 or None"),
            (0.0 <= self.exploration_fraction <= 1.0, "exploration_fraction must lie in [0, 1]"),
            (0.0 <= self.eval_epsilon <= 1.0, "eval_epsilon must lie in [0, 1]"),
            (0.0 <= self.exploration_final_eps <= 1.0, "exploration_final_eps must lie in [0, 1]"),
            (0.0 <= self.exploration_initial_eps <= 1.0, "exploration_initial_eps must lie in [0, 1]"),
            (self.adam_epsilon > 0, "adam_epsilon must be > 0"),
            (self.noisy_sigma0 > 0, "noisy_sigma0 must be > 0"),
            (0.0 <= self.priority_alpha <= 1.0, "priority_alpha must lie in [0, 1]"),
            (0.0 <= self.priority_beta0 <= 1.0, "priority_beta0 must lie in [0, 1]"),
            (self.priority_epsilon > 0, "priority_epsilon must be > 0"),
        ])

    @property
    def xla(self) -> bool:
        """Whether XLA compiles this agent's functions (``jit_compile``, or the default for the encoder)."""
        return self.jit_compile if self.jit_compile is not None else self.encoder == "mlp"


def q_targets(
    rewards: tf.Tensor,
    discounts: tf.Tensor,
    next_q_target: tf.Tensor,
    next_q_online: tf.Tensor | None = None,
) -> tf.Tensor:
    """TD targets ``r + discount * Q_target(s', a*)`` for a batch.

    ``next_q_target`` and ``next_q_online`` are ``[B, A]`` action values of the next observations.
    With ``next_q_online`` (Double DQN) ``a*`` is its argmax; without it, the target network's.
    """
    if next_q_online is None:
        next_value = tf.reduce_max(next_q_target, axis=-1)
    else:
        best = tf.argmax(next_q_online, axis=-1)
        next_value = tf.gather(next_q_target, best, axis=-1, batch_dims=1)
    return tf.stop_gradient(rewards + discounts * next_value)


def td_loss_items(q_values: tf.Tensor, actions: tf.Tensor, targets: tf.Tensor,
                  loss: str = "huber") -> tuple[tf.Tensor, tf.Tensor]:
    """Per transition: Huber(delta=1) or squared error between ``Q(s, a)`` and the targets ``[B]``, and the
    absolute TD error ``|y - Q(s, a)|`` ``[B]`` (prioritized replay's priority)."""
    chosen = tf.gather(q_values, tf.cast(actions, tf.int32), axis=-1, batch_dims=1)
    error = targets - chosen
    abs_error = tf.abs(error)
    if loss == "huber":
        quadratic = tf.minimum(abs_error, 1.0)
        per_item = 0.5 * tf.square(quadratic) + (abs_error - quadratic)
    else:
        per_item = tf.square(error)
    return per_item, abs_error


def td_loss(q_values: tf.Tensor, actions: tf.Tensor, targets: tf.Tensor, loss: str = "huber") -> tf.Tensor:
    """Mean over the batch of Huber(delta=1) or squared error between ``Q(s, a)`` and the targets."""
    return tf.reduce_mean(td_loss_items(q_values, actions, targets, loss)[0])


def update_target(online: list[tf.Variable], target: list[tf.Variable], tau: float) -> None:
    """``target <- tau * online + (1 - tau) * target`` for each variable pair (tau = 1 copies): the
    off-policy agents' one ``polyak_update``."""
    polyak_update(target, online, tau)


class DQNAgent:
    """A DQN agent: online and target Q networks, Adam, and a compiled multi-step ``train``.

    ``policy`` explores epsilon-greedily on the schedule given by the config and the run's total
    steps (with the network's noise when ``noisy``); ``eval_policy`` is for evaluation. ``train(batch)`` takes a
    ``Transition`` whose arrays have leading shape ``[G, B]`` and runs G gradient steps in one call;
    ``train_prioritized(batch, weights)`` does the same with importance weights and returns the new priorities.
    """

    metric_names = ("losses/td_loss", "losses/q_values", "losses/grad_norm")
    """Names of the scalars ``gradient_step`` returns, in order."""
    _label = "DQN"

    def __init__(
        self,
        config: DQNConfig,
        observation_spec: ArraySpec,
        action_spec: BoundedArraySpec,
        total_steps: int,
        seed: int | None = None,
        num_envs: int = 1,
    ):
        if not isinstance(action_spec, BoundedArraySpec) or not action_spec.is_discrete:
            raise UnsupportedSpaceError(
                f"{self._label} needs a discrete action space (gymnasium Discrete), but this environment's actions "
                f"are {action_spec.shape} {action_spec.dtype} boxes. Use an algorithm for continuous actions "
                f"(sac, td3, ddpg, ppo, a2c or reinforce) or discretize the actions."
            )
        if config.encoder != "mlp":
            check_image_spec(observation_spec, f"{self._label} with encoder={config.encoder!r}")
        self.config = config
        self.observation_spec = observation_spec
        self.action_spec = action_spec
        self.num_actions = action_spec.num_values
        self._offset = int(action_spec.minimum)
        self._total_steps = int(total_steps)
        self.seed = 0 if seed is None else int(seed)
        self._one_atom = config.noisy or config.encoder == "data_efficient_cnn"  # value_network, one atom
        self.q_network = self._build_network("q_network", self.seed)
        """The online network (its raw outputs: Q-values for DQN, logits or quantiles for C51 and QR-DQN)."""
        # a noisy target draws its own noise: its layers are seeded apart (the weights are then copied)
        self.target_network = self._build_network("target_q_network", self.seed + (7919 if config.noisy else 0))
        self.target_network.set_weights(self.q_network.get_weights())
        self.optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, epsilon=config.adam_epsilon)
        self.optimizer.build(self.q_network.trainable_variables)
        self.num_updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="num_updates")
        self._epsilon_duration = int(config.exploration_fraction * total_steps)
        self._q_model = self._policy_model()
        self.policy = EpsilonGreedyPolicy(self._q_model, observation_spec, action_spec, self.epsilon,
                                          seed=self.seed + 1, jit_compile=config.xla, noisy=config.noisy)
        """The exploring policy of training (epsilon from ``epsilon(step)``; noisy networks act with noise)."""
        greedy = GreedyPolicy(self._q_model, observation_spec, action_spec, config.xla) if config.noisy \
            else self.policy.greedy
        self.eval_policy = greedy if config.eval_epsilon <= 0 else EpsilonGreedyPolicy(
            self._q_model, observation_spec, action_spec, config.eval_epsilon, seed=self.seed + 2,
            jit_compile=config.xla)
        """The policy evaluations play: greedy (noisy networks with their mean weights), or epsilon-greedy with
        ``eval_epsilon`` when it is above 0."""
        self.train = multi_step_train(self.gradient_step, observation_spec, action_spec, self.metric_names, config.xla)
        """``train(batch)``: ``G`` gradient steps on a ``Transition`` of ``[G, B, ...]`` arrays in one compiled call;
        returns the mean of each metric of ``metric_names`` over them."""
        self.train_prioritized = multi_step_train(self.weighted_step, observation_spec, action_spec,
                                                  self.metric_names, config.xla, weighted=True)
        """``train_prioritized(batch, weights)``: as ``train`` with importance weights ``[G, B]``; returns the
        metrics and the new priorities ``[G, B]`` (traced only if called)."""

    def _build_network(self, name: str, seed: int) -> keras.Model:
        """The online or target network: observations to the raw outputs ``q_values`` reads."""
        config = self.config
        build = dict(hidden_sizes=config.hidden_sizes, dueling=config.dueling, seed=seed, encoder=config.encoder,
                     name=name)
        if self._one_atom:
            return value_network(self.observation_spec, self.num_actions, num_atoms=1, noisy=config.noisy,
                                 sigma0=config.noisy_sigma0, **build)
        return q_network(self.observation_spec, self.num_actions, **build)

    def q_values(self, outputs: tf.Tensor) -> tf.Tensor:
        """Action values ``[B, A]`` from the network's raw ``outputs``."""
        return outputs[..., 0] if self._one_atom else outputs

    def _policy_model(self) -> keras.Model:
        """The model from observations to action values that the policies call and the run saves."""
        return q_values_model(self.q_network, "quantile") if self._one_atom else self.q_network

    def loss_items(self, outputs, actions, reward, discount, next_target, next_online) -> tuple[tf.Tensor, tf.Tensor]:
        """Per-transition losses ``[B]`` and new priorities ``[B]`` from the online network's outputs on the
        observations, the actions (0-based), the batch's rewards and bootstrap multipliers, and the target (and,
        for Double DQN, the online) network's outputs on the next observations."""
        next_online_q = None if next_online is None else self.q_values(next_online)
        targets = q_targets(reward, discount, self.q_values(next_target), next_online_q)
        return td_loss_items(self.q_values(outputs), actions, targets, self.config.loss)

    def epsilon(self, step):
        """Exploration epsilon at environment ``step``: linear from ``exploration_initial_eps`` to
        ``exploration_final_eps`` over ``exploration_fraction`` of the run (a tensor for a tensor step)."""
        config = self.config
        return schedules.linear(step, config.exploration_initial_eps, config.exploration_final_eps,
                                self._epsilon_duration)

    def priority_beta(self, step):
        """Importance-sampling exponent at environment ``step``: linear from ``priority_beta0`` to 1 over the run."""
        return schedules.linear(step, self.config.priority_beta0, 1.0, self._total_steps)

    def schedule_metrics(self, step) -> dict:
        """What the loops log beside the training metrics: ``charts/epsilon`` at environment ``step`` (and
        ``charts/priority_beta`` with prioritized replay)."""
        metrics = {"charts/epsilon": self.epsilon(step)}
        if self.config.prioritized_replay:
            metrics["charts/priority_beta"] = self.priority_beta(step)
        return metrics

    def gradient_step(self, observation, action, reward, discount, next_observation) -> tuple[tf.Tensor, ...]:
        """One gradient step on a batch ``[B, ...]`` (call it inside a ``tf.function``).

        ``action`` is in the environment's action dtype and range; ``discount`` is the whole bootstrap
        multiplier ``gamma**m * d``. Updates the target network when ``num_updates`` reaches a multiple
        of ``target_update_interval``. Returns the loss, the mean max-Q and the gradient norm before
        clipping. The host loop's compiled ``train`` and the compiled loop both run this one function.
        """
        return self.weighted_step(observation, action, reward, discount, next_observation, tf.ones_like(reward))[:3]

    def weighted_step(self, observation, action, reward, discount, next_observation, weight) -> tuple[tf.Tensor, ...]:
        """``gradient_step`` with each transition's loss weighted by ``weight`` ``[B]`` (importance weights); returns
        the three metrics and the transitions' new priorities ``[B]``."""
        config = self.config
        noisy = config.noisy  # noisy networks draw fresh noise in every training-mode call, target included
        online_vars = self.q_network.trainable_variables
        next_target = self.target_network(next_observation, training=noisy)
        next_online = self.q_network(next_observation, training=noisy) if config.double_dqn else None
        with tf.GradientTape() as tape:
            outputs = self.q_network(observation, training=True)
            items, priority = self.loss_items(outputs, action - self._offset, reward, discount, next_target,
                                              next_online)
            loss = tf.reduce_mean(weight * items)
        grads = tape.gradient(loss, online_vars)
        grad_norm = tf.linalg.global_norm(grads)
        if config.max_grad_norm is not None:
            grads, _ = tf.clip_by_global_norm(grads, config.max_grad_norm, use_norm=grad_norm)
        self.optimizer.apply_gradients(zip(grads, online_vars))
        self.num_updates.assign_add(1)

        def copy_to_target():
            update_target(online_vars, self.target_network.trainable_variables, config.tau)
            return tf.constant(True)

        tf.cond(schedules.every(self.num_updates, config.target_update_interval), copy_to_target,
                lambda: tf.constant(False))
        q_values = self.q_values(outputs)
        return loss, tf.reduce_mean(tf.reduce_max(q_values, axis=-1)), grad_norm, tf.stop_gradient(priority)

    def explore_graph(self, observation: tf.Tensor, step: tf.Tensor, key: Key, warmup: tf.Tensor) -> tf.Tensor:
        """Epsilon-greedy actions inside a graph (the compiled loop): a uniform random action with probability
        ``epsilon(step)`` (1 while ``warmup``), else the greedy one; coin and action from ``key``'s streams."""
        n = tf.shape(observation)[0]
        dtype = tf.as_dtype(self.action_spec.dtype)
        q_values = self.q_values(self.q_network(observation, training=self.config.noisy))
        greedy = tf.cast(tf.argmax(q_values, axis=-1), dtype) + tf.cast(self._offset, dtype)
        random_action = uniform_random_action(self.action_spec, n, key(STREAM_RANDOM_ACTION))
        eps = tf.where(warmup, 1.0, self.epsilon(step))
        explore = tf.random.stateless_uniform([n], key(STREAM_COIN)) < eps
        return tf.where(explore, random_action, greedy)

    def checkpoint_items(self) -> dict[str, object]:
        """Trackable objects that make up the agent's state, for ``tf.train.Checkpoint``."""
        return {
            "q_network": self.q_network,
            "target_network": self.target_network,
            "optimizer": self.optimizer,
            "num_updates": self.num_updates,
        }

    def host_state(self) -> dict:
        """JSON-friendly host-side state (the exploration generator), saved with checkpoints."""
        return {"explore_rng": self.policy.rng.bit_generator.state}

    def load_host_state(self, state: dict) -> None:
        """Restore what ``host_state`` returned."""
        if "explore_rng" in state:
            self.policy.rng.bit_generator.state = state["explore_rng"]

    @property
    def policy_model(self) -> keras.Model:
        """The model saved as the run's final policy (``policy.keras``): observations to Q-values."""
        return self._q_model


def policy_from_model(
    model: keras.Model, observation_spec: ArraySpec, action_spec: BoundedArraySpec, epsilon: float = 0.0,
    seed: int | None = None,
) -> GreedyPolicy | EpsilonGreedyPolicy:
    """The policy of a saved Q network that ``tfrl eval`` plays: greedy, or epsilon-greedy if ``epsilon > 0``."""
    if epsilon > 0:
        return EpsilonGreedyPolicy(model, observation_spec, action_spec, epsilon, seed=seed)
    return GreedyPolicy(model, observation_spec, action_spec)


ALGORITHM = Algorithm("dqn", DQNConfig, DQNAgent, host_loop="off_policy", compiled=True,
                      policy_from_model=policy_from_model, policy_output="q_values")
"""DQN's registration: the off-policy host loop, and the compiled off-policy loop with backend 'tf'."""
