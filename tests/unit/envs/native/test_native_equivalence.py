"""TF-native environments against their Gymnasium twins: 1,000 steps from the same states with the
same actions, crossing several auto-resets (the native reset state is copied into the twin);
observations, physical states, rewards, terminations and truncations are compared at every step.

All four, Acrobot included, are compared open-loop: with float64 physics the chaotic Acrobot
stays within about 1e-7 of Gymnasium over whole 500-step episodes, so no re-synchronization is
needed.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import tensorflow as tf

from tfrl.envs.native import (
    NATIVE_ENV_IDS,
    NativeEnvironment,
    native_env,
    state_from_gymnasium,
    state_to_gymnasium,
)
from tfrl.specs import StepType

NUM_ENVS = 4
STEPS = 1000
PUMP = np.array([0.9, 0.6, 0.3, 0.0])


def _gym_observation(env_id: str, twin: gymnasium.Env) -> np.ndarray:
    """What the Gymnasium env observes in its current state."""
    unwrapped = twin.unwrapped
    if env_id == "Acrobot-v1":
        return unwrapped._get_ob()
    if env_id == "Pendulum-v1":
        return unwrapped._get_obs()
    return np.array(unwrapped.state, dtype=np.float32)


def _actions(env_id: str, rng: np.random.Generator, observation: np.ndarray) -> np.ndarray:
    """Random actions; for MountainCar and Acrobot half of the steps push along the velocity
    instead, so that episodes also terminate (random actions alone only truncate)."""
    if env_id == "Pendulum-v1":
        return rng.uniform(-2.5, 2.5, size=(NUM_ENVS, 1)).astype(np.float32)  # beyond the bounds: clipped
    if env_id == "CartPole-v1":
        return rng.integers(0, 2, size=NUM_ENVS)
    velocity = observation[:, 1] if env_id == "MountainCar-v0" else observation[:, 5]  # Acrobot: dtheta2
    pump = np.where(velocity > 0, 2, 0)
    return np.where(rng.random(NUM_ENVS) < PUMP, pump, rng.integers(0, 3, size=NUM_ENVS))


@pytest.mark.parametrize(
    "env_id, jit_compile",
    [(env_id, True) for env_id in NATIVE_ENV_IDS] + [("Acrobot-v1", False)],  # XLA, and graph mode
)
def test_native_env_matches_gymnasium_step_for_step(env_id, jit_compile):
    env = NativeEnvironment(native_env(env_id), NUM_ENVS, seed=11, jit_compile=jit_compile)
    twins = [gymnasium.make(env_id) for _ in range(NUM_ENVS)]
    for twin in twins:
        twin.reset(seed=0)
    time_step = env.reset()
    state_to_gymnasium(env_id, env.state, twins)
    for twin, observation in zip(twins, time_step.observation):
        np.testing.assert_allclose(observation, _gym_observation(env_id, twin), rtol=0, atol=1e-6)
    rng = np.random.default_rng(0)
    terminations = truncations = resets = 0
    max_error = 0.0
    for t in range(STEPS):
        actions = _actions(env_id, rng, time_step.observation)
        time_step = env.step(actions)
        physics = np.stack([np.asarray(column) for column in env.state.physics], axis=1)
        for i, twin in enumerate(twins):
            if time_step.step_type[i] == StepType.FIRST:  # auto-reset: the twin starts from the same state
                resets += 1
                state_to_gymnasium(env_id, env.state, [twin], [i])
                np.testing.assert_allclose(time_step.observation[i], _gym_observation(env_id, twin), atol=1e-6)
                continue
            observation, reward, terminated, truncated, _ = twin.step(actions[i])
            where = f"{env_id} env {i} step {t}"
            error = float(np.max(np.abs(time_step.observation[i] - observation)))
            max_error = max(max_error, error)
            assert error <= 1e-4, f"{where}: observation {time_step.observation[i]} vs Gymnasium {observation}"
            gym_physics = np.asarray(twin.unwrapped.state, dtype=np.float64)
            np.testing.assert_allclose(physics[i], gym_physics, rtol=0, atol=1e-4, err_msg=where)
            assert time_step.reward[i] == np.float32(reward), where
            last = time_step.step_type[i] == StepType.LAST
            assert (last and time_step.discount[i] == 0.0) == terminated, where
            assert (last and time_step.discount[i] == 1.0) == (truncated and not terminated), where
            assert time_step.step_type[i] == (StepType.LAST if terminated or truncated else StepType.MID), where
            terminations += int(terminated)
            truncations += int(truncated and not terminated)
    assert resets >= 3, f"only {resets} auto-resets crossed"
    expected = {
        "CartPole-v1": (100, 0),  # (at least this many terminations, truncations) in 4 x 1,000 steps
        "MountainCar-v0": (6, 4),
        "Acrobot-v1": (12, 1),
        "Pendulum-v1": (0, 16),
    }[env_id]
    assert terminations >= expected[0] and truncations >= expected[1], (terminations, truncations)
    if env_id != "Acrobot-v1":
        assert max_error <= 1e-6, max_error  # the same float64 arithmetic as Gymnasium


@pytest.mark.parametrize("env_id", NATIVE_ENV_IDS)
def test_state_from_gymnasium_continues_gymnasiums_own_episodes(env_id):
    twins = [gymnasium.make(env_id) for _ in range(NUM_ENVS)]
    rng = np.random.default_rng(1)
    for i, twin in enumerate(twins):
        twin.reset(seed=i)  # Gymnasium's own reset distribution
    observation = np.stack([_gym_observation(env_id, twin) for twin in twins])
    for _ in range(3):
        actions = _actions(env_id, rng, observation)
        observation = np.stack([twin.step(a)[0] for twin, a in zip(twins, actions)])
    native = native_env(env_id)
    state = state_from_gymnasium(env_id, twins)
    np.testing.assert_array_equal(state.elapsed, [3] * NUM_ENVS)
    np.testing.assert_array_equal(native.observe(state.physics), observation)
    step = tf.function(native.step)
    for t in range(20):  # until the first episode ends (the twins do not auto-reset)
        actions = _actions(env_id, rng, observation)
        state, time_step = step(state, actions)
        observation = np.stack([twin.step(a)[0] for twin, a in zip(twins, actions)])
        np.testing.assert_allclose(time_step.observation, observation, rtol=0, atol=1e-6, err_msg=f"step {t}")
        if np.any(time_step.step_type == StepType.LAST):
            break
    assert t >= 5
    # and back: a native state copied into fresh Gymnasium envs gives the same observations and step counts
    copies = [gymnasium.make(env_id) for _ in range(NUM_ENVS)]
    for copy in copies:
        copy.reset(seed=0)
    state_to_gymnasium(env_id, state, copies)
    np.testing.assert_array_equal(state_from_gymnasium(env_id, copies).elapsed, state.elapsed)
    np.testing.assert_array_equal(np.stack([_gym_observation(env_id, c) for c in copies]), time_step.observation)
