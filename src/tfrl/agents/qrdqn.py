"""QR-DQN (Dabney, Rowland, Bellemare and Munos, 2018, "Distributional Reinforcement Learning with Quantile
Regression"), in one file.

The network outputs, for each action, ``N`` quantile values ``theta_i(s, a)`` of the return at the fixed
quantile midpoints ``tau_i = (2i + 1) / (2N)``; ``Q(s, a) = mean_i theta_i(s, a)``. The math is two pure
functions of tensors:

* ``quantile_targets``: ``T theta_j = r + discount * theta_j(s', a*)``, with ``a*`` the argmax of the target
  network's Q-values (or, with ``double_dqn``, the online network's). ``discount`` is the replay buffer's whole
  bootstrap multiplier ``gamma**m * d``: 0 after a termination, so the targets are then all ``r``.
* ``quantile_huber_loss``: with ``u_ij = T theta_j - theta_i`` and the Huber loss ``L_k(u)`` (``0.5 u**2`` for
  ``|u| <= k``, else ``k (|u| - 0.5 k)``), the loss of a transition is
  ``sum_i mean_j |tau_i - 1{u_ij < 0}| L_k(u_ij) / k`` (the paper's equation 10); ``kappa = 0`` is the plain
  quantile-regression loss ``|tau_i - 1{u_ij < 0}| |u_ij|``. It is also the priority under prioritized replay.

``QRDQNAgent`` is ``DQNAgent`` with these three changes (network, values, loss); everything else is DQN's.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from tfrl.agents.base import Algorithm, check_config
from tfrl.agents.dqn import DQNAgent, DQNConfig, policy_from_model
from tfrl.value_networks import q_values_model, value_network

__all__ = ["QRDQNConfig", "QRDQNAgent", "quantile_midpoints", "quantile_targets", "quantile_huber_loss", "ALGORITHM"]


@dataclass(frozen=True)
class QRDQNConfig(DQNConfig):
    """Hyperparameters of QR-DQN: DQN's, the number of quantiles and the Huber threshold."""

    num_quantiles: int = 200
    """Quantiles of the return estimated per action (200 in the paper's Atari runs)."""
    kappa: float = 1.0
    """Threshold of the quantile Huber loss (1 in the paper; 0 is the plain quantile-regression loss)."""
    double_dqn: bool = False
    """Choose the next action with the online network (QR-DQN itself takes the target network's)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_config(f"{self._label} config", [
            (self.num_quantiles >= 1, "num_quantiles must be >= 1"),
            (self.kappa >= 0, "kappa must be >= 0"),
            (self.loss == "huber", "loss does not apply: QR-DQN minimises the quantile Huber loss (set kappa); "
                                   "remove the loss setting"),
        ])

    _label = "QR-DQN"


def quantile_midpoints(num_quantiles: int) -> tf.Tensor:
    """``tau_i = (2i + 1) / (2N)`` for ``i = 0 .. N - 1`` (float32)."""
    return (2.0 * tf.range(num_quantiles, dtype=tf.float32) + 1.0) / (2.0 * num_quantiles)


def quantile_targets(rewards: tf.Tensor, discounts: tf.Tensor, next_quantiles: tf.Tensor) -> tf.Tensor:
    """``r + discount * theta_j(s', a*)``: ``[B]``, ``[B]`` and ``[B, N]`` to ``[B, N]`` (no gradient)."""
    return tf.stop_gradient(rewards[:, None] + discounts[:, None] * next_quantiles)


def quantile_huber_loss(quantiles: tf.Tensor, targets: tf.Tensor, kappa: float = 1.0) -> tf.Tensor:
    """The quantile Huber loss per transition (module docstring): ``[B, N]`` quantiles, ``[B, M]`` targets to ``[B]``."""
    taus = quantile_midpoints(quantiles.shape[-1])
    u = targets[:, None, :] - quantiles[:, :, None]  # [B, N, M]: u_ij = T theta_j - theta_i
    abs_u = tf.abs(u)
    if kappa > 0:
        huber = tf.where(abs_u <= kappa, 0.5 * tf.square(u), kappa * (abs_u - 0.5 * kappa)) / kappa
    else:
        huber = abs_u
    weight = tf.abs(taus[None, :, None] - tf.cast(u < 0, tf.float32))
    return tf.reduce_sum(tf.reduce_mean(weight * huber, axis=2), axis=1)


class QRDQNAgent(DQNAgent):
    """QR-DQN: ``DQNAgent`` whose network outputs quantiles ``[B, A, N]`` (see the module docstring)."""

    metric_names = ("losses/quantile_loss", "losses/q_values", "losses/grad_norm")
    """Names of the scalars ``gradient_step`` returns, in order."""
    _label = "QR-DQN"

    def _build_network(self, name: str, seed: int) -> keras.Model:
        config = self.config
        return value_network(self.observation_spec, self.num_actions, num_atoms=config.num_quantiles,
                             hidden_sizes=config.hidden_sizes, dueling=config.dueling, noisy=config.noisy,
                             sigma0=config.noisy_sigma0, seed=seed, name=name, encoder=config.encoder)

    def q_values(self, outputs: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(outputs, axis=-1)

    def _policy_model(self) -> keras.Model:
        return q_values_model(self.q_network, "quantile")

    def loss_items(self, outputs, actions, reward, discount, next_target, next_online) -> tuple[tf.Tensor, tf.Tensor]:
        chooser = next_target if next_online is None else next_online
        best = tf.argmax(self.q_values(chooser), axis=-1)
        targets = quantile_targets(reward, discount, tf.gather(next_target, best, axis=1, batch_dims=1))
        chosen = tf.gather(outputs, tf.cast(actions, tf.int32), axis=1, batch_dims=1)
        items = quantile_huber_loss(chosen, targets, self.config.kappa)
        return items, items


ALGORITHM = Algorithm("qrdqn", QRDQNConfig, QRDQNAgent, host_loop="off_policy", compiled=True,
                      policy_from_model=policy_from_model, policy_output="q_values")
"""QR-DQN's registration: DQN's loops; the saved policy maps observations to Q-values, as DQN's does."""
