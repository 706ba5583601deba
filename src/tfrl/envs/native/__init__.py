"""TF-native environments: CartPole-v1, MountainCar-v0, Acrobot-v1 and Pendulum-v1 as pure
TensorFlow functions batched over ``N`` environments, so that thousands of them step inside one
compiled ``tf.function`` (graph mode or ``jit_compile=True``).

    >>> import tensorflow as tf
    >>> from tfrl.envs import native
    >>> env = native.CartPole()
    >>> state, time_step = env.reset(seed=0, num_envs=1024)
    >>> state, time_step = env.step(state, tf.zeros([1024], tf.int64))

``reset(seed, num_envs) -> (state, time_step)`` and ``step(state, action) -> (state, time_step)``
follow Gymnasium's dynamics, rewards, termination and registered time limits exactly (physics in
float64), and tfrl's auto-reset rule: the step after a LAST step returns FIRST of a new episode
for that environment, with reward 0 and discount 1, ignoring its action. ``NativeEnvironment``
gives them the host ``Environment`` interface; ``tfrl.envs.make(id, backend="tf")`` builds one.

Importing this package imports TensorFlow; ``tfrl.envs`` imports it only for ``backend="tf"``.
"""

from tfrl.envs.native.acrobot import Acrobot, AcrobotState
from tfrl.envs.native.adapter import NativeEnvironment, make_native
from tfrl.envs.native.cartpole import CartPole, CartPoleState
from tfrl.envs.native.catalog import NATIVE_ENV_IDS, NATIVE_ENVS, native_env
from tfrl.envs.native.core import NativeEnv, NativeState, initial_key
from tfrl.envs.native.gym_sync import state_from_gymnasium, state_to_gymnasium
from tfrl.envs.native.mountain_car import MountainCar, MountainCarState
from tfrl.envs.native.pendulum import Pendulum, PendulumState
from tfrl.envs.native.random import stateless_uniform_columns, stateless_uniform_rows

__all__ = [
    "NativeEnv",
    "NativeState",
    "NativeEnvironment",
    "CartPole",
    "MountainCar",
    "Acrobot",
    "Pendulum",
    "CartPoleState",
    "MountainCarState",
    "AcrobotState",
    "PendulumState",
    "NATIVE_ENVS",
    "NATIVE_ENV_IDS",
    "native_env",
    "make_native",
    "initial_key",
    "state_from_gymnasium",
    "state_to_gymnasium",
    "stateless_uniform_rows",
    "stateless_uniform_columns",
]
