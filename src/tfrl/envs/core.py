"""The ``Environment`` interface: a batch of ``num_envs`` environments stepped together.

Every method works on the whole batch: ``reset`` and ``step`` return a ``TimeStep`` whose
fields have leading dimension ``num_envs`` (``step_type`` int32, ``reward`` and ``discount``
float32, ``observation`` as ``observation_spec()``), and ``step`` takes one action per env.

Auto-reset rule
---------------
Environments in a batch end their episodes at different times, so nobody calls ``reset``
for one of them. Instead, **the step after a LAST step returns FIRST of a new episode for
that env** (reward 0, discount 1, the new episode's first observation), and **the action
given for that env in that call is ignored**. The other envs of the batch step as usual.
A driver therefore never needs to reset mid-run: it keeps feeding actions, and it must not
store the transition from a LAST step to the following FIRST step (the ``step_type`` tells
it which one that is).

``discount`` separates the two ways an episode ends: 0.0 on the LAST step of a terminated
episode, 1.0 on the LAST step of a truncated one (see ``tfrl.specs``).
"""

from __future__ import annotations

import abc
import copy
from types import TracebackType
from typing import Any

import numpy as np

from tfrl.envs.atari_common import GameRecord
from tfrl.errors import ConfigError
from tfrl.specs import ArraySpec, BoundedArraySpec, TimeStep

__all__ = ["Environment", "EnvironmentWrapper", "checked_actions"]


def checked_actions(action: Any, num_envs: int, spec: BoundedArraySpec, env_name: str) -> np.ndarray:
    """``action`` as an array of shape ``[num_envs, *spec.shape]``, or a ValueError naming the expected shape."""
    actions = np.asarray(action)
    expected = (num_envs, *spec.shape)
    if actions.shape != expected:
        raise ValueError(
            f"action of shape {actions.shape} does not fit {env_name!r}: expected shape {expected} "
            f"(num_envs={num_envs}, action spec {spec})"
        )
    return actions


class Environment(abc.ABC):
    """A batch of ``num_envs >= 1`` environments with specs, stepped in lock-step.

    ``reset(seed)`` starts a new episode in every env and returns FIRST steps (reward 0,
    discount 1). ``step(action)`` advances every env by one step. Auto-reset: the step after
    a LAST step returns FIRST of a new episode for that env, and the action given for that
    env in that call is ignored.

    Use as a context manager to close it: ``with envs.make("CartPole-v1") as env: ...``.
    """

    @property
    @abc.abstractmethod
    def num_envs(self) -> int:
        """Number of environments in the batch (the leading dimension of every array)."""

    @abc.abstractmethod
    def observation_spec(self) -> ArraySpec:
        """Spec of one environment's observation (without the batch dimension)."""

    @abc.abstractmethod
    def action_spec(self) -> BoundedArraySpec:
        """Spec of one environment's action (without the batch dimension)."""

    def time_step_spec(self) -> TimeStep:
        """A ``TimeStep`` whose fields are the specs of one environment's time step."""
        return TimeStep(
            step_type=ArraySpec((), np.int32, name="step_type"),
            reward=ArraySpec((), np.float32, name="reward"),
            discount=BoundedArraySpec((), np.float32, name="discount", minimum=0.0, maximum=1.0),
            observation=self.observation_spec(),
        )

    @abc.abstractmethod
    def reset(self, seed: int | None = None) -> TimeStep:
        """Start a new episode in every env; all steps FIRST, reward 0, discount 1."""

    @abc.abstractmethod
    def step(self, action: np.ndarray) -> TimeStep:
        """Advance every env by one step with ``action`` of shape ``[num_envs, *action_spec().shape]``.

        An env whose previous step was LAST ignores its action and returns FIRST of a new
        episode (reward 0, discount 1).
        """

    def render(self) -> np.ndarray | None:
        """An RGB frame ``[height, width, 3]`` of env 0, or None if the env does not render."""
        return None

    def pop_game_records(self) -> list[GameRecord]:
        """The whole games finished since the last call, for environments whose episodes are parts of games.

        An Atari environment made for training ends an episode on each lost life and clips its rewards, so
        its episode returns are not game scores; its ``pop_game_records`` gives the raw score and length of
        each real game (``tfrl.envs.atari``). Other environments return ``[]``.
        """
        return []

    def get_state(self) -> Any:
        """A picklable snapshot of the episodes in progress, or None where this environment cannot give one.

        Checkpoints store it so that a resumed run continues its episodes instead of starting new
        ones (``set_state`` puts it back).
        """
        return None

    def set_state(self, state: Any) -> None:
        """Continue the episodes of a snapshot that ``get_state`` returned.

        An environment whose ``get_state`` gives None has no snapshots, so none can be handed back: the
        default refuses with ``ConfigError`` (a resumed run of such an environment starts new episodes and never
        calls this). Environments that give snapshots override both methods.
        """
        raise ConfigError(f"{type(self).__name__} gives no snapshot of its episodes (get_state returns None), so it "
                          f"cannot restore one; implement get_state and set_state together")

    @abc.abstractmethod
    def close(self) -> None:
        """Release the environments' resources (processes, windows). Safe to call twice."""

    def __enter__(self) -> Environment:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class EnvironmentWrapper(Environment):
    """An ``Environment`` that forwards every call to the ``environment`` it wraps.

    Subclasses override only what they change, and reach the inner environment as
    ``self.environment``.
    """

    _snapshot_attributes: tuple[str, ...] = ()
    """Attributes that ``get_state`` saves along with the inner environment's snapshot."""

    def __init__(self, environment: Environment) -> None:
        self._environment = environment

    @property
    def environment(self) -> Environment:
        """The wrapped environment."""
        return self._environment

    @property
    def num_envs(self) -> int:
        """Number of environments in the batch."""
        return self._environment.num_envs

    def observation_spec(self) -> ArraySpec:
        """Spec of the inner environment's observation."""
        return self._environment.observation_spec()

    def action_spec(self) -> BoundedArraySpec:
        """Spec of the inner environment's action."""
        return self._environment.action_spec()

    def time_step_spec(self) -> TimeStep:
        """Time step spec of the inner environment."""
        return self._environment.time_step_spec()

    def reset(self, seed: int | None = None) -> TimeStep:
        """Reset the inner environment."""
        return self._environment.reset(seed)

    def step(self, action: np.ndarray) -> TimeStep:
        """Step the inner environment."""
        return self._environment.step(action)

    def render(self) -> np.ndarray | None:
        """Render the inner environment."""
        return self._environment.render()

    def pop_game_records(self) -> list[GameRecord]:
        """The inner environment's finished whole games."""
        return self._environment.pop_game_records()

    def get_state(self) -> Any:
        """The inner environment's snapshot with this wrapper's ``_snapshot_attributes`` (None if the inner has none)."""
        inner = self._environment.get_state()
        if inner is None:
            return None
        return {"inner": inner, "own": {name: copy.deepcopy(getattr(self, name)) for name in self._snapshot_attributes}}

    def set_state(self, state: Any) -> None:
        """Restore the inner environment's snapshot and this wrapper's attributes."""
        self._environment.set_state(state["inner"])
        for name, value in state["own"].items():
            setattr(self, name, copy.deepcopy(value))

    def close(self) -> None:
        """Close the inner environment."""
        self._environment.close()

    def __getattr__(self, name: str):
        # Reached only when normal lookup fails: methods of an inner wrapper (such as
        # EpisodeStatistics.pop_finished) stay reachable through outer wrappers.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._environment, name)
