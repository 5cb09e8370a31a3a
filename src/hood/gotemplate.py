"""A subset of Go's text/template, as docker's ``--format`` flag uses it.

``compile_template(text)`` parses a template (raising :class:`TemplateError` with
Go-style messages) and returns a :class:`Template` whose ``execute(data)``
renders Python data the way Go would render the equivalent Go values:

* ``dict`` behaves like a Go ``map[string]interface{}``: a missing key yields
  ``<no value>``, ``{{.}}`` prints ``map[k:v ...]`` with sorted keys and ``json``
  sorts the keys (as ``encoding/json`` does for maps);
* :class:`Struct` (a ``dict`` subclass) behaves like a Go struct: a missing
  field is an error, ``{{.}}`` prints ``{v1 v2}``, ``json`` keeps insertion
  order, and callable values are invoked like methods;
* ``list``/``tuple`` are slices, ``None`` is a nil pointer (prints ``<nil>``,
  ``null`` in json, ranges zero times), ``int``/``float``/``str``/``bool`` are
  Go's ``int``/``float64``/``string``/``bool``.

Functions: Go's builtins (``and or not len index slice print printf println eq
ne lt le gt ge``) and docker's (``json join split lower upper title pad
truncate``).  ``define``/``template``/``block`` are not supported.
"""

from __future__ import annotations

import bisect
import math
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hood.errors import HoodError

__all__ = [
    "Struct",
    "Template",
    "TemplateError",
    "compile_template",
    "go_json",
    "go_sprint",
    "preformat",
    "split_table_prefix",
]


class TemplateError(HoodError):
    """A template that does not parse, or fails while executing."""


class Struct(dict):
    """A dict that renders like a Go struct (missing fields are errors)."""

    def __init__(self, *args: Any, type_name: str = "struct", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.type_name = type_name


class _NoValue:
    """The value of a missing map key (Go's invalid reflect.Value)."""

    _inst: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _NoValue()
_NOARG = object()  # "no piped value" marker

_SPACE = " \t\r\n"


# --------------------------------------------------------------------------- values


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


def _go_float(f: float, upper: bool = False) -> str:
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
        return _go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, Struct):
        return "{" + " ".join(go_sprint(x) for x in v.values()) + "}"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v[k])}" for k in _sorted_keys(v)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_sprint(x) for x in v) + "]"
    return str(v)


def _sorted_keys(d: dict) -> list:
    try:
        return sorted(d)
    except TypeError:
        return sorted(d, key=lambda k: (type(k).__name__, str(k)))


def _go_quote(s: str, quote: str = '"') -> str:
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
        raise _FuncError(f"json: unsupported value: {_go_float(f)}")
    digits, dp = _shortest(f)
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = _fmt_e(digits, dp)
        if s[-4:-1] == "e-0":
            s = s[:-2] + s[-1]
        return sign + s
    return sign + _fmt_f(digits, dp)


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
        keys = _sorted_keys(v)
        return "{" + ",".join(f"{_json_str(str(k))}:{go_json(v[k])}" for k in keys) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    return _json_str(str(v))


def _truth(v: Any) -> bool:
    if v is None or v is MISSING:
        return False
    if isinstance(v, Struct):
        return True
    if isinstance(v, (bool, int, float)):
        return v != 0
    if isinstance(v, (str, list, tuple, dict)):
        return len(v) > 0
    return True


# --------------------------------------------------------------------------- printf


def _pad(s: str, width: int | None, flags: str, zero_ok: bool = True) -> str:
    if width is None or len(s) >= width:
        return s
    if "-" in flags:
        return s + " " * (width - len(s))
    if "0" in flags and zero_ok:
        return "0" * (width - len(s)) + s
    return " " * (width - len(s)) + s


def _sign(neg: bool, flags: str) -> str:
    if neg:
        return "-"
    if "+" in flags:
        return "+"
    if " " in flags:
        return " "
    return ""


def _fmt_int(v: int, verb: str, flags: str, width: int | None, prec: int | None) -> str | None:
    a = abs(v)
    if verb == "c":
        return _pad(chr(v) if 0 <= v <= 0x10FFFF else "\ufffd", width, flags)
    if verb == "q":
        return _pad(_go_quote(chr(v), "'") if 0 <= v <= 0x10FFFF else "'\ufffd'", width, flags)
    if verb == "U":
        s = f"U+{v:04X}"
        if "#" in flags and 0 <= v <= 0x10FFFF and chr(v).isprintable():
            s += f" '{chr(v)}'"
        return _pad(s, width, flags)
    if verb in "dv":
        digits, prefix = str(a), ""
    elif verb == "b":
        digits, prefix = format(a, "b"), "0b"
    elif verb == "o":
        digits, prefix = format(a, "o"), "0"
    elif verb == "O":
        digits, prefix = format(a, "o"), "0o"
    elif verb in "xX":
        digits, prefix = format(a, verb), "0" + verb
    else:
        return None
    if verb not in "O" and "#" not in flags:
        prefix = ""
    sign = _sign(v < 0, flags)
    if prec is not None:
        digits = "" if prec == 0 and a == 0 else digits.zfill(prec)
    elif width is not None and "0" in flags and "-" not in flags:
        digits = digits.zfill(width - len(sign))
    if verb == "o" and digits.startswith("0"):
        prefix = ""
    return _pad(sign + prefix + digits, width, flags, zero_ok=False)


def _hex_float(a: float, upper: bool) -> str:
    """Go's %x for a non-negative finite float (shortest hex mantissa)."""
    if a == 0:
        s = "0x0p+00"
    else:
        m, e = math.frexp(a)
        frac = int((m * 2 - 1) * (1 << 52))
        digits = f"{frac:013x}".rstrip("0")
        exp = e - 1
        s = f"0x1{'.' + digits if digits else ''}p{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return s.upper() if upper else s


def _fmt_float(v: float, verb: str, flags: str, width: int | None, prec: int | None) -> str | None:
    if verb not in "veEfFgGxX":
        return None
    if math.isnan(v) or math.isinf(v):
        return _pad(_go_float(v), width, flags, zero_ok=False)
    neg = math.copysign(1.0, v) < 0
    if verb == "v" and prec is not None:
        verb = "g"
    if verb in "xX":
        body = _hex_float(abs(v), verb == "X")
    elif verb == "v" or (verb in "gG" and prec is None):
        body = _go_float(abs(v), upper=verb == "G")
    else:
        spec = "#" if "#" in flags else ""
        spec += f".{6 if prec is None else prec}{verb.lower() if verb == 'F' else verb}"
        body = format(abs(v), spec)
    sign = _sign(neg, flags)
    if width is not None and "0" in flags and "-" not in flags:
        body = body.zfill(width - len(sign))
    return _pad(sign + body, width, flags, zero_ok=False)


def _fmt_str(v: str, verb: str, flags: str, width: int | None, prec: int | None) -> str | None:
    if prec is not None and verb in "vsq":
        v = v[:prec]
    if verb in "vs":
        return _pad(v, width, flags)
    if verb == "q":
        if "#" in flags and "`" not in v and all(c.isprintable() or c == "\t" for c in v):
            return _pad("`" + v + "`", width, flags)
        return _pad(_go_quote(v), width, flags)
    if verb in "xX":
        b = v.encode()
        if prec is not None:
            b = b[:prec]
        parts = [format(x, "02" + verb) for x in b]
        pre = ("0" + verb) if "#" in flags else ""
        if " " in flags:
            return _pad(" ".join(pre + p for p in parts), width, flags)
        return _pad(pre + "".join(parts), width, flags)
    return None


def _fmt_arg(v: Any, verb: str, flags: str, width: int | None, prec: int | None) -> str:
    if v is MISSING:
        v = None
    if verb == "T":
        return _pad(go_type(v), width, flags)
    if verb == "v" and "+" in flags:  # %+v labels struct fields; it is not a sign flag
        flags = flags.replace("+", "") + "P"
    res: str | None
    if isinstance(v, Struct):
        if verb in "vsdxXqoObeEfFgGtcU":
            items = []
            for k, x in v.items():
                s = _fmt_arg(x, verb, flags, width, prec)
                items.append(f"{k}:{s}" if "P" in flags else s)
            return "{" + " ".join(items) + "}"
        res = None
    elif isinstance(v, dict):
        items = [
            f"{_fmt_arg(k, verb, flags, width, prec)}:{_fmt_arg(v[k], verb, flags, width, prec)}"
            for k in _sorted_keys(v)
        ]
        return "map[" + " ".join(items) + "]"
    elif isinstance(v, (list, tuple)):
        return "[" + " ".join(_fmt_arg(x, verb, flags, width, prec) for x in v) + "]"
    elif v is None:
        res = _pad("<nil>", width, flags, zero_ok=False) if verb == "v" else None
    elif isinstance(v, bool):
        res = _pad("true" if v else "false", width, flags) if verb in "vt" else None
    elif isinstance(v, int):
        res = _fmt_int(v, verb, flags, width, prec)
    elif isinstance(v, float):
        res = _fmt_float(v, verb, flags, width, prec)
    elif isinstance(v, str):
        res = _fmt_str(v, verb, flags, width, prec)
    else:
        res = _pad(str(v), width, flags) if verb in "vs" else None
    if res is None:
        if v is None:
            return f"%!{verb}(<nil>)"
        return f"%!{verb}({go_type(v)}={go_sprint(v)})"
    return res


def _sprintf(fmt: str, args: list[Any]) -> str:
    out: list[str] = []
    i, n, argi = 0, len(fmt), 0
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        flags = ""
        while i < n and fmt[i] in "-+# 0":
            flags += fmt[i]
            i += 1
        width: int | None = None
        if i < n and fmt[i] == "*":
            i += 1
            if argi < len(args) and isinstance(args[argi], int):
                width = args[argi]
                if width < 0:
                    flags += "-"
                    width = -width
            else:
                out.append("%!(BADWIDTH)")
            argi += 1
        else:
            k = i
            while i < n and fmt[i].isdigit():
                i += 1
            if i > k:
                width = int(fmt[k:i])
        prec: int | None = None
        if i < n and fmt[i] == ".":
            i += 1
            if i < n and fmt[i] == "*":
                i += 1
                if argi < len(args) and isinstance(args[argi], int) and args[argi] >= 0:
                    prec = args[argi]
                else:
                    out.append("%!(BADPREC)")
                argi += 1
            else:
                k = i
                while i < n and fmt[i].isdigit():
                    i += 1
                prec = int(fmt[k:i]) if i > k else 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_fmt_arg(args[argi], verb, flags, width, prec))
        argi += 1
    if argi < len(args):
        extra = []
        for a in args[argi:]:
            extra.append("<nil>" if a is None or a is MISSING else f"{go_type(a)}={go_sprint(a)}")
        out.append("%!(EXTRA " + ", ".join(extra) + ")")
    return "".join(out)


# --------------------------------------------------------------------------- functions


class _FuncError(Exception):
    """An error returned by a template function (reported as 'error calling f: ...')."""


def _kind(v: Any) -> str:
    if v is None or v is MISSING:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return "other"


def _fn_eq(a: Any, *bs: Any) -> bool:
    if not bs:
        raise _FuncError("missing argument for comparison")
    ka = _kind(a)
    for b in bs:
        kb = _kind(b)
        if ka != kb:
            if "invalid" not in (ka, kb):
                raise _FuncError("incompatible types for comparison")
            truth = False
        elif ka == "other":
            raise _FuncError(f"non-comparable type {go_sprint(a)}: {go_type(a)}")
        elif ka == "invalid":
            truth = True
        else:
            truth = a == b
        if truth:
            return True
    return False


def _fn_ne(a: Any, b: Any) -> bool:
    return not _fn_eq(a, b)


def _fn_lt(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka not in ("int", "float", "string") or kb not in ("int", "float", "string"):
        raise _FuncError("invalid type for comparison")
    if ka != kb:
        raise _FuncError("incompatible types for comparison")
    return a < b


def _fn_le(a: Any, b: Any) -> bool:
    return _fn_lt(a, b) or _fn_eq(a, b)


def _fn_gt(a: Any, b: Any) -> bool:
    return not _fn_le(a, b)


def _fn_ge(a: Any, b: Any) -> bool:
    return not _fn_lt(a, b)


def _fn_not(v: Any) -> bool:
    return not _truth(v)


def _fn_len(v: Any) -> int:
    if v is None or v is MISSING:
        raise _FuncError("len of nil pointer")
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, (list, tuple)) or (isinstance(v, dict) and not isinstance(v, Struct)):
        return len(v)
    raise _FuncError(f"len of type {go_type(v)}")


def _index_arg(x: Any, limit: int) -> int:
    if x is None or x is MISSING:
        raise _FuncError("cannot index slice/array with nil")
    if isinstance(x, bool) or not isinstance(x, int):
        raise _FuncError(f"cannot index slice/array with type {go_type(x)}")
    if x < 0 or x > limit:
        raise _FuncError(f"index out of range: {x}")
    return x


def _fn_index(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise _FuncError("index of untyped nil")
    for x in indexes:
        if item is None or item is MISSING:
            raise _FuncError("index of nil pointer")
        if isinstance(item, (str, list, tuple)):
            seq = item.encode() if isinstance(item, str) else item
            i = _index_arg(x, len(seq))
            if i == len(seq):
                if isinstance(item, str):
                    raise _FuncError("reflect: string index out of range")
                raise _FuncError(f"index out of range: {i}")
            item = seq[i]
        elif isinstance(item, dict) and not isinstance(item, Struct):
            if x is None or x is MISSING:
                raise _FuncError("value is nil; should be of type string")
            if not isinstance(x, str):
                raise _FuncError(f"value has type {go_type(x)}; should be string")
            item = item.get(x, MISSING)
        else:
            raise _FuncError(f"can't index item of type {go_type(item)}")
    return item


def _fn_slice(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise _FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise _FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise _FuncError("cannot 3-index slice a string")
        seq: Any = item.encode()
    elif isinstance(item, (list, tuple)):
        seq = item
    else:
        raise _FuncError(f"can't slice item of type {go_type(item)}")
    idx = [0, len(seq)]
    for i, x in enumerate(indexes):
        v = _index_arg(x, len(seq))
        if i < 2:
            idx[i] = v
        else:
            idx.append(v)
    if idx[0] > idx[1]:
        raise _FuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(idx) == 3 and idx[1] > idx[2]:
        raise _FuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
    res = seq[idx[0] : idx[1]]
    if isinstance(res, bytes):
        return res.decode("utf-8", errors="replace")
    return list(res) if isinstance(res, tuple) else res


def _fn_print(*args: Any) -> str:
    out = []
    prev_str = False
    for i, a in enumerate(args):
        is_str = isinstance(a, str)
        if i > 0 and not is_str and not prev_str:
            out.append(" ")
        out.append(go_sprint(None if a is MISSING else a))
        prev_str = is_str
    return "".join(out)


def _fn_println(*args: Any) -> str:
    return " ".join(go_sprint(None if a is MISSING else a) for a in args) + "\n"


def _fn_printf(fmt: str, *args: Any) -> str:
    return _sprintf(fmt, list(args))


def _fn_json(v: Any) -> str:
    return go_json(v)


def _fn_split(s: str, sep: str) -> list[str]:
    if sep == "":
        return list(s)
    return s.split(sep)


def _fn_join(items: list[str], sep: str) -> str:
    return sep.join(items)


def _simple_case(s: str, upper: bool) -> str:
    out = []
    for ch in s:
        m = ch.upper() if upper else ch.lower()
        out.append(m if len(m) == 1 else ch)
    return "".join(out)


def _is_title_sep(ch: str) -> bool:
    if ord(ch) < 0x80:
        return not (ch.isalnum() or ch == "_")
    cat = unicodedata.category(ch)
    if cat.startswith("L") or cat == "Nd":
        return False
    return ch.isspace()


def _fn_title(s: str) -> str:
    out = []
    prev = " "
    for ch in s:
        if _is_title_sep(prev):
            t = ch.title()
            out.append(t if len(t) == 1 else ch)
        else:
            out.append(ch)
        prev = ch
    return "".join(out)


def _fn_pad(s: str, prefix: int, suffix: int) -> str:
    if s == "":
        return s
    if prefix < 0 or suffix < 0:
        raise _FuncError("strings: negative Repeat count")
    return " " * prefix + s + " " * suffix


def _fn_truncate(s: str, length: int) -> str:
    b = s.encode()
    if len(b) < length:
        return s
    if length < 0:
        raise _FuncError(f"runtime error: slice bounds out of range [:{length}]")
    if length > len(b):
        raise _FuncError(
            f"runtime error: slice bounds out of range [:{length}] with length {len(b)}"
        )
    return b[:length].decode("utf-8", errors="replace")


# name -> (function, fixed parameter kinds, variadic kind or None)
# kinds: "value" (anything, missing stays missing), "any" (missing becomes nil),
# "str", "int", "strlist"
_FUNCS: dict[str, tuple[Callable[..., Any] | None, tuple[str, ...], str | None]] = {
    "and": (None, ("value",), "value"),
    "or": (None, ("value",), "value"),
    "not": (_fn_not, ("value",), None),
    "len": (_fn_len, ("value",), None),
    "index": (_fn_index, ("value",), "value"),
    "slice": (_fn_slice, ("value",), "value"),
    "print": (_fn_print, (), "any"),
    "println": (_fn_println, (), "any"),
    "printf": (_fn_printf, ("str",), "any"),
    "eq": (_fn_eq, ("value",), "value"),
    "ne": (_fn_ne, ("value", "value"), None),
    "lt": (_fn_lt, ("value", "value"), None),
    "le": (_fn_le, ("value", "value"), None),
    "gt": (_fn_gt, ("value", "value"), None),
    "ge": (_fn_ge, ("value", "value"), None),
    "json": (_fn_json, ("any",), None),
    "split": (_fn_split, ("str", "str"), None),
    "join": (_fn_join, ("strlist", "str"), None),
    "title": (_fn_title, ("str",), None),
    "lower": (lambda s: _simple_case(s, False), ("str",), None),
    "upper": (lambda s: _simple_case(s, True), ("str",), None),
    "pad": (_fn_pad, ("str", "int", "int"), None),
    "truncate": (_fn_truncate, ("str", "int"), None),
}

_GO_KIND_NAMES = {"str": "string", "int": "int", "strlist": "[]string"}


# --------------------------------------------------------------------------- lexer

# token kinds
_TEXT, _LDELIM, _RDELIM, _SPACE_T, _FIELD, _VAR, _DOT, _IDENT, _KEYWORD = range(9)
_STRING, _RAW, _CHARCONST, _NUMBER, _BOOL, _NIL, _PIPE, _LPAREN, _RPAREN = range(9, 18)
_DECLARE, _ASSIGN, _CHAR, _EOF, _ERROR = range(18, 23)

_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block"}
_KEYWORDS |= {"break", "continue"}


class _Tok:
    __slots__ = ("kind", "val", "pos", "line")

    def __init__(self, kind: int, val: str, pos: int, line: int) -> None:
        self.kind, self.val, self.pos, self.line = kind, val, pos, line

    def __str__(self) -> str:
        if self.kind == _EOF:
            return "EOF"
        if self.kind == _ERROR:
            return self.val
        if self.kind in (_KEYWORD, _DOT):
            return f"<{self.val}>"
        q = _go_quote(self.val)
        if len(self.val) > 10:
            q = _go_quote(self.val[:10]) + "..."
        return q


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def _at_terminator(text: str, i: int) -> bool:
    if i >= len(text):
        return True
    ch = text[i]
    if ch in _SPACE or ch in ".,|:()":
        return True
    return text.startswith("}}", i)


def _lex(text: str) -> list[_Tok]:
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    toks: list[_Tok] = []

    def add(kind: int, val: str, pos: int) -> None:
        toks.append(_Tok(kind, val, pos, bisect.bisect_left(newlines, pos) + 1))

    def fail(msg: str, pos: int) -> list[_Tok]:
        add(_ERROR, msg, pos)
        add(_EOF, "", len(text))
        return toks

    n = len(text)
    i = 0
    while True:
        j = text.find("{{", i)
        if j < 0:
            if i < n:
                add(_TEXT, text[i:], i)
            break
        trim_left = text.startswith("-", j + 2) and j + 3 < n and text[j + 3] in _SPACE
        seg = text[i:j]
        if trim_left:
            seg = seg.rstrip(_SPACE)
        if seg:
            add(_TEXT, seg, i)
        k = j + (4 if trim_left else 2)
        if text.startswith("/*", k):
            e = text.find("*/", k + 2)
            if e < 0:
                return fail("unclosed comment", k)
            e += 2
            if text.startswith("}}", e):
                i = e + 2
            elif e < n and text[e] in _SPACE and text.startswith("-}}", e + 1):
                i = e + 4
                while i < n and text[i] in _SPACE:
                    i += 1
            else:
                return fail("comment ends before closing delimiter", e)
            continue
        add(_LDELIM, "{{", j)
        depth = 0
        while True:
            if k >= n:
                return fail("unclosed action", k)
            ch = text[k]
            if text.startswith("}}", k) or (ch in _SPACE and text.startswith("-}}", k + 1)):
                trim_right = not text.startswith("}}", k)
                if depth > 0:
                    return fail("unclosed left paren", k)
                add(_RDELIM, "}}", k)
                k += 4 if trim_right else 2
                if trim_right:
                    while k < n and text[k] in _SPACE:
                        k += 1
                i = k
                break
            start = k
            if ch in _SPACE:
                while k < n and text[k] in _SPACE and not text.startswith("-}}", k + 1):
                    k += 1
                if k == start:  # a single space before the trim marker
                    k += 1
                add(_SPACE_T, text[start:k], start)
            elif ch == "|":
                add(_PIPE, ch, k)
                k += 1
            elif ch == "(":
                depth += 1
                add(_LPAREN, ch, k)
                k += 1
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    return fail("unexpected right paren", k)
                add(_RPAREN, ch, k)
                k += 1
            elif ch == ":":
                if not text.startswith(":=", k):
                    return fail("expected :=", k)
                add(_DECLARE, ":=", k)
                k += 2
            elif ch == "=":
                add(_ASSIGN, ch, k)
                k += 1
            elif ch in "\"'":
                k += 1
                while True:
                    if k >= n or text[k] == "\n":
                        what = "quoted string" if ch == '"' else "character constant"
                        return fail(f"unterminated {what}", start)
                    if text[k] == "\\":
                        k += 2
                        continue
                    k += 1
                    if text[k - 1] == ch:
                        break
                add(_STRING if ch == '"' else _CHARCONST, text[start:k], start)
            elif ch == "`":
                e = text.find("`", k + 1)
                if e < 0:
                    return fail("unterminated raw quoted string", start)
                k = e + 1
                add(_RAW, text[start:k], start)
            elif ch == "$":
                k += 1
                while k < n and _is_alnum(text[k]):
                    k += 1
                if not _at_terminator(text, k):
                    return fail(f"bad character {_char_desc(text[k])}", k)
                add(_VAR, text[start:k], start)
            elif ch == "." and not (k + 1 < n and text[k + 1].isdigit()):
                k += 1
                while k < n and _is_alnum(text[k]):
                    k += 1
                if not _at_terminator(text, k):
                    return fail(f"bad character {_char_desc(text[k])}", k)
                add(_DOT if k == start + 1 else _FIELD, text[start:k], start)
            elif ch.isdigit() or ch in "+-.":
                k = _scan_number(text, k)
                if k < n and _is_alnum(text[k]) or k == start:
                    return fail(f"bad number syntax: {_go_quote(text[start : k + 1])}", start)
                add(_NUMBER, text[start:k], start)
            elif _is_alnum(ch):
                while k < n and _is_alnum(text[k]):
                    k += 1
                word = text[start:k]
                if not _at_terminator(text, k):
                    return fail(f"bad character {_char_desc(text[k])}", k)
                if word in _KEYWORDS:
                    add(_KEYWORD, word, start)
                elif word in ("true", "false"):
                    add(_BOOL, word, start)
                elif word == "nil":
                    add(_NIL, word, start)
                else:
                    add(_IDENT, word, start)
            elif ord(ch) < 0x80 and ch.isprintable():
                add(_CHAR, ch, k)
                k += 1
            else:
                return fail(f"unrecognized character in action: {_char_desc(ch)}", k)
    add(_EOF, "", n)
    return toks


def _char_desc(ch: str) -> str:
    return f"U+{ord(ch):04X} {_go_quote(ch, chr(39))}"


def _scan_number(text: str, k: int) -> int:
    n = len(text)

    def accept(chars: str) -> bool:
        nonlocal k
        if k < n and text[k] in chars:
            k += 1
            return True
        return False

    def run(chars: str) -> None:
        nonlocal k
        while k < n and text[k] in chars:
            k += 1

    accept("+-")
    digits = "0123456789_"
    if accept("0"):
        if accept("xX"):
            digits = "0123456789abcdefABCDEF_"
        elif accept("oO"):
            digits = "01234567_"
        elif accept("bB"):
            digits = "01_"
    run(digits)
    if accept("."):
        run(digits)
    if len(digits) == 11 and accept("eE"):
        accept("+-")
        run("0123456789_")
    if len(digits) == 23 and accept("pP"):
        accept("+-")
        run("0123456789_")
    return k


# --------------------------------------------------------------------------- string literals

_SIMPLE_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _unquote(lit: str) -> str:
    """Go's strconv.Unquote for "..." and '...' literals; raises ValueError."""
    q, body = lit[0], lit[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8", errors="surrogatepass")
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError
        e = body[i + 1]
        i += 2
        if e in _SIMPLE_ESC:
            out.append(_SIMPLE_ESC[e])
        elif e == q:
            out.append(ord(q))
        elif e in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[e]
            hexd = body[i : i + size]
            if len(hexd) != size or any(c not in "0123456789abcdefABCDEF" for c in hexd):
                raise ValueError
            i += size
            v = int(hexd, 16)
            if e == "x":
                out.append(v)
            else:
                if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                    raise ValueError
                out += chr(v).encode()
        elif e in "01234567":
            octd = body[i - 1 : i + 2]
            if len(octd) != 3 or any(c not in "01234567" for c in octd) or int(octd, 8) > 255:
                raise ValueError
            i += 2
            out.append(int(octd, 8))
        else:
            raise ValueError
    return out.decode("utf-8", errors="replace")


def _parse_number(text: str) -> int | float:
    """The value Go gives a numeric constant used as an interface{} argument."""
    t = text.replace("_", "")
    sign = -1 if t.startswith("-") else 1
    body = t.lstrip("+-")
    low = body.lower()
    is_hex = low.startswith("0x")
    if is_hex:
        if "p" in low:
            return sign * float.fromhex(body)
        if "." in low:
            raise ValueError
        return sign * int(body[2:], 16)
    if low.startswith("0o"):
        return sign * int(body[2:], 8)
    if low.startswith("0b"):
        return sign * int(body[2:], 2)
    if any(c in low for c in ".e"):
        return sign * float(body)
    if len(body) > 1 and body.startswith("0"):
        return sign * int(body, 8)
    return sign * int(body)


# --------------------------------------------------------------------------- nodes


class _Node:
    pos = 0


class _Text(_Node):
    def __init__(self, text: str, pos: int) -> None:
        self.text, self.pos = text, pos


class _Field(_Node):
    def __init__(self, idents: list[str], pos: int) -> None:
        self.idents, self.pos = idents, pos

    def __str__(self) -> str:
        return "".join("." + i for i in self.idents)


class _Variable(_Node):
    def __init__(self, name: str, idents: list[str], pos: int) -> None:
        self.name, self.idents, self.pos = name, idents, pos

    def __str__(self) -> str:
        return self.name + "".join("." + i for i in self.idents)


class _Chain(_Node):
    def __init__(self, node: _Node, fields: list[str], pos: int) -> None:
        self.node, self.fields, self.pos = node, fields, pos

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
        return inner + "".join("." + f for f in self.fields)


class _Ident(_Node):
    def __init__(self, name: str, pos: int) -> None:
        self.name, self.pos = name, pos

    def __str__(self) -> str:
        return self.name


class _Literal(_Node):
    """dot, nil, bool, number and string constants."""

    def __init__(self, kind: str, value: Any, text: str, pos: int) -> None:
        self.kind, self.value, self.text, self.pos = kind, value, text, pos

    def __str__(self) -> str:
        return self.text


class _Command(_Node):
    def __init__(self, pos: int) -> None:
        self.args: list[_Node] = []
        self.pos = pos

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


class _Pipe(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.decl: list[_Variable] = []
        self.is_assign = False
        self.cmds: list[_Command] = []

    def __str__(self) -> str:
        s = ""
        if self.decl:
            s = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return s + " | ".join(str(c) for c in self.cmds)


class _Action(_Node):
    def __init__(self, pipe: _Pipe, pos: int) -> None:
        self.pipe, self.pos = pipe, pos

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class _Control(_Node):
    def __init__(self, kind: str, pipe: _Pipe, body: list, else_body: list | None, pos: int):
        self.kind, self.pipe, self.body, self.else_body, self.pos = kind, pipe, body, else_body, pos


class _Marker(_Node):
    """{{end}}, {{else}}, {{break}}, {{continue}}."""

    def __init__(self, kind: str, pos: int) -> None:
        self.kind, self.pos = kind, pos

    def __str__(self) -> str:
        return "{{" + self.kind.split()[0] + "}}"


# --------------------------------------------------------------------------- parser


_COMMAND_START = (
    _BOOL,
    _CHARCONST,
    _DOT,
    _FIELD,
    _IDENT,
    _NUMBER,
    _NIL,
    _RAW,
    _STRING,
    _VAR,
    _LPAREN,
)


class _Parser:
    def __init__(self, text: str, name: str) -> None:
        self.toks = _lex(text)
        self.p = 0
        self.name = name
        self.vars = ["$"]
        self.range_depth = 0
        self.last = self.toks[0]

    def next(self) -> _Tok:
        t = self.toks[self.p]
        if self.p < len(self.toks) - 1:
            self.p += 1
        self.last = t
        return t

    def backup(self) -> None:
        self.p -= 1

    def peek(self) -> _Tok:
        return self.toks[self.p]

    def next_nonspace(self) -> _Tok:
        t = self.next()
        while t.kind == _SPACE_T:
            t = self.next()
        return t

    def peek_nonspace(self) -> _Tok:
        t = self.next_nonspace()
        self.backup()
        return t

    def errorf(self, msg: str, tok: _Tok | None = None) -> None:
        line = (tok or self.last).line
        raise TemplateError(f"template: {self.name}:{line}: {msg}")

    def unexpected(self, tok: _Tok, context: str) -> None:
        if tok.kind == _ERROR:
            self.errorf(tok.val, tok)
        self.errorf(f"unexpected {tok} in {context}", tok)

    def expect(self, kind: int, context: str) -> _Tok:
        t = self.next_nonspace()
        if t.kind != kind:
            self.unexpected(t, context)
        return t

    def parse(self) -> list[_Node]:
        root: list[_Node] = []
        while self.peek().kind != _EOF:
            node = self.text_or_action()
            if isinstance(node, _Marker) and node.kind.startswith(("end", "else")):
                self.errorf(f"unexpected {node}")
            root.append(node)
        return root

    def text_or_action(self) -> _Node:
        t = self.next_nonspace()
        if t.kind == _TEXT:
            return _Text(t.val, t.pos)
        if t.kind == _LDELIM:
            return self.action()
        self.unexpected(t, "input")
        raise AssertionError  # unreachable

    def action(self) -> _Node:
        t = self.next_nonspace()
        if t.kind == _KEYWORD:
            kw = t.val
            if kw == "end":
                self.expect(_RDELIM, "end")
                return _Marker("end", t.pos)
            if kw == "else":
                nxt = self.peek_nonspace()
                if nxt.kind == _KEYWORD and nxt.val in ("if", "with"):
                    return _Marker("else " + nxt.val, t.pos)
                self.expect(_RDELIM, "else")
                return _Marker("else", t.pos)
            if kw in ("if", "with", "range"):
                return self.control(kw, t)
            if kw in ("break", "continue"):
                self.expect(_RDELIM, f"{{{{{kw}}}}}")
                if self.range_depth == 0:
                    self.errorf(f"{{{{{kw}}}}} outside {{{{range}}}}", t)
                return _Marker(kw, t.pos)
            self.errorf(f"{{{{{kw}}}}} is not supported", t)
        self.backup()
        start = self.peek_nonspace()
        return _Action(self.pipeline("command", _RDELIM), start.pos)

    def control(self, kind: str, tok: _Tok) -> _Control:
        mark = len(self.vars)
        pipe = self.pipeline(kind, _RDELIM)
        if kind == "range":
            self.range_depth += 1
        body, nxt = self.item_list()
        if kind == "range":
            self.range_depth -= 1
        else_body: list | None = None
        if nxt.kind.startswith("else"):
            if nxt.kind == "else " + kind and kind != "range":
                kw = self.next_nonspace()  # the 'if'/'with' after else
                else_body = [self.control(kind, kw)]
            elif nxt.kind != "else":
                self.errorf(f"unexpected <{nxt.kind.split()[1]}> in input")
            else:
                else_body, end = self.item_list()
                if end.kind != "end":
                    self.errorf(f"expected end; found {end}")
        del self.vars[mark:]
        return _Control(kind, pipe, body, else_body, tok.pos)

    def item_list(self) -> tuple[list[_Node], _Marker]:
        items: list[_Node] = []
        while self.peek_nonspace().kind != _EOF:
            node = self.text_or_action()
            if isinstance(node, _Marker) and node.kind.startswith(("end", "else")):
                return items, node
            items.append(node)
        self.errorf("unexpected EOF", self.peek())
        raise AssertionError  # unreachable

    def pipeline(self, context: str, end: int) -> _Pipe:
        pipe = _Pipe(self.peek_nonspace().pos)
        while True:
            save = self.p
            v = self.peek_nonspace()
            if v.kind != _VAR:
                break
            self.next_nonspace()
            nxt = self.peek_nonspace()
            if nxt.kind in (_ASSIGN, _DECLARE):
                pipe.is_assign = nxt.kind == _ASSIGN
                self.next_nonspace()
                pipe.decl.append(_Variable(v.val, [], v.pos))
                self.vars.append(v.val)
                break
            if nxt.kind == _CHAR and nxt.val == ",":
                self.next_nonspace()
                pipe.decl.append(_Variable(v.val, [], v.pos))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_nonspace().kind in (_VAR, _RDELIM, _RPAREN):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            self.p = save
            break
        while True:
            t = self.next_nonspace()
            if t.kind == end:
                self.check_pipeline(pipe, context)
                return pipe
            if t.kind in _COMMAND_START:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(t, context)

    def check_pipeline(self, pipe: _Pipe, context: str) -> None:
        if not pipe.cmds:
            self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            first = c.args[0]
            if isinstance(first, _Literal):
                self.errorf(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> _Command:
        cmd = _Command(self.peek_nonspace().pos)
        while True:
            self.peek_nonspace()
            op = self.operand()
            if op is not None:
                cmd.args.append(op)
            t = self.next()
            if t.kind == _SPACE_T:
                continue
            if t.kind in (_RDELIM, _RPAREN):
                self.backup()
            elif t.kind != _PIPE:
                self.unexpected(t, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind == _FIELD:
            pos = self.peek().pos
            fields = []
            while self.peek().kind == _FIELD:
                fields.append(self.next().val[1:])
            if isinstance(node, _Field):
                return _Field(node.idents + fields, pos)
            if isinstance(node, _Variable):
                return _Variable(node.name, node.idents + fields, pos)
            if isinstance(node, _Literal):
                self.errorf(f"unexpected . after term {str(node)!r}".replace("'", '"'))
            return _Chain(node, fields, pos)
        return node

    def term(self) -> _Node | None:
        t = self.next_nonspace()
        k = t.kind
        if k == _IDENT:
            if t.val not in _FUNCS:
                self.errorf(f'function "{t.val}" not defined', t)
            return _Ident(t.val, t.pos)
        if k == _DOT:
            return _Literal("dot", None, ".", t.pos)
        if k == _NIL:
            return _Literal("nil", None, "nil", t.pos)
        if k == _VAR:
            if t.val not in self.vars:
                self.errorf(f'undefined variable "{t.val}"', t)
            return _Variable(t.val, [], t.pos)
        if k == _FIELD:
            return _Field([t.val[1:]], t.pos)
        if k == _BOOL:
            return _Literal("bool", t.val == "true", t.val, t.pos)
        if k == _NUMBER:
            try:
                value: Any = _parse_number(t.val)
            except ValueError:
                self.errorf(f"illegal number syntax: {_go_quote(t.val)}", t)
            return _Literal("number", value, t.val, t.pos)
        if k == _CHARCONST:
            try:
                s = _unquote(t.val)
            except ValueError:
                s = ""
            if len(s) != 1:
                self.errorf(f"malformed character constant: {t.val}", t)
            return _Literal("number", ord(s), t.val, t.pos)
        if k == _LPAREN:
            return self.pipeline("parenthesized pipeline", _RPAREN)
        if k == _STRING:
            try:
                return _Literal("string", _unquote(t.val), t.val, t.pos)
            except ValueError:
                self.errorf("invalid syntax", t)
        if k == _RAW:
            return _Literal("string", t.val[1:-1].replace("\r", ""), t.val, t.pos)
        self.backup()
        return None


# --------------------------------------------------------------------------- execution


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _State:
    def __init__(self, tmpl: Template, data: Any) -> None:
        self.tmpl = tmpl
        self.vars: list[list[Any]] = [["$", data]]
        self.out: list[str] = []
        self.node: _Node | None = None

    # errors -----------------------------------------------------------------
    def error(self, msg: str) -> None:
        text = self.tmpl.text
        node = self.node
        pos = node.pos if node is not None else 0
        prefix = text[:pos]
        line = prefix.count("\n") + 1
        col = len(prefix[prefix.rfind("\n") + 1 :].encode("utf-8", errors="surrogatepass"))
        name = self.tmpl.name
        raise TemplateError(f'template: {name}:{line}:{col}: executing "{name}" at <{node}>: {msg}')

    # variables ----------------------------------------------------------------
    def var_value(self, name: str) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        self.error(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        self.error(f"undefined variable: {name}")

    # walking ------------------------------------------------------------------
    def walk(self, dot: Any, nodes: list[_Node]) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif isinstance(node, _Action):
                val = self.eval_pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.out.append(go_sprint(val))
            elif isinstance(node, _Control):
                if node.kind == "range":
                    self.walk_range(dot, node)
                else:
                    self.walk_if_with(dot, node)
            elif isinstance(node, _Marker):
                if node.kind == "break":
                    raise _Break
                raise _Continue

    def walk_if_with(self, dot: Any, node: _Control) -> None:
        mark = len(self.vars)
        val = self.eval_pipeline(dot, node.pipe)
        if _truth(val):
            self.walk(val if node.kind == "with" else dot, node.body)
        elif node.else_body is not None:
            self.walk(dot, node.else_body)
        del self.vars[mark:]

    def walk_range(self, dot: Any, node: _Control) -> None:
        mark = len(self.vars)
        self.node = node.pipe.cmds[-1]
        val = self.eval_pipeline(dot, node.pipe)
        decl = node.pipe.decl
        items: Any
        if val is None or val is MISSING:
            items = []
        elif isinstance(val, (Struct, str, float)):
            self.node = node.pipe.cmds[-1]
            self.error(f"range can't iterate over {go_sprint(val)}")
        elif isinstance(val, dict):
            items = [(k, val[k]) for k in _sorted_keys(val)]
        elif isinstance(val, (list, tuple)):
            items = list(enumerate(val))
        elif isinstance(val, int) and not isinstance(val, bool):
            if len(decl) > 1:
                self.node = node.pipe.cmds[-1]
                self.error(f"can't use {val} to iterate over more than one variable")
            items = [(i, i) for i in range(val)]
        else:
            self.node = node.pipe.cmds[-1]
            self.error(f"range can't iterate over {go_sprint(val)}")
        try:
            for index, elem in items:
                if decl:
                    if node.pipe.is_assign:
                        if len(decl) > 1:
                            self.set_var(decl[0].name, index)
                            self.set_var(decl[1].name, elem)
                        else:
                            self.set_var(decl[0].name, elem)
                    else:
                        self.vars[-1][1] = elem
                        if len(decl) > 1:
                            self.vars[-2][1] = index
                vmark = len(self.vars)
                try:
                    self.walk(elem, node.body)
                except _Continue:
                    pass
                finally:
                    del self.vars[vmark:]
        except _Break:
            pass
        if not items and node.else_body is not None:
            self.walk(dot, node.else_body)
        del self.vars[mark:]

    # evaluation ---------------------------------------------------------------
    def eval_pipeline(self, dot: Any, pipe: _Pipe) -> Any:
        value: Any = _NOARG
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for v in pipe.decl:
            if pipe.is_assign:
                self.set_var(v.name, value)
            else:
                self.vars.append([v.name, value])
        return value

    def not_a_function(self, args: list[_Node], final: Any) -> None:
        if len(args) > 1 or final is not _NOARG:
            self.error(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: _Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, _Field):
            self.node = first
            return self.eval_field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, _Chain):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, _Ident):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, _Pipe):
            self.node = first
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, _Variable):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        assert isinstance(first, _Literal)
        if first.kind == "nil":
            self.error("nil is not a command")
        if first.kind == "dot":
            return dot
        return first.value

    def eval_chain(self, dot: Any, chain: _Chain, args: list[_Node], final: Any) -> Any:
        self.node = chain
        receiver = self.eval_arg(dot, chain.node)
        self.node = chain
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable(self, dot: Any, var: _Variable, args: list[_Node], final: Any) -> Any:
        self.node = var
        value = self.var_value(var.name)
        if not var.idents:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, var, var.idents, args, final)

    def eval_field_chain(
        self, dot: Any, receiver: Any, node: _Node, idents: list[str], args: list, final: Any
    ) -> Any:
        for name in idents[:-1]:
            receiver = self.eval_field(dot, name, node, [], _NOARG, receiver)
        return self.eval_field(dot, idents[-1], node, args, final, receiver)

    def eval_field(
        self, dot: Any, name: str, node: _Node, args: list, final: Any, receiver: Any
    ) -> Any:
        if receiver is MISSING:
            return MISSING
        has_args = len(args) > 1 or final is not _NOARG
        if isinstance(receiver, Struct):
            if name in receiver:
                value = receiver[name]
                if callable(value):
                    argv = [self.eval_arg(dot, a) for a in args[1:]]
                    if final is not _NOARG:
                        argv.append(final)
                    self.node = node
                    try:
                        return value(*argv)
                    except TypeError as e:
                        self.error(f"wrong number of args for {name}: {e}")
                    except HoodError as e:
                        self.error(f"error calling {name}: {e}")
                if has_args:
                    self.error(f"{name} has arguments but cannot be invoked as function")
                return value
            self.error(f"can't evaluate field {name} in type {receiver.type_name}")
        if isinstance(receiver, dict):
            if has_args:
                self.error(f"{name} is not a method but has arguments")
            return receiver.get(name, MISSING)
        if receiver is None:
            self.error(f"nil pointer evaluating interface {{}}.{name}")
        self.error(f"can't evaluate field {name} in type {go_type(receiver)}")

    def eval_arg(self, dot: Any, node: _Node) -> Any:
        self.node = node
        if isinstance(node, _Literal):
            return dot if node.kind == "dot" else node.value
        if isinstance(node, _Field):
            return self.eval_field_chain(dot, dot, node, node.idents, [node], _NOARG)
        if isinstance(node, _Variable):
            return self.eval_variable(dot, node, [node], _NOARG)
        if isinstance(node, _Pipe):
            return self.eval_pipeline(dot, node)
        if isinstance(node, _Ident):
            return self.eval_function(dot, node, node, [node], _NOARG)
        if isinstance(node, _Chain):
            return self.eval_chain(dot, node, [node], _NOARG)
        self.error(f"can't handle {node} as an argument")

    def check_literal(self, node: _Literal, kind: str) -> None:
        """Go's wording for a constant of the wrong kind passed to a typed parameter."""
        self.node = node
        if kind == "str" and node.kind != "string":
            self.error(f"expected string; found {node}")
        if kind == "int" and not (node.kind == "number" and isinstance(node.value, int)):
            self.error(f"expected integer; found {node}")
        if kind == "strlist":
            self.error(f"can't handle {node} for arg of type []string")

    def check_type(self, value: Any, kind: str) -> Any:
        if kind == "value":
            return value
        if kind == "any":
            return None if value is MISSING else value
        want = _GO_KIND_NAMES[kind]
        if value is None or value is MISSING:
            self.error(f"invalid value; expected {want}")
        ok = (
            (kind == "str" and isinstance(value, str))
            or (kind == "int" and isinstance(value, int) and not isinstance(value, bool))
            or (
                kind == "strlist"
                and isinstance(value, (list, tuple))
                and all(isinstance(x, str) for x in value)
            )
        )
        if not ok:
            self.error(f"wrong type for value; expected {want}; got {go_type(value)}")
        return value

    def eval_function(
        self, dot: Any, ident: _Ident, cmd: _Node, args: list[_Node], final: Any
    ) -> Any:
        name = ident.name
        fn, params, variadic = _FUNCS[name]
        self.node = cmd
        nodes = args[1:]
        num_in = len(nodes) + (final is not _NOARG)
        if variadic is not None:
            if num_in < len(params):
                self.error(
                    f"wrong number of args for {name}: want at least {len(params)} got {num_in}"
                )
        elif num_in != len(params):
            self.error(f"wrong number of args for {name}: want {len(params)} got {num_in}")
        if fn is None:  # and / or: short-circuit
            v: Any = None
            for n in nodes:
                v = self.eval_arg(dot, n)
                if _truth(v) == (name == "or"):
                    return v
            if final is not _NOARG:
                v = final
            return v
        values = []
        for i, n in enumerate(nodes):
            kind = params[i] if i < len(params) else variadic
            if isinstance(n, _Literal) and n.kind != "dot" and kind in _GO_KIND_NAMES:
                self.check_literal(n, kind)
            v = self.eval_arg(dot, n)
            self.node = n
            values.append(self.check_type(v, kind or "any"))
        if final is not _NOARG:
            i = len(nodes)
            self.node = cmd
            values.append(
                self.check_type(final, (params[i] if i < len(params) else variadic) or "any")
            )
        self.node = cmd
        try:
            return fn(*values)
        except _FuncError as e:
            self.error(f"error calling {name}: {e}")


# --------------------------------------------------------------------------- API


class Template:
    """A parsed template; ``execute(data)`` renders it."""

    def __init__(self, text: str, name: str, root: list[_Node]) -> None:
        self.text = text
        self.name = name
        self._root = root

    def execute(self, data: Any) -> str:
        state = _State(self, data)
        state.walk(data, self._root)
        return "".join(state.out)


def compile_template(text: str, name: str = "") -> Template:
    """Parse a Go template; raises TemplateError with Go's wording."""
    return Template(text, name, _Parser(text, name).parse())


def split_table_prefix(text: str) -> tuple[bool, str]:
    """Docker's ``table`` format prefix: (is_table, template without the prefix).

    Like docker, any format starting with ``table`` is a table; the rest is
    stripped of surrounding spaces.
    """
    if text.startswith("table"):
        return True, text[len("table") :].strip(" ")
    return False, text


def preformat(text: str) -> tuple[bool, str]:
    """Docker's formatter preprocessing: strip ``table``, trim spaces, expand ``\\t`` ``\\n``."""
    is_table, rest = split_table_prefix(text)
    rest = rest.strip(" ")
    out, i = [], 0
    while i < len(rest):
        if rest.startswith("\\t", i):
            out.append("\t")
            i += 2
        elif rest.startswith("\\n", i):
            out.append("\n")
            i += 2
        else:
            out.append(rest[i])
            i += 1
    return is_table, "".join(out)
