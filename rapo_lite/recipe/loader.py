"""The recipe loader: YAML and `key=value` overrides in, a checked `Recipe` (schema.py) out.

Loading is strict: an unknown key is an error that suggests the closest valid key, and a
value of the wrong type names the field and the type it wants, because a silently ignored
typo in an ablation wastes a whole run. Types are checked here, against the annotations;
values are checked by the sections themselves when they are built, and this module puts the
dotted key in front of what they report.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from rapo_lite.errors import RapoError, did_you_mean
from rapo_lite.fields import SettingError
from rapo_lite.levels import Band, bands_from_lists
from rapo_lite.recipe.schema import Recipe

# Annotations of fields the recipe stores parsed: the type the YAML is read as, and the parser
# that turns a value of that type into the stored one (naming the field in its errors).
_PARSED: dict[Any, tuple[Any, Callable[[Any, str], Any]]] = {
    tuple[Band, ...]: (list[list[int | None]], bands_from_lists),
}


# ----------------------------------------------------------------------------- building


def _type_name(tp: Any) -> str:
    if tp in _PARSED:
        return _type_name(_PARSED[tp][0])
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "mapping"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`, building nested dataclasses."""
    if tp in _PARSED:
        read_as, parse = _PARSED[tp]
        return parse(_convert(value, read_as, where), where)
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, where)
            except SettingError:
                raise  # the value had this type, and the section refused it: that is the error to show
            except RapoError:
                continue
        raise RapoError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            hint = did_you_mean(str(value), [str(c) for c in choices])
            raise RapoError(f"{where}: {value!r} is not one of {', '.join(map(repr, choices))}{hint}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise RapoError(f"{where}: expected a {_type_name(tp)}, got {value!r}")
        (inner,) = typing.get_args(tp)
        return [_convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:  # tuple[X, ...]: a YAML list, kept immutable (a SourceSpec's levels)
        if not isinstance(value, list):
            raise RapoError(f"{where}: expected a {_type_name(tp)}, got {value!r}")
        inner = typing.get_args(tp)[0]
        return tuple(_convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise RapoError(f"{where}: expected a mapping with string keys, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise RapoError(f"{where}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise RapoError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RapoError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):
            # PyYAML follows YAML 1.1, where `1e-4` (no dot) is a string, not a float.
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RapoError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            number = math.inf
        if not math.isfinite(number):
            raise RapoError(f"{where}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise RapoError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported recipe annotation {tp!r} at {where}")  # a bug in this module


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            full = f"{where}.{key}" if where else str(key)
            raise RapoError(f"unknown recipe key '{full}'{did_you_mean(str(key), names)}; "
                            f"valid keys here: {', '.join(names)}")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k) for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except SettingError as err:
        raise err.under(where) from None


# ---------------------------------------------------------------------------- overrides


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one `dotted.key=value` to the raw recipe mapping, in place.

    The value is read as YAML, so `32`, `1e-4`, `true`, `null` and `[sft, rl]` get their
    natural types; a list element is addressed by its index (`data.sources.0.count=10`).
    Types are checked afterwards, when the whole recipe is built.
    """
    if "=" not in assignment:
        raise RapoError(f"override {assignment!r}: expected key=value, e.g. lora.r=32")
    key, text = assignment.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise RapoError(f"override {assignment!r}: empty key part in '{key}'")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except (yaml.YAMLError, RecursionError) as err:
        raise RapoError(f"override {assignment!r}: value is not valid YAML ({err.__class__.__name__})") from None
    node: Any = raw
    cls: Any = Recipe
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not (part.isascii() and part.isdigit()) or int(part) >= len(node):
                raise RapoError(f"override {key}: '{part}' is not an index of {'.'.join(parts[:depth])} "
                                f"(0..{len(node) - 1})")
            idx = int(part)
            if last:
                node[idx] = value
                return
            node = node[idx]
            continue
        if not isinstance(node, dict):
            raise RapoError(f"override {key}: {'.'.join(parts[:depth])} is {node!r}, which has no key '{part}'")
        if cls is not None:  # a recipe section; below a free-form mapping (chat_template_kwargs) any key goes
            names = [f.name for f in dataclasses.fields(cls)]
            if part not in names:
                raise RapoError(f"override: unknown recipe key '{where}'{did_you_mean(part, names)}; "
                                f"valid keys here: {', '.join(names)}")
        if last:
            node[part] = value
            return
        if part not in node or node[part] is None:
            node[part] = _defaults_as_raw(cls, part) if cls is not None else {}
        node = node[part]
        cls = _dataclass_of(typing.get_type_hints(cls)[part]) if cls is not None else None


def _dataclass_of(tp: Any) -> Any:
    """The section class an annotation holds, if any; a parsed field is a leaf, not a section."""
    if tp in _PARSED:
        return None
    if dataclasses.is_dataclass(tp):
        return tp
    for arg in typing.get_args(tp):
        found = _dataclass_of(arg)
        if found is not None:
            return found
    return None


def _defaults_as_raw(cls: Any, name: str) -> Any:
    return to_dict(getattr(cls(), name))


def to_dict(obj: Any) -> Any:
    """A recipe (or any part of it) as plain YAML values, in the form a recipe file writes them."""
    if isinstance(obj, Band):
        return [obj.min, obj.max]
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------- entry points


BASE_KEY = "base"


def _read_mapping(p: Path) -> dict[str, Any]:
    """One recipe file's top-level mapping, as written (its `base:` not yet resolved)."""
    if not p.is_file():
        raise RapoError(f"recipe file {p} does not exist")
    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RapoError(f"recipe file {p}: malformed YAML{at}: {getattr(err, 'problem', err)}") from None
    except RecursionError:
        raise RapoError(f"recipe file {p}: malformed YAML: nested too deeply") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise RapoError(f"recipe file {p}: expected a mapping of recipe keys at the top level, "
                        f"got {type(loaded).__name__}")
    return loaded


def merge_onto(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """`child` laid over `base`: mappings merge key by key, anything else (lists too) replaces.

    Lists replace rather than append so that a child's `data.sources` or `stages` reads as the
    whole list, the same as an override on the command line does.
    """
    merged = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_onto(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_recipe_file(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A recipe file's raw mapping with its `base:` chain resolved.

    `base: other.yaml` (relative to the file that names it) starts this recipe from that one,
    so two recipes that share a warm-up or an evaluation hold it once; the file's own keys
    then win. The result has no `base` key: what a run records is the recipe it ran.
    """
    p = Path(path)
    here = p.resolve()
    if here in _seen:
        chain = " -> ".join(str(s.name) for s in (*_seen, here))
        raise RapoError(f"recipe file {p}: '{BASE_KEY}:' chain loops back on itself ({chain})")
    raw = _read_mapping(p)
    if BASE_KEY not in raw:
        return raw
    name = raw.pop(BASE_KEY)
    if not isinstance(name, str) or not name.strip():
        raise RapoError(f"recipe file {p}: '{BASE_KEY}' must be the path of another recipe file "
                        f"(relative to this one), got {name!r}")
    base_path = p.parent / name
    if not base_path.is_file():
        raise RapoError(f"recipe file {p}: {BASE_KEY}: {name} does not exist (looked for {base_path})")
    return merge_onto(read_recipe_file(base_path, (*_seen, here)), raw)


def load_recipe(path: str | Path | None, overrides: list[str] = ()) -> Recipe:  # type: ignore[assignment]
    """Read a recipe file (or start from the defaults when `path` is None) and apply overrides."""
    raw: dict[str, Any] = {} if path is None else read_recipe_file(path)
    for assignment in overrides:
        apply_override(raw, assignment)
    try:
        return _build(Recipe, raw, "")
    except SettingError as err:
        # Callers (and --debug's traceback) see the project's one error type; the cause shows where it was raised.
        raise RapoError(str(err)) from err


def dump_recipe(recipe: Recipe) -> str:
    return yaml.safe_dump(to_dict(recipe), sort_keys=False)


def help_text(cls: type = Recipe, prefix: str = "") -> str:
    """Every field with its type, default and help text, for `--help-recipe`."""
    lines = []
    if cls is Recipe and not prefix:
        lines.append(f"{BASE_KEY} (str, recipe files only): another recipe file, relative to this one, that this "
                     "recipe starts from; mappings merge key by key and this file's values (lists whole) win.")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name = f"{prefix}{f.name}"
        tp = hints[f.name]
        inner = _dataclass_of(tp)
        if inner is not None and typing.get_origin(tp) is not list:
            lines.append(f"{name}: {f.metadata.get('help', '')}")
            lines.append(help_text(inner, name + "."))
            continue
        default = to_dict(getattr(cls(), f.name))
        lines.append(f"{name} ({_type_name(tp)}, default {default!r}): {f.metadata.get('help', '')}")
        if inner is not None:
            lines.append(help_text(inner, name + "[i]."))
    return "\n".join(lines)
