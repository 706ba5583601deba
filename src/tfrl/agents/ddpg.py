"""Deep Deterministic Policy Gradient (Lillicrap et al. 2016, "Continuous control with deep reinforcement
learning", arXiv:1509.02971) as TD3 with three of its changes turned off: one critic, the actor updated at
every gradient step, and no target policy smoothing.

The agent is ``tfrl.agents.td3.TD3Agent``; only the config's defaults differ, as in Stable-Baselines3, whose
DDPG is its TD3 with these settings. The target is ``y = r + discount * Q'(s', mu'(s'))`` (``ddpg_target``), the
critic loss ``0.5 * MSE(Q, y)``, the actor loss ``-mean(Q(s, mu(s)))``, and the targets follow by Polyak
averaging. The paper's Ornstein-Uhlenbeck exploration noise is replaced by Gaussian noise, as Fujimoto et al.
(2018) and Stable-Baselines3 do; its 400 x 300 networks are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfrl.agents.base import Algorithm
from tfrl.agents.sac import policy_from_model
from tfrl.agents.td3 import TD3Agent, TD3Config

__all__ = ["DDPGConfig", "ALGORITHM"]


@dataclass(frozen=True)
class DDPGConfig(TD3Config):
    """TD3's hyperparameters with DDPG's defaults (the fields are TD3's; these four change)."""

    policy_delay: int = 1
    """Gradient steps of the critic per step of the actor and of the target networks (DDPG: every step)."""
    target_policy_noise: float = 0.0
    """No target policy smoothing (a TD3 addition)."""
    twin_critics: bool = False
    """One critic (TD3's second critic and clipped double-Q are off)."""

    _label = "DDPG"


ALGORITHM = Algorithm("ddpg", DDPGConfig, TD3Agent, host_loop="off_policy", compiled=True,
                      policy_from_model=policy_from_model, policy_output="action")
"""DDPG's registration: TD3's agent with DDPG's config, in the off-policy host loop and the compiled loop."""
