"""The training loops. Each takes a fully built ``LoopContext`` and returns its ``LoopState``.

| loop | trains | on |
| --- | --- | --- |
| ``run_host_off_policy`` | replay-buffer agents (DQN, SAC, TD3, DDPG) | any ``Environment``: Gymnasium, Atari, EnvPool, a user's own |
| ``run_host_on_policy`` | rollout and whole-episode agents (PPO, A2C, REINFORCE) | any ``Environment`` |
| ``run_compiled_off_policy`` | DQN, SAC, TD3, DDPG: collection, in-graph replay and updates in one ``tf.function`` | TF-native environments (backend 'tf') |
| ``run_compiled_on_policy`` | PPO, A2C, likewise | TF-native environments |

The compiled loops also train several seeds in one call, one ``LoopContext`` (run directory) per seed:
``run_compiled_off_policy_seeds`` and ``run_compiled_seeds``, which ``train_seeds`` uses with backend 'tf'.

``loop_for`` picks the loop from the algorithm's descriptor and the run's backend. The loops are
imported when picked: the compiled loops build TensorFlow graphs that host runs never need.
"""

from __future__ import annotations

from collections.abc import Callable

from tfrl.agents import Algorithm
from tfrl.envs.ids import NATIVE_BACKEND
from tfrl.train.loops.context import LoopContext, LoopState

__all__ = ["LoopContext", "LoopState", "Loop", "loop_for"]

Loop = Callable[[LoopContext], LoopState]
"""A training loop: runs a built context from its state's step to the run's ``total_steps``."""


def loop_for(algorithm: Algorithm, backend: str) -> Loop:
    """The loop that trains ``algorithm`` with ``backend`` ('tf': the compiled loops; else the host loops)."""
    if backend == NATIVE_BACKEND:
        if algorithm.host_loop == "off_policy":
            from tfrl.train.loops.compiled_off_policy import run_compiled_off_policy

            return run_compiled_off_policy
        from tfrl.train.loops.compiled_on_policy import run_compiled_on_policy

        return run_compiled_on_policy
    if algorithm.host_loop == "off_policy":
        from tfrl.train.loops.host_off_policy import run_host_off_policy

        return run_host_off_policy
    from tfrl.train.loops.host_on_policy import run_host_on_policy

    return run_host_on_policy
