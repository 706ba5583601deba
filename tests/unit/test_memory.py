"""The memory estimate of a run, against sizes worked out by hand and against what tfrl really allocates.

Each buffer's estimate is checked twice: against the bytes counted here by hand from the layout its module
documents, and against the real buffer's arrays (so a change of layout shows up here). The network estimate
is checked against the Keras models' ``count_params``. The check itself is run with a given amount of
available memory, so nothing depends on the machine.
"""

from __future__ import annotations

import numpy as np
import pytest

from tfrl.errors import ConfigError
from tfrl.runs import resolve_settings
from tfrl.runs import memory
from tfrl.runs.memory import check_memory, estimate_bytes, format_bytes, network_parameters, replay_bytes
from tfrl.specs import ArraySpec, BoundedArraySpec

VECTOR = ArraySpec((4,), np.float32, name="observation")
IMAGE = ArraySpec((84, 84, 4), np.uint8, name="observation")
TWO = BoundedArraySpec((), np.int64, name="action", minimum=0, maximum=1)
SIX = BoundedArraySpec((), np.int64, name="action", minimum=0, maximum=5)
BOX = BoundedArraySpec((3,), np.float32, name="action", minimum=-1.0, maximum=1.0)
GIB = 1 << 30


def _settings(algo: str, **overrides):
    return resolve_settings(algo, "CartPole-v1", overrides=overrides, use_preset=False)


def _ring_bytes(buffer) -> int:
    """Bytes of the arrays a replay ring allocated (``_flat`` holds a view of each)."""
    return sum(array.nbytes for array in buffer._flat.values())


class _Env:
    """What ``make_replay_buffer`` reads of an environment."""

    def __init__(self, observation_spec, action_spec, num_envs):
        self.spec, self.actions, self.num_envs = observation_spec, action_spec, num_envs

    def observation_spec(self):
        return self.spec

    def action_spec(self):
        return self.actions


def test_a_uniform_buffer_of_1000_vector_transitions_by_hand_and_as_allocated():
    # per slot: observation and next observation 2 x 16, action 8, reward and discount 2 x 4, last and valid 2 x 1
    by_hand = 1000 * (2 * 4 * 4 + 8 + 4 + 4 + 1 + 1)
    assert by_hand == 50_000
    settings = _settings("dqn", buffer_size=1000, n_step=3)  # n-step returns store nothing more
    assert estimate_bytes(settings, VECTOR, TWO)["replay buffer"] == by_hand
    from tfrl.train.loops.host_off_policy import make_replay_buffer

    buffer = make_replay_buffer(settings.agent, _Env(VECTOR, TWO, 1), seed=0)
    assert type(buffer).__name__ == "UniformReplayBuffer" and _ring_bytes(buffer) == by_hand


def test_a_capacity_is_rounded_up_to_whole_rows_of_num_envs():
    assert replay_bytes(1000, 3, VECTOR, TWO) == 1002 * 50  # 334 rows of 3 slots
    from tfrl.data import UniformReplayBuffer

    assert _ring_bytes(UniformReplayBuffer(1000, VECTOR, TWO, num_envs=3)) == 1002 * 50


def test_frame_stacks_store_each_frame_once():
    # per slot: one 84 x 84 frame, action 8, reward and discount 8, last, valid and start 3
    by_hand = 500 * (84 * 84 + 8 + 8 + 3)
    settings = _settings("dqn", buffer_size=500, encoder="nature_cnn")
    assert estimate_bytes(settings, IMAGE, SIX)["replay buffer"] == by_hand
    from tfrl.train.loops.host_off_policy import make_replay_buffer

    buffer = make_replay_buffer(settings.agent, _Env(IMAGE, SIX, 2), seed=0)
    assert type(buffer).__name__ == "FrameStackReplayBuffer" and buffer.nbytes == by_hand


def test_the_compiled_loop_keeps_both_observations_in_capacity_plus_one_rows():
    by_hand = 1001 * (2 * 16 + 8 + 4 + 4)
    assert replay_bytes(1000, 4, VECTOR, TWO, backend="tf") == by_hand
    from tfrl.data.graph_replay import GraphReplayBuffer

    graph = GraphReplayBuffer(1000, VECTOR, TWO, num_envs=4)
    assert sum(v.numpy().nbytes for v in graph.fields) == by_hand


def test_a_rollout_of_num_steps_by_num_envs():
    # [T+1, N] observations (16) and values (4); [T, N] actions (int64 index), reward, discount, log_prob, 3 flags
    by_hand = 129 * 8 * (16 + 4) + 128 * 8 * (8 + 12 + 3)
    settings = _settings("ppo", num_steps=128, num_envs=8)
    assert estimate_bytes(settings, VECTOR, TWO)["rollout buffer"] == by_hand
    from tfrl.data import RolloutBuffer

    rollout = RolloutBuffer(128, 8, VECTOR, ArraySpec((), np.int64))
    assert sum(a.nbytes for a in vars(rollout).values() if isinstance(a, np.ndarray) and a.ndim >= 2) == by_hand


@pytest.mark.parametrize("algo, overrides, observation, action, by_hand", [
    # Dense (4 + 1) x 256, (256 + 1) x 256, head (256 + 1) x 2
    ("dqn", {}, VECTOR, TWO, 5 * 256 + 257 * 256 + 257 * 2),
    ("dqn", {"dueling": True}, VECTOR, TWO, 5 * 256 + 257 * 256 + 257 * 3),
    # actor and critic torsos 2 x (5 x 64 + 65 x 64), logits 65 x 2, value 65
    ("ppo", {}, VECTOR, TWO, 2 * (5 * 64 + 65 * 64) + 65 * 2 + 65),
    # shared torso; Gaussian mean 65 x 3, value 65, log_std 3
    ("ppo", {"shared_torso": True}, VECTOR, BOX, 5 * 64 + 65 * 64 + 65 * 3 + 65 + 3),
    # Nature CNN on (84, 84, 4): convolutions 20x20x32, 9x9x64, 7x7x64, then Dense 512; Q head 513 x 6
    ("dqn", {"encoder": "nature_cnn"}, IMAGE, SIX,
     (8 * 8 * 4 + 1) * 32 + (4 * 4 * 32 + 1) * 64 + (3 * 3 * 64 + 1) * 64 + (7 * 7 * 64 + 1) * 512 + 513 * 6),
])
def test_network_parameters_by_hand_and_as_keras_counts_them(algo, overrides, observation, action, by_hand):
    settings = _settings(algo, **overrides)
    assert network_parameters(settings, observation, action) == by_hand
    config = settings.agent
    from tfrl import networks

    if algo == "dqn":
        model = networks.q_network(observation, action.num_values, config.hidden_sizes, dueling=config.dueling,
                                   encoder=config.encoder)
    else:
        model = networks.actor_critic(observation, action, config.hidden_sizes, shared=config.shared_torso,
                                      encoder=config.encoder)
    assert model.count_params() == by_hand
    assert estimate_bytes(settings, observation, action)["networks"] == by_hand * 4 * memory.PARAMETER_COPIES


def test_a_replay_buffer_too_big_is_refused_with_the_setting_to_lower():
    settings = _settings("dqn", buffer_size=10**10)
    with pytest.raises(ConfigError) as info:
        check_memory(settings, VECTOR, TWO, available=int(12.3 * GIB))
    assert str(info.value) == (
        "the replay buffer of 10,000,000,000 transitions needs about 466 GiB, and this machine has 12.3 GiB "
        "available; lower buffer_size (for example --set buffer_size=200000000)")
    # the example fits: 200,000,000 x 50 bytes is 9.3 GiB, under 90% of 12.3 GiB
    check_memory(_settings("dqn", buffer_size=200_000_000), VECTOR, TWO, available=int(12.3 * GIB))


def test_an_estimate_just_below_the_memory_available_is_refused_too():
    settings = _settings("dqn", buffer_size=100_000_000)  # 4.66 GiB
    with pytest.raises(ConfigError, match=r"needs about 4\.66 GiB, and this machine has 5 GiB available, too little "
                                          r"to spare for TensorFlow and the environments; lower buffer_size"):
        check_memory(settings, VECTOR, TWO, available=5 * GIB)
    check_memory(settings, VECTOR, TWO, available=6 * GIB)


def test_huge_hidden_layers_are_refused_with_a_smaller_example():
    settings = _settings("dqn", hidden_sizes=[100_000, 100_000])
    with pytest.raises(ConfigError, match=r"^the network of 10,000,800,002 parameters \(kept 4 times for Adam and the "
                                          r"target network\) needs about 149 GiB.*lower hidden_sizes \(for example "
                                          r"--set hidden_sizes=\[256,256\]\)$"):
        check_memory(settings, VECTOR, TWO, available=8 * GIB)


def test_a_rollout_too_big_names_num_steps_and_num_envs():
    settings = _settings("ppo", num_steps=100_000, num_envs=100_000, total_steps=10**12)
    with pytest.raises(ConfigError, match=r"the rollout of num_steps x num_envs = 100,000 x 100,000 transitions needs "
                                          r"about 400 GiB.*lower num_steps or --num-envs \(for example --set "
                                          r"num_steps=\d+\)"):
        check_memory(settings, VECTOR, TWO, available=8 * GIB)


def test_no_check_where_memory_is_unknown_or_the_variable_says_so(monkeypatch):
    settings = _settings("dqn", buffer_size=10**10)
    monkeypatch.setattr(memory, "available_bytes", lambda: None)
    check_memory(settings, VECTOR, TWO)
    monkeypatch.setenv(memory.SKIP_VARIABLE, "1")
    check_memory(settings, VECTOR, TWO, available=GIB)


def test_available_memory_from_meminfo_and_a_cgroup_limit(tmp_path):
    (tmp_path / "meminfo").write_text("MemTotal:  16000000 kB\nMemAvailable:   12345678 kB\n")
    assert memory._meminfo_available(tmp_path / "meminfo") == 12345678 * 1024
    assert memory._meminfo_available(tmp_path / "missing") is None
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("4294967296\n")
    (v2 / "memory.current").write_text("1073741824\n")
    (v2 / "memory.stat").write_text("anon 1\ninactive_file 536870912\n")
    assert memory._cgroup_available(v2) == 4 * GIB - GIB + GIB // 2
    (v2 / "memory.max").write_text("max\n")
    assert memory._cgroup_available(v2) is None
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # no limit
    (v1 / "memory.usage_in_bytes").write_text("1\n")
    assert memory._cgroup_available(tmp_path / "v1") is None
    assert memory.available_bytes() is None or memory.available_bytes() > 0


def test_sizes_are_written_with_three_digits():
    assert [format_bytes(n) for n in (149 * GIB, 12.34 * GIB, 512 << 20, 1500 * GIB, 100)] == [
        "149 GiB", "12.3 GiB", "512 MiB", "1,500 GiB", "100 bytes"]
