"""Agents, one module per algorithm; ``ALGORITHMS`` maps the command line's names to them.

Each entry names the module and its config class; the module is imported only when used, so
that the command line can check its arguments before importing TensorFlow.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from tfrl.errors import ConfigError, closest

__all__ = ["AlgorithmInfo", "ALGORITHMS", "get_algorithm"]


@dataclass(frozen=True)
class AlgorithmInfo:
    """Where an algorithm lives and how it trains."""

    name: str
    module: str
    config_class: str
    agent_class: str
    loop: str
    """'off_policy' (replay buffer) or 'on_policy' (rollouts)."""

    def load(self) -> ModuleType:
        """Import the algorithm's module."""
        return importlib.import_module(self.module)

    def config_type(self) -> type:
        """The algorithm's config dataclass."""
        return getattr(self.load(), self.config_class)


ALGORITHMS: dict[str, AlgorithmInfo] = {
    "dqn": AlgorithmInfo("dqn", "tfrl.agents.dqn", "DQNConfig", "DQNAgent", "off_policy"),
    "reinforce": AlgorithmInfo("reinforce", "tfrl.agents.reinforce", "ReinforceConfig", "ReinforceAgent", "on_policy"),
    "a2c": AlgorithmInfo("a2c", "tfrl.agents.a2c", "A2CConfig", "A2CAgent", "on_policy"),
    "ppo": AlgorithmInfo("ppo", "tfrl.agents.ppo", "PPOConfig", "PPOAgent", "on_policy"),
}


def get_algorithm(name: str) -> AlgorithmInfo:
    """The algorithm called ``name``, or a ConfigError listing the known ones."""
    key = name.lower()
    if key not in ALGORITHMS:
        hint = closest(key, ALGORITHMS)
        did = f" Did you mean {', '.join(hint)}?" if hint else ""
        raise ConfigError(f"unknown algorithm {name!r}.{did} Known algorithms: {', '.join(sorted(ALGORITHMS))}.")
    return ALGORITHMS[key]
