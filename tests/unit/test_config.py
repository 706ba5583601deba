"""Tests of tfrl.config: field docs, coercion of command-line strings, overrides and YAML presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, Optional

import pytest

from tfrl.agents.dqn import DQNConfig
from tfrl.config import apply_overrides, coerce, describe, field_docs, load_yaml, parse_assignments, to_dict
from tfrl.errors import ConfigError

DQN_FIELDS = [f.name for f in dataclasses.fields(DQNConfig)]


@dataclass(frozen=True)
class _Base:
    """A base config for the docstring-inheritance test."""

    alpha: int = 1
    """Alpha,
    written over
       three lines."""
    undocumented: int = 2
    beta: float = 0.5
    """Beta."""


@dataclass(frozen=True)
class _Child(_Base):
    gamma: str = "x"
    """Gamma of the child."""
    beta: float = 0.25
    """Beta, redocumented by the child."""


# --------------------------------------------------------------------------- field_docs


def test_every_dqn_field_has_a_docstring():
    docs = field_docs(DQNConfig)
    assert set(docs) == set(DQN_FIELDS)
    for name in DQN_FIELDS:
        assert docs[name].strip(), f"DQNConfig.{name} has no docstring"


def test_field_docs_exact_text():
    docs = field_docs(DQNConfig)
    assert docs["gamma"] == "Discount factor."
    assert docs["learning_rate"] == "Adam step size."


def test_field_docs_collapse_whitespace_skip_undocumented_and_inherit():
    base = field_docs(_Base)
    assert base == {"alpha": "Alpha, written over three lines.", "beta": "Beta."}
    child = field_docs(_Child)
    assert child["alpha"] == "Alpha, written over three lines."  # inherited
    assert child["gamma"] == "Gamma of the child."
    assert child["beta"] == "Beta, redocumented by the child."  # the subclass wins
    assert "undocumented" not in child


def test_describe_lists_every_field_with_default_and_doc():
    text = describe(DQNConfig)
    for name in DQN_FIELDS:
        assert f"  {name} = " in text
    assert "gamma = 0.99" in text and "Discount factor." in text
    assert "hidden_sizes = (256, 256)" in text


def test_to_dict_turns_tuples_into_lists():
    d = to_dict(DQNConfig(hidden_sizes=(32, 16)))
    assert list(d) == DQN_FIELDS
    assert d["hidden_sizes"] == [32, 16] and isinstance(d["hidden_sizes"], list)
    assert d["gamma"] == 0.99 and d["max_grad_norm"] == 10.0


# --------------------------------------------------------------------------- coerce


@pytest.mark.parametrize(
    "value, expected",
    [("1e-3", 1e-3), ("0.5", 0.5), ("3", 3.0), (2, 2.0), (0.25, 0.25), ("-1E2", -100.0)],
)
def test_coerce_float(value, expected):
    out = coerce(value, float, "lr")
    assert out == expected and type(out) is float


@pytest.mark.parametrize("value", ["abc", "", True, None, [1.0]])
def test_coerce_float_refuses(value):
    with pytest.raises(ConfigError, match="lr: expected a number"):
        coerce(value, float, "lr")


@pytest.mark.parametrize(
    "value, expected", [("64", 64), (64, 64), ("1e3", 1000), ("1_000", 1000), (3.0, 3), ("-2", -2)]
)
def test_coerce_int(value, expected):
    out = coerce(value, int, "batch_size")
    assert out == expected and type(out) is int


@pytest.mark.parametrize("value", ["64.5", 2.5, "abc", True, False, "inf", "nan", None])
def test_coerce_int_refuses(value):
    with pytest.raises(ConfigError, match="batch_size: expected an integer"):
        coerce(value, int, "batch_size")


def test_coerce_large_int_string_is_exact():
    assert coerce("9007199254740993", int, "seed") == 9007199254740993


@pytest.mark.parametrize(
    "value, expected",
    [("true", True), ("True", True), ("yes", True), ("1", True), ("on", True),
     ("false", False), ("FALSE", False), ("no", False), ("0", False), ("off", False),
     (True, True), (False, False)],
)
def test_coerce_bool(value, expected):
    assert coerce(value, bool, "dueling") is expected


@pytest.mark.parametrize("value", ["maybe", "", "2", 1, 0, None])
def test_coerce_bool_refuses(value):
    with pytest.raises(ConfigError, match="dueling: expected true or false"):
        coerce(value, bool, "dueling")


def test_coerce_str():
    assert coerce("adam", str, "name") == "adam"
    assert coerce(3, str, "name") == "3"
    with pytest.raises(ConfigError, match="name: expected a string"):
        coerce([1, 2], str, "name")


def test_coerce_literal():
    annotation = Literal["huber", "mse"]
    assert coerce("mse", annotation, "loss") == "mse"
    assert coerce("huber", annotation, "loss") == "huber"
    with pytest.raises(ConfigError, match="loss: 'l1' is not one of 'huber', 'mse'"):
        coerce("l1", annotation, "loss")
    with pytest.raises(ConfigError):
        coerce("MSE", annotation, "loss")  # case matters: the value is stored as given


def test_coerce_literal_of_ints_from_string():
    assert coerce("2", Literal[1, 2], "k") == 2
    assert type(coerce("2", Literal[1, 2], "k")) is int
    with pytest.raises(ConfigError):
        coerce("3", Literal[1, 2], "k")


@pytest.mark.parametrize(
    "value, expected",
    [("[64,64]", (64, 64)), ("[64, 32]", (64, 32)), ("64,64", (64, 64)), (" 8 , 4 ", (8, 4)),
     ("16", (16,)), ("[]", ()), ([32, 32], (32, 32)), ((1, 2, 3), (1, 2, 3)), (["8", "4"], (8, 4))],
)
def test_coerce_tuple_of_ints(value, expected):
    out = coerce(value, tuple[int, ...], "hidden_sizes")
    assert out == expected and type(out) is tuple
    assert all(type(v) is int for v in out)


@pytest.mark.parametrize("value", ["[64, 6.5]", "a,b", 64, "{a: 1}"])
def test_coerce_tuple_refuses(value):
    with pytest.raises(ConfigError, match="hidden_sizes"):
        coerce(value, tuple[int, ...], "hidden_sizes")


def test_coerce_tuple_in_parentheses():
    assert coerce("(8, 4)", tuple[int, ...], "hidden_sizes") == (8, 4)


def test_coerce_list_stays_a_list():
    assert coerce("1,2", list[int], "k") == [1, 2]


@pytest.mark.parametrize("annotation", [float | None, Optional[float]])
def test_coerce_optional(annotation):
    for text in ("none", "None", "null", "~"):
        assert coerce(text, annotation, "max_grad_norm") is None
    assert coerce(None, annotation, "max_grad_norm") is None
    assert coerce("0.5", annotation, "max_grad_norm") == 0.5
    assert coerce(10, annotation, "max_grad_norm") == 10.0
    with pytest.raises(ConfigError, match="max_grad_norm: expected a number"):
        coerce("big", annotation, "max_grad_norm")


def test_coerce_none_refused_without_optional():
    with pytest.raises(ConfigError):
        coerce("none", float, "gamma")


# --------------------------------------------------------------------------- apply_overrides


def test_apply_overrides_coerces_strings_and_copies():
    base = DQNConfig()
    new = apply_overrides(
        base,
        {"learning_rate": "1e-3", "batch_size": "32", "dueling": "true", "hidden_sizes": "64,64",
         "max_grad_norm": "none", "loss": "mse", "gamma": 0.9},
    )
    assert new.learning_rate == 1e-3 and new.batch_size == 32 and new.dueling is True
    assert new.hidden_sizes == (64, 64) and new.max_grad_norm is None and new.loss == "mse"
    assert new.gamma == 0.9
    assert base == DQNConfig()  # the original is untouched
    assert apply_overrides(base, {}) == base


def test_apply_overrides_unknown_key_names_closest_and_lists_valid_keys():
    with pytest.raises(ConfigError) as info:
        apply_overrides(DQNConfig(), {"learning_rat": "0.1"})
    message = str(info.value)
    assert "'learning_rat'" in message
    assert "Did you mean learning_rate" in message
    valid = message.split("Valid keys:")[1]
    for name in DQN_FIELDS:
        assert name in valid


def test_apply_overrides_unknown_key_without_close_match():
    with pytest.raises(ConfigError, match="unknown preset key 'zzzzzz'") as info:
        apply_overrides(DQNConfig(), {"zzzzzz": 1}, what="preset key")
    assert "Did you mean" not in str(info.value)
    assert "Valid keys: adam_epsilon, batch_size, buffer_size" in str(info.value)  # sorted


@pytest.mark.parametrize(
    "key, value",
    [("batch_size", "sixty-four"), ("learning_rate", "fast"), ("dueling", "maybe"),
     ("hidden_sizes", "[a, b]"), ("loss", "l2"), ("batch_size", "12.5")],
)
def test_apply_overrides_wrong_type_names_key(key, value):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        apply_overrides(DQNConfig(), {key: value})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"gamma": "1.5"}, "gamma must lie in"),
        ({"gamma": -0.1}, "gamma must lie in"),
        ({"tau": "0"}, "tau must lie in"),
        ({"tau": 1.5}, "tau must lie in"),
        ({"learning_rate": 0}, "learning_rate must be > 0"),
        ({"learning_rate": "nan"}, "learning_rate: expected a finite number"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"batch_size": 128, "buffer_size": 64}, "buffer_size must be >= batch_size"),
        ({"n_step": 0}, "n_step must be >= 1"),
        ({"train_freq": 0}, "train_freq must be >= 1"),
        ({"gradient_steps": 0}, "gradient_steps must be >= 1"),
        ({"target_update_interval": 0}, "target_update_interval must be >= 1"),
        ({"learning_starts": -1}, "learning_starts must be >= 0"),
        ({"hidden_sizes": "[]"}, "hidden_sizes must be positive"),
        ({"hidden_sizes": "64,0"}, "hidden_sizes must be positive"),
        ({"max_grad_norm": 0}, "max_grad_norm must be > 0"),
        ({"exploration_fraction": 1.1}, "exploration_fraction must lie in"),
        ({"exploration_initial_eps": -0.5}, "exploration_initial_eps must lie in"),
        ({"exploration_final_eps": 2}, "exploration_final_eps must lie in"),
    ],
)
def test_dqn_config_range_checks(overrides, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(DQNConfig(), overrides)


def test_dqn_config_post_init_directly():
    with pytest.raises(ConfigError, match="DQN config: gamma must lie in"):
        DQNConfig(gamma=1.5)
    with pytest.raises(ConfigError, match="DQN config: tau must lie in"):
        DQNConfig(tau=0.0)
    with pytest.raises(ConfigError, match="loss must be"):
        DQNConfig(loss="l1")  # type: ignore[arg-type]
    # the edges of the ranges are allowed
    DQNConfig(gamma=0.0, tau=1.0, exploration_fraction=0.0, max_grad_norm=None)
    DQNConfig(gamma=1.0, batch_size=8, buffer_size=8)


# --------------------------------------------------------------------------- parse_assignments


def test_parse_assignments():
    assert parse_assignments(["learning_rate=1e-3", " gamma = 0.9 ", "hidden_sizes=64,64"]) == {
        "learning_rate": "1e-3",
        "gamma": "0.9",
        "hidden_sizes": "64,64",
    }
    assert parse_assignments(["expr=a=b"]) == {"expr": "a=b"}  # split at the first '='
    assert parse_assignments(["k="]) == {"k": ""}
    assert parse_assignments(["k=1", "k=2"]) == {"k": "2"}  # the last one wins
    assert parse_assignments(None) == {}
    assert parse_assignments([]) == {}


@pytest.mark.parametrize("pair", ["learning_rate", "=0.1", "  =0.1", ""])
def test_parse_assignments_errors(pair):
    with pytest.raises(ConfigError, match="--set expects key=value") as info:
        parse_assignments([pair])
    assert repr(pair) in str(info.value)
    assert "for example --set learning_rate=0.001" in str(info.value)


# --------------------------------------------------------------------------- load_yaml


def test_load_yaml_reads_a_mapping(tmp_path):
    path = tmp_path / "preset.yaml"
    path.write_text("learning_rate: 1.0e-3\nhidden_sizes: [64, 64]\ndueling: true\nmax_grad_norm: null\n")
    assert load_yaml(path) == {"learning_rate": 1e-3, "hidden_sizes": [64, 64], "dueling": True, "max_grad_norm": None}
    assert load_yaml(str(path)) == load_yaml(path)


def test_load_yaml_then_overrides(tmp_path):
    path = tmp_path / "preset.yaml"
    path.write_text("gamma: 0.95\nhidden_sizes: [32]\n")
    config = apply_overrides(DQNConfig(), load_yaml(path))
    assert config.gamma == 0.95 and config.hidden_sizes == (32,)


def test_load_yaml_empty_file_is_empty_mapping(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# only a comment\n")
    assert load_yaml(path) == {}


def test_load_yaml_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_yaml(path)
    assert str(path) in str(info.value)


def test_load_yaml_directory_is_not_a_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path)


def test_load_yaml_malformed(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("gamma: [0.9\nlr: 1\n")
    with pytest.raises(ConfigError, match="is not valid YAML") as info:
        load_yaml(path)
    assert "\n" not in str(info.value)  # one line only


@pytest.mark.parametrize("text, kind", [("- 1\n- 2\n", "list"), ("just a string\n", "str"), ("3\n", "int")])
def test_load_yaml_non_mapping(tmp_path, text, kind):
    path = tmp_path / "list.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"must hold a mapping of key: value, not {kind}"):
        load_yaml(path)


def test_load_yaml_uses_safe_loader(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"x: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(path)
    assert not marker.exists(), "the python/object tag was executed"


# --------------------------------------------------------------------------- the shipped presets

def _shipped_presets() -> list[tuple[str, str, str | None]]:
    from importlib import resources

    from tfrl.agents import ALGORITHMS

    found = []
    for entry in sorted(resources.files("tfrl").joinpath("presets").iterdir(), key=lambda e: e.name):
        stem = entry.name.removesuffix(".yaml")
        algo, _, env = stem.partition("-")
        backend = "tf" if env.endswith("-tf") else None
        found.append((algo if algo in ALGORITHMS else stem, env.removesuffix("-tf"), backend))
    return found


@pytest.mark.parametrize("algo, env_id, backend", _shipped_presets(), ids=lambda v: str(v))
def test_every_shipped_preset_resolves_against_its_algorithms_config(algo, env_id, backend):
    """Each ``<algo>-<env>[-tf].yaml`` names a known algorithm and only fields of its config, with valid values."""
    from tfrl.runs.settings import preset_path, resolve_settings

    settings = resolve_settings(algo, env_id, overrides={"backend": backend} if backend else None)
    assert settings.preset == preset_path(algo, env_id, backend)
