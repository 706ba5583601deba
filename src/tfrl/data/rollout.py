"""On-policy rollout storage: ``num_steps`` vector steps of ``num_envs`` environments, time-major.

An on-policy loop runs the policy for ``T = num_steps`` vector steps, then updates on the whole
rollout and starts a new one. Row ``t`` of the rollout holds the time step ``ts_t`` the agent acted
on and what followed, ``ts_{t+1}``::

    observation[t] = ts_t.observation          (row T: ts_T.observation, for bootstrapping)
    action[t], log_prob[t]                      the action taken on ts_t and its log-probability
    reward[t], discount[t] = ts_{t+1}.reward, ts_{t+1}.discount   (discount 0 only on termination)
    last[t]  = ts_{t+1} is LAST                 (the episode ended with this step)
    valid[t] = ts_t is not LAST                 (a real transition)
    first[t] = ts_t is FIRST                    (an episode starts at this row)
    value[t] = V(observation[t])                (row T included; zeros without a critic)

Under auto-reset the step after a LAST step returns FIRST of a new episode and ignores the action,
so a row whose ``ts_t`` is LAST is not a transition (``valid`` is False): its reward is 0 and its
discount 1. The LAST time step's observation is the episode's final observation, and
``value[t + 1]`` of a row with ``last[t]`` is the critic's value of it, which is what a return
bootstraps from when the episode was truncated (``discount[t] == 1``). ``tfrl.data.returns.gae``
and ``bootstrapped_returns`` consume exactly these arrays.

NumPy only: importing this module does not import TensorFlow.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from tfrl.data.storage import VectorStorage
from tfrl.errors import ConfigError
from tfrl.specs import ArraySpec, StepType, TimeStep

__all__ = ["Episode", "RolloutBatch", "RolloutBuffer", "episodes"]

_FIRST = int(StepType.FIRST)
_LAST = int(StepType.LAST)


class RolloutBatch(NamedTuple):
    """A finished rollout of ``T`` vector steps of ``N`` environments (read-only NumPy arrays).

    See the module docstring for what row ``t`` of each field holds.
    """

    observation: np.ndarray
    """``[T + 1, N, *obs]``, the observation spec's dtype; row ``T`` is the observation after the last step."""
    action: np.ndarray
    """``[T, N, *act]``, the action spec's dtype."""
    reward: np.ndarray
    """``[T, N]`` float32: reward of ``ts_{t+1}``."""
    discount: np.ndarray
    """``[T, N]`` float32: discount of ``ts_{t+1}`` (0 where the episode terminated, 1 otherwise)."""
    last: np.ndarray
    """``[T, N]`` bool: ``ts_{t+1}`` is LAST."""
    valid: np.ndarray
    """``[T, N]`` bool: ``ts_t`` is not LAST, so row ``t`` is a real transition."""
    first: np.ndarray
    """``[T, N]`` bool: ``ts_t`` is FIRST (an episode starts at row ``t``)."""
    log_prob: np.ndarray
    """``[T, N]`` float32: log-probability of ``action[t]`` under the policy that took it (0 if not given)."""
    value: np.ndarray
    """``[T + 1, N]`` float32: the critic's value of ``observation[t]`` (0 if not given)."""


class Episode(NamedTuple):
    """One complete episode of one environment, cut out of a rollout (arrays of length ``L``)."""

    env: int
    """Index of the environment in the batch."""
    start: int
    """Rollout row of the episode's FIRST time step."""
    observations: np.ndarray
    """``[L, *obs]``: the observations acted on, from the FIRST one to the one before LAST."""
    actions: np.ndarray
    """``[L, *act]``: the actions taken."""
    rewards: np.ndarray
    """``[L]`` float32: the reward of each step (the first is the reward after the first action)."""
    log_probs: np.ndarray
    """``[L]`` float32: log-probabilities of the actions."""
    final_observation: np.ndarray
    """``[*obs]``: the LAST time step's observation (what a critic values to bootstrap a truncation)."""
    truncated: bool
    """True if the episode was truncated (LAST with discount 1), False if it terminated."""

    @property
    def length(self) -> int:
        """Number of steps ``L`` (actions taken) of the episode."""
        return int(self.rewards.shape[0])


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


class RolloutBuffer(VectorStorage):
    """Preallocated time-major storage of one rollout of ``num_steps`` vector steps.

    Args:
        num_steps: ``T``, the number of vector steps of a rollout.
        num_envs: ``N``, the number of environments stepped together.
        observation_spec: spec of one observation (without the batch dimension).
        action_spec: spec of one action (without the batch dimension).

    Use: ``add`` once per vector step (``T`` times), ``finish`` with the time step after the last
    one, ``as_batch`` for the arrays, then ``reset`` and collect the next rollout::

        buffer.add(time_step, action, next_time_step, log_prob, value)   # T times
        buffer.finish(next_time_step, last_value)
        batch = buffer.as_batch()

    Shapes are checked on every call, dtypes against the specs on the first ``add``.
    """

    _OWNER = "rollout buffer"

    def __init__(
        self,
        num_steps: int,
        num_envs: int,
        observation_spec: ArraySpec,
        action_spec: ArraySpec,
    ) -> None:
        self._num_steps = _positive_int("num_steps", num_steps)
        self._num_envs = _positive_int("num_envs", num_envs)
        self._observation_spec = observation_spec
        self._action_spec = action_spec
        steps, envs = self._num_steps, self._num_envs
        obs_shape, act_shape = tuple(observation_spec.shape), tuple(action_spec.shape)
        self._observation = np.zeros((steps + 1, envs, *obs_shape), dtype=observation_spec.dtype)
        self._action = np.zeros((steps, envs, *act_shape), dtype=action_spec.dtype)
        self._reward = np.zeros((steps, envs), dtype=np.float32)
        self._discount = np.zeros((steps, envs), dtype=np.float32)
        self._last = np.zeros((steps, envs), dtype=bool)
        self._valid = np.zeros((steps, envs), dtype=bool)
        self._first = np.zeros((steps, envs), dtype=bool)
        self._log_prob = np.zeros((steps, envs), dtype=np.float32)
        self._value = np.zeros((steps + 1, envs), dtype=np.float32)
        self._shapes = {
            "observation": (envs, *obs_shape),
            "action": (envs, *act_shape),
            "step_type": (envs,),
            "reward": (envs,),
            "discount": (envs,),
            "log_prob": (envs,),
            "value": (envs,),
        }
        self._checked = False
        self.reset()

    # ------------------------------------------------------------------ properties

    @property
    def num_steps(self) -> int:
        """``T``: vector steps per rollout."""
        return self._num_steps

    @property
    def num_added(self) -> int:
        """Rows written since the last ``reset`` (0 to ``num_steps``)."""
        return self._position

    @property
    def full(self) -> bool:
        """True once ``num_steps`` rows have been added."""
        return self._position == self._num_steps

    @property
    def finished(self) -> bool:
        """True once ``finish`` has written the observation and value after the last step."""
        return self._finished

    @property
    def num_valid(self) -> int:
        """Number of real transitions among the rows written (``ts_t`` not LAST)."""
        return self._num_valid

    def __repr__(self) -> str:
        return (
            f"RolloutBuffer(num_steps={self._num_steps}, num_envs={self._num_envs}, "
            f"added={self._position}, num_valid={self._num_valid}, finished={self._finished})"
        )

    # ------------------------------------------------------------------ writing

    def reset(self) -> None:
        """Empty the buffer for the next rollout (the arrays are reused, and earlier batches' views change)."""
        self._position = 0
        self._num_valid = 0
        self._finished = False
        self._next_step_type: np.ndarray | None = None  # step type of the last next_time_step added

    def add(
        self,
        time_step: TimeStep,
        action: Any,
        next_time_step: TimeStep,
        log_prob: Any | None = None,
        value: Any | None = None,
    ) -> None:
        """Write row ``t``: the agent acted with ``action`` on ``time_step`` and got ``next_time_step``.

        ``log_prob`` (``[N]``) is the log-probability of ``action`` and ``value`` (``[N]``) the critic's
        value of ``time_step.observation``; each is stored as 0 when None. ``time_step`` must be the
        previous call's ``next_time_step``. Raises ``RuntimeError`` when the buffer is full.
        """
        if self._position == self._num_steps:
            raise RuntimeError(
                f"the rollout buffer is full ({self._num_steps} steps): call finish() and as_batch(), "
                "then reset() before adding the next rollout"
            )
        step_type = self._check_shape("step_type", time_step.step_type)
        values = {
            "observation": self._check_shape("observation", time_step.observation),
            "action": self._check_shape("action", action),
            "reward": self._check_shape("reward", next_time_step.reward),
            "discount": self._check_shape("discount", next_time_step.discount),
            "log_prob": None if log_prob is None else self._check_shape("log_prob", log_prob),
            "value": None if value is None else self._check_shape("value", value),
        }
        next_step_type = self._check_shape("step_type", next_time_step.step_type)
        if not self._checked:
            self._check_dtypes(values)
        if self._next_step_type is not None and not np.array_equal(step_type, self._next_step_type):
            raise ValueError(
                f"rollout buffer: time_step.step_type {step_type.tolist()} differs from the previous "
                f"next_time_step's {self._next_step_type.tolist()}: pass each next_time_step as the "
                "following call's time_step"
            )
        t = self._position
        self._observation[t] = values["observation"]
        self._action[t] = values["action"]
        self._reward[t] = values["reward"]
        self._discount[t] = values["discount"]
        self._last[t] = next_step_type == _LAST
        self._valid[t] = step_type != _LAST
        self._first[t] = step_type == _FIRST
        self._log_prob[t] = 0.0 if log_prob is None else values["log_prob"]
        self._value[t] = 0.0 if value is None else values["value"]
        self._num_valid += int(np.count_nonzero(self._valid[t]))
        self._next_step_type = next_step_type.copy()
        self._position = t + 1

    def finish(self, last_time_step: TimeStep, last_value: Any | None = None) -> None:
        """Write row ``T``: the observation of ``last_time_step`` (the last ``add``'s ``next_time_step``)
        and its value ``last_value`` (``[N]``, 0 when None). The buffer must be full."""
        if self._position != self._num_steps:
            raise RuntimeError(
                f"finish() needs a full rollout: {self._position} of {self._num_steps} steps added"
            )
        step_type = self._check_shape("step_type", last_time_step.step_type)
        if self._next_step_type is not None and not np.array_equal(step_type, self._next_step_type):
            raise ValueError(
                f"rollout buffer: last_time_step.step_type {step_type.tolist()} differs from the last "
                f"next_time_step's {self._next_step_type.tolist()}: pass the last add's next_time_step"
            )
        observation = self._check_shape("observation", last_time_step.observation)
        value = None if last_value is None else self._check_shape("value", last_value)
        self._observation[self._num_steps] = observation
        self._value[self._num_steps] = 0.0 if value is None else value
        self._finished = True

    def as_batch(self) -> RolloutBatch:
        """The finished rollout as a ``RolloutBatch`` of read-only views (valid until ``reset``; copy to keep)."""
        if not self._finished:
            raise RuntimeError(
                f"as_batch() needs a finished rollout: {self._position} of {self._num_steps} steps added"
                + (", call finish(next_time_step, last_value)" if self.full else "")
            )
        return RolloutBatch(
            observation=_read_only(self._observation),
            action=_read_only(self._action),
            reward=_read_only(self._reward),
            discount=_read_only(self._discount),
            last=_read_only(self._last),
            valid=_read_only(self._valid),
            first=_read_only(self._first),
            log_prob=_read_only(self._log_prob),
            value=_read_only(self._value),
        )


def episodes(batch: RolloutBatch) -> list[Episode]:
    """The complete episodes of a rollout: those whose FIRST and LAST time steps both lie inside it.

    An episode of env ``e`` runs from a row ``s`` with ``first[s, e]`` to the next row ``u`` with
    ``last[u, e]``; its steps are rows ``s..u`` and its final observation is ``observation[u + 1, e]``.
    Episodes that began before the rollout or are still running at its end are left out. Episodes
    are ordered by env, then by start row; their arrays are views of the batch's arrays.
    """
    out: list[Episode] = []
    first = np.asarray(batch.first)
    last = np.asarray(batch.last)
    num_steps, num_envs = last.shape
    for env in range(num_envs):
        ends = np.flatnonzero(last[:, env])
        for start in np.flatnonzero(first[:, env]):
            later = ends[ends >= start]
            if later.size == 0:
                break  # still running at the end of the rollout
            end = int(later[0])
            rows = slice(int(start), end + 1)
            out.append(
                Episode(
                    env=env,
                    start=int(start),
                    observations=batch.observation[rows, env],
                    actions=batch.action[rows, env],
                    rewards=batch.reward[rows, env],
                    log_probs=batch.log_prob[rows, env],
                    final_observation=batch.observation[end + 1, env],
                    truncated=bool(batch.discount[end, env] > 0.0),
                )
            )
    return out
