"""Typed configuration: dataclasses with a docstring per field, checked overrides, YAML presets.

YAML from users (config and sweep files, ``--set`` values, a run's ``config.yaml``) is read by ``safe_yaml``: the
safe loader within limits of size, nesting and alias expansion, refusing a key given twice and turning a value it
cannot build into one clear error; values quoted in error messages are cut short (``brief``), so that no message
embeds a huge value. Those live in ``tfrl.yaml_io`` and are re-exported here.

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
import sys
import textwrap
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
import yaml

from tfrl.errors import ConfigError, unknown_name
from tfrl.yaml_io import MAX_YAML_BYTES, MAX_YAML_VALUES, YamlRefused, YamlValueError, brief, load_yaml, safe_yaml

__all__ = ["field_docs", "coerce", "check_types", "apply_overrides", "parse_assignments", "load_yaml", "to_dict",
           "describe", "brief", "short_name", "safe_yaml", "YamlRefused", "YamlValueError", "MAX_YAML_BYTES",
           "MAX_YAML_VALUES"]

C = TypeVar("C")


def short_name(key: Any, limit: int = 60) -> Any:
    """A key for an "unknown name" message: itself, or its first ``limit`` characters and ``...`` when longer."""
    return key if len(str(key)) <= limit else f"{str(key)[: limit - 3]}..."


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
            except YamlValueError as exc:
                raise ConfigError(f"{key}: {brief(value)} is not a list tfrl can read: a value {exc.reason}; write "
                                  f"a list of plain values like [64, 64]") from None
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
        except YamlValueError as exc:
            raise ConfigError(f"{key}: {brief(value)} {exc.reason}; {exc.fix}") from None
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
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{key}: expected an integer, got {brief(value)}") from None
        if not number.is_integer():
            raise ConfigError(f"{key}: expected an integer, got {brief(value)}")
        return int(number)
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {brief(value)}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the largest float
            raise ConfigError(f"{key}: expected a finite number, got {brief(value)}") from None
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

    Numbers may be Python or NumPy scalars, an int is a valid float, and a list is a valid tuple. An integer must
    fit where it goes: a 64-bit integer for an integer setting (NumPy and TensorFlow hold them so), a float for a
    number.
    """
    hints = _hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not _type_ok(value, hints[f.name]):
            raise ConfigError(f"{label}: {f.name} must be {_type_name(hints[f.name])}, got {brief(value)}")
        integer = "an integer" in _type_name(hints[f.name]) or "integers" in _type_name(hints[f.name])
        limit = 2**63 - 1 if integer else sys.float_info.max
        if _too_large(value, limit):  # NumPy, TensorFlow or float arithmetic would raise OverflowError later
            bound = "2**63 - 1 (a 64-bit integer)" if integer else f"{limit:.4g} (the largest float)"
            raise ConfigError(f"{label}: {f.name} must be at most {bound}, got {brief(value)}")


def _too_large(value: Any, limit: float) -> bool:
    """Whether ``value`` is an integer beyond ``limit`` in size (or a list holding one)."""
    if isinstance(value, (list, tuple)):
        return any(_too_large(v, limit) for v in value)
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and abs(int(value)) > limit


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
