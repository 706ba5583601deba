"""C51 (Bellemare, Dabney and Munos, 2017, "A Distributional Perspective on Reinforcement Learning"), in one file.

The network outputs, for each action, logits over ``K`` atoms of a fixed support ``z_j = v_min + j * dz``,
``dz = (v_max - v_min) / (K - 1)``; ``p_j(s, a) = softmax(logits)_j`` and ``Q(s, a) = sum_j p_j(s, a) z_j``.
The math is two pure functions of tensors:

* ``categorical_projection``: the distribution of ``r + discount * Z(s', a*)`` projected back onto the
  support (Algorithm 1 of the paper). Each shifted atom ``Tz_i = clip(r + discount * z_i, v_min, v_max)`` gives
  its probability to its two neighbours on the support in proportion to closeness:
  ``m_j = sum_i p_i(s', a*) * max(0, 1 - |Tz_i - z_j| / dz)``. Written this way (as Dopamine does) an atom that
  lands exactly on ``z_j`` gives it all its mass, the case where the floor/ceil form of the paper loses it.
  ``discount`` is the replay buffer's whole bootstrap multiplier ``gamma**m * d``: 0 after a termination, so the
  target is then all mass at ``clip(r)``, and n-step returns need nothing more.
* ``categorical_loss``: the cross-entropy ``-sum_j m_j log p_j(s, a)`` per transition, which is also the
  transition's priority under prioritized replay (as in Rainbow, Hessel et al., 2018).

``a*`` is the argmax of the target network's Q-values, or with ``double_dqn`` of the online network's
(Rainbow). ``C51Agent`` is ``DQNAgent`` with these three changes (network, values, loss): the replay, the
schedules, the target updates, dueling, noisy nets, prioritized replay and both loops are DQN's.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from tfrl.agents.base import Algorithm, check_config
from tfrl.agents.dqn import DQNAgent, DQNConfig, policy_from_model
from tfrl.value_networks import categorical_support, q_values_model, value_network

__all__ = ["C51Config", "C51Agent", "categorical_support", "categorical_projection", "categorical_loss",
           "categorical_q", "ALGORITHM"]


@dataclass(frozen=True)
class C51Config(DQNConfig):
    """Hyperparameters of C51: DQN's, and the support of the return distribution."""

    num_atoms: int = 51
    """Atoms of the support (51 in the paper, hence the name)."""
    v_min: float = -10.0
    """Lowest value of the support; returns below it are clipped to it."""
    v_max: float = 10.0
    """Highest value of the support; returns above it are clipped to it."""
    double_dqn: bool = False
    """Choose the next action with the online network (Rainbow does; C51 itself takes the target network's)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_config(f"{self._label} config", [
            (self.num_atoms >= 2, "num_atoms must be >= 2"),
            (self.v_max > self.v_min, "v_max must be > v_min"),
            (self.loss == "huber", "loss does not apply: C51 minimises the cross-entropy to the projected target "
                                   "distribution; remove the loss setting"),
        ])

    _label = "C51"


def categorical_q(logits: tf.Tensor, support: tf.Tensor) -> tf.Tensor:
    """Q-values ``sum_j softmax(logits)_j z_j``: ``[..., K]`` logits to ``[...]`` values."""
    return tf.reduce_sum(tf.nn.softmax(logits, axis=-1) * support, axis=-1)


def categorical_projection(next_probs: tf.Tensor, rewards: tf.Tensor, discounts: tf.Tensor,
                           support: tf.Tensor) -> tf.Tensor:
    """Project ``r + discount * z`` with probabilities ``next_probs`` ``[B, K]`` onto ``support`` ``[K]``.

    ``rewards`` and ``discounts`` are ``[B]``; returns ``[B, K]`` target probabilities (each row sums to 1).
    """
    v_min, v_max = support[0], support[-1]
    delta = support[1] - support[0]
    shifted = tf.clip_by_value(rewards[:, None] + discounts[:, None] * support[None, :], v_min, v_max)  # [B, K]
    # weight[b, i, j]: the share of shifted atom i that goes to support atom j
    weight = tf.maximum(0.0, 1.0 - tf.abs(shifted[:, :, None] - support[None, None, :]) / delta)
    return tf.stop_gradient(tf.reduce_sum(next_probs[:, :, None] * weight, axis=1))


def categorical_loss(logits: tf.Tensor, target_probs: tf.Tensor) -> tf.Tensor:
    """Cross-entropy ``-sum_j m_j log softmax(logits)_j`` per transition: ``[B, K]`` to ``[B]``."""
    return -tf.reduce_sum(target_probs * tf.nn.log_softmax(logits, axis=-1), axis=-1)


class C51Agent(DQNAgent):
    """C51: ``DQNAgent`` whose network outputs logits ``[B, A, K]`` over the support (see the module docstring)."""

    metric_names = ("losses/categorical_loss", "losses/q_values", "losses/grad_norm")
    """Names of the scalars ``gradient_step`` returns, in order."""
    _label = "C51"

    def _build_network(self, name: str, seed: int) -> keras.Model:
        config = self.config
        self.support = categorical_support(config.v_min, config.v_max, config.num_atoms)
        return value_network(self.observation_spec, self.num_actions, num_atoms=config.num_atoms,
                             hidden_sizes=config.hidden_sizes, dueling=config.dueling, noisy=config.noisy,
                             sigma0=config.noisy_sigma0, seed=seed, name=name, encoder=config.encoder)

    def q_values(self, outputs: tf.Tensor) -> tf.Tensor:
        return categorical_q(outputs, self.support)

    def _policy_model(self) -> keras.Model:
        return q_values_model(self.q_network, "categorical", v_min=self.config.v_min, v_max=self.config.v_max)

    def loss_items(self, outputs, actions, reward, discount, next_target, next_online) -> tuple[tf.Tensor, tf.Tensor]:
        chooser = next_target if next_online is None else next_online
        best = tf.argmax(self.q_values(chooser), axis=-1)
        next_probs = tf.nn.softmax(tf.gather(next_target, best, axis=1, batch_dims=1), axis=-1)
        target = categorical_projection(next_probs, reward, discount, self.support)
        chosen = tf.gather(outputs, tf.cast(actions, tf.int32), axis=1, batch_dims=1)
        items = categorical_loss(chosen, target)
        return items, items


ALGORITHM = Algorithm("c51", C51Config, C51Agent, host_loop="off_policy", compiled=True,
                      policy_from_model=policy_from_model, policy_output="q_values")
"""C51's registration: DQN's loops; the saved policy maps observations to Q-values, as DQN's does."""
