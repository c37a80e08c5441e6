"""Typed run configs: dataclasses filled from a YAML preset plus ``key=value`` overrides, saved with every run.

Every key maps onto a dataclass field (nested dataclasses use dotted keys: ``rl.learning_rate=3e-4``). Values are
checked against the field's annotation; an unknown key raises one ``ConfigError`` listing the valid keys there.
The values a field accepts (bounds, choices) are declared once with it (``described(..., at_least=1)``) and checked
whenever a :class:`CheckedConfig` is built, from keys or directly; ``--help`` lists them.
A union of dataclasses that each have a ``kind`` field is a tagged union: ``kind`` picks the member. A dataclass
whose defaults depend on some of its keys (a preset) defines ``config_base(data, where)``: the instance the keys
in ``data`` are applied on top of, so the preset holds whatever the order of the keys.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

DEVICES = ("auto", "cpu", "cuda")  # what a run config's ``device`` accepts (auto: cuda when available)


class ConfigError(ValueError):
    """A config file or override that does not fit the run's dataclass; ``key`` (when given) is the field it is
    about, prefixed with its section when the config is built by :func:`from_dict`."""

    def __init__(self, problem: str, key: str | None = None) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.problem, self.key = problem, key


@dataclasses.dataclass(frozen=True)
class Accepts:
    """The values one field accepts: bounds on a number (``at_least``/``above``/``at_most``/``below``) or a set of
    ``choices``; for a list, tuple or dict they apply to each item (value). None is accepted where the type allows
    it (it has its own documented meaning)."""

    at_least: float | None = None
    above: float | None = None
    at_most: float | None = None
    below: float | None = None
    choices: tuple[Any, ...] | None = None

    def __str__(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        low = "[" if self.above is None else "("
        high = "]" if self.below is None else ")"
        lower = self.above if self.above is not None else self.at_least
        upper = self.below if self.below is not None else self.at_most
        if lower is not None and upper is not None:
            return f"in {low}{lower:g}, {upper:g}{high}"
        if lower is not None:
            return f"{'>' if self.above is not None else '>='} {lower:g}"
        return f"{'<' if self.below is not None else '<='} {upper:g}"

    def problem(self, value: Any) -> str | None:
        """Why ``value`` (one item) is not accepted, or None."""
        if isinstance(value, float) and not math.isfinite(value):
            return f"expected a finite number {self}, got {value!r}"
        if self.choices is not None:
            ok = value in self.choices
        else:
            ok = (
                (self.at_least is None or value >= self.at_least)
                and (self.above is None or value > self.above)
                and (self.at_most is None or value <= self.at_most)
                and (self.below is None or value < self.below)
            )
        if ok:
            return None
        kind = "" if self.choices is not None else "an integer " if isinstance(value, int) else "a number "
        return f"expected {kind}{self}, got {value!r}"

    def check(self, value: Any, key: str) -> None:
        """Raise ``ConfigError`` (naming ``key``, or ``key[i]``/``key.name`` for an item) unless ``value`` fits."""
        if value is None:
            return
        if isinstance(value, dict):
            items = [(f"{key}.{k}", v) for k, v in value.items()]
        elif isinstance(value, list | tuple):
            items = [(f"{key}[{i}]", v) for i, v in enumerate(value)]
        else:
            items = [(key, value)]
        for where, item in items:
            problem = self.problem(item)
            if problem is not None:
                raise ConfigError(problem, where)


def flag_type(kind: type[int] | type[float], **bounds: float) -> Any:
    """An argparse ``type`` for a numeric command-line flag, checked with the same bounds and message as config keys
    (``flag_type(int, at_least=1)``); argparse reports a refused value as ``error: argument --x: expected ...``."""
    accepts = Accepts(**bounds)

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            expected = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        problem = accepts.problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    return parse


def check_fields(config: Any) -> None:
    """Check every field of dataclass instance ``config`` against what its ``described`` declaration accepts."""
    for f in dataclasses.fields(config):
        accepts = f.metadata.get("accepts")
        if accepts is not None:
            accepts.check(getattr(config, f.name), f.name)


class CheckedConfig:
    """Base of every run config dataclass: its fields' declared bounds and choices are checked whenever one is built.
    A config with rules across fields overrides ``__post_init__`` and calls this one first (or after normalising)."""

    def __post_init__(self) -> None:
        check_fields(self)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _tagged(options: tuple[Any, ...]) -> dict[str, type]:
    """``{kind: member}`` of a union whose members are all dataclasses with a ``kind`` field (else empty)."""
    kinds = {}
    for member in (option for option in options if option is not type(None)):
        fields = {f.name: f for f in dataclasses.fields(member)} if dataclasses.is_dataclass(member) else {}
        if "kind" not in fields or not isinstance(fields["kind"].default, str):
            return {}
        kinds[fields["kind"].default] = member
    return kinds if len(kinds) > 1 else {}


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """``value`` converted to ``annotation`` (int, float, bool, str, tuples/lists, Optional, nested dataclass)."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        tagged = _tagged(options)
        if tagged and not isinstance(value, tuple(tagged.values())):
            if not isinstance(value, dict):
                kinds = ", ".join(tagged)
                raise ConfigError(f"{where}: expected a mapping of fields with a kind ({kinds}), got {value!r}")
            if value.get("kind") not in tagged:
                raise ConfigError(f"{where}.kind: expected one of {', '.join(tagged)}, got {value.get('kind')!r}")
            return from_dict(tagged[value["kind"]], value, where)
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{where}: cannot be {value!r}")
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of {annotation.__name__} fields, got {value!r}")
        return from_dict(annotation, value, where)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(annotation)
        fixed = origin is tuple and len(args) > 0 and args[-1] is not Ellipsis  # tuple[float, float, float]
        if fixed and len(value) != len(args):
            raise ConfigError(f"{where}: expected a list of {len(args)} values, got {len(value)}: {value!r}")
        kinds = args if fixed else [args[0] if args else Any] * len(value)
        items = [_coerce(v, kind, f"{where}[{i}]") for i, (v, kind) in enumerate(zip(value, kinds, strict=True))]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        key_type, value_type = typing.get_args(annotation) or (Any, Any)
        return {_coerce(k, key_type, where): _coerce(v, value_type, f"{where}.{k}") for k, v in value.items()}
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if annotation is float:
        number = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if number is not None and math.isfinite(number):  # no setting means inf or nan: they are typos or attacks
            return number
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config", base: T | None = None) -> T:
    """Build dataclass ``cls`` from ``data``, starting from ``base`` (default: its defaults); unknown keys raise
    ``ConfigError``."""
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; valid keys are: {', '.join(names)}")
    defaults = cls() if base is None else base
    if hasattr(defaults, "config_base"):
        defaults = defaults.config_base(data, where)
    values = {}
    for name in names:
        if name in data:
            current, given = getattr(defaults, name), data[name]
            same_kind = getattr(current, "kind", None) == (given.get("kind") if isinstance(given, dict) else None)
            if dataclasses.is_dataclass(current) and isinstance(given, dict) and ("kind" not in given or same_kind):
                values[name] = from_dict(type(current), given, f"{where}.{name}", base=current)
            else:
                values[name] = _coerce(given, hints[name], f"{where}.{name}")
    try:
        return dataclasses.replace(defaults, **values)
    except ConfigError as error:
        if error.key is None:
            raise ConfigError(f"{where}: {error}") from error
        raise ConfigError(error.problem, f"{where}.{error.key}") from error
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{where}: {error}") from error


def update(config: T, data: dict[str, Any], where: str = "config") -> T:
    """A copy of dataclass instance ``config`` with the (nested) values of ``data`` applied and checked."""
    return from_dict(type(config), data, where, base=config)


def to_dict(config: Any) -> dict[str, Any]:
    """A plain (YAML/JSON-safe) dict of a dataclass config; tuples become lists."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict as ``{"a.b": value}`` (to compare two configs key by key)."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["a.b=3", "c=[1, 2]"]`` -> ``{"a": {"b": 3}, "c": [1, 2]}``; values are read as YAML scalars/lists."""
    nested: dict[str, Any] = {}
    for text in overrides:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {text!r}: expected key=value (e.g. rl.learning_rate=3e-4)")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as error:
            raise ConfigError(f"override {text!r}: the value is not valid YAML ({error})") from error
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {part!r} is set to a value and also used as a section")
        node[parts[-1]] = value
    return nested


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; a missing, unreadable or non-mapping file raises ``ConfigError``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(f"config {path}: cannot be read ({error.strerror or error})") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"config {path}: not valid YAML ({error})") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """``cls`` defaults, then the YAML file at ``path`` (if any), then the ``key=value`` overrides."""
    data = read_yaml(path) if path is not None else {}
    where = f"config {path}" if path is not None else cls.__name__
    return from_dict(cls, _merge(data, parse_overrides(overrides)), where)


def save_config(config: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML (the record of what a run used)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
    return path


def described(
    text: str,
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
    choices: Sequence[Any] | None = None,
    **kwargs: Any,
) -> Any:
    """A dataclass field carrying its ``--help`` line and the values it accepts (see :class:`Accepts`; checked by
    :class:`CheckedConfig`, listed by :func:`keys_help`)."""
    bounds = (at_least, above, at_most, below)
    accepts = None
    if choices is not None or any(b is not None for b in bounds):
        accepts = Accepts(*bounds, tuple(choices) if choices is not None else None)
    return dataclasses.field(metadata={"help": text, "accepts": accepts}, **kwargs)


def describe_keys(cls: type, prefix: str = "", parent_help: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, help and accepted values) for every field, nested dataclasses expanded (for ``--help``).

    A section's help goes on its first key. A tagged union lists its default member's keys, then the other
    members' own keys marked with their kind; an optional dataclass (default None) lists its keys at the
    dataclass's defaults.
    """
    return _describe(cls(), prefix, parent_help)


def _describe(defaults: Any, prefix: str, parent_help: str) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    hints = _hints(type(defaults))
    for f in dataclasses.fields(defaults):
        value, key = getattr(defaults, f.name), prefix + f.name
        text = "; ".join(t for t in (parent_help, f.metadata.get("help", "")) if t)
        parent_help = ""  # a section's help goes on its first key
        options = typing.get_args(hints[f.name])
        if value is None and dataclasses.is_dataclass(options[0] if options else None):
            value = options[0]()
        if not dataclasses.is_dataclass(value):
            accepts = f.metadata.get("accepts")
            rows.append((key, repr(value), "; ".join(t for t in (text, str(accepts or "")) if t)))
            continue
        rows.extend(_describe(value, f"{key}.", text))
        listed = {row[0] for row in rows}
        for kind in _tagged(options):
            if kind != getattr(value, "kind", None):
                member = getattr(from_dict(type(defaults), {f.name: {"kind": kind}}, base=defaults), f.name)
                extra = [row for row in _describe(member, f"{key}.", "") if row[0] not in listed]
                rows.extend((name, default, f"{kind} only") for name, default, _ in extra)
    return rows


def keys_help(cls: type) -> str:
    """The ``--help`` epilog listing every config key of ``cls`` with its default (and help, where given)."""
    rows = describe_keys(cls)
    width = max(len(key) for key, _, _ in rows)
    lines = [f"  {key:<{width}}  {text + ' ' if text else ''}(default {default})" for key, default, text in rows]
    return "config keys (set as key=value; nested keys dotted, e.g. agent.encoder.num_latents=64):\n" + "\n".join(lines)
