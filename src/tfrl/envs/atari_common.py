"""What the two Atari back-ends share: the ale-py pipeline of ``tfrl.envs.atari`` and EnvPool's
``tfrl.envs.envpool_env`` (action numbers, the options of ``env_kwargs``, the FIRE-reset rule and
``GameRecord``). It imports neither of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from tfrl.errors import ConfigError

__all__ = ["NOOP", "FIRE", "PIPELINE_KWARGS", "ATARI_OPTIONS", "GameRecord", "check_pipeline_kwargs",
           "fires_on_reset"]

NOOP = 0
"""The ALE action that does nothing."""
FIRE = 1
"""The ALE action that fires (launches the ball in Breakout)."""

PIPELINE_KWARGS = ("frameskip", "repeat_action_probability", "obs_type")
"""ale-py keyword arguments that the pipeline sets itself (``frame_skip=`` and ``sticky_actions=`` choose them)."""

ATARI_OPTIONS = ("sticky_actions", "frame_stack", "noop_max", "frame_skip", "screen_size",
                 "terminal_on_life_loss", "clip_rewards")
"""Options of ``make_atari_env`` that ``make(..., env_kwargs=...)`` passes on for an Atari id (both back-ends)."""


class GameRecord(NamedTuple):
    """One finished real game (all lives) of one sub-env."""

    env_index: int
    """Index of the sub-env in the batch."""
    game_return: float
    """Sum of the game's raw (unclipped) rewards: the game score."""
    length: int
    """Agent steps of the game (each ``frame_skip`` frames), including those of FIRE and life-loss resets."""
    terminated: bool
    """True on a game over, False when ``max_episode_steps`` truncated the game."""


def check_pipeline_kwargs(env_kwargs: Mapping[str, Any]) -> None:
    """Refuse ``env_kwargs`` that set what the pipeline sets itself (``PIPELINE_KWARGS``)."""
    clash = sorted(set(env_kwargs) & set(PIPELINE_KWARGS))
    if clash:
        raise ConfigError(
            f"env_kwargs {clash} are set by the Atari pipeline; use frame_skip=... and sticky_actions=... instead"
        )


def fires_on_reset(action_meanings: Sequence[str]) -> bool:
    """Whether a game presses FIRE after each reset: action 1 is FIRE and the game has 3 or more actions."""
    return len(action_meanings) >= 3 and action_meanings[FIRE] == "FIRE"
