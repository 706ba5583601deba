"""``tfrl.envs.ids`` (ids and back-ends without TensorFlow) and ``tfrl.envs.checks``."""

from __future__ import annotations

import subprocess
import sys
import typing

import numpy as np
import pytest

from tfrl import envs
from tfrl.envs.checks import check_seed, positive_int
from tfrl.envs.ids import (
    BACKENDS,
    ENVPOOL_BACKEND,
    GYMNASIUM_BACKENDS,
    NATIVE_BACKEND,
    Backend,
    check_backend,
    check_env_id,
    is_atari_id,
    split_module,
)
from tfrl.errors import ConfigError, UnknownEnvironmentError


def test_importing_the_ids_module_imports_no_tensorflow():
    code = ("import sys; from tfrl.envs.ids import BACKENDS, Backend, check_env_id; check_env_id('CartPole-v1'); "
            "sys.exit(1 if 'tensorflow' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_backends_are_the_names_of_the_backend_literal():
    assert BACKENDS == typing.get_args(Backend) == ("sync", "async", "tf", "envpool")
    assert GYMNASIUM_BACKENDS == ("sync", "async")
    assert (NATIVE_BACKEND, ENVPOOL_BACKEND) == ("tf", "envpool")
    assert envs.BACKENDS is BACKENDS


def test_check_backend_names_the_closest_and_the_valid_ones():
    assert check_backend("async") == "async"
    with pytest.raises(ConfigError, match=r"^unknown backend 'asink'\. Did you mean async\? "
                                          r"Valid backends: async, envpool, sync, tf\.$"):
        check_backend("asink")
    with pytest.raises(ConfigError, match=r"^unknown backend 'tf' for X\. Valid backends: async, sync\.$"):
        check_backend("tf", GYMNASIUM_BACKENDS, context=" for X")


@pytest.mark.parametrize("env_id, expected", [
    ("CartPole-v1", (None, "CartPole-v1")),
    ("my_pkg.envs:MyEnv-v0", ("my_pkg.envs", "MyEnv-v0")),
    ("ALE/Pong-v5", (None, "ALE/Pong-v5")),
])
def test_split_module(env_id, expected):
    assert split_module(env_id) == expected


@pytest.mark.parametrize("env_id, atari", [
    ("ALE/Pong-v5", True),
    ("BreakoutNoFrameskip-v4", True),
    ("my_pkg:BreakoutNoFrameskip-v4", True),
    ("CartPole-v1", False),
    ("my_pkg:ALE_like-v0", False),
])
def test_is_atari_id(env_id, atari):
    assert is_atari_id(env_id) is atari


def test_unknown_ids_suggest_the_closest_and_the_listing_command():
    with pytest.raises(UnknownEnvironmentError, match=r"^unknown environment id 'CartPol-v1'\. Did you mean "
                                                      r"CartPole-v1.*\? Run 'tfrl envs' to list the installed ids\.$"):
        check_env_id("CartPol-v1")
    check_env_id("CartPole-v1")
    assert envs.check_env_id is check_env_id


def test_positive_int_and_check_seed():
    assert positive_int("n", np.int64(3)) == 3 and type(positive_int("n", np.int64(3))) is int
    for bad in (0, -1, 1.5, True, "2", None):
        with pytest.raises(ConfigError, match=f"n must be a positive integer, got {bad!r}"):
            positive_int("n", bad)
    assert check_seed(None) is None and check_seed(0) == 0 and check_seed(np.int32(7)) == 7
    for bad in (-1, 2.0, False, "1"):
        with pytest.raises(ConfigError, match="seed must be a non-negative integer or None"):
            check_seed(bad)
