"""Typed configuration: dataclasses with a docstring per field, checked overrides, YAML presets.

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
           "describe"]

C = TypeVar("C")


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
        raise ConfigError(errors[0] if errors else f"{key}: cannot use {value!r}")
    if origin is typing.Literal:
        if isinstance(value, str):
            for arg in args:
                if str(arg) == value:
                    return arg
        if value in args:
            return value
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, args))}")
    if origin in (tuple, list):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("(") and text.endswith(")"):
                text = text[1:-1]
            try:
                value = yaml.safe_load(text if text.startswith("[") else f"[{text}]")
            except yaml.YAMLError:
                raise ConfigError(f"{key}: expected a list like [64, 64], got {value!r}") from None
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        items = [coerce(v, item_type, key) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is Any:
        return yaml.safe_load(value) if isinstance(value, str) else value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
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
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
        if not number.is_integer():
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(number)
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return number
    if annotation is str:
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
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
            raise ConfigError(f"{label}: {f.name} must be {_type_name(hints[f.name])}, got {value!r}")


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
            raise ConfigError(unknown_name(what, key, names))
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
            raise ConfigError(f"--set expects key=value, got {pair!r} (for example --set learning_rate=0.001)")
        out[key.strip()] = value.strip()
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with the safe loader; a missing or malformed file raises ConfigError."""
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"a config file must be given as a path, got {type(path).__name__} {path!r}; "
                          f"pass settings themselves as keyword arguments or overrides={{...}}")
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; give the path of a YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(path)!r} is not a UTF-8 text file; give the path of a YAML file") from None
    except yaml.constructor.ConstructorError as exc:
        tag = exc.problem.split("tag ")[-1].replace("tag:yaml.org,2002:", "!!") if "tag " in (exc.problem or "") else ""
        tag = f" {tag}" if tag else ""
        raise ConfigError(
            f"config file {str(path)!r} is not valid YAML for tfrl: the tag{tag} is refused; config files are read "
            f"with YAML's safe loader, which builds plain values only (numbers, strings, lists, mappings), "
            f"so remove the tag"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config file {str(path)!r} is not valid YAML ({where}{problem}); fix its syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of key: value, not {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(f"config file {str(path)!r} has the key {key!r}, which is not a setting name; "
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
