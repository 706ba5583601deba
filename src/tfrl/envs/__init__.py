"""Environments: the batched ``Environment`` interface, the Gymnasium adapter, wrappers and ``make``.

    >>> import numpy as np
    >>> from tfrl import envs
    >>> with envs.make("CartPole-v1", num_envs=4, seed=0) as env:
    ...     time_step = env.reset()
    ...     time_step = env.step(np.zeros(4, dtype=np.int64))
    ...     finished = env.pop_finished()

Game records: ``env.pop_game_records()`` gives the whole games finished since its last call (raw score
and length) for Atari environments, whose training episodes are single lives; ``[]`` for others.

Ids and back-ends without TensorFlow: ``tfrl.envs.ids`` (``check_env_id``, ``list_env_ids``, ``Backend``).
``check_env_id`` (which ``make`` calls for an id) imports the environment's module, so an id whose package is
not installed (Box2D, MuJoCo, jax) raises ``tfrl.errors.MissingDependencyError`` naming the package at once.

Auto-reset: the step after a LAST step returns FIRST of a new episode for that env, and the
action given for that env in that call is ignored (see ``tfrl.envs.core``).
"""

from tfrl.envs.atari_common import GameRecord
from tfrl.envs.core import Environment, EnvironmentWrapper
from tfrl.envs.gym_env import GymnasiumEnvironment
from tfrl.envs.ids import BACKENDS, Backend, check_env_id, list_env_ids
from tfrl.envs.registry import env_id_of, make
from tfrl.envs.wrappers import ActionRepeat, EpisodeRecord, EpisodeStatistics, TimeLimit

__all__ = [
    "Environment",
    "EnvironmentWrapper",
    "GymnasiumEnvironment",
    "EpisodeStatistics",
    "EpisodeRecord",
    "GameRecord",
    "TimeLimit",
    "ActionRepeat",
    "make",
    "list_env_ids",
    "check_env_id",
    "env_id_of",
    "Backend",
    "BACKENDS",
]
