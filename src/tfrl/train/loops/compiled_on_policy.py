"""The compiled on-policy loop: TF-native environments, rollouts and on-policy updates (PPO, A2C) in one ``tf.function``.

The "Anakin" layout of DeepMind's Podracer paper, which PureJaxRL made popular in JAX: the
environments are TensorFlow functions (``tfrl.envs.native``), so a whole training iteration
(``num_steps`` vector steps of all ``num_envs`` environments with the policy sampled in the graph,
GAE, and every epoch and minibatch of the update) is graph code, and one call from Python runs
``iterations`` such iterations. The host only logs, evaluates and checkpoints between calls.

The update is the agent's ``update`` (``PPOAgent.update``, ``A2CAgent.update``), the same function the
host loop's compiled ``train`` runs, at the learning rate of the agent's ``learning_rate_at(progress)``.
Sampling noise and minibatch shuffles come from stateless random ops keyed by the run's seed and a
counter carried between calls, so a seed fixes the run.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfrl import distributions
from tfrl.errors import ConfigError
from tfrl.specs import StepType
from tfrl.train.loops.context import LoopContext, LoopState

__all__ = ["Carry", "CompiledOnPolicy", "build_iteration", "carry_arrays", "carry_from_arrays", "track_episodes",
           "run_compiled_on_policy", "run_compiled_seeds"]


class Carry(NamedTuple):
    """What one compiled call hands to the next: environments, running episode statistics, a counter."""

    env_state: object
    time_step: object
    episode_return: tf.Tensor
    episode_length: tf.Tensor
    counter: tf.Tensor


def track_episodes(valid, last, reward, episode_return, episode_length, finished):
    """The running episode returns and lengths after one vector step, and ``finished`` (``[return sum,
    length sum, count]`` of the episodes ended so far) plus the episodes that ended at this step.

    ``valid`` marks the environments whose step was a real transition (not an auto-reset step), ``last``
    those whose episode ended at it.
    """
    episode_return = tf.where(valid, episode_return + reward, 0.0)
    episode_length = tf.where(valid, episode_length + 1.0, 0.0)
    ended = tf.stack([tf.reduce_sum(tf.where(last, episode_return, 0.0)),
                      tf.reduce_sum(tf.where(last, episode_length, 0.0)),
                      tf.reduce_sum(tf.cast(last, tf.float32))])
    return episode_return, episode_length, finished + ended


def carry_arrays(carry: Carry) -> list[np.ndarray]:
    """A compiled loop's carry as a flat list of NumPy arrays (data only: no classes to unpickle)."""
    return [np.asarray(t) for t in tf.nest.flatten(carry)]


def carry_from_arrays(like: Carry, arrays: list) -> Carry:
    """The carry ``carry_arrays`` flattened, packed in the structure of ``like`` after checking every array's
    shape and dtype against it (``ConfigError`` if the saved run had another environment or ``num_envs``)."""
    flat = tf.nest.flatten(like)
    if len(arrays) != len(flat):
        raise ConfigError(f"the saved loop state has {len(arrays)} arrays, this loop's {len(flat)}")
    tensors = []
    for array, current in zip(arrays, flat):
        array = np.asarray(array)
        if array.shape != tuple(current.shape) or array.dtype != current.dtype.as_numpy_dtype:
            raise ConfigError(f"the saved loop state holds {array.dtype}{list(array.shape)} where this loop has "
                              f"{current.dtype.name}{list(current.shape)}: it was saved by another environment or "
                              f"num_envs")
        tensors.append(tf.constant(array))
    return tf.nest.pack_sequence_as(like, tensors)


def build_iteration(agent, env, num_envs: int, seed: int, total_steps: int):
    """One on-policy training iteration on a native environment, as a graph function, and its first carry.

    Returns ``(one_iteration, carry)`` where ``one_iteration(carry, steps_done) -> (carry, metrics,
    stats)``: ``metrics`` are ``agent.METRICS`` and ``stats`` is ``[env steps, finished-episode return
    sum, finished-episode length sum, finished episodes]``.
    """
    config = agent.config
    core = agent.core
    discrete = core.discrete
    noise_shape = [num_envs, core.num_actions] if discrete else [num_envs, *core.action_spec.shape]
    low = None if discrete else tf.constant(core.action_spec.minimum, tf.float32)
    high = None if discrete else tf.constant(core.action_spec.maximum, tf.float32)
    num_steps, epochs = config.num_steps, getattr(config, "update_epochs", 1)  # A2C: one pass, no shuffling
    size = config.num_steps * num_envs
    seed_t = tf.constant(int(seed), tf.int64)

    def key(counter, stream):
        return tf.stack([seed_t * 1_000_003 + stream, counter])

    def one_iteration(carry: Carry, steps_done):
        f32 = tf.float32
        obs_ta = tf.TensorArray(f32, size=num_steps + 1)
        act_ta = tf.TensorArray(core.stored_action_spec.dtype, size=num_steps)
        reward_ta, discount_ta, last_ta = (tf.TensorArray(f32, size=num_steps) for _ in range(3))
        valid_ta, logp_ta = tf.TensorArray(f32, size=num_steps), tf.TensorArray(f32, size=num_steps)
        value_ta = tf.TensorArray(f32, size=num_steps + 1)
        env_state, time_step = carry.env_state, carry.time_step
        ep_return, ep_length, counter = carry.episode_return, carry.episode_length, carry.counter
        finished = tf.zeros([3])
        for t in tf.range(num_steps):
            observation = tf.cast(time_step.observation, f32)
            outputs = core.model(observation, training=False)
            if discrete:
                noise = tf.random.stateless_uniform(noise_shape, key(counter, 1))
                action = distributions.categorical_sample(outputs["logits"], noise)
                env_action = action
            else:
                noise = tf.random.stateless_normal(noise_shape, key(counter, 2))
                action = distributions.gaussian_sample(outputs["mean"], outputs["log_std"], noise)
                env_action = tf.clip_by_value(action, low, high)
            log_prob, _ = core.log_prob_entropy(outputs, action)
            env_state, next_step = env.step(env_state, env_action)
            valid = tf.not_equal(time_step.step_type, int(StepType.LAST))
            last = tf.equal(next_step.step_type, int(StepType.LAST))
            obs_ta = obs_ta.write(t, observation)
            act_ta = act_ta.write(t, action)
            reward_ta = reward_ta.write(t, next_step.reward)
            discount_ta = discount_ta.write(t, next_step.discount)
            last_ta = last_ta.write(t, tf.cast(last, f32))
            valid_ta = valid_ta.write(t, tf.cast(valid, f32))
            logp_ta = logp_ta.write(t, log_prob)
            value_ta = value_ta.write(t, outputs["value"])
            ep_return, ep_length, finished = track_episodes(valid, last, next_step.reward, ep_return, ep_length,
                                                            finished)
            time_step = next_step
            counter += 1
        final_observation = tf.cast(time_step.observation, f32)
        obs_ta = obs_ta.write(num_steps, final_observation)
        value_ta = value_ta.write(num_steps, core.model(final_observation, training=False)["value"])
        valid_all = valid_ta.stack()
        permutations = tf.argsort(tf.random.stateless_uniform([epochs, size], key(counter, 3)), axis=-1)
        agent.optimizer.learning_rate.assign(agent.learning_rate_at(tf.cast(steps_done, f32) / float(total_steps)))
        metrics = agent.update(obs_ta.stack(), act_ta.stack(), reward_ta.stack(), discount_ta.stack(),
                               last_ta.stack(), valid_all, logp_ta.stack(), value_ta.stack(),
                               tf.cast(permutations, tf.int32))
        carry = Carry(env_state, time_step, ep_return, ep_length, counter + 1)
        stats = tf.concat([[tf.reduce_sum(valid_all)], finished], 0)
        return carry, metrics, stats

    env_state, time_step = env.reset(int(seed), num_envs)
    zeros = tf.zeros([num_envs], tf.float32)
    return one_iteration, Carry(env_state, time_step, zeros, zeros, tf.constant(0, tf.int64))


class CompiledOnPolicy:
    """Trains K independent on-policy agents (K seeds) on a native environment, one compiled call for all.

    Each agent has its own network, optimizer, environments and random keys; the compiled function
    runs ``iterations`` iterations of every still-active agent (an agent that has stopped passes its
    carry through unchanged), the way PureJaxRL maps one training function over seeds.
    """

    def __init__(self, agents: list, env, num_envs: int, seeds: list[int], total_steps: int,
                 jit_compile: bool = True):
        if len(agents) != len(seeds) or not agents:
            raise ValueError("give one seed per agent")
        self.agents, self.seeds = list(agents), [int(s) for s in seeds]
        self.steps_per_iteration = agents[0].config.num_steps * num_envs
        built = [build_iteration(a, env, num_envs, s, total_steps) for a, s in zip(agents, seeds)]
        iterations_fns = [b[0] for b in built]
        self.carries = [b[1] for b in built]
        num_metrics = len(agents[0].METRICS)

        def run(carries, steps_done, iterations, active):
            out_carries, out_metrics, out_stats = [], [], []
            for k, one_iteration in enumerate(iterations_fns):
                def train_k(carry=carries[k], k=k, one_iteration=one_iteration):
                    metric_sum = tf.zeros([num_metrics])
                    stats_sum = tf.zeros([4])
                    # a while loop on a tensor bound: XLA compiles it once for every iteration count
                    # (a tf.range bound is a compile-time constant to XLA and recompiles per value)
                    i = tf.constant(0)
                    while i < iterations:
                        carry, metrics, stats = one_iteration(carry, steps_done[k] + tf.cast(stats_sum[0], tf.int64))
                        metric_sum += metrics
                        stats_sum += stats
                        i += 1
                    return carry, metric_sum / tf.cast(tf.maximum(iterations, 1), tf.float32), stats_sum

                def skip_k(carry=carries[k]):
                    return carry, tf.zeros([num_metrics]), tf.zeros([4])

                carry, metrics, stats = tf.cond(active[k], train_k, skip_k)
                out_carries.append(carry)
                out_metrics.append(metrics)
                out_stats.append(stats)
            return out_carries, tf.stack(out_metrics), tf.stack(out_stats)

        self._run = tf.function(run, jit_compile=jit_compile, reduce_retracing=True)

    def state(self, k: int) -> dict:
        """What agent ``k`` needs besides its checkpointed networks to continue exactly after a resume: its seed
        and its carry (native environments, running episodes, counter) as NumPy arrays."""
        return {"seed": self.seeds[k], "carry": carry_arrays(self.carries[k])}

    def load_state(self, k: int, state: dict) -> None:
        """Continue agent ``k`` from a ``state(k)`` saved with the same seed."""
        self.carries[k] = carry_from_arrays(self.carries[k], state["carry"])

    def iterations_for(self, steps: int) -> int:
        """Iterations that take about ``steps`` environment steps (at least one)."""
        return max(1, math.ceil(steps / self.steps_per_iteration))

    def run(self, steps_done: list[int], iterations: int, active: list[bool] | None = None):
        """Run ``iterations`` iterations of every active agent.

        Returns one ``(metrics dict, stats)`` per agent; ``stats`` is ``[env steps, finished-episode
        return sum, length sum, finished episodes]`` (zeros for an inactive agent).
        """
        active = [True] * len(self.agents) if active is None else list(active)
        self.carries, metrics, stats = self._run(
            self.carries, tf.constant(steps_done, tf.int64), tf.constant(iterations, tf.int32),
            tf.constant(active, tf.bool),
        )
        results = []
        for agent, values, stat in zip(self.agents, metrics.numpy(), stats.numpy()):
            out = {f"losses/{name}": float(v) for name, v in zip(agent.METRICS, values)}
            out["charts/learning_rate"] = float(agent.optimizer.learning_rate.numpy())
            results.append((out, stat))
        return results


def run_compiled_on_policy(context: LoopContext) -> LoopState:
    """Train ``context.agent`` (PPO or A2C) on the TF-native twin of ``context.env`` to ``total_steps``.

    Each compiled call runs enough iterations to cover ``log_every`` environment steps, so the
    host logs, evaluates (on the Gymnasium twin) and checkpoints between calls exactly as the host
    loops do.
    """
    return run_compiled_seeds([context], [context.run.seed])[0]


def run_compiled_seeds(contexts: list[LoopContext], seeds: list[int]) -> list[LoopState]:
    """Train K on-policy agents (K seeds, one context each) together: one compiled call advances all that
    are still running.

    Each agent keeps its own ``LoopContext`` (its own run directory, logs, evaluations and
    checkpoints), so every seed's curve is an ordinary run; an agent stops at ``total_steps`` or when
    its evaluation reaches the target with ``stop_at_target``, while the others go on. A resumed context
    continues from its saved loop state (``resume_vars["compiled"]``: seed, environments, episodes and
    counter), so resume is exact; without one (refused, or never saved) it starts new episodes with the
    seed ``seed + step``.
    """
    run, agents = contexts[0].run, [context.agent for context in contexts]
    states = [context.state for context in contexts]
    saved = [(context.resume_vars or {}).get("compiled") for context in contexts]
    seeds = [s["seed"] if s is not None else seed + state.step for s, seed, state in zip(saved, seeds, states)]
    compiled = CompiledOnPolicy(agents, contexts[0].native, run.num_envs, seeds, run.total_steps,
                                jit_compile=agents[0].config.xla)
    for k, state_k in enumerate(saved):
        if state_k is not None:
            compiled.load_state(k, state_k)
    per_call = compiled.iterations_for(run.log_every)
    active = [state.step < run.total_steps for state in states]
    timing: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        for context in contexts:
            stack.enter_context(context)
        while any(active):
            remaining = min(compiled.iterations_for(run.total_steps - s.step) for s, a in zip(states, active) if a)
            started = time.perf_counter()
            # the first call runs one iteration, so its time is mostly tracing and compilation
            iterations = 1 if not timing else min(per_call, remaining)
            results = compiled.run([s.step for s in states], iterations, active)
            if not timing:
                timing["charts/first_call_seconds"] = time.perf_counter() - started
            for k, (metrics, stats) in enumerate(results):
                if not active[k]:
                    continue
                state, context = states[k], contexts[k]
                before = state.step
                state.step += int(stats[0])
                state.train_phases += iterations
                if stats[3] > 0:
                    context.record_summary(float(stats[1]), float(stats[2]), int(stats[3]))
                context.check_metrics(metrics)
                row = {**metrics, **timing}
                if (context.after_steps(before, lambda row=row: row, resumable=lambda k=k: {"compiled": compiled.state(k)})
                        or state.step >= run.total_steps):
                    active[k] = False
    return states
