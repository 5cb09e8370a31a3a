"""Go's printing of values: fmt's %v (go_sprint), quoted strings and encoding/json (go_json)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from hood.gotemplate.errors import FuncError
from hood.gotemplate.values import MISSING, Struct, sorted_keys


def _shortest(f: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of abs(f) and the decimal point position."""
    if f == 0:
        return "0", 1
    t = Decimal(repr(abs(f))).as_tuple()
    digits = "".join(map(str, t.digits))
    dp = len(digits) + int(t.exponent)
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    return stripped.rstrip("0") or "0", dp


def _fmt_e(digits: str, dp: int, exp_char: str = "e") -> str:
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exp = dp - 1 if digits != "0" else 0
    return f"{mant}{exp_char}{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _fmt_f(digits: str, dp: int) -> str:
    if dp <= 0:
        return "0." + "0" * (-dp) + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]


def go_float(f: float, upper: bool = False) -> str:
    """Go's %v (shortest %g) for a float64."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    digits, dp = _shortest(f)
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    exp = dp - 1
    if digits != "0" and (exp < -4 or exp >= 6):
        return sign + _fmt_e(digits, dp, "E" if upper else "e")
    return sign + _fmt_f(digits, dp)


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


def go_quote(s: str, quote: str = '"') -> str:
    out = [quote]
    for ch in s:
        o = ord(ch)
        if ch == quote or ch == "\\":
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif ch == " " or (ch.isprintable() and not 0xD800 <= o <= 0xDFFF):
            out.append(ch)
        elif o < 0x80:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append(quote)
    return "".join(out)


def _json_str(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\f\n\r\t":
            out.append("\\" + "bfnrt"["\b\f\n\r\t".index(ch)])
        elif o < 0x20 or o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_float(f: float) -> str:
    if math.isnan(f) or math.isinf(f):
        raise FuncError(f"json: unsupported value: {go_float(f)}")
    digits, dp = _shortest(f)
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = _fmt_e(digits, dp)
        if s[-4:-1] == "e-0":
            s = s[:-2] + s[-1]
        return sign + s
    return sign + _fmt_f(digits, dp)


def go_html_escape(text: str) -> str:
    """What Go's encoding/json does to JSON text with HTML escaping on: <, > and & as
    \\u escapes (U+2028/U+2029 are the caller's: Go escapes those always)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def go_json(v: Any) -> str:
    """Go's json encoding (compact, no HTML escaping, as docker's ``json`` function)."""
    if v is None or v is MISSING:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _json_float(v)
    if isinstance(v, str):
        return _json_str(v)
    if isinstance(v, Struct):
        return "{" + ",".join(f"{_json_str(str(k))}:{go_json(x)}" for k, x in v.items()) + "}"
    if isinstance(v, dict):
        keys = sorted_keys(v)
        return "{" + ",".join(f"{_json_str(str(k))}:{go_json(v[k])}" for k in keys) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    return _json_str(str(v))
