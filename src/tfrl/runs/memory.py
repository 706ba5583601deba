"""The memory a run needs, estimated from its settings and its environment's specs before anything is built.

``Session`` calls ``check_memory`` once the training environment is made (its specs are then known) and before
the agent, the replay buffer or the rollout storage is built. A run that cannot fit is refused with one
``ConfigError`` naming the biggest item and the setting to lower, instead of a ``MemoryError``, a TensorFlow
out-of-memory error, or the kernel's OOM killer hours later (NumPy's zeroed rings take memory only as they fill).

What is counted, as tfrl allocates it:

* the replay buffer of the host off-policy loop: a ``UniformReplayBuffer`` slot holds the observation and the next
  observation, the action, the reward and the discount (float32 each) and two flags; a ``FrameStackReplayBuffer``
  (uint8 stacks of frames ``(H, W, K)``, as ``make_replay_buffer`` chooses) one frame, the action, reward, discount
  and three flags (the stacks that start episodes, a few bytes per transition, are left out). Slots: ``buffer_size``
  rounded up to a multiple of ``num_envs``. n-step returns are summed when sampling and store nothing more;
* backend 'tf': the compiled loop's ``GraphReplayBuffer``, ``buffer_size + 1`` rows of observation, next
  observation, action, reward and discount;
* the rollout of the on-policy loops: ``num_steps`` x ``num_envs`` transitions, as ``RolloutBuffer`` stores them
  (REINFORCE's whole episodes have no size known in advance and are not counted);
* the networks: the float32 parameters of the Dense layers (``hidden_sizes``) or of the Nature CNN and the heads,
  ``PARAMETER_COPIES`` times (the weights, Adam's two moments, and the target network or the gradients).

TensorFlow itself, the environments and the batches are not counted, so the check refuses an estimate above
``HEADROOM`` (90%) of the memory available. ``available_bytes`` asks psutil if it is installed, else reads
``/proc/meminfo``, and takes a cgroup's (a container's) limit when lower; where none of them can be read the check
is skipped. ``TFRL_NO_MEMORY_CHECK=1`` skips it too.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tfrl.envs.ids import NATIVE_BACKEND
from tfrl.errors import ConfigError
from tfrl.runs.settings import Settings
from tfrl.specs import ArraySpec

__all__ = ["PARAMETER_COPIES", "HEADROOM", "SKIP_VARIABLE", "MemoryItem", "replay_bytes", "rollout_bytes",
           "network_parameters", "nature_cnn_parameters", "memory_items", "estimate_bytes", "available_bytes",
           "check_memory", "format_bytes"]

PARAMETER_COPIES = 4
"""Copies of every parameter counted: the weights, Adam's two moments, and the target network (DQN) or the
gradients (actor-critic)."""
HEADROOM = 0.9
"""Share of the available memory an estimate may take; the rest is left to TensorFlow and the environments."""
SKIP_VARIABLE = "TFRL_NO_MEMORY_CHECK"
"""Environment variable that turns the check off when set to anything but empty or 0."""
_FLAGS = {"uniform": 2, "frames": 3}  # bool flags per replay slot: last, valid (and start)
_STEP_FLOATS = 8  # reward and discount, float32


class MemoryItem(NamedTuple):
    """One thing a run allocates: its name, its estimated size and how to make it smaller."""

    name: str
    """``'replay buffer'``, ``'rollout buffer'`` or ``'networks'`` (the keys of ``estimate_bytes``)."""
    nbytes: int
    """Estimated bytes."""
    what: str
    """The item as the message names it (``the replay buffer of 1,000,000 transitions``)."""
    fix: Callable[[float], str]
    """``fix(budget)``: what to lower so that the item fits in ``budget`` bytes, with an example value."""


def _spec_bytes(spec: ArraySpec) -> int:
    return math.prod(int(d) for d in spec.shape) * np.dtype(spec.dtype).itemsize


def _is_frame_stack(spec: ArraySpec) -> bool:
    """Whether ``make_replay_buffer`` stores these observations in a ``FrameStackReplayBuffer`` (one frame a slot)."""
    return len(spec.shape) == 3 and np.dtype(spec.dtype) == np.uint8 and spec.shape[-1] > 1


def replay_bytes(capacity: int, num_envs: int, observation_spec: ArraySpec, action_spec: ArraySpec,
                 backend: str = "sync") -> int:
    """Bytes of the replay buffer an off-policy run allocates (see the module docstring)."""
    obs, action = _spec_bytes(observation_spec), _spec_bytes(action_spec)
    if backend == NATIVE_BACKEND:
        return (int(capacity) + 1) * (2 * obs + action + _STEP_FLOATS)
    slots = -(-int(capacity) // int(num_envs)) * int(num_envs)
    if _is_frame_stack(observation_spec):
        frame = obs // int(observation_spec.shape[-1])
        return slots * (frame + action + _STEP_FLOATS + _FLAGS["frames"])
    return slots * (2 * obs + action + _STEP_FLOATS + _FLAGS["uniform"])


def rollout_bytes(num_steps: int, num_envs: int, observation_spec: ArraySpec, action_spec: ArraySpec) -> int:
    """Bytes of a ``RolloutBuffer`` of ``num_steps`` x ``num_envs`` (``action_spec``: the stored, raw action:
    an int64 index for discrete actions, the float32 sample for continuous ones)."""
    steps, envs = int(num_steps), int(num_envs)
    per_step = _spec_bytes(action_spec) + 3 * 4 + 3  # reward, discount, log_prob; last, valid, first
    return (steps + 1) * envs * (_spec_bytes(observation_spec) + 4) + steps * envs * per_step  # + value


def _mlp(inputs: int, hidden_sizes: Sequence[int]) -> tuple[int, int]:
    """Parameters of Dense layers of ``hidden_sizes`` on ``inputs`` features, and the width of the last one."""
    params, width = 0, inputs
    for units in hidden_sizes:
        params += (width + 1) * int(units)
        width = int(units)
    return params, width


def nature_cnn_parameters(shape: Sequence[int], convs=((32, 8, 4), (64, 4, 2), (64, 3, 1)), units: int = 512):
    """Parameters of ``tfrl.networks.nature_cnn`` (three convolutions and Dense 512) on images of ``shape``
    (0 for a shape it refuses). With other ``convs`` ((filters, kernel, stride) each) and ``units=0``: the
    parameters of those convolutions and their number of output features, as a pair."""
    features = 0
    params = 0
    if len(shape) == 3:
        height, width, channels = (int(d) for d in shape)
        for filters, kernel, stride in convs:
            params += (kernel * kernel * channels + 1) * filters
            height, width, channels = (height - kernel) // stride + 1, (width - kernel) // stride + 1, filters
        features = height * width * channels if height >= 1 and width >= 1 else 0
    if not units:
        return params, features
    return params + (features + 1) * units if features else 0


def network_parameters(settings: Settings, observation_spec: ArraySpec, action_spec: ArraySpec) -> int:
    """Parameters of the run's network: DQN's, C51's or QR-DQN's Q network (plain or dueling, noisy counted twice:
    the convolutions too, an overestimate), the actor (with SAC's mean and log-std
    heads) and critics of SAC, TD3 and DDPG, or the actor-critic of REINFORCE, A2C and PPO (two torsos, or one
    shared), on an MLP torso or the Nature CNN."""
    config = settings.agent
    discrete = getattr(action_spec, "is_discrete", False)
    actions = action_spec.num_values if discrete else max(1, math.prod(int(d) for d in action_spec.shape))
    inputs = max(1, math.prod(int(d) for d in observation_spec.shape))
    hidden = tuple(getattr(config, "hidden_sizes", ()))
    if getattr(config, "encoder", "mlp") == "nature_cnn":
        torso, width, torsos = nature_cnn_parameters(observation_spec.shape), 512, 1
    elif getattr(config, "encoder", "mlp") == "data_efficient_cnn":  # two 5x5 stride-5 convolutions, then hidden
        convs = nature_cnn_parameters(observation_spec.shape, ((32, 5, 5), (64, 5, 5)), units=0)
        (dense, width), torsos = _mlp(max(1, convs[1]), hidden), 1
        torso = convs[0] + dense
    else:
        (torso, width), torsos = _mlp(inputs, hidden), 1 if getattr(config, "shared_torso", True) else 2
    if settings.algorithm.host_loop == "off_policy" and not discrete:  # SAC, TD3, DDPG: an actor and 1 or 2 critics
        actor, width = _mlp(inputs, hidden)
        critic, _ = _mlp(inputs + actions, hidden)
        critics = 2 if getattr(config, "twin_critics", True) else 1
        return actor + (width + 1) * 2 * actions + critics * (critic + width + 1)
    if settings.algorithm.host_loop == "off_policy":  # a Q network: one value per action (dueling: and a value)
        atoms = getattr(config, "num_atoms", getattr(config, "num_quantiles", 1))  # C51, QR-DQN: K values each
        head = (width + 1) * (actions + (1 if getattr(config, "dueling", False) else 0)) * atoms
        return (torso + head) * (2 if getattr(config, "noisy", False) else 1)  # noisy layers: a mean and a sigma
    log_std = 0 if discrete else actions
    return torsos * torso + (width + 1) * (actions + 1) + log_std


def memory_items(settings: Settings, observation_spec: ArraySpec, action_spec: ArraySpec) -> list[MemoryItem]:
    """What the run allocates, by item, with its estimated size (see the module docstring)."""
    run, config = settings.run, settings.agent
    items = []
    if settings.algorithm.host_loop == "off_policy" and hasattr(config, "buffer_size"):
        size = replay_bytes(config.buffer_size, run.num_envs, observation_spec, action_spec, run.backend)
        per, least = size / config.buffer_size, getattr(config, "batch_size", 1)
        items.append(MemoryItem("replay buffer", size, f"the replay buffer of {config.buffer_size:,} transitions",
                                lambda budget: _lower("buffer_size", budget / per, least=least)))
    elif hasattr(config, "num_steps"):
        stored = ArraySpec((), np.int64) if getattr(action_spec, "is_discrete", False) else \
            ArraySpec(action_spec.shape, np.float32)
        size = rollout_bytes(config.num_steps, run.num_envs, observation_spec, stored)
        per = size / config.num_steps
        items.append(MemoryItem(
            "rollout buffer", size,
            f"the rollout of num_steps x num_envs = {config.num_steps:,} x {run.num_envs:,} transitions",
            lambda budget: _lower("num_steps", budget / per, also="or --num-envs")))
    params = network_parameters(settings, observation_spec, action_spec)
    items.append(MemoryItem(
        "networks", params * 4 * PARAMETER_COPIES,
        f"the network of {params:,} parameters (kept {PARAMETER_COPIES} times for Adam and the target network)",
        lambda budget: _lower_network(settings, observation_spec, action_spec, budget)))
    return items


def _nice_below(limit: float) -> int:
    """The largest 1, 2 or 5 times a power of ten at or below ``limit`` (0 below 1)."""
    if limit < 1:
        return 0
    power = 10 ** int(math.floor(math.log10(limit)))
    return max(m * power for m in (1, 2, 5) if m * power <= limit)


def _lower(setting: str, fitting: float, also: str = "", least: int = 1) -> str:
    example = _nice_below(fitting)
    hint = f" (for example --set {setting}={example})" if example >= max(1, least) else ""
    return f"lower {setting}{' ' + also if also else ''}{hint}"


def _lower_network(settings: Settings, observation_spec: ArraySpec, action_spec: ArraySpec, budget: float) -> str:
    if getattr(settings.agent, "encoder", "mlp") == "nature_cnn":
        return "use smaller image observations (the Nature CNN's size follows them)"
    default = next((f.default for f in dataclasses.fields(settings.agent) if f.name == "hidden_sizes"), None)
    if default is None:
        return "lower hidden_sizes"
    smaller = settings._replace(agent=dataclasses.replace(settings.agent, hidden_sizes=tuple(default)))
    fits = network_parameters(smaller, observation_spec, action_spec) * 4 * PARAMETER_COPIES <= budget
    example = f" (for example --set hidden_sizes=[{','.join(str(h) for h in default)}])" if fits else ""
    return f"lower hidden_sizes{example}"


def estimate_bytes(settings: Settings, observation_spec: ArraySpec, action_spec: ArraySpec) -> dict[str, int]:
    """Estimated bytes of what the run allocates, by item: ``replay buffer`` or ``rollout buffer`` (when it has
    one) and ``networks``."""
    return {item.name: item.nbytes for item in memory_items(settings, observation_spec, action_spec)}


def format_bytes(nbytes: float) -> str:
    """``149 GiB``, ``12.3 GiB``, ``512 MiB``: three significant digits in the largest binary unit that fits."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size:
            value = nbytes / size
            return f"{value:,.0f} {unit}" if value >= 1000 else f"{value:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def _meminfo_available(path: str | Path = "/proc/meminfo") -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (Linux), or None."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_available(root: str | Path = "/sys/fs/cgroup") -> int | None:
    """Memory left under this cgroup's limit (v2 ``memory.max``, or v1 ``memory/memory.limit_in_bytes``), with its
    inactive file cache counted as free; None without a limit."""
    root = Path(root)
    for folder, limit_file, usage_file, cache_key in (
            (root, "memory.max", "memory.current", "inactive_file"),
            (root / "memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")):
        try:
            limit_text = (folder / limit_file).read_text().strip()
            if limit_text == "max" or int(limit_text) >= 1 << 60:
                return None
            usage = int((folder / usage_file).read_text())
            cache = 0
            for line in (folder / "memory.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == cache_key:
                    cache = int(value)
            return max(0, int(limit_text) - usage + cache)
        except (OSError, ValueError):
            continue
    return None


def available_bytes() -> int | None:
    """Memory available to this process in bytes: psutil's, else ``/proc/meminfo``'s, or a cgroup's limit when
    lower; None where none of them can be read (the check is then skipped)."""
    try:
        import psutil

        system = int(psutil.virtual_memory().available)
    except Exception:  # not installed, or no answer on this platform
        system = _meminfo_available()
    found = [value for value in (system, _cgroup_available()) if value is not None]
    return min(found) if found else None


def check_memory(settings: Settings, observation_spec: ArraySpec, action_spec: ArraySpec,
                 available: int | None = None) -> None:
    """Raise ``ConfigError`` when the run's estimated memory passes ``HEADROOM`` of ``available`` bytes (default:
    ``available_bytes()``), naming the biggest item and the setting to lower."""
    if os.environ.get(SKIP_VARIABLE, "") not in ("", "0"):
        return
    items = memory_items(settings, observation_spec, action_spec)
    total = sum(item.nbytes for item in items)
    available = available_bytes() if available is None else available
    if available is None or total <= HEADROOM * available:
        return
    biggest = max(items, key=lambda item: item.nbytes)
    whole = f" ({format_bytes(total)} for the whole run)" if biggest.nbytes < 0.9 * total else ""
    spare = "" if total > available else ", too little to spare for TensorFlow and the environments"
    budget = HEADROOM * available - (total - biggest.nbytes)
    raise ConfigError(f"{biggest.what} needs about {format_bytes(biggest.nbytes)}{whole}, and this machine has "
                      f"{format_bytes(available)} available{spare}; {biggest.fix(budget)}")

