"""Rainbow (Hessel et al., 2018, "Rainbow: Combining Improvements in Deep Reinforcement Learning") as C51 with the
other five improvements turned on: the agent is ``tfrl.agents.c51.C51Agent``, only the config's defaults differ.

* distributional value (C51's categorical projection and cross-entropy loss);
* prioritized replay, proportional, on the cross-entropy (``priority_alpha`` 0.5, ``priority_beta0`` 0.4 to 1);
* n-step returns (``n_step`` 3), summed by the replay buffer;
* a dueling head, per atom (``value_networks.DistributionalHead``);
* Double DQN's action choice (the online network picks ``a*``, the target network's distribution is projected);
* noisy nets (``noisy_sigma0`` 0.5) in place of epsilon-greedy exploration (the epsilons default to 0).

The paper's Adam epsilon of 1.5e-4 is kept; its learning rate (6.25e-5), 80k-frame warm-up and 32k-frame target
period are Atari's and live in the Atari presets, like the data-efficient settings of van Hasselt et al. (2019)
for Atari 100k (``rainbow-*NoFrameskip-v4.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass

from tfrl.agents.base import Algorithm
from tfrl.agents.c51 import C51Agent, C51Config
from tfrl.agents.dqn import policy_from_model

__all__ = ["RainbowConfig", "ALGORITHM"]


@dataclass(frozen=True)
class RainbowConfig(C51Config):
    """C51's hyperparameters with Rainbow's defaults (the fields are C51's and DQN's; these change)."""

    n_step: int = 3
    """Steps summed in each target before bootstrapping (3 in Rainbow)."""
    double_dqn: bool = True
    """Choose the next action with the online network."""
    dueling: bool = True
    """A dueling head, per atom."""
    noisy: bool = True
    """Noisy dense layers explore instead of epsilon."""
    prioritized_replay: bool = True
    """Proportional prioritized replay on the cross-entropy."""
    priority_alpha: float = 0.5
    """Priority exponent (0.5 in Rainbow)."""
    adam_epsilon: float = 1.5e-4
    """Adam's epsilon (Rainbow's)."""
    exploration_initial_eps: float = 0.0
    """No epsilon-greedy exploration: the noise explores."""
    exploration_final_eps: float = 0.0
    """No epsilon-greedy exploration: the noise explores."""

    _label = "Rainbow"


ALGORITHM = Algorithm("rainbow", RainbowConfig, C51Agent, host_loop="off_policy", compiled=True,
                      policy_from_model=policy_from_model, policy_output="q_values")
"""Rainbow's registration: C51's agent with Rainbow's config. Prioritized replay and n-step targets run in the host
loop; with backend 'tf' the compiled loop refuses them (set prioritized_replay false and n_step 1 there)."""
