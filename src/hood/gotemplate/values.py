"""How Python data stands in for Go values: structs, the missing-key value, type names, truth."""

from __future__ import annotations

from typing import Any


class Struct(dict):
    """A dict that renders like a Go struct (missing fields are errors)."""

    def __init__(self, *args: Any, type_name: str = "struct", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.type_name = type_name


class NoValue:
    """The value of a missing map key (Go's invalid reflect.Value)."""

    _inst: NoValue | None = None

    def __new__(cls) -> NoValue:
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self) -> str:
        return "<no value>"


MISSING = NoValue()


def go_type(v: Any) -> str:
    """The Go type name used in messages for a Python value."""
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, Struct):
        return v.type_name
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if callable(v):
        return "func()"
    return type(v).__name__


def sorted_keys(d: dict) -> list:
    """Map keys in the order Go prints them (mixed key types by type name, then text)."""
    try:
        return sorted(d)
    except TypeError:
        return sorted(d, key=lambda k: (type(k).__name__, str(k)))


def truth(v: Any) -> bool:
    """Go's truth for if/with/and/or/not: false, 0, nil and empty values are false."""
    if v is None or v is MISSING:
        return False
    if isinstance(v, Struct):
        return True
    if isinstance(v, (bool, int, float)):
        return v != 0
    if isinstance(v, (str, list, tuple, dict)):
        return len(v) > 0
    return True
