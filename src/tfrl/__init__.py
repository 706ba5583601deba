"""tfrl: deep reinforcement learning for TensorFlow 2 and Keras 3.

Sub-modules (import what you need; each layer imports only from the layers above it):
``tfrl.specs``, ``tfrl.envs``, ``tfrl.networks``, ``tfrl.policies``, ``tfrl.data``,
``tfrl.agents``, ``tfrl.train``, ``tfrl.logging``, ``tfrl.cli``.
"""

__version__ = "0.1.0"
