"""Go's printing of values: fmt's %v (go_sprint), quoted strings and encoding/json (go_json)."""

from __future__ import annotations

import math
from typing import Any

from hood.core.jsonio import float_digits, format_e, format_f
from hood.core.jsonio import go_json as encode_go_json
from hood.gotemplate.errors import FuncError
from hood.gotemplate.values import MISSING, Struct, sorted_keys


def go_float(f: float, upper: bool = False) -> str:
    """Go's %v (shortest %g) for a float64."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    digits, dp = float_digits(f)
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    exp = dp - 1
    if digits != "0" and (exp < -4 or exp >= 6):
        return sign + format_e(digits, dp, "E" if upper else "e")
    return sign + format_f(digits, dp)


def go_sprint(v: Any) -> str:
    """How Go's fmt prints a value with %v."""
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, Struct):
        return "{" + " ".join(go_sprint(x) for x in v.values()) + "}"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v[k])}" for k in sorted_keys(v)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_sprint(x) for x in v) + "]"
    return str(v)


def _go_value(v: Any) -> Any:
    """A template value as encoding/json sees it: structs in field order, maps sorted,
    the missing value as nil, anything else by its text."""
    if v is MISSING:
        return None
    if isinstance(v, Struct):
        return {str(k): x for k, x in v.items()}
    if isinstance(v, dict):
        return {str(k): v[k] for k in sorted_keys(v)}
    if v is None or isinstance(v, (str, int, float, list, tuple)):
        return v
    return str(v)


def go_json(v: Any) -> str:
    """Go's json encoding (compact, no HTML escaping, as docker's ``json`` function)."""
    try:
        return encode_go_json(v, convert=_go_value)
    except ValueError as exc:
        raise FuncError(str(exc)) from None
