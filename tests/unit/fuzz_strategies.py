"""Hypothesis strategies for ``tests/unit/test_fuzz.py``: a grammar of ``tfrl`` command lines and YAML files.

Every strategy mixes valid and invalid pieces: the real subcommands, algorithms, environment ids, options
and setting names next to typos, junk values and argparse misuse. Paths are not drawn as strings but as
symbols (``Run``, ``File``, ``Rel``) that the test turns into files and directories inside a fresh
directory per example, so that a failing example prints as something readable and reproducible.

Cost is part of the grammar: a valid value of a setting that would make a run long (``eval_every``,
``checkpoint_every``, ``final_eval_episodes``, ``--episodes``...) is drawn from small values only; values
that are absurdly large (``10**30``) are drawn where they fail at once instead of allocating. The test
adds its own budget on top (see ``test_fuzz.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

# --------------------------------------------------------------------------- symbols resolved by the test


class _Short:
    """Hypothesis prints a failing example with its own printer: make it use the short ``repr``."""

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


@dataclass(frozen=True)
class Run(_Short):
    """A run directory of some ``kind`` (see ``RUN_KINDS``), made from the module's finished run."""

    kind: str
    edit: tuple = ()
    """For ``kind='edited'``: ``(line index, new value or None to delete the line)``; for ``'rewritten'``:
    ``(bytes,)``: the new ``config.yaml``; for ``'truncated'``: ``(number of bytes kept,)``."""

    def __repr__(self) -> str:
        return f"Run({self.kind!r}{', ' + repr(self.edit) if self.edit else ''})"


@dataclass(frozen=True)
class File(_Short):
    """A file holding ``content`` (bytes), written as ``name`` in the example's directory."""

    name: str
    content: bytes

    def __repr__(self) -> str:
        text = self.content if len(self.content) <= 300 else self.content[:300] + b"...(%d bytes)" % len(self.content)
        return f"File({self.name!r}, {text!r})"


@dataclass(frozen=True)
class Rel(_Short):
    """A path relative to the example's directory, not created (``''`` stays the empty string)."""

    path: str

    def __repr__(self) -> str:
        return f"Rel({self.path!r})"


RUN_KINDS = (
    "finished", "missing", "empty", "file", "no-config", "no-checkpoints", "torn-checkpoint", "no-policy",
    "junk-policy", "empty-string", "parent", "no-metrics", "edited", "rewritten", "truncated", "lock-dir",
    "checkpoints-file", "policy-dir", "junk-metrics",
)
"""``finished``: a copy of a finished tiny DQN run; ``parent``: a directory holding such a copy; the rest are
damaged or missing runs (``edited``: one line of config.yaml changed or removed; ``lock-dir``, ``checkpoints-file``,
``policy-dir``: a file where a directory belongs or the other way round)."""

# --------------------------------------------------------------------------- words

ALGOS = ("dqn", "ppo", "a2c", "reinforce")
BAD_ALGOS = ("dqm", "DQN", "", "ppo2", "a3c", "sac", "dqn ", "reinfrce", "🙂", "-", "dqn\n", "x" * 300)
ENVS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCar-v0")
BAD_ENVS = (
    "CartPol-v1", "cartpole-v1", "CartPole", "CartPole-v9", "", " ", "no_such_pkg:Foo-v0", "math:CartPole-v1",
    "tfrl:Nope-v0", ":CartPole-v1", "CartPole-v1:", "a:b:c", "CartPole-v1\n", "ÇartPole-v1", "🙂-v1", "x" * 300,
    "FrozenLake-v1", "Blackjack-v1", "Taxi-v3", "LunarLander-v3", "phys2d/CartPole-v1", "tabular/Blackjack-v0",
    "gymnasium.envs.box2d:LunarLander-v3", "HalfCheetah-v5", "ALE/Pong-v5", "../CartPole-v1", "CartPole-v1 ",
    "..:CartPole-v1", ".x:CartPole-v1",
)
"""Typos, modules, unicode, and real ids that tfrl cannot train (tuple observations, missing Box2D, MuJoCo, JAX)."""

SUBCOMMANDS = ("train", "eval", "watch", "export", "plot", "params", "envs", "sweep")
BAD_SUBCOMMANDS = ("trian", "Train", "evaluate", "", "-x", "help", "run", "tfrl", "🙂", "--nope")

INTS = ("0", "-1", "-7", str(10**30), str(2**64), str(2**63), "1.5", "1e3", "abc", "", " ", "0x10", "٣", "1_000",
        "nan", "inf", "--1", "+3", "3 ", "NaN", "-0", "9" * 50)
"""Integer texts for argparse's ``type=int``: some parse (``' 7'``, ``'٣'``, ``'1_000'``, ``'+3'``), most do not."""

JUNK_VALUES = (
    "nan", "inf", "-inf", "-1", "0", "[]", "{}", "x" * 1000, "[1, [2]]", "!!python/object:os.system", "&a [*a]",
    "", "none", "null", "1e400", "0x10", "🙂", "a\nb", "=", "[", "{a: 1}", "- 1", "*a", "? a", "[[8]]", "[8.5]",
    "true", "maybe", "'quoted'", str(10**30), "1,2", "(8, 8)", "[&a 8, *a]", "!!binary aGk=", "2001-12-14",
    "\x00", "é", "!!float x", "[!!bool x]", "!!timestamp 2001-13-45", "1" * 5000, "[" + "1" * 5000 + "]",
    "2001-02-30",
)
"""Values of ``--set`` that fit almost no setting (and a few that fit some)."""

CHEAP = {  # setting -> valid values that keep a run tiny (a value of JUNK_VALUES may be drawn instead)
    "learning_rate": ("1e-3", "0.1", "0", "-0.5"),
    "buffer_size": ("1000", "10", "1", str(10**30)),
    "hidden_sizes": ("[8]", "16,16", "[]", "[0]", "[-1]", "(8, 8)", "[8, -1]", str(10**30), f"[{10**30}]"),
    "activation": ("relu", "tanh", "gelu", "nope", "Relu", "", "softmax", "exponential", "leaky_relu", "__class__"),
    "gamma": ("0.9", "1", "1.5", "-0.1"),
    "batch_size": ("1", "32", "0", "4096", str(10**30)),
    "target_return": ("100", "-1e9", "none"),
    "exploration_fraction": ("0.1", "0", "1.5", "-1"),
    "exploration_initial_eps": ("1", "0.5", "2"),
    "exploration_final_eps": ("0.05", "1", "-0.1"),
    "num_steps": ("8", "0", "-1", "1", str(10**30)),
    "learning_starts": ("0", "50", "-1", "1"),
    "n_step": ("1", "3", "0"),
    "train_freq": ("1", "4", "0"),
    "gradient_steps": ("1", "0", "-1"),
    "target_update_interval": ("1", "0", "100"),
    "tau": ("0.5", "1", "2", "0"),
    "update_epochs": ("1", "0"),
    "clip_coef": ("0.2", "0", "-1"),
    "entropy_coef": ("0.01", "-1"),
    "target_kl": ("none", "0.01", "0", "-1"),
    "optimizer": ("adam", "sgd", "rmsprop", "adamw", "nope"),
    "episodes_per_update": ("1", "0", "2"),
    "encoder": ("mlp", "nature_cnn", "resnet"),
    "loss": ("huber", "mse", "l1"),
    "jit_compile": ("none", "false", "maybe", "2"),
    "max_episode_steps": ("1", "0", "-5", "5", "none"),
    "eval_every": ("0", "-1", "100000"),
    "eval_episodes": ("1", "0", "-1"),
    "final_eval_episodes": ("0", "1", "-1"),
    "log_every": ("1", "0", "10"),
    "checkpoint_every": ("0", "-1", "100"),
    "keep_checkpoints": ("1", "0"),
    "save_replay": ("true", "false", "maybe"),
    "tensorboard": ("false", "maybe", "2"),
    "stop_at_target": ("true", "false"),
    "max_minutes": ("0", "-1", "0.01"),
    "normalize_observations": ("true", "false"),
    "normalize_rewards": ("true", "false"),
    "shared_torso": ("true", "false"),
    "log_std_init": ("0", "-20", "20"),
    "anneal_lr": ("true", "false"),
    "clip_value_loss": ("true", "false"),
    "normalize_advantages": ("true", "false"),
    "max_grad_norm": ("none", "0", "-1", "1"),
    "gae_lambda": ("0.95", "1.5"),
    "value_coef": ("0.5", "-1"),
    "baseline": ("true", "false"),
    "dueling": ("true", "false"),
    "double_dqn": ("true", "false"),
    "eval_epsilon": ("0", "0.5", "2"),
    "total_steps": ("1", "200", "0", "-5", "1.5"),
    "num_envs": ("1", "2", "3", "0", str(10**30)),
    "seed": ("0", "1", "-1", str(2**64), "4294967295"),
    "backend": ("sync", "tf", "async", "envpool", "gpu", ""),
    "deterministic": ("false", "maybe"),
}
"""Every setting of RunConfig and the four agents' configs, with values that are cheap when valid."""

BAD_KEYS = ("learnin_rate", "agent", "Learning_Rate", "", " ", "seed ", "1", "~", "<<", "é", "x" * 300, "run.seed",
            "learning_rate.x", "__class__", "hidden_sizes[0]")

# --------------------------------------------------------------------------- small pieces


def _pick(valid, invalid, p_valid: float = 0.7):
    """``valid`` with probability about ``p_valid``, else ``invalid`` (tuples of values)."""
    weight = max(1, round(10 * p_valid))
    return st.one_of(*([st.sampled_from(valid)] * weight), *([st.sampled_from(invalid)] * (10 - weight)))


algos = _pick(ALGOS, BAD_ALGOS)
envs = _pick(ENVS, BAD_ENVS, 0.6)


@st.composite
def assignment(draw) -> list[str]:
    """``--set KEY=VALUE`` with a real key (or a typo) and a cheap valid value (or junk), or --set misused."""
    form = draw(st.sampled_from(["good"] * 8 + ["no-equals", "missing", "empty-key"]))
    key = draw(st.one_of(st.sampled_from(sorted(CHEAP)), st.sampled_from(sorted(CHEAP)), st.sampled_from(BAD_KEYS)))
    value = draw(st.one_of(st.sampled_from(CHEAP.get(key, JUNK_VALUES)), st.sampled_from(JUNK_VALUES)))
    if form == "no-equals":
        return ["--set", key]
    if form == "missing":
        return ["--set"]
    if form == "empty-key":
        return ["--set", f"={value}"]
    return ["--set", f"{key}={value}"]


def flag_value(flag: str, values) -> st.SearchStrategy[list]:
    """``[flag, value]`` mostly; ``[flag=value]``, ``[flag]`` (missing value) or a repeated flag sometimes."""
    return st.one_of(
        *[st.builds(lambda v: [flag, v], values)] * 9,
        st.builds(lambda v: [f"{flag}={v}"], values),
        st.just([flag]),
        st.builds(lambda a, b: [flag, a, flag, b], values, values),
    )


JUNK_FLAGS = (["--nope"], ["-x"], ["--"], ["-"], ["--STEPS", "5"], ["--ste", "5"], ["--s", "5"], ["extra"],
              ["--set=a"], ["-h"], ["--verbose"], ["--steps", "--seed"], ["🙂"], ["--no-preset=1"])
"""Unknown flags, abbreviations (``--ste`` is --steps, ``--s`` is ambiguous), stray words, ``-h``."""

junk_flag = st.sampled_from(JUNK_FLAGS)


def _rel_paths(*extra: str) -> st.SearchStrategy[Rel]:
    return st.builds(Rel, st.sampled_from(("out", "a/b/c", "ü n/ï", ".", "", " ", "x" * 300, "f.txt", "f.txt/sub",
                                           "existing-dir", "existing-dir/x", *extra)))


# --------------------------------------------------------------------------- YAML documents

YAML_SCALARS = (
    "1", "0", "-1", "3", "64", "0.5", "1e-3", "1.0e+2", "1e400", str(10**30), str(2**64), ".nan", ".NaN", ".inf",
    "-.inf", "nan", "inf", "true", "false", "yes", "no", "on", "off", "maybe", "null", "~", "''", '""', "x",
    "'quoted'", '"esc\\x00aped"', '"a\\nb"', "é", "🙂", "relu", "tanh", "mlp", "nature_cnn", "huber", "sync", "async",
    "tf", "envpool", "gpu", "2001-12-14", "2001-02-30", "12:30", "0x1F", "0o17", "017", "1_000", "=",
    "!!binary aGVsbG8=", "!!str 5", "!!int 5", "!!float 1", "!!bool yes", "!!null ''", "!!timestamp 2001-12-14",
    "!foo bar",
    "!!python/object:os.system", "!!python/name:os.system", "!!python/object/apply:os.system ['true']",
    "!!python/tuple [1, 2]", "!<tag:yaml.org,2002:int> 3", "!!set {a, b}", "!!omap [a: 1]", "!!int x",
    "!!float x", "!!bool x", "!!timestamp x", "!!timestamp 2001-13-45", "!!binary x", "!!map [1]", "!!seq {a: 1}",
    "*undefined", "'" + "x" * 1000 + "'", "y" * 5000, "1" * 5000, "CartPole-v1", "dqn", "[8, 8]", "{}", "[]",
)
"""Plain, quoted and tagged YAML scalars (and a few flow collections), valid and not."""

SETTING_KEYS = tuple(sorted(CHEAP))
YAML_KEYS = (*SETTING_KEYS, *SETTING_KEYS, "learnin_rate", "agent", "Learning_Rate", "''", "seed ", "1", "~", "<<",
             "é", "x" * 300, "? complex", "[a, b]", "{a: 1}", "- item", "key with space", "'learning_rate'",
             '"gamma"', "!!str gamma", "*k", "&k gamma", "1.5", "null", "true")


def _bomb(depth: int, width: int) -> str:
    """A "billion laughs" list: ``width**depth`` leaves through anchors and aliases (kept small)."""
    parts = [f"&a0 [{', '.join(['8'] * width)}]"]
    for level in range(1, depth):
        parts.append(f"&a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    return f"[{', '.join(parts)}]"


def _nested(depth: int, lists: bool) -> str:
    """``depth`` nested flow lists (``[[[]]]``) or mappings (``{a: {a: 1}}``)."""
    return "[" * depth + "]" * depth if lists else "{a: " * depth + "1" + "}" * depth


def yaml_values(depth: int = 2) -> st.SearchStrategy[str]:
    """A YAML value in flow style: a scalar, a list, a mapping, an anchor, an alias or a small alias bomb."""
    scalar = st.sampled_from(YAML_SCALARS)
    if depth == 0:
        return scalar
    inner = yaml_values(depth - 1)
    return st.one_of(
        *[scalar] * 12,
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(st.sampled_from(YAML_KEYS[-20:] + SETTING_KEYS[:5]), inner), max_size=3).map(
            lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"),
        st.builds(lambda v: f"&a {v}", inner),
        st.builds(_bomb, st.integers(1, 4), st.integers(1, 6)),
        st.builds(_nested, st.sampled_from([1, 5, 20, 60, 200, 1100]), st.booleans()),
        st.builds(lambda v: "\n  - " + v + "\n  - " + v, scalar),  # a block list
    )


BROKEN_DOCS = (
    "learning_rate: [0.1\n", "a:\n\tb: 1\n", "a: b: c\n", "key: 'unclosed\n", "%YAML 9.9\n---\na: 1\n",
    "%TAG ! tag:x,2000:\n---\na: !y 1\n", "a: 1\n---\nb: 2\n", "---\n...\n", "# only a comment\n", "", "---\n",
    "base: &b {learning_rate: 0.1}\n<<: *b\n", "<<: {learning_rate: 0.1}\n", "<<: 5\n", "<<: [*x]\n",
    "? [a, b]\n: 1\n", "{learning_rate: 0.1}", "- learning_rate\n- 0.1\n", "42\n", "'just a string'\n", "!!set {a}\n",
    "learning_rate: 0.1\nlearning_rate: 0.2\n", "learning_rate: &x 0.1\ngamma: *x\n", "&a [*a]\n", "*a\n",
    "a: &a [*a]\n", "\ufefflearning_rate: 0.1\n", "learning_rate: 0.1\x00\n", "learning_rate: 0.1\r\ngamma: 0.9\r\n",
    "learning_rate:\n  - 1\n  - 2\n", "  learning_rate: 0.1\n gamma: 0.9\n", "@reserved\n", "`reserved\n",
)
"""Whole documents: syntax errors, directives, several documents, merge keys, non-mapping tops, BOM, NUL, CRLF."""


def _entry(key: str) -> st.SearchStrategy[tuple[str, str]]:
    """``(key, value)``: for a setting, a cheap value of it three times in four; else any YAML value."""
    values = [yaml_values()] + ([st.sampled_from(CHEAP[key])] * 3 if key in CHEAP else [])
    return st.tuples(st.just(key), st.one_of(*values))


@st.composite
def yaml_mapping(draw, keys=YAML_KEYS, max_entries: int = 6) -> str:
    """A block mapping of ``key: value`` lines, keys repeated sometimes (duplicate keys)."""
    entries = draw(st.lists(st.sampled_from(keys).flatmap(_entry), min_size=1, max_size=max_entries,
                            unique_by=lambda kv: kv[0]))
    if entries and draw(st.integers(0, 9)) == 0:
        entries.append(entries[0])
    return "".join(f"{k}: {v}\n" for k, v in entries)


@st.composite
def anchored_mapping(draw) -> str:
    """Two settings, the second an alias of the first (``gamma: &a 0.9`` then ``tau: *a``), or an alias bomb
    under a real key."""
    first, second = draw(st.sampled_from(SETTING_KEYS)), draw(st.sampled_from(SETTING_KEYS))
    if draw(st.booleans()):
        return f"{first}: {_bomb(draw(st.integers(1, 5)), draw(st.integers(1, 8)))}\n"
    value = draw(st.one_of(st.sampled_from(CHEAP[first]), yaml_values(1)))
    return f"{first}: &a {value}\n{second}: *a\n"


@st.composite
def encode(draw, text: str) -> bytes:
    """``text`` as UTF-8, or damaged: invalid bytes inserted, UTF-16, a very long line, no final newline."""
    data = text.encode("utf-8")
    how = draw(st.sampled_from(["utf8"] * 40 + ["bad-bytes", "utf16", "long-line", "strip", "latin1"]))
    if how == "bad-bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80\x80"])) + data[at:]
    elif how == "utf16":
        data = text.encode("utf-16")
    elif how == "long-line":
        data += b"learning_rate: " + b"1" * 200_000 + b"\n"
    elif how == "strip":
        data = data.rstrip(b"\n")
    elif how == "latin1":
        data = text.encode("utf-8", "replace").decode("utf-8").encode("latin-1", "replace") + b"key: \xe9\n"
    return data


@st.composite
def config_document(draw) -> bytes:
    """A ``--config`` file: a mapping of settings (often all real, with cheap values), of any keys, anchors and
    aliases between entries, a broken or odd document, or a bare value."""
    text = draw(st.one_of(
        *[yaml_mapping(SETTING_KEYS, 4)] * 4, *[yaml_mapping()] * 2, anchored_mapping(), anchored_mapping(),
        st.sampled_from(BROKEN_DOCS), yaml_values().map(lambda v: v + "\n")))
    return draw(encode(text))


SWEEP_VALUES = {
    "algo": ("dqn", "ppo", "a2c", "reinforce", "dqm", "", "[dqn]", "~", "1"),
    "env": ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "CartPol-v1", "", "no_such_pkg:X-v0", "Blackjack-v1", "{}"),
    "seeds": ("[0]", "[0, 1]", "3", "[1, 1]", "[]", "x", f"[{2**70}]", "[-1]", "[true]", "[0.5]", "{}", "~"),
    "target_return": ("100", ".nan", "x", "~", "[1]"),
    "scheduler": ("asha", "none", "{type: asha, grace_period: 5}", "{type: asha, grace_period: 0}", "bogus", "5",
                  "{type: asha, reduction_factor: .nan}", "{type: asha, grace_period: .inf}", "{tipe: asha}", "[]"),
    "resources": ("{cpu: 1}", "{cpu: 0}", "{gpu: -1}", "{tpu: 1}", "{cpu: .nan}", "{cpu: x}", "{cpu: 1e400}", "[]",
                  "{cpu: 0.5, gpu: 0}", f"{{cpu: {10**30}}}"),
    "preset": ("true", "false", "maybe", "~", "[]"),
}
DISTRIBUTIONS = ("uniform", "quniform", "loguniform", "qloguniform", "randint", "qrandint", "lograndint", "randn",
                 "choice", "normal", "")
DIST_ARGS = ("[1e-4, 1e-2]", "[0, 1, 0.1]", "[1, 10]", "[1, 10, 2]", "[]", "[1]", "[10, 1]", "[0, 1]", "[.nan, 1]",
             "[-1, 1]", "x", "[relu, tanh]", "[[8], [16, 16]]", "[0, 0]", f"[1, {10**30}]")


@st.composite
def sweep_section(draw, key: str) -> str:
    """The value of one key of a sweep file."""
    if key in ("algo", "env"):
        valid = ALGOS if key == "algo" else ENVS
        return draw(st.one_of(*[st.sampled_from(valid)] * 8, st.sampled_from(SWEEP_VALUES[key]), yaml_values(1)))
    if key in SWEEP_VALUES:
        return draw(st.one_of(*[st.sampled_from(SWEEP_VALUES[key])] * 4, yaml_values(1)))
    setting = st.sampled_from(SETTING_KEYS + ("seed", "learnin_rate"))
    cheap_value = setting.flatmap(lambda k: st.sampled_from(CHEAP.get(k, ("1",))))
    if key == "settings":
        pairs = draw(st.lists(st.tuples(setting, st.one_of(cheap_value, yaml_values(1))), max_size=3))
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    if key == "grid":
        pairs = draw(st.lists(st.tuples(setting, st.one_of(
            st.lists(st.one_of(cheap_value, yaml_values(0)), max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
            yaml_values(1))), max_size=2))
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    if key == "random":
        space = draw(st.lists(st.tuples(setting, st.sampled_from(DISTRIBUTIONS), st.sampled_from(DIST_ARGS)),
                              max_size=2))
        parts = [f"num_samples: {draw(st.sampled_from(['1', '2', '0', '-1', 'x', '1.5', str(10**30)]))}"]
        if draw(st.booleans()):
            parts.append(f"seed: {draw(st.sampled_from(['0', '-1', 'x', str(2**70), '[]']))}")
        if draw(st.integers(0, 9)) > 0:
            parts.append("space: {" + ", ".join(f"{k}: {{{d}: {a}}}" if d else f"{k}: {a}" for k, d, a in space) + "}")
        if draw(st.integers(0, 9)) == 0:
            parts.append("extra: 1")
        return "{" + ", ".join(parts) + "}"
    return draw(yaml_values(1))


SWEEP_KEYS = ("algo", "env", "seeds", "settings", "grid", "random", "target_return", "scheduler", "resources",
              "preset", "gird", "name", "<<")


@st.composite
def sweep_document(draw) -> bytes:
    """A sweep file: a mapping of sweep keys (algo and env usually present), or an odd document."""
    if draw(st.integers(0, 7)) == 0:
        return draw(config_document())
    keys = ["algo", "env"] if draw(st.integers(0, 9)) else []
    keys += draw(st.lists(st.sampled_from(SWEEP_KEYS[2:]), max_size=4, unique=True))
    if keys and draw(st.integers(0, 9)) == 0:
        keys.append(keys[0])  # a duplicate key
    text = "".join(f"{k}: {draw(sweep_section(k))}\n" for k in keys)
    return draw(encode(text))


config_files = st.builds(File, st.just("settings.yaml"), config_document())
sweep_files = st.builds(File, st.sampled_from(["sweep.yaml", "my sweep.yml", "ü.yaml"]), sweep_document())

# --------------------------------------------------------------------------- run directories


@st.composite
def runs(draw, p_finished: float = 0.4) -> Run:
    """A run directory: the finished run (copy) with probability ``p_finished``, else a damaged or missing one."""
    if draw(st.floats(0, 1)) < p_finished:
        return Run("finished")
    kind = draw(st.sampled_from(RUN_KINDS[1:]))
    if kind == "edited":
        value = draw(st.one_of(st.none(), st.sampled_from(YAML_SCALARS), st.sampled_from(
            ("dqm", "NoSuchEnv-v0", "no_such_pkg:X", "os:system", "factory", "class", "[]", "{}", "lots", "-1"))))
        return Run(kind, (draw(st.integers(0, 70)), value))
    if kind == "rewritten":
        return Run(kind, (draw(config_document()),))
    if kind == "truncated":
        return Run(kind, (draw(st.integers(0, 1200)),))
    return Run(kind)


# --------------------------------------------------------------------------- command lines

TRAIN_VALID_STEPS = ("1", "2", "50", "200", "300", " 7", "+3", "٣")


def train_options(algo_env_given: bool) -> st.SearchStrategy[list]:
    """One option of ``tfrl train`` (a list of argv words)."""
    return st.one_of(
        flag_value("--steps", _pick(TRAIN_VALID_STEPS, INTS, 0.5)),
        flag_value("--seed", _pick(("0", "1", "4294967295"), ("-1", str(2**64), "4294967296", "x", "1.0"))),
        st.builds(lambda s: ["--seeds", *s], st.lists(_pick(("0", "1", "2"), ("-1", str(2**64), "x", "0")),
                                                      max_size=3)),
        flag_value("--num-envs", _pick(("1", "2"), ("0", "-3", "3", "64", str(10**30), "x"), 0.5)),
        flag_value("--backend", _pick(("sync", "async", "tf"), ("envpool", "gpu", "", "SYNC", "tf "), 0.5)),
        assignment(), assignment(), assignment(),
        st.builds(lambda f: ["--config", f], config_files),
        st.builds(lambda r: ["--run-dir", r], st.one_of(_rel_paths("new-run", "runs/x"), runs(0.3))),
        st.sampled_from([["--no-preset"], ["--deterministic"], ["--no-save-replay"], ["--trust-run"]]),
        st.builds(lambda r: ["--resume", r], runs()) if algo_env_given else st.nothing(),
        junk_flag,
    )


@st.composite
def train_argv(draw) -> dict:
    """``tfrl train ALGO ENV [options]`` (ALGO or ENV sometimes missing), or ``tfrl train --resume RUN``."""
    if draw(st.integers(0, 4)) == 0:
        argv = ["train", "--resume", draw(runs(0.5))]
        extra = draw(st.lists(st.one_of(flag_value("--steps", _pick(("300", "301", "310"), INTS, 0.6)),
                                        st.just(["--trust-run"]), assignment(), junk_flag,
                                        st.builds(lambda a: [a], algos)), max_size=2))
        return {"argv": argv + [w for opt in extra for w in opt], "new_run": False}
    algo = draw(st.one_of(*[algos] * 9, st.none()))
    env = draw(st.one_of(*[envs] * 9, st.none())) if algo is not None else None
    options = draw(st.lists(train_options(algo is not None and env is not None), max_size=4))
    positional = [w for w in (algo, env) if w is not None]
    return {"argv": ["train", *positional, *[w for opt in options for w in opt]],
            "new_run": algo is not None and env is not None}


EPISODES = _pick(("1", "2"), ("0", "-1", str(10**30), "x", "1.5", "", "1_000", "٣"), 0.5)


@st.composite
def playback_argv(draw) -> dict:
    """``tfrl eval|watch|export RUN [options]``."""
    command = draw(st.sampled_from(["eval", "eval", "watch", "export", "export"]))
    argv = [command]
    if draw(st.integers(0, 9)):
        argv.append(draw(runs(0.5)))
    if command == "eval":
        options = st.one_of(flag_value("--episodes", EPISODES), flag_value("--seed", st.sampled_from(INTS + ("5",))),
                            st.sampled_from([["--video"], ["--no-safe-mode"], ["--trust-run"]]), junk_flag)
    elif command == "watch":
        options = st.one_of(flag_value("--episodes", EPISODES), flag_value("--seed", st.sampled_from(INTS + ("5",))),
                            st.builds(lambda p: ["--out", p], _rel_paths("v.mp4", "v.gif", "v.txt", "v", "d/")),
                            st.sampled_from([["--no-safe-mode"], ["--trust-run"]]), junk_flag)
    else:
        options = st.one_of(
            flag_value("--format", _pick(("saved_model", "tflite"), ("onnx", "", "SavedModel", "tflite ", "keras"))),
            st.builds(lambda p: ["--out", p], _rel_paths("m", "m.tflite", "exists")),
            st.sampled_from([["--no-check"], ["--no-safe-mode"], ["--trust-run"]]), junk_flag)
    extra = draw(st.lists(options, max_size=3))
    return {"argv": argv + [w for opt in extra for w in opt], "new_run": False}


@st.composite
def other_argv(draw) -> dict:
    """``tfrl plot|params|envs|sweep ...``, typos of the subcommand, and nothing at all."""
    command = draw(st.sampled_from(["plot", "plot", "params", "params", "envs", "sweep", "sweep", "sweep", "typo"]))
    if command == "plot":
        argv = ["plot", *draw(st.lists(runs(0.6), max_size=3))]
        options = st.one_of(st.builds(lambda p: ["--out", p], _rel_paths("f.png", "f.svg", "f.pdf", "f.txt", "f")),
                            flag_value("--x", st.sampled_from(("steps", "time", "both", "wall", ""))),
                            flag_value("--label", st.sampled_from(("a", "", "ü", "x" * 300))),
                            flag_value("--title", st.sampled_from(("t", "", "$\\frac{1", "a\nb", "%s %d"))),
                            junk_flag)
    elif command == "params":
        argv = ["params", *draw(st.lists(st.one_of(algos, envs), max_size=3))]
        options = junk_flag
    elif command == "envs":
        argv = ["envs", *draw(st.lists(st.sampled_from(("Cart", "", "🙂", "[", "*", "v1", "x" * 300)), max_size=2))]
        options = junk_flag
    elif command == "sweep":
        argv = ["sweep"]
        if draw(st.integers(0, 9)):
            argv.append(draw(st.one_of(sweep_files, sweep_files, sweep_files, st.builds(Rel, st.just("missing.yaml")),
                                       runs(0.5))))
        options = st.one_of(st.builds(lambda p: ["--out", p], st.one_of(_rel_paths("sw", "old-sweep", "bad-sweep"),
                                                                         runs(0.2))),
                            flag_value("--address", st.sampled_from(("", "x:1", "auto", "localhost:1", "🙂"))),
                            st.just(["--resume"]),
                            flag_value("--max-concurrent", st.sampled_from(("1", "2", "0", "-1", "x", str(10**30)))),
                            junk_flag)
    else:
        argv = draw(st.lists(st.sampled_from(BAD_SUBCOMMANDS), max_size=2))
        options = st.one_of(junk_flag, st.builds(lambda a: [a], algos), st.builds(lambda e: [e], envs))
    extra = draw(st.lists(options, max_size=3))
    return {"argv": argv + [w for opt in extra for w in opt], "new_run": False}


command_lines = st.one_of(train_argv(), train_argv(), train_argv(), playback_argv(), playback_argv(), other_argv(),
                          other_argv())
"""Any ``tfrl`` command line: ``{"argv": [...], "new_run": bool}`` (``new_run``: a train of a new run)."""


@st.composite
def yaml_command_lines(draw) -> dict:
    """``tfrl train ALGO ENV --config FILE`` (a valid ALGO and ENV) or ``tfrl sweep FILE``."""
    if draw(st.integers(0, 2)):
        algo, env = draw(st.sampled_from(ALGOS)), draw(st.sampled_from(ENVS))
        return {"argv": ["train", algo, env, "--config", draw(config_files)], "new_run": True}
    return {"argv": ["sweep", draw(sweep_files)], "new_run": False}
