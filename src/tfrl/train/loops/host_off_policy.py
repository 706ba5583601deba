"""The off-policy host loop: collect with an exploring policy into a replay buffer, train on a schedule.

Per vector step the loop makes one compiled policy call and ``env.step``; when a training phase is due
(``tfrl.schedules.periods_due``: every ``train_freq`` environment steps, counted over all environments,
once ``learning_starts`` have passed) it draws ``gradient_steps`` batches per period from the buffer at
once and makes one compiled training call that runs them all. With prioritized replay the batches are drawn by
priority with their importance weights (beta from the agent's ``priority_beta``), the training call returns the
new priorities with the metrics, and the buffer takes them before the next step. Evaluation, logging and checkpoints happen
between steps (``LoopContext``), on schedules measured in environment steps.
"""

from __future__ import annotations

import numpy as np

from tfrl import schedules
from tfrl.data import FrameStackReplayBuffer, UniformReplayBuffer
from tfrl.policies import RandomPolicy
from tfrl.train.loops.context import LoopContext, LoopState

__all__ = ["make_replay_buffer", "run_host_off_policy"]


def make_replay_buffer(config, env, seed: int) -> UniformReplayBuffer | FrameStackReplayBuffer:
    """The replay buffer an off-policy agent's config asks for, shaped for ``env``.

    Stacks of uint8 frames (``(H, W, K)`` images, as the Atari pipeline returns) go into a
    ``FrameStackReplayBuffer``, which stores each frame once; anything else into a ``UniformReplayBuffer``. Either
    keeps priorities when the config asks for ``prioritized_replay``.
    """
    prioritized = getattr(config, "prioritized_replay", False)
    spec = env.observation_spec()
    frames = len(spec.shape) == 3 and spec.dtype == np.uint8 and spec.shape[-1] > 1
    buffer_class = FrameStackReplayBuffer if frames else UniformReplayBuffer
    return buffer_class(
        config.buffer_size, spec, env.action_spec(), num_envs=env.num_envs,
        n_step=config.n_step, gamma=config.gamma, seed=seed,
        priority_alpha=config.priority_alpha if prioritized else None,
        priority_epsilon=config.priority_epsilon if prioritized else 1e-6,
    )


def run_host_off_policy(context: LoopContext) -> LoopState:
    """Train ``context.agent`` on ``context.env`` from ``context.state.step`` to ``total_steps`` (see module docstring)."""
    agent, run, env, buffer, state = context.agent, context.run, context.env, context.replay, context.state
    config = agent.config
    random_policy = RandomPolicy(env.action_spec(), seed=run.seed + 7 + state.step)
    resumed = context.resume_vars
    if resumed:  # continue the episodes that were running when the checkpoint was written
        time_step = resumed["time_step"]
        random_policy.rng.bit_generator.state = resumed["random_rng"]
    else:
        time_step = env.reset(seed=run.seed + state.step)
    with context:
        while state.step < run.total_steps:
            if state.step < config.learning_starts:
                action = random_policy.action(time_step.observation)
            else:
                action = agent.policy.action(time_step.observation, state.step)
            next_time_step = env.step(action)
            context.check_time_step(next_time_step)
            buffer.add(time_step, action, next_time_step)
            before = state.step
            state.step += int(np.count_nonzero(~time_step.is_last()))
            time_step = next_time_step
            context.record_episodes(env.pop_finished())

            due = schedules.periods_due(state.step, state.periods_done, config.learning_starts, config.train_freq)
            if due > 0 and buffer.prioritized:
                drawn = buffer.sample_prioritized(config.batch_size, num_batches=due * config.gradient_steps,
                                                  beta=agent.priority_beta(state.step))
                state.train_metrics, priorities = agent.train_prioritized(drawn.transition, drawn.weights)
                buffer.update_priorities(drawn.slots, priorities)
            elif due > 0:
                state.train_metrics = agent.train(buffer.sample(config.batch_size,
                                                                num_batches=due * config.gradient_steps))
            if due > 0:
                context.check_metrics(state.train_metrics)
                state.periods_done = state.step // config.train_freq
                state.train_phases += 1

            step = state.step
            resumable = {"time_step": time_step, "random_rng": random_policy.rng.bit_generator.state}
            if context.after_steps(before, lambda: {**state.train_metrics, **agent.schedule_metrics(step)},
                                   resumable):
                break
    return state
