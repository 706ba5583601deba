"""Typed configuration: dataclasses with a docstring per field, checked overrides, YAML presets.

YAML from users (config and sweep files, ``--set`` values, a run's ``config.yaml``) is read by ``safe_yaml``: the
safe loader within limits of size, nesting and alias expansion, refusing a key given twice; values quoted in error
messages are cut short (``brief``), so that no message embeds a huge value.

Every agent has one config dataclass. Each field is followed by a string literal (its docstring);
``field_docs`` reads those back from the source so that the command line's help, the error for an
unknown key and the documentation all come from the one place where the field is declared.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import math
import numbers
import os
import reprlib
import textwrap
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

from tfrl.errors import ConfigError, unknown_name

__all__ = ["field_docs", "coerce", "check_types", "apply_overrides", "parse_assignments", "load_yaml", "to_dict",
           "describe", "brief", "short_name", "safe_yaml", "YamlRefused", "MAX_YAML_BYTES", "MAX_YAML_VALUES"]

C = TypeVar("C")

MAX_YAML_BYTES = 1 << 20
"""Largest YAML text tfrl reads from a user (a config or sweep file, a run's config.yaml, a --set value): 1 MiB."""
MAX_YAML_VALUES = 100_000
"""Most values (nodes) a YAML document may hold once its aliases are expanded: a "billion laughs" file of a few
hundred bytes, whose aliases nest nine deep, would otherwise expand to hundreds of millions."""
MAX_YAML_DEPTH = 50
"""Deepest nesting of lists and mappings in a YAML document."""

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 12
_REPR.maxlevel = 3


def short_name(key: Any, limit: int = 60) -> Any:
    """A key for an "unknown name" message: itself, or its first ``limit`` characters and ``...`` when longer."""
    return key if len(str(key)) <= limit else f"{str(key)[: limit - 3]}..."


def brief(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for an error message: at most ``limit`` characters, computed without expanding big values."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class YamlRefused(yaml.YAMLError):
    """A YAML text refused by ``safe_yaml``: too large, nested too deeply, aliases that expand too far, or a key
    given twice. Its message completes a sentence that starts with what the text is (``config file 'x.yaml' ...``)."""


class _BoundedSafeLoader(yaml.SafeLoader):
    """YAML's safe loader (plain values only), refusing duplicate keys and documents that expand too far."""

    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)

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
    syntax errors ``yaml.YAMLError``."""
    if len(text) > MAX_YAML_BYTES:
        raise YamlRefused(f"is {len(text):,} characters long, more than the {MAX_YAML_BYTES:,} tfrl reads; give "
                          f"a few settings")
    try:
        return yaml.load(text, Loader=_BoundedSafeLoader)  # a SafeLoader: plain values only
    except RecursionError:
        raise YamlRefused(f"nests lists or mappings more than {MAX_YAML_DEPTH} deep; a config holds flat "
                          f"settings") from None


@functools.lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """Map each dataclass field of ``cls`` (and its bases) to the docstring written under it."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, nxt in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert ``value`` (often a string from the command line) to ``annotation``, or raise ConfigError."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "~")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: cannot use {brief(value)}")
    if origin is typing.Literal:
        if isinstance(value, str):
            for arg in args:
                if str(arg) == value:
                    return arg
        if value in args:
            return value
        raise ConfigError(f"{key}: {brief(value)} is not one of {', '.join(map(repr, args))}")
    if origin in (tuple, list):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("(") and text.endswith(")"):
                text = text[1:-1]
            try:
                value = safe_yaml(text if text.startswith("[") else f"[{text}]")
            except YamlRefused as exc:
                raise ConfigError(f"{key}: the value {exc}") from None
            except yaml.YAMLError:
                raise ConfigError(f"{key}: expected a list like [64, 64], got {brief(value)}") from None
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {brief(value)}")
        item_type = args[0] if args else Any
        items = [coerce(v, item_type, key) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is Any:
        if not isinstance(value, str):
            return value
        try:
            return safe_yaml(value)
        except YamlRefused as exc:
            raise ConfigError(f"{key}: the value {exc}") from None
        except yaml.YAMLError:
            raise ConfigError(f"{key}: {brief(value)} is not a YAML value") from None
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {brief(value)}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {brief(value)}")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {brief(value)}") from None
        if not number.is_integer():
            raise ConfigError(f"{key}: expected an integer, got {brief(value)}")
        return int(number)
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {brief(value)}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {brief(value)}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{key}: expected a finite number, got {brief(value)}")
        return number
    if annotation is str:
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{key}: expected a string, got {brief(value)}")
        return str(value)
    return value


def _type_ok(value: Any, annotation: Any) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_type_ok(value, arg) for arg in args)
    if annotation is type(None):
        return value is None
    if origin is typing.Literal:
        return any(type(value) is type(arg) and value == arg for arg in args)
    if origin in (tuple, list):
        item = args[0] if args else Any
        return isinstance(value, (tuple, list)) and all(_type_ok(v, item) for v in value)
    if annotation is bool:
        return isinstance(value, (bool, np.bool_))
    if annotation is int:
        return isinstance(value, numbers.Integral) and not _type_ok(value, bool)
    if annotation is float:
        return isinstance(value, numbers.Real) and not _type_ok(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return True


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(_type_name(arg) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (tuple, list):
        return f"a list of {_type_name(args[0]).split(' ', 1)[-1]}s" if args else "a list"
    names = {type(None): "None", bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def check_types(config: Any, label: str) -> None:
    """Raise ConfigError if a field of dataclass ``config`` holds a value of the wrong type (``__post_init__``).

    Numbers may be Python or NumPy scalars, an int is a valid float, and a list is a valid tuple.
    """
    hints = _hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not _type_ok(value, hints[f.name]):
            raise ConfigError(f"{label}: {f.name} must be {_type_name(hints[f.name])}, got {brief(value)}")


def apply_overrides(config: C, overrides: Mapping[str, Any], what: str = "hyperparameter") -> C:
    """Return a copy of dataclass ``config`` with ``overrides`` applied, each coerced to its field's type.

    An unknown key raises ``ConfigError`` naming the closest keys and listing the valid ones.
    The result is validated by the dataclass's ``__post_init__`` if it has one.
    """
    hints = _hints(type(config))
    names = [f.name for f in dataclasses.fields(config) if f.init]
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            raise ConfigError(unknown_name(what, short_name(key), names))
        changes[key] = coerce(value, hints[key], key)
    try:
        return dataclasses.replace(config, **changes)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(str(exc)) from None


def parse_assignments(pairs: list[str] | None) -> dict[str, str]:
    """Parse ``["key=value", ...]`` from ``--set`` into a dict (values stay strings)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {brief(pair)} (for example --set learning_rate=0.001)")
        out[key.strip()] = value.strip()
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with the safe loader, within ``safe_yaml``'s limits; a missing, oversized or malformed
    file, or a key given twice, raises ConfigError."""
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
    except YamlRefused as exc:
        raise ConfigError(f"{name} {exc}") from None
    except yaml.constructor.ConstructorError as exc:
        tag = exc.problem.split("tag ")[-1].replace("tag:yaml.org,2002:", "!!") if "tag " in (exc.problem or "") else ""
        tag = f" {tag[:80]}" if tag else ""
        raise ConfigError(
            f"{name} is not valid YAML for tfrl: the tag{tag} is refused; config files are read "
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


def to_dict(config: Any) -> dict[str, Any]:
    """A dataclass as a plain dict of YAML-friendly values (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return v

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def describe(cls: type) -> str:
    """A text table of a config class's fields: name, default and docstring."""
    docs = field_docs(cls)
    lines = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "(required)"
        )
        lines.append(f"  {f.name} = {default!r}\n      {docs.get(f.name, '')}")
    return "\n".join(lines)
