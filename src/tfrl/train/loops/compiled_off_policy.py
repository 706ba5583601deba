"""The compiled off-policy loop: TF-native environments, an in-graph replay buffer and an off-policy agent
(DQN, SAC, TD3, DDPG) in one ``tf.function``.

The "Anakin" layout (see ``tfrl.train.loops.compiled_on_policy``): one call from Python runs many vector steps
of ``N`` native environments (a graph; the training phases inside it are compiled with XLA). Each vector step
acts in the graph (``agent.explore_graph``: DQN epsilon-greedy, SAC a tanh-Gaussian sample, TD3 and DDPG the
actor plus Gaussian noise), stores the transitions in ``GraphReplayBuffer`` (ring storage held in
``tf.Variable``s), and, on the host loop's schedule, runs gradient steps on uniformly sampled batches. The
host only logs, evaluates and checkpoints between calls.

The schedule is the host loop's (``tfrl.train.loops.host_off_policy``), step for step, from the same
functions: uniform random actions while fewer than ``learning_starts`` environment steps were taken,
then the agent's exploration, and the training phases of ``tfrl.schedules.periods_due``. A gradient step is
the agent's ``gradient_step``, the function the host loop's compiled ``train`` runs (target updates and
TD3's delayed actor updates happen inside it). Environment steps count transitions:
the auto-reset step after a LAST step is neither counted nor stored.

Coin flips, random actions and replay indices come from stateless random ops keyed by the run's
seed and a counter carried between calls, so a seed fixes the run.

Resume is exact: checkpoints save the replay buffer's variables (``replay.npz``, with ``save_replay``)
and ``CompiledOffPolicy.state()`` (the seed, the native environments' state, the running episodes and
the counter, through the loop state of ``LoopContext``), so a run stopped and resumed takes the same
steps and ends with the same weights as one never stopped.

Only 1-step targets (``n_step=1``).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import tensorflow as tf

from tfrl import schedules
from tfrl.agents.off_policy import STREAM_REPLAY
from tfrl.errors import ConfigError, RunDirError
from tfrl.fileio import atomic_path
from tfrl.specs import ArraySpec, BoundedArraySpec, StepType
from tfrl.train.loops.compiled_on_policy import Carry, carry_arrays, carry_from_arrays, track_episodes
from tfrl.train.loops.context import LoopContext, LoopState

__all__ = ["GraphReplayBuffer", "CompiledOffPolicy", "check_n_step", "run_compiled_off_policy"]

_SEED_STRIDE = 1_000_003
_FIELDS = ("observation", "action", "reward", "discount", "next_observation")


class GraphReplayBuffer:
    """Uniform replay of 1-step transitions in ``tf.Variable``s, written and sampled inside a ``tf.function``.

    Ring storage of ``capacity`` rows shared by all environments: ``observation``, ``action``,
    ``reward``, ``discount`` (the step's own: 0 when the episode terminated, 1 otherwise) and
    ``next_observation``. ``add`` takes one row per environment and stores only the valid ones (the
    rows whose acting time step was not LAST, i.e. not an auto-reset step), packed one after
    another from ``position``, so that every row below ``size`` is a real transition and sampling
    is one uniform draw in ``[0, size)``. Skipped rows are written to an extra scratch row (index
    ``capacity``) that is never read, which keeps every shape static for XLA.
    """

    def __init__(self, capacity: int, observation_spec: ArraySpec, action_spec: BoundedArraySpec, num_envs: int):
        if num_envs > capacity:
            raise ConfigError(f"buffer_size ({capacity}) must be >= num_envs ({num_envs}) for the compiled loop")
        self.capacity, self.num_envs = int(capacity), int(num_envs)
        rows = self.capacity + 1  # the last row takes the writes of skipped rows

        def variable(shape, dtype, name):
            return tf.Variable(tf.zeros([rows, *shape], dtype), trainable=False, name=f"replay_{name}")

        obs_shape, obs_dtype = tuple(observation_spec.shape), tf.as_dtype(observation_spec.dtype)
        self.observation = variable(obs_shape, obs_dtype, "observation")
        self.action = variable(tuple(action_spec.shape), tf.as_dtype(action_spec.dtype), "action")
        self.reward = variable((), tf.float32, "reward")
        self.discount = variable((), tf.float32, "discount")
        self.next_observation = variable(obs_shape, obs_dtype, "next_observation")
        self.position = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="replay_position")
        """Row that the next valid transition is written to."""
        self.size = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="replay_size")
        """Rows filled (at most ``capacity``)."""

    @property
    def fields(self) -> tuple[tf.Variable, ...]:
        """The storage variables, in the order ``add`` and ``sample`` use."""
        return self.observation, self.action, self.reward, self.discount, self.next_observation

    def add(self, observation, action, reward, discount, next_observation, valid) -> tf.Tensor:
        """Store the valid rows of a batch of ``N`` transitions; returns how many were stored (int64)."""
        valid = tf.convert_to_tensor(valid, tf.bool)
        count = tf.cast(valid, tf.int64)
        offsets = tf.cumsum(count, exclusive=True)
        rows = tf.where(valid, (self.position + offsets) % self.capacity, tf.constant(self.capacity, tf.int64))
        rows = rows[:, None]
        values = (observation, action, reward, discount, next_observation)
        for var, value in zip(self.fields, values):
            var.scatter_nd_update(rows, tf.cast(value, var.dtype))
        added = tf.reduce_sum(count)
        self.position.assign((self.position + added) % self.capacity)
        self.size.assign(tf.minimum(self.size + added, self.capacity))
        return added

    def sample_indices(self, key: tf.Tensor, batch_size: int) -> tf.Tensor:
        """``batch_size`` row indices drawn uniformly from ``[0, size)`` with the stateless ``key``."""
        return tf.random.stateless_uniform([batch_size], key, minval=tf.constant(0, tf.int64),
                                           maxval=tf.maximum(self.size.read_value(), 1), dtype=tf.int64)

    def sample(self, key: tf.Tensor, batch_size: int, gamma: float) -> tuple[tf.Tensor, ...]:
        """A uniform batch ``(observation, action, reward, discount, next_observation)``.

        The returned ``discount`` is the bootstrap multiplier ``gamma * d`` of a 1-step target.
        """
        rows = self.sample_indices(key, batch_size)
        observation, action, reward, discount, next_observation = (tf.gather(v, rows) for v in self.fields)
        return observation, action, reward, gamma * discount, next_observation

    def numpy(self) -> dict[str, np.ndarray]:
        """The filled rows ``[0, size)`` as NumPy arrays (for tests, inspection and ``save``)."""
        size = int(self.size.numpy())
        return {name: var[:size].numpy() for name, var in zip(_FIELDS, self.fields)}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the filled rows, ``position`` and ``size`` to one ``.npz`` file atomically (a checkpoint's
        ``replay.npz``)."""
        arrays = {**self.numpy(), "position": np.int64(self.position.numpy()), "size": np.int64(self.size.numpy()),
                  "capacity": np.int64(self.capacity)}
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore the buffer from a file ``save`` wrote (read without pickles); ``ConfigError`` if its capacity or
        specs differ from this buffer's."""
        if not os.path.exists(path):
            raise RunDirError(f"replay buffer file {os.fspath(path)!r} does not exist: check the checkpoint directory")
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in (*_FIELDS, "position", "size", "capacity") if name not in data.files]
            if missing:
                raise ConfigError(f"replay buffer file {os.fspath(path)!r} has no {missing[0]!r} array")
            capacity, size, position = (int(data[name]) for name in ("capacity", "size", "position"))
            if capacity != self.capacity or not 0 <= position < capacity or not 0 <= size <= capacity:
                raise ConfigError(f"replay buffer file {os.fspath(path)!r} holds capacity {capacity} (size {size}, "
                                  f"position {position}); this buffer has capacity {self.capacity}")
            for name, var in zip(_FIELDS, self.fields):  # one field at a time: no second copy of the whole buffer
                value = data[name]
                expected = (size, *var.shape[1:])
                if value.shape != expected or value.dtype != var.dtype.as_numpy_dtype:
                    raise ConfigError(f"replay buffer file: {name} is {value.dtype}{list(value.shape)}, expected "
                                      f"{var.dtype.name}{list(expected)}: the specs differ")
                var[:size].assign(value)
            self.position.assign(position)
            self.size.assign(size)


class CompiledOffPolicy:
    """Runs an off-policy agent on a native environment: collection, replay and gradient steps in one compiled call.

    ``jit_compile`` applies to the training phase (the ``gradient_steps`` batches sampled and learned
    from after a vector step), a nested ``tf.function``; the collection loop around it is a graph.
    """

    def __init__(self, agent, env, num_envs: int, seed: int, jit_compile: bool = True,
                 buffer: GraphReplayBuffer | None = None):
        config = agent.config
        check_n_step(config)
        self.agent, self.env, self.num_envs, self.seed = agent, env, int(num_envs), int(seed)
        action_spec = agent.action_spec
        self.buffer = buffer if buffer is not None else GraphReplayBuffer(
            config.buffer_size, agent.observation_spec, action_spec, num_envs)
        learning_starts, train_freq = int(config.learning_starts), int(config.train_freq)
        gradient_steps, batch_size, gamma = int(config.gradient_steps), int(config.batch_size), float(config.gamma)
        seed_t = tf.constant(self.seed, tf.int64)
        buffer, n = self.buffer, self.num_envs
        num_metrics = len(agent.metric_names)

        def key(counter, stream):
            return tf.stack([seed_t * _SEED_STRIDE + stream, counter])

        def act(observation, step, counter):
            return agent.explore_graph(observation, step, lambda stream: key(counter, stream),
                                       warmup=step < learning_starts)

        def train_phase(num_steps, counter):
            metric_sum = tf.zeros([num_metrics], tf.float32)
            for i in tf.range(num_steps):
                batch = buffer.sample(key(counter + i, STREAM_REPLAY), batch_size, gamma)
                metric_sum += tf.stack([tf.cast(v, tf.float32) for v in agent.gradient_step(*batch)])
            return metric_sum

        train_phase = tf.function(train_phase, jit_compile=jit_compile)

        def run(carry: Carry, step, periods_done, phases, vector_steps):
            f32 = tf.float32
            env_state, time_step = carry.env_state, carry.time_step
            ep_return, ep_length, counter = carry.episode_return, carry.episode_length, carry.counter
            metric_sum = tf.zeros([num_metrics], f32)
            updates = tf.constant(0, tf.int64)
            finished = tf.zeros([3], f32)
            for _ in tf.range(vector_steps):
                observation = time_step.observation
                action = act(observation, step, counter)
                counter += 1
                env_state, next_step = self.env.step(env_state, action)
                valid = tf.not_equal(time_step.step_type, int(StepType.LAST))
                step += buffer.add(observation, action, next_step.reward, next_step.discount,
                                   next_step.observation, valid)
                last = tf.equal(next_step.step_type, int(StepType.LAST))
                ep_return, ep_length, finished = track_episodes(valid, last, next_step.reward, ep_return, ep_length,
                                                                finished)
                time_step = next_step

                # The host loop's schedule (tfrl.train.loops.host_off_policy), phase for phase.
                due = schedules.periods_due(step, periods_done, learning_starts, train_freq)
                if due > 0:
                    num_steps = due * gradient_steps
                    metric_sum += train_phase(num_steps, counter)
                    counter += num_steps
                    updates += num_steps
                    periods_done = step // train_freq
                    phases += 1
            carry = Carry(env_state, time_step, ep_return, ep_length, counter)
            metrics = metric_sum / tf.cast(tf.maximum(updates, 1), f32)
            schedule = agent.schedule_metrics(step)
            return carry, step, periods_done, phases, metrics, updates, finished, schedule

        # XLA compiles the training phase only. The collection loop runs as a TensorFlow graph: XLA on
        # the CPU runs the native environments' many small elementwise ops about 10x slower than the
        # graph executor (about 3 ms against 0.23 ms per vector step of 32 CartPoles here).
        self._run = tf.function(run, reduce_retracing=True)
        env_state, time_step = env.reset(self.seed, num_envs)
        zeros = tf.zeros([num_envs], tf.float32)
        self.carry = Carry(env_state, time_step, zeros, zeros, tf.constant(0, tf.int64))

    def state(self) -> dict[str, Any]:
        """What a resumed run needs besides the checkpointed agent and replay buffer to continue exactly: the seed
        of the random keys and the carry (native environments, running episodes, counter) as NumPy arrays."""
        return {"seed": self.seed, "carry": carry_arrays(self.carry)}

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from a ``state()`` (same seed and carry; the agent and buffer are restored separately)."""
        self.carry = carry_from_arrays(self.carry, state["carry"])

    def vector_steps_for(self, steps: int) -> int:
        """Vector steps that take about ``steps`` environment steps (at least one)."""
        return max(1, math.ceil(steps / self.num_envs))

    def run(self, step: int, periods_done: int, phases: int, vector_steps: int):
        """Run ``vector_steps`` steps of all environments from environment step ``step``.

        Returns ``(step, periods_done, phases, metrics, updates, finished, charts)``: the new counters
        (``LoopState``'s), the agent's ``metric_names`` averaged over the call's ``updates`` gradient steps (None if
        there were none), ``[finished-episode return sum, length sum, finished episodes]`` and the agent's
        ``schedule_metrics`` at the last step (DQN's epsilon).
        """
        self.carry, new_step, periods, new_phases, metrics, updates, finished, schedule = self._run(
            self.carry, tf.constant(step, tf.int64), tf.constant(periods_done, tf.int64),
            tf.constant(phases, tf.int64), tf.constant(vector_steps, tf.int32))
        updates = int(updates.numpy())
        out = None
        if updates > 0:
            out = {name: float(v) for name, v in zip(self.agent.metric_names, metrics.numpy())}
        charts = {name: float(value) for name, value in schedule.items()}
        return (int(new_step.numpy()), int(periods.numpy()), int(new_phases.numpy()), out, updates, finished.numpy(),
                charts)


def check_n_step(config) -> None:
    """``ConfigError`` unless ``config.n_step`` is 1, the only target the compiled loop has."""
    if config.n_step != 1:
        raise ConfigError(f"the compiled loop (backend 'tf') supports 1-step targets only (n_step=1), "
                          f"got n_step={config.n_step}; use backend 'sync' for n-step targets")


def run_compiled_off_policy(context: LoopContext) -> LoopState:
    """Train ``context.agent`` (an off-policy agent) on the TF-native twin of ``context.env`` to ``total_steps``.

    Each compiled call runs up to the next multiple of ``log_every`` environment steps (of
    ``eval_every`` if smaller, so that no evaluation is skipped); the host logs, evaluates (on the
    Gymnasium twin) and checkpoints between calls as the host loops do. ``context.replay`` is the
    ``GraphReplayBuffer`` (restored from the checkpoint on resume); with the saved loop state
    (``context.resume_vars["compiled"]``) a resumed run continues its episodes and random keys exactly.
    """
    agent, run, state = context.agent, context.run, context.state
    saved = (context.resume_vars or {}).get("compiled")
    seed = saved["seed"] if saved is not None else run.seed + state.step
    compiled = CompiledOffPolicy(agent, context.native, run.num_envs, seed, jit_compile=agent.config.xla,
                                 buffer=context.replay)
    if saved is not None:
        compiled.load_state(saved)
    interval = min(run.log_every, run.eval_every) if run.eval_every > 0 else run.log_every
    with context:
        while state.step < run.total_steps:
            # Up to the next multiple of the interval; auto-reset steps do not count, so a call can
            # fall a few steps short, and the next one is short.
            goal = min((state.step // interval + 1) * interval, run.total_steps)
            before = state.step
            state.step, state.periods_done, state.train_phases, new_metrics, _, finished, charts = compiled.run(
                state.step, state.periods_done, state.train_phases, compiled.vector_steps_for(goal - state.step))
            if new_metrics is not None:
                state.train_metrics = new_metrics
                context.check_metrics(new_metrics)
            if finished[2] > 0:
                context.record_summary(float(finished[0]), float(finished[1]), int(finished[2]))
            if context.after_steps(before, lambda: {**state.train_metrics, **charts},
                                   resumable=lambda: {"compiled": compiled.state()}):
                break
    return state
