"""What REINFORCE, A2C and PPO share: network settings, an actor-critic network with compiled act and
value calls, the masked mean their losses use, and the agent base class.

``ActorCriticCore`` is used by composition (each agent holds one). Per vector step the host loop
makes one compiled call, ``act``, which returns the sampled action, its log-probability and the
critic's value. The sampling noise (uniform for the Gumbel-max trick on categorical actions,
standard normal for Gaussian ones) is drawn on the host from a seeded NumPy generator and passed
in, so a seed fixes every action and the graph holds no random-generator state.

Stored actions are the *raw* samples: zero-based indices for discrete actions and the unclipped
Gaussian sample for continuous ones (their log-probabilities are exact); the environment gets the
index plus the action spec's ``minimum``, or the sample clipped to the action bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from tfrl import distributions, schedules
from tfrl.agents.base import activation_check
from tfrl.errors import UnsupportedSpaceError
from tfrl.networks import actor_critic, check_image_spec
from tfrl.policies import ModePolicy
from tfrl.specs import ArraySpec, BoundedArraySpec

__all__ = ["ActorCriticConfig", "ActorCriticAgent", "ActorCriticCore", "check_action_spec", "masked_mean"]


@dataclass(frozen=True)
class ActorCriticConfig:
    """Network and normalization settings of REINFORCE, A2C and PPO (the base of their configs)."""

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

    def network_checks(self) -> list[tuple[bool, str]]:
        """The checks of these settings, as ``(ok, message)`` pairs for ``check_config``."""
        return [
            (len(self.hidden_sizes) >= 1 and all(h >= 1 for h in self.hidden_sizes), "hidden_sizes must be positive"),
            (self.encoder in ("mlp", "nature_cnn"), "encoder must be 'mlp' or 'nature_cnn'"),
            activation_check(self.activation),
            (not (self.encoder == "nature_cnn" and self.normalize_observations),
             "normalize_observations does not apply to encoder 'nature_cnn' (it scales images by 1/255 itself)"),
        ]

    @property
    def xla(self) -> bool:
        """Whether XLA compiles this agent's functions (``jit_compile``, or the default for the encoder)."""
        return self.jit_compile if self.jit_compile is not None else self.encoder != "nature_cnn"


def masked_mean(x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean of ``x`` over the entries where ``mask`` is 1 (0 if there are none)."""
    return tf.reduce_sum(x * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def normalized(x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """``x`` standardized over the entries where ``mask`` is 1 (mean 0, standard deviation 1, epsilon 1e-8)."""
    mean = masked_mean(x, mask)
    return (x - mean) / (tf.sqrt(masked_mean(tf.square(x - mean), mask)) + 1e-8)


def check_action_spec(action_spec: ArraySpec, algorithm: str) -> None:
    """Refuse action specs that neither a categorical nor a diagonal Gaussian head can handle."""
    discrete = isinstance(action_spec, BoundedArraySpec) and action_spec.is_discrete
    box = (
        isinstance(action_spec, BoundedArraySpec)
        and len(action_spec.shape) == 1
        and np.issubdtype(action_spec.dtype, np.floating)
        and np.all(np.isfinite(action_spec.minimum))
        and np.all(np.isfinite(action_spec.maximum))
    )
    if not (discrete or box):
        raise UnsupportedSpaceError(
            f"{algorithm} supports Discrete actions and 1-D Box actions with finite bounds; this environment's "
            f"actions are {action_spec.shape} {action_spec.dtype}"
        )


class ActorCriticCore:
    """An actor-critic network with compiled ``act`` and ``value`` calls and its evaluation (mode) policy.

    ``encoder`` picks the torso (``tfrl.networks.actor_critic``): ``"mlp"`` or ``"nature_cnn"`` (a shared
    Nature CNN on uint8 images such as ``(84, 84, 4)``; other observation specs raise ``UnsupportedSpaceError``).
    """

    def __init__(
        self,
        observation_spec: ArraySpec,
        action_spec: BoundedArraySpec,
        hidden_sizes: Sequence[int],
        shared: bool,
        activation: str,
        log_std_init: float,
        seed: int,
        jit_compile: bool,
        algorithm: str,
        encoder: Literal["mlp", "nature_cnn"] = "mlp",
    ):
        check_action_spec(action_spec, algorithm)
        if encoder == "nature_cnn":
            check_image_spec(observation_spec, f"{algorithm} with encoder='nature_cnn'")
        self.observation_spec, self.action_spec = observation_spec, action_spec
        self.discrete = action_spec.is_discrete
        self.model = actor_critic(
            observation_spec, action_spec, hidden_sizes=hidden_sizes, shared=shared, activation=activation,
            log_std_init=log_std_init, seed=seed, encoder=encoder,
        )
        self.rng = np.random.default_rng(seed + 1)
        if self.discrete:
            self.num_actions = action_spec.num_values
            self._offset = int(action_spec.minimum)
            self.stored_action_spec = ArraySpec((), np.int64, name="action_index")
            self._noise_shape = (self.num_actions,)
        else:
            self.stored_action_spec = ArraySpec(action_spec.shape, np.float32, name="raw_action")
            self._noise_shape = action_spec.shape
            self._low, self._high = action_spec.minimum, action_spec.maximum
        obs_sig = tf.TensorSpec((None, *observation_spec.shape), tf.as_dtype(observation_spec.dtype))
        noise_sig = tf.TensorSpec((None, *self._noise_shape), tf.float32)

        @tf.function(input_signature=[obs_sig, noise_sig], jit_compile=jit_compile)
        def act(observation, noise):
            outputs = self.model(observation, training=False)
            if self.discrete:
                action = distributions.categorical_sample(outputs["logits"], noise)
            else:
                action = distributions.gaussian_sample(outputs["mean"], outputs["log_std"], noise)
            log_prob, _ = self.log_prob_entropy(outputs, action)
            return action, log_prob, outputs["value"]

        @tf.function(input_signature=[obs_sig], jit_compile=jit_compile)
        def value(observation):
            return self.model(observation, training=False)["value"]

        self._act = act.get_concrete_function()
        self._value = value.get_concrete_function()
        self._obs_dtype = obs_sig.dtype
        self.eval_policy = ModePolicy(self.model, observation_spec, action_spec, jit_compile=jit_compile)

    def log_prob_entropy(self, outputs: dict, actions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Log-probabilities of raw ``actions`` and the entropies, from the network's outputs (in graph)."""
        if self.discrete:
            logits = outputs["logits"]
            return distributions.categorical_log_prob(logits, actions), distributions.categorical_entropy(logits)
        log_std = outputs["log_std"]
        return (distributions.gaussian_log_prob(outputs["mean"], log_std, actions),
                distributions.gaussian_entropy(log_std))

    def act(self, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sample actions: ``(env_action, raw_action, log_prob, value)`` as NumPy arrays."""
        batch = len(observation)
        if self.discrete:
            noise = self.rng.random((batch, *self._noise_shape), dtype=np.float32)
        else:
            noise = self.rng.standard_normal((batch, *self._noise_shape), dtype=np.float32)
        action, log_prob, value = self._act(tf.convert_to_tensor(observation, self._obs_dtype), tf.constant(noise))
        action = action.numpy()
        if self.discrete:
            env_action = (action + self._offset).astype(self.action_spec.dtype)
        else:
            env_action = np.clip(action, self._low, self._high).astype(self.action_spec.dtype)
        return env_action, action, log_prob.numpy(), value.numpy()

    def value(self, observation: np.ndarray) -> np.ndarray:
        """The critic's values of a batch of observations."""
        return self._value(tf.convert_to_tensor(observation, self._obs_dtype)).numpy()

    @property
    def policy_model(self) -> keras.Model:
        """The network saved as the run's policy (``tfrl eval`` plays its mode)."""
        return self.model

    def host_state(self) -> dict:
        """JSON-friendly state of the sampling generator."""
        return {"sample_rng": self.rng.bit_generator.state}

    def load_host_state(self, state: dict) -> None:
        """Restore what ``host_state`` returned."""
        if "sample_rng" in state:
            self.rng.bit_generator.state = state["sample_rng"]


class ActorCriticAgent:
    """What REINFORCE, A2C and PPO agents share around their ``core``, ``optimizer`` and ``num_updates``.

    The one base class of those agents: building the network and optimizer, acting, values, the
    learning-rate schedule, checkpoint items, host random state and the saved policy network. Each
    agent file keeps its own config, loss and update.
    """

    config: ActorCriticConfig
    core: ActorCriticCore
    optimizer: keras.optimizers.Optimizer
    num_updates: tf.Variable

    def _build(self, config: ActorCriticConfig, observation_spec: ArraySpec, action_spec: BoundedArraySpec,
               seed: int | None, algorithm: str, optimizer: keras.optimizers.Optimizer) -> None:
        """Set up the config, the core (network, act and value calls), the optimizer and the update counter."""
        self.config = config
        self.core = ActorCriticCore(
            observation_spec, action_spec, config.hidden_sizes, config.shared_torso, config.activation,
            config.log_std_init, 0 if seed is None else int(seed), config.xla, algorithm, encoder=config.encoder,
        )
        self.eval_policy = self.core.eval_policy
        """The policy evaluations play: the mode of the action distribution."""
        self.stored_action_spec = self.core.stored_action_spec
        self.optimizer = optimizer
        self.optimizer.build(self.core.model.trainable_variables)
        self.num_updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="num_updates")

    def learning_rate_at(self, progress):
        """The learning rate at ``progress`` (in [0, 1]) of the run: annealed linearly to zero when the config
        sets ``anneal_lr``. A Python float for a float, a tensor for a tensor (the compiled loop)."""
        rate = self.config.learning_rate
        return rate * schedules.remaining_fraction(progress) if getattr(self.config, "anneal_lr", False) else rate

    def act(self, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(env_action, raw_action, log_prob, value)`` for a batch of observations."""
        return self.core.act(observation)

    def value(self, observation: np.ndarray) -> np.ndarray:
        """The critic's values."""
        return self.core.value(observation)

    def checkpoint_items(self) -> dict[str, object]:
        """Trackable state for ``tf.train.Checkpoint``."""
        return {"model": self.core.model, "optimizer": self.optimizer, "num_updates": self.num_updates}

    def host_state(self) -> dict:
        """JSON-friendly host random generator state."""
        return self.core.host_state()

    def load_host_state(self, state: dict) -> None:
        """Restore what ``host_state`` returned."""
        self.core.load_host_state(state)

    @property
    def policy_model(self) -> keras.Model:
        """The actor-critic network saved as the run's policy (``tfrl eval`` plays its mode)."""
        return self.core.policy_model


def policy_from_model(model: keras.Model, observation_spec: ArraySpec, action_spec: BoundedArraySpec,
                      epsilon: float = 0.0, seed: int | None = None) -> ModePolicy:
    """The mode policy of a saved actor-critic network (``epsilon`` and ``seed`` do not apply)."""
    return ModePolicy(model, observation_spec, action_spec)
