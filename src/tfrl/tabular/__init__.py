"""Small finite problems solved exactly with NumPy: Markov chains, finite MDPs, planning and tabular TD.

    >>> from tfrl.tabular import FiniteMDP, q_value_iteration, q_learning, mdp_from_gymnasium
    >>> mdp = mdp_from_gymnasium("FrozenLake-v1")
    >>> result = q_value_iteration(mdp, gamma=0.99)
    >>> values = result.values.reshape(4, 4)   # exact optimal values of the 4x4 lake

* ``MarkovChain``: sample a chain, count transitions, stationary distribution.
* ``FiniteMDP``: ``P[s, a, s']``, ``R[s, a, s']``, ``mask[s, a]``; terminal states end episodes.
* ``q_value_iteration``, ``value_iteration``, ``policy_iteration`` (``policy_evaluation``):
  exact planning; each returns a ``TabularResult`` (``q``, ``values``, ``policy``, ``history``).
* ``q_learning``, ``sarsa``: learn from samples of a ``FiniteMDP`` or from a tfrl ``Environment``
  with Discrete observations (FrozenLake, CliffWalking, Taxi).
* ``mdp_from_gymnasium``: the exact model of a Gymnasium toy-text env.

Importing this package does not import TensorFlow (nor Gymnasium until it is needed).
"""

from tfrl.tabular.dynamic_programming import (
    bellman_backup,
    policy_evaluation,
    policy_iteration,
    q_value_iteration,
    value_iteration,
)
from tfrl.tabular.gymnasium_model import mdp_from_gymnasium
from tfrl.tabular.markov_chain import MarkovChain
from tfrl.tabular.mdp import FiniteMDP
from tfrl.tabular.result import TabularResult, greedy_policy
from tfrl.tabular.td_learning import q_learning, sarsa

__all__ = [
    "MarkovChain",
    "FiniteMDP",
    "TabularResult",
    "greedy_policy",
    "bellman_backup",
    "q_value_iteration",
    "value_iteration",
    "policy_iteration",
    "policy_evaluation",
    "q_learning",
    "sarsa",
    "mdp_from_gymnasium",
]
