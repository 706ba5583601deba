"""The descriptor an algorithm module exports: its one registration.

Each ``tfrl/agents/<algo>.py`` ends with ``ALGORITHM = Algorithm(...)``, naming its config dataclass,
its agent class, the host loop it trains in and whether the compiled loop for TF-native environments
(backend ``'tf'``) trains it. ``tfrl.agents.ALGORITHMS`` collects the descriptors; run dispatch, the
command line's list, ``tfrl params``, the backend checks and the sweep's validation all read them.
This module imports no TensorFlow, so the command line can use it before loading TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tfrl.errors import ConfigError

__all__ = ["Algorithm", "HostLoop", "PolicyOutput", "check_config", "ACTIVATIONS", "activation_check"]

HostLoop = Literal["off_policy", "on_policy"]
"""``'off_policy'``: collect into a replay buffer and train on a schedule; ``'on_policy'``: collect a
rollout (or whole episodes) with the current policy, then train on it."""


PolicyOutput = Literal["q_values", "distribution", "action"]
"""What the saved policy model (``policy.keras``) outputs: ``'q_values'`` (DQN: act by argmax), ``'distribution'``
(REINFORCE, A2C, PPO: a dict of logits, or a Gaussian's mean and log-std; act by the mode), ``'action'``
(SAC, TD3, DDPG: the deterministic action itself, in the environment's units)."""


@dataclass(frozen=True)
class Algorithm:
    """What the rest of tfrl needs to know about one algorithm."""

    name: str
    """Its name on the command line and in run directories (``dqn``)."""
    config: type
    """Its config dataclass: every hyperparameter, with a docstring per field."""
    agent: type
    """Its agent class, built as ``agent(config, observation_spec, action_spec, total_steps=, seed=, num_envs=)``."""
    host_loop: HostLoop
    """The host loop that trains it on any Python environment."""
    compiled: bool
    """Whether the compiled loop (backend ``'tf'``, TF-native environments) trains it too."""
    policy_from_model: Callable[..., Any]
    """``policy_from_model(model, observation_spec, action_spec, epsilon=0.0, seed=None)``: the policy
    that ``tfrl eval`` and ``tfrl watch`` play from the run's saved network."""
    policy_output: PolicyOutput = "distribution"
    """What the saved policy model outputs; ``tfrl export`` builds its action graph from it."""


def check_config(label: str, checks: list[tuple[bool, str]]) -> None:
    """Raise ``ConfigError("<label>: <message>")`` for the first check that failed (a config's ``__post_init__``)."""
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{label}: {message}")


ACTIVATIONS = ("relu", "tanh", "elu", "selu", "gelu", "silu", "swish", "leaky_relu", "relu6", "softplus",
               "softsign", "sigmoid", "hard_sigmoid", "linear")
"""Activations of hidden layers known without asking Keras (any other name ``keras.activations.get`` accepts is
accepted too)."""


def activation_check(activation: str) -> tuple[bool, str]:
    """The ``(ok, message)`` pair of ``check_config`` for a hidden-layer activation name.

    A name of ``ACTIVATIONS`` passes without importing Keras; any other is looked up with
    ``keras.activations.get`` (imported here only then).
    """
    ok = activation in ACTIVATIONS
    if not ok and isinstance(activation, str) and activation:
        import keras

        try:
            ok = callable(keras.activations.get(activation))
        except (ValueError, TypeError):
            ok = False
    shown = activation if len(str(activation)) <= 40 else f"{str(activation)[:37]}..."
    return ok, f"activation {shown!r} is not a Keras activation; use one of {', '.join(ACTIVATIONS)}"
