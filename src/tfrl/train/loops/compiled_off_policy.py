"""The compiled off-policy loop: TF-native environments, an in-graph replay buffer and an off-policy agent
(DQN, SAC, TD3, DDPG) in one ``tf.function``.

The "Anakin" layout (see ``tfrl.train.loops.compiled_on_policy``): one call from Python runs many vector steps
of ``N`` native environments (a graph; the training phases inside it are compiled with XLA). Each vector step
acts in the graph (``agent.explore_graph``: DQN epsilon-greedy, SAC a tanh-Gaussian sample, TD3 and DDPG the
actor plus Gaussian noise), stores the transitions in ``tfrl.data.graph_replay.GraphReplayBuffer`` (ring storage held in
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

Several seeds train in one call, the way ``run_compiled_seeds`` trains on-policy agents and PureJaxRL maps one
training function over seeds: ``CompiledOffPolicySeeds`` holds K agents, each with its own replay buffer,
environments, random keys and counters, and its compiled function runs each agent's own number of vector steps
(none for a seed that has stopped); ``run_compiled_off_policy_seeds`` gives each seed its own ``LoopContext``
(run directory, logs, evaluations, checkpoints). Each seed's run is, step for step and bit for bit, the run it
would be alone: ``CompiledOffPolicy`` and ``run_compiled_off_policy`` are the one-seed case.

Resume is exact: checkpoints save the replay buffer's variables (``replay.npz``, with ``save_replay``)
and ``CompiledOffPolicy.state()`` (``CompiledOffPolicySeeds.state(k)``: the seed, the native environments'
state, the running episodes and the counter, through the loop state of ``LoopContext``), so a run stopped
and resumed takes the same steps and ends with the same weights as one never stopped.

Only 1-step targets (``n_step=1``) and uniform replay.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import tensorflow as tf

from tfrl import schedules
from tfrl.agents.off_policy import STREAM_REPLAY
from tfrl.data.graph_replay import GraphReplayBuffer
from tfrl.errors import ConfigError
from tfrl.specs import StepType
from tfrl.train.loops.compiled_on_policy import Carry, carry_arrays, carry_from_arrays, track_episodes
from tfrl.train.loops.context import LoopContext, LoopState

__all__ = ["CompiledOffPolicy", "CompiledOffPolicySeeds", "build_collection", "check_compiled_config",
           "run_compiled_off_policy", "run_compiled_off_policy_seeds"]

_SEED_STRIDE = 1_000_003


def build_collection(agent, env, num_envs: int, seed: int, buffer: GraphReplayBuffer, jit_compile: bool = True):
    """The vector steps of one off-policy agent on a native environment, as a graph function, and its first carry.

    Returns ``(collect, carry)`` where ``collect(carry, step, periods_done, phases, vector_steps) -> (carry, step,
    periods_done, phases, metric_sum, updates, finished, schedule)`` runs ``vector_steps`` vector steps (none when
    it is 0: everything comes back unchanged): acting, storing in ``buffer`` and the training phases due.
    ``metric_sum`` adds up the agent's ``metric_names`` over the ``updates`` gradient steps, ``finished`` is
    ``[finished-episode return sum, length sum, count]`` and ``schedule`` the agent's ``schedule_metrics`` at the
    last step. ``jit_compile`` applies to the training phase, a nested ``tf.function``.

    The loops and the branch are explicit ``tf.while_loop`` and ``tf.cond`` rather than AutoGraph (as in
    ``multi_step_train``): tracing takes about two thirds of the time (a tiny SAC: 2.0 s of CPU against 3.2 s
    here), and the graph does not depend on AutoGraph reading this file's source from disk.
    """
    config = agent.config
    check_compiled_config(config)
    learning_starts, train_freq = int(config.learning_starts), int(config.train_freq)
    gradient_steps, batch_size, gamma = int(config.gradient_steps), int(config.batch_size), float(config.gamma)
    seed_t = tf.constant(int(seed), tf.int64)
    num_metrics = len(agent.metric_names)

    def key(counter, stream):
        return tf.stack([seed_t * _SEED_STRIDE + stream, counter])

    def act(observation, step, counter):
        return agent.explore_graph(observation, step, lambda stream: key(counter, stream),
                                   warmup=step < learning_starts)

    def train_phase(num_steps, counter):
        def gradient_step(i, metric_sum):
            batch = buffer.sample(key(counter + i, STREAM_REPLAY), batch_size, gamma)
            return i + 1, metric_sum + tf.stack([tf.cast(v, tf.float32) for v in agent.gradient_step(*batch)])

        start = (tf.constant(0, tf.int64), tf.zeros([num_metrics], tf.float32))
        return tf.while_loop(lambda i, _: i < num_steps, gradient_step, start)[1]

    train_phase = tf.function(train_phase, jit_compile=jit_compile, autograph=False)

    def collect(carry: Carry, step, periods_done, phases, vector_steps):
        def vector_step(t, carry, step, periods_done, phases, metric_sum, updates, finished):
            env_state, time_step, ep_return, ep_length, counter = carry
            observation = time_step.observation
            action = act(observation, step, counter)
            counter += 1
            env_state, next_step = env.step(env_state, action)
            valid = tf.not_equal(time_step.step_type, int(StepType.LAST))
            step += buffer.add(observation, action, next_step.reward, next_step.discount, next_step.observation,
                               valid)
            last = tf.equal(next_step.step_type, int(StepType.LAST))
            ep_return, ep_length, finished = track_episodes(valid, last, next_step.reward, ep_return, ep_length,
                                                            finished)

            # The host loop's schedule (tfrl.train.loops.host_off_policy), phase for phase.
            due = schedules.periods_due(step, periods_done, learning_starts, train_freq)

            def train():
                num_steps = due * gradient_steps
                return (metric_sum + train_phase(num_steps, counter), counter + num_steps, updates + num_steps,
                        step // train_freq, phases + 1)

            metric_sum, counter, updates, periods_done, phases = tf.cond(
                due > 0, train, lambda: (metric_sum, counter, updates, periods_done, phases))
            carry = Carry(env_state, next_step, ep_return, ep_length, counter)
            return t + 1, carry, step, periods_done, phases, metric_sum, updates, finished

        start = (tf.constant(0, tf.int32), carry, step, periods_done, phases, tf.zeros([num_metrics], tf.float32),
                 tf.constant(0, tf.int64), tf.zeros([3], tf.float32))
        _, carry, step, periods_done, phases, metric_sum, updates, finished = tf.while_loop(
            lambda t, *_: t < vector_steps, vector_step, start)
        return carry, step, periods_done, phases, metric_sum, updates, finished, agent.schedule_metrics(step)

    env_state, time_step = env.reset(int(seed), num_envs)
    zeros = tf.zeros([num_envs], tf.float32)
    return collect, Carry(env_state, time_step, zeros, zeros, tf.constant(0, tf.int64))


class CompiledOffPolicySeeds:
    """Trains K independent off-policy agents (K seeds) on a native environment, one compiled call for all.

    Each agent has its own networks, optimizers, ``GraphReplayBuffer`` (``buffers[k]``, or a new one), native
    environments, random keys and counters: since the auto-reset steps are not counted, the seeds' environment
    steps, and so their training phases, drift apart, and each call runs its own number of vector steps for
    each agent (none for an agent that has stopped, which passes everything through unchanged). Agent ``k``
    takes exactly the steps, the updates and the random draws it takes trained alone with seed ``seeds[k]``.

    The call is a graph of K loops, one per agent, with no data between them (the graph executor may run them
    side by side); ``jit_compile`` applies to each agent's training phase (the ``gradient_steps`` batches sampled
    and learned from after a vector step), one XLA function per agent. The collection loops stay a graph: XLA on
    the CPU runs the native environments' many small elementwise ops about 10x slower than the graph executor
    (about 3 ms against 0.23 ms per vector step of 32 CartPoles here).
    """

    def __init__(self, agents: list, env, num_envs: int, seeds: list[int], jit_compile: bool = True,
                 buffers: list[GraphReplayBuffer] | None = None):
        if not agents or len(agents) != len(seeds) or (buffers is not None and len(buffers) != len(agents)):
            raise ValueError("give one seed (and, if any, one buffer) per agent")
        self.agents, self.env, self.num_envs = list(agents), env, int(num_envs)
        self.seeds = [int(s) for s in seeds]
        self.buffers = [buffers[k] if buffers is not None and buffers[k] is not None else GraphReplayBuffer(
            agent.config.buffer_size, agent.observation_spec, agent.action_spec, num_envs)
            for k, agent in enumerate(self.agents)]
        built = [build_collection(agent, env, self.num_envs, seed, buffer, jit_compile)
                 for agent, seed, buffer in zip(self.agents, self.seeds, self.buffers)]
        collects = [b[0] for b in built]
        self.carries = [b[1] for b in built]

        def run(carries, steps, periods_done, phases, vector_steps):
            out = []
            for k in range(len(collects)):
                out.append(collects[k](carries[k], steps[k], periods_done[k], phases[k], vector_steps[k]))
            return out

        self._run = tf.function(run, reduce_retracing=True, autograph=False)

    def state(self, k: int) -> dict[str, Any]:
        """What agent ``k`` needs besides its checkpointed networks and replay buffer to continue exactly after a
        resume: the seed of its random keys and its carry (native environments, running episodes, counter) as
        NumPy arrays."""
        return {"seed": self.seeds[k], "carry": carry_arrays(self.carries[k])}

    def load_state(self, k: int, state: dict[str, Any]) -> None:
        """Continue agent ``k`` from a ``state(k)`` (same seed and carry; its networks and buffer are restored
        separately)."""
        self.carries[k] = carry_from_arrays(self.carries[k], state["carry"])

    def vector_steps_for(self, steps: int) -> int:
        """Vector steps that take about ``steps`` environment steps (at least one)."""
        return max(1, math.ceil(steps / self.num_envs))

    def run(self, steps: list[int], periods_done: list[int], phases: list[int], vector_steps: list[int],
            active: list[bool] | None = None) -> list[tuple]:
        """Run ``vector_steps[k]`` steps of agent ``k``'s environments from its environment step ``steps[k]``, for
        every active agent (``active``: all by default; an inactive one runs none).

        Returns one ``(step, periods_done, phases, metrics, updates, finished, charts)`` per agent: the new
        counters (``LoopState``'s), the agent's ``metric_names`` averaged over the call's ``updates`` gradient
        steps (None if there were none), ``[finished-episode return sum, length sum, finished episodes]`` and the
        agent's ``schedule_metrics`` at its last step (DQN's epsilon).
        """
        active = [True] * len(self.agents) if active is None else list(active)
        if not len(steps) == len(periods_done) == len(phases) == len(vector_steps) == len(active) == len(self.agents):
            raise ValueError("give one step, periods_done, phases, vector_steps and active per agent")
        vector_steps = [int(v) if on else 0 for v, on in zip(vector_steps, active)]
        outputs = self._run(self.carries, tf.constant(steps, tf.int64), tf.constant(periods_done, tf.int64),
                            tf.constant(phases, tf.int64), tf.constant(vector_steps, tf.int32))
        results = []
        for k, (agent, output) in enumerate(zip(self.agents, outputs)):
            carry, step, periods, new_phases, metric_sum, updates, finished, schedule = output
            self.carries[k] = carry
            updates = int(updates.numpy())
            metrics = None
            if updates > 0:
                metrics = {name: float(v) for name, v in zip(agent.metric_names, metric_sum.numpy() / updates)}
            charts = {name: float(value) for name, value in schedule.items()}
            results.append((int(step.numpy()), int(periods.numpy()), int(new_phases.numpy()), metrics, updates,
                            finished.numpy(), charts))
        return results


class CompiledOffPolicy:
    """Runs an off-policy agent on a native environment: collection, replay and gradient steps in one compiled call.

    ``CompiledOffPolicySeeds`` with one agent. ``jit_compile`` applies to the training phase (the
    ``gradient_steps`` batches sampled and learned from after a vector step), a nested ``tf.function``; the
    collection loop around it is a graph.
    """

    def __init__(self, agent, env, num_envs: int, seed: int, jit_compile: bool = True,
                 buffer: GraphReplayBuffer | None = None):
        self.agent, self.env, self.num_envs, self.seed = agent, env, int(num_envs), int(seed)
        self._loop = CompiledOffPolicySeeds([agent], env, num_envs, [seed], jit_compile=jit_compile,
                                            buffers=[buffer])
        self.buffer = self._loop.buffers[0]

    @property
    def carry(self) -> Carry:
        """What the next call continues from: native environments, running episodes, counter."""
        return self._loop.carries[0]

    @carry.setter
    def carry(self, carry: Carry) -> None:
        self._loop.carries[0] = carry

    def state(self) -> dict[str, Any]:
        """What a resumed run needs besides the checkpointed agent and replay buffer to continue exactly: the seed
        of the random keys and the carry (native environments, running episodes, counter) as NumPy arrays."""
        return self._loop.state(0)

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from a ``state()`` (same seed and carry; the agent and buffer are restored separately)."""
        self._loop.load_state(0, state)

    def vector_steps_for(self, steps: int) -> int:
        """Vector steps that take about ``steps`` environment steps (at least one)."""
        return self._loop.vector_steps_for(steps)

    def run(self, step: int, periods_done: int, phases: int, vector_steps: int):
        """Run ``vector_steps`` steps of all environments from environment step ``step``.

        Returns ``(step, periods_done, phases, metrics, updates, finished, charts)``: the new counters
        (``LoopState``'s), the agent's ``metric_names`` averaged over the call's ``updates`` gradient steps (None if
        there were none), ``[finished-episode return sum, length sum, finished episodes]`` and the agent's
        ``schedule_metrics`` at the last step (DQN's epsilon).
        """
        return self._loop.run([step], [periods_done], [phases], [vector_steps])[0]


def check_compiled_config(config) -> None:
    """``ConfigError`` unless the compiled loop can train ``config``: 1-step targets (``n_step=1``) and uniform
    replay (its ``GraphReplayBuffer`` keeps no priorities)."""
    if config.n_step != 1:
        raise ConfigError(f"the compiled loop (backend 'tf') supports 1-step targets only (n_step=1), "
                          f"got n_step={config.n_step}; use backend 'sync' for n-step targets")
    if getattr(config, "prioritized_replay", False):
        raise ConfigError("the compiled loop (backend 'tf') replays uniformly; use backend 'sync' for prioritized "
                          "replay, or set prioritized_replay false")


def run_compiled_off_policy(context: LoopContext) -> LoopState:
    """Train ``context.agent`` (an off-policy agent) on the TF-native twin of ``context.env`` to ``total_steps``.

    Each compiled call runs up to the next multiple of ``log_every`` environment steps (of
    ``eval_every`` if smaller, so that no evaluation is skipped); the host logs, evaluates (on the
    Gymnasium twin) and checkpoints between calls as the host loops do. ``context.replay`` is the
    ``GraphReplayBuffer`` (restored from the checkpoint on resume); with the saved loop state
    (``context.resume_vars["compiled"]``) a resumed run continues its episodes and random keys exactly.
    """
    return run_compiled_off_policy_seeds([context], [context.run.seed])[0]


def run_compiled_off_policy_seeds(contexts: list[LoopContext], seeds: list[int]) -> list[LoopState]:
    """Train K off-policy agents (K seeds, one context each) together: one compiled call advances all that are
    still running.

    Each agent keeps its own ``LoopContext`` (its own run directory, replay buffer ``context.replay``, logs,
    evaluations and checkpoints), so every seed's curve is an ordinary run, step for step the run that
    ``run_compiled_off_policy`` trains with that seed alone: each call takes every seed to its own next multiple of
    ``log_every`` (or ``eval_every``). An agent stops at ``total_steps`` or when its evaluation reaches the target
    with ``stop_at_target``, while the others go on. A resumed context continues from its saved loop state
    (``resume_vars["compiled"]``: seed, environments, episodes and counter), so resume is exact (a seed trained
    here resumes alone with ``tfrl.train.resume``); without one it starts new episodes with the seed ``seed + step``.
    """
    run, agents = contexts[0].run, [context.agent for context in contexts]
    states = [context.state for context in contexts]
    saved = [(context.resume_vars or {}).get("compiled") for context in contexts]
    seeds = [s["seed"] if s is not None else seed + state.step for s, seed, state in zip(saved, seeds, states)]
    compiled = CompiledOffPolicySeeds(agents, contexts[0].native, run.num_envs, seeds, jit_compile=agents[0].config.xla,
                                      buffers=[context.replay for context in contexts])
    for k, state_k in enumerate(saved):
        if state_k is not None:
            compiled.load_state(k, state_k)
    interval = min(run.log_every, run.eval_every) if run.eval_every > 0 else run.log_every
    active = [state.step < run.total_steps for state in states]
    with contextlib.ExitStack() as stack:
        for context in contexts:
            stack.enter_context(context)
        while any(active):
            # Up to each seed's next multiple of the interval; auto-reset steps do not count, so a call can
            # fall a few steps short, and the next one is short.
            goals = [min((s.step // interval + 1) * interval, run.total_steps) for s in states]
            vector_steps = [compiled.vector_steps_for(goal - s.step) for goal, s in zip(goals, states)]
            results = compiled.run([s.step for s in states], [s.periods_done for s in states],
                                   [s.train_phases for s in states], vector_steps, active)
            for k, (step, periods_done, phases, new_metrics, _, finished, charts) in enumerate(results):
                if not active[k]:
                    continue
                state, context = states[k], contexts[k]
                before = state.step
                state.step, state.periods_done, state.train_phases = step, periods_done, phases
                if new_metrics is not None:
                    state.train_metrics = new_metrics
                    context.check_metrics(new_metrics)
                if finished[2] > 0:
                    context.record_summary(float(finished[0]), float(finished[1]), int(finished[2]))
                if (context.after_steps(before, lambda state=state, charts=charts: {**state.train_metrics, **charts},
                                        resumable=lambda k=k: {"compiled": compiled.state(k)})
                        or state.step >= run.total_steps):
                    active[k] = False
    return states
