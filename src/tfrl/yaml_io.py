"""Reading YAML from users: config and sweep files, ``--set`` values, a run's ``config.yaml``.

Every reader goes through ``safe_yaml``: YAML's safe loader (plain values only) within limits of size, nesting and
alias expansion, refusing a key given twice. A value the safe loader cannot build (``!!int x``, ``!!bool x``, the
impossible date ``2001-02-30``, an integer of thousands of digits, base64 that is not) raises ``YamlValueError``,
which says where the value is, rather than the ``ValueError``, ``KeyError`` or ``AttributeError`` of PyYAML's
constructors. Values quoted in error messages are cut short (``brief``), so that no message embeds a huge value.
"""

from __future__ import annotations

import os
import reprlib
from pathlib import Path
from typing import Any

import yaml

from tfrl.errors import ConfigError

__all__ = ["brief", "safe_yaml", "read_yaml_file", "load_yaml", "YamlRefused", "YamlValueError", "MAX_YAML_BYTES",
           "MAX_YAML_VALUES", "MAX_YAML_DEPTH", "MAX_NUMBER_CHARS"]

MAX_YAML_BYTES = 1 << 20
"""Largest YAML text tfrl reads from a user (a config or sweep file, a run's config.yaml, a --set value): 1 MiB."""
MAX_YAML_VALUES = 100_000
"""Most values (nodes) a YAML document may hold once its aliases are expanded: a "billion laughs" file of a few
hundred bytes, whose aliases nest nine deep, would otherwise expand to hundreds of millions."""
MAX_YAML_DEPTH = 50
"""Deepest nesting of lists and mappings in a YAML document."""
MAX_NUMBER_CHARS = 1000
"""Longest integer a YAML text may write, in characters. Longer ones are refused before they are built: Python
refuses decimal integers of more than 4300 digits, and a sexagesimal one (``1:2:3:...``) takes time that grows with
the square of its length."""

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 12
_REPR.maxlevel = 3

_TAG = "tag:yaml.org,2002:"
_KINDS = {"int": "an integer", "float": "a number", "bool": "true or false", "timestamp": "a date",
          "binary": "base64 data", "set": "a set", "omap": "an ordered mapping", "pairs": "pairs", "map": "a mapping",
          "seq": "a list", "str": "text", "null": "null"}
"""What a value of each YAML tag (``!!int`` and ``tag:yaml.org,2002:int``) must be, for error messages."""


def brief(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for an error message: at most ``limit`` characters, computed without expanding big values."""
    try:
        text = _REPR.repr(value)
    except ValueError:  # an integer of more than 4300 digits (Python refuses to convert it to text)
        text = f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class YamlRefused(yaml.YAMLError):
    """A YAML text refused by ``safe_yaml``: too large, nested too deeply, aliases that expand too far, or a key
    given twice. Its message completes a sentence that starts with what the text is (``config file 'x.yaml' ...``)."""


class YamlValueError(YamlRefused):
    """A value that YAML's safe loader cannot build: a malformed tagged or implicitly typed scalar (``!!int x``,
    ``!!bool x``, ``!!timestamp x``, the date ``2001-02-30``, an integer longer than ``MAX_NUMBER_CHARS``, bad
    base64), an unhashable key or a bad merge (``<<``).

    ``line`` and ``column`` (from 1) say where the value starts, ``reason`` what is wrong with it (``cannot be read
    as an integer (...)``) and ``fix`` what to write instead."""

    def __init__(self, mark: Any, problem: str, kind: str = "",
                 fix: str = "write a plain number, true/false, or text in quotes") -> None:
        self.line, self.column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        self.reason = f"cannot be read{f' as {kind}' if kind else ''} ({problem})"
        self.fix = fix
        where = f" at line {self.line}, column {self.column}" if mark is not None else ""
        super().__init__(f"is not valid YAML for tfrl: the value{where} {self.reason}; {fix}")


def _unknown_tag(exc: yaml.constructor.ConstructorError) -> bool:
    return (exc.problem or "").startswith("could not determine a constructor")


def _value_error(exc: Exception, node: yaml.Node, named: bool = True) -> YamlValueError:
    """``exc``, raised while building ``node``, as a ``YamlValueError`` that says where the value is; ``named``:
    the message says what ``node``'s tag asks for (not for an error of one of its children)."""
    tag = node.tag[len(_TAG):] if node.tag.startswith(_TAG) and named else ""
    kind = _KINDS.get(tag, "")
    if isinstance(exc, yaml.MarkedYAMLError):
        return YamlValueError(exc.problem_mark or node.start_mark, _cut(exc.problem or ""), kind)
    if isinstance(exc, (ValueError, ArithmeticError)) and str(exc):  # int('x'), a day out of range, ...
        return YamlValueError(node.start_mark, _cut(str(exc).split("; use sys.set_int_max_str_digits")[0]), kind)
    shown = brief(node.value) if isinstance(node, yaml.ScalarNode) else "it"  # bool_values['x'], a failed match
    return YamlValueError(node.start_mark, f"{shown} is not {kind or 'a value of its tag'}")


def _cut(text: str, limit: int = 160) -> str:
    """The first line of ``text``, at most ``limit`` characters."""
    text = text.split("\n")[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


_CONSTRUCTION_ERRORS = (yaml.constructor.ConstructorError, ValueError, LookupError, AttributeError, ArithmeticError,
                        TypeError)
"""What PyYAML's safe constructors raise for a value they cannot build (``int('x')``, ``bool_values['x']``, ...)."""


class _BoundedSafeLoader(yaml.SafeLoader):
    """YAML's safe loader (plain values only), refusing duplicate keys, documents that expand too far and values it
    cannot build (``YamlValueError``, with the value's position)."""

    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node)
        try:
            return super().construct_document(node)
        except YamlRefused:
            raise
        except _CONSTRUCTION_ERRORS as exc:  # the items of mappings, sets and lists are built here, after
            if isinstance(exc, yaml.constructor.ConstructorError) and _unknown_tag(exc):  # construct_object
                raise
            raise _value_error(exc, node, named=False) from None

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.tag == _TAG + "int" and len(node.value) > MAX_NUMBER_CHARS:
            raise YamlValueError(node.start_mark, f"it has {len(node.value):,} characters, more than the "
                                                  f"{MAX_NUMBER_CHARS:,} tfrl reads", _KINDS["int"],
                                 fix="write a shorter number")
        try:
            return super().construct_object(node, deep=deep)
        except YamlRefused:
            raise
        except _CONSTRUCTION_ERRORS as exc:
            if isinstance(exc, yaml.constructor.ConstructorError) and _unknown_tag(exc):
                raise
            raise _value_error(exc, node) from None

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key, line = self.construct_object(key_node), key_node.start_mark.line + 1
                if key in seen:
                    raise YamlRefused(f"has the key {brief(key)} twice (lines {seen[key]} and {line}); keep one")
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a composed document whose values, aliases expanded, number over ``MAX_YAML_VALUES`` or nest deeper
    than ``MAX_YAML_DEPTH`` (or an alias inside its own anchor). Shared nodes are counted once per use, in
    linear time."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    aliased = []  # nodes met again: aliases

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            aliased.append(key)
            return sizes[key]
        if key in active:
            raise YamlRefused("uses an alias inside its own anchor (a recursive value); write the values out")
        if depth > MAX_YAML_DEPTH:
            raise YamlRefused(f"nests lists or mappings more than {MAX_YAML_DEPTH} deep; a config holds flat settings")
        active.add(key)
        children = node.value if isinstance(node, yaml.SequenceNode) else (
            [item for pair in node.value for item in pair] if isinstance(node, yaml.MappingNode) else [])
        total = 1
        for child in children:
            total += size(child, depth + 1)
            if total > MAX_YAML_VALUES:
                raise YamlRefused(f"expands to more than {MAX_YAML_VALUES:,} values through its aliases (*name); write "
                                  f"the settings out without nested aliases" if aliased else
                                  f"holds more than {MAX_YAML_VALUES:,} values; a config holds a few settings")
        active.discard(key)
        sizes[key] = total
        return total

    size(root, 0)


def safe_yaml(text: str) -> Any:
    """``yaml.safe_load(text)`` within limits: at most ``MAX_YAML_BYTES``, no key twice in a mapping, at most
    ``MAX_YAML_VALUES`` values with aliases expanded, ``MAX_YAML_DEPTH`` levels. Refusals raise ``YamlRefused``,
    a value the safe loader cannot build ``YamlValueError`` (a ``YamlRefused``), syntax errors and unknown tags
    ``yaml.YAMLError``: nothing else."""
    if len(text) > MAX_YAML_BYTES:
        raise YamlRefused(f"is {len(text):,} characters long, more than the {MAX_YAML_BYTES:,} tfrl reads; give "
                          f"a few settings")
    try:
        return yaml.load(text, Loader=_BoundedSafeLoader)  # a SafeLoader: plain values only
    except RecursionError:
        raise YamlRefused(f"nests lists or mappings more than {MAX_YAML_DEPTH} deep; a config holds flat "
                          f"settings") from None


def read_yaml_file(path: str | Path) -> Any:
    """The YAML document of the file ``path``, read with ``safe_yaml`` (a run's ``config.yaml``).

    Raises ``YamlRefused`` for a file over ``MAX_YAML_BYTES`` (read no further), ``yaml.YAMLError`` for a text
    ``safe_yaml`` refuses, ``UnicodeDecodeError`` for one that is not UTF-8 and ``OSError`` for one that cannot be
    read."""
    with Path(path).open("rb") as file:  # never more than the limit: the file may be huge, or growing
        raw = file.read(MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        raise YamlRefused(f"is larger than {MAX_YAML_BYTES // 1024:,} KiB")
    return safe_yaml(raw.decode("utf-8"))


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with the safe loader, within ``safe_yaml``'s limits; a missing, oversized or malformed
    file, a value the safe loader cannot build, or a key given twice, raises ConfigError."""
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"a config file must be given as a path, got {type(path).__name__} {brief(path)}; "
                          f"pass settings themselves as keyword arguments or overrides={{...}}")
    path = Path(path)
    name = f"config file {str(path)!r}"
    if not path.is_file():
        raise ConfigError(f"{name} does not exist; give the path of a YAML file")
    with path.open("rb") as file:  # never more than the limit: the file may be huge, or growing
        raw = file.read(MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{name} is larger than {MAX_YAML_BYTES // 1024:,} KiB; a config file holds a few "
                          f"settings (key: value lines), so give the right file")
    try:
        data = safe_yaml(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{name} is not a UTF-8 text file; give the path of a YAML file") from None
    except YamlRefused as exc:  # YamlValueError too: "is not valid YAML for tfrl: the value at line ..."
        raise ConfigError(f"{name} {exc}") from None
    except yaml.constructor.ConstructorError as exc:
        if not _unknown_tag(exc):
            raise ConfigError(f"{name} is not valid YAML for tfrl ({_cut(exc.problem or str(exc))}); write "
                              f"plain values: numbers, true/false, text, lists and mappings") from None
        tag = exc.problem.split("tag ")[-1].replace(_TAG, "!!")
        raise ConfigError(
            f"{name} is not valid YAML for tfrl: the tag {tag[:80]} is refused; config files are read "
            f"with YAML's safe loader, which builds plain values only (numbers, strings, lists, mappings), "
            f"so remove the tag"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{name} is not valid YAML ({where}{problem[:120]}); fix its syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name} must hold a mapping of key: value, not {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(f"{name} has the key {brief(key)}, which is not a setting name; "
                              f"keys are names such as learning_rate")
    return data
