"""JSON in and out, for every part of hood.

`loads` and `dumps` run json's C scanner and encoder directly: `import json` pulls in `re`
and `enum`, milliseconds that `hood run` cannot spare, and every answer here is json's own
(a document the scanner does not take goes to `json.loads`, which raises what it raises)."""

from __future__ import annotations

try:
    import _json
except ImportError:  # pragma: no cover - every CPython has it
    _json = None  # type: ignore[assignment]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _DecodeContext:
    """The attributes json's C scanner reads off a JSONDecoder, with json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_WHITESPACE = " \t\n\r"
_scan = _json.make_scanner(_DecodeContext()) if _json is not None else None


def loads(data: bytes | str) -> Any:
    """json.loads, for the documents hood writes (UTF-8, one value)."""
    if _scan is not None:
        try:
            text = data.decode() if isinstance(data, bytes) else data
            start = len(text) - len(text.lstrip(_WHITESPACE))
            value, end = _scan(text, start)
            if not text[end:].strip(_WHITESPACE) and not text.startswith("\ufeff"):
                return value
        except (StopIteration, ValueError, SystemError):
            # The scanner raises its JSONDecodeError only when json.decoder is already
            # imported (it never imports it): otherwise a SystemError. json.loads says it.
            pass
    import json

    return json.loads(data)


def _unserializable(o: object) -> object:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(
    obj: Any, separators: tuple[str, str] = (", ", ": "), *, ensure_ascii: bool = True
) -> str:
    """json.dumps(obj, separators=separators, ensure_ascii=...): no indent, keys unsorted."""
    if _json is not None:
        encode = _json.make_encoder(
            {},  # markers: circular references raise ValueError, as json's
            _unserializable,
            _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring,
            None,
            separators[1],
            separators[0],
            False,  # sort_keys
            False,  # skipkeys
            True,  # allow_nan
        )
        return "".join(encode(obj, 0))
    import json  # pragma: no cover

    return json.dumps(obj, separators=separators, ensure_ascii=ensure_ascii)  # pragma: no cover


def load_object(
    raw: bytes, what: str, error: type[Exception], *, bounded: bool = True, max_size: int = 0
) -> dict[str, Any]:
    """A JSON object from bytes, or `error` naming `what`. `bounded` (for what comes from
    outside): nesting and size limited, strings decoded as Go decodes them (core.jsonlimits);
    the store's own files, written through these checks, are read without them."""
    if bounded:
        from hood.core.jsonlimits import JSONRefused, loads_bounded

        try:
            doc = loads_bounded(raw, what=what, max_size=max_size or max(len(raw), 1))
        except JSONRefused as exc:
            raise error(str(exc)) from None
    else:
        try:
            doc = loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise error(f"{what}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise error(f"{what}: not a JSON object")
    return doc



# --- Go's encoding/json, for output that must read as docker's ------------------------------
#
# One writer for every place hood prints JSON the way a Go program does (`docker inspect`,
# the `json` template function, `docker manifest inspect`). What Go does and Python's json
# does not: U+2028/U+2029 are always escaped, HTML characters optionally, floats use Go's
# shortest forms and its 1e21 / 1e-6 switch to exponents, and a lone UTF-16 surrogate (what
# Python's json makes of "\ud800") is written as U+FFFD, which is what Go's decoder would
# have made of it.


class RawJSON(str):
    """Text that is JSON already: written as is by go_json."""


_ESCAPES: dict[tuple[bool, bool], dict[int, str]] = {}


def _escape_table(html: bool, short_bf: bool) -> dict[int, str]:
    table = _ESCAPES.get((html, short_bf))
    if table is None:
        table = {i: f"\\u{i:04x}" for i in range(0x20)}
        table.update({0x22: '\\"', 0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"})
        if short_bf:  # Go >= 1.22; older Go (dockerd 20.10) writes \u0008 and \u000c
            table.update({0x08: "\\b", 0x0C: "\\f"})
        table.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
        if html:
            table.update({0x3C: "\\u003c", 0x3E: "\\u003e", 0x26: "\\u0026"})
        table.update(dict.fromkeys(range(0xD800, 0xE000), "\ufffd"))
        _ESCAPES[(html, short_bf)] = table
    return table


_SURROGATES: dict[int, str] = {}


def go_text(text: str) -> str:
    """`text` as Go holds a decoded JSON string: a lone UTF-16 surrogate (which Python's
    json keeps from "\\ud800") is U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        if not _SURROGATES:
            _SURROGATES.update(dict.fromkeys(range(0xD800, 0xE000), "\ufffd"))
        return text.translate(_SURROGATES)
    return text


def go_string(text: str, *, html: bool = False, short_bf: bool = True) -> str:
    """`text` as Go's encoding/json writes a string, quotes included. `html`: <, > and &
    as \\u escapes (json.Marshal's default; docker's encoders turn it off); `short_bf`:
    \\b and \\f as Go 1.22 and later write them."""
    return '"' + text.translate(_escape_table(html, short_bf)) + '"'


def go_quote(s: str, quote: str = '"') -> str:
    """Go's strconv.Quote (or QuoteRune with quote="'"): printable characters as they
    are, the rest escaped as Go escapes them."""
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


def float_digits(f: float) -> tuple[str, int]:
    """The shortest decimal digits that read back as abs(f), and where the point goes:
    abs(f) == 0.DIGITS × 10**point. Go's strconv and Python's repr agree on the digits."""
    if f == 0:
        return "0", 1
    mantissa, _, exponent = repr(abs(f)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0") or "0", point


def format_e(digits: str, point: int, exp_char: str = "e") -> str:
    """strconv's 'e' format of float_digits, exponent with at least two digits."""
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exp = point - 1 if digits != "0" else 0
    return f"{mantissa}{exp_char}{'-' if exp < 0 else '+'}{abs(exp):02d}"


def format_f(digits: str, point: int) -> str:
    """strconv's 'f' format of float_digits."""
    if point <= 0:
        return "0." + "0" * (-point) + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def go_float(f: float) -> str:
    """A float64 as encoding/json writes it; NaN and infinities raise ValueError."""
    if f != f or f in (float("inf"), float("-inf")):
        word = "NaN" if f != f else ("+Inf" if f > 0 else "-Inf")
        raise ValueError(f"json: unsupported value: {word}")
    digits, point = float_digits(f)
    sign = "-" if f < 0 or (f == 0 and str(f).startswith("-")) else ""
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        text = format_e(digits, point)
        if text[-4:-1] == "e-0":  # Go cleans e-09 up to e-9
            text = text[:-2] + text[-1]
        return sign + text
    return sign + format_f(digits, point)


def go_json(
    value: Any,
    *,
    indent: str | None = None,
    prefix: str = "",
    html: bool = False,
    convert: Any = None,
) -> str:
    """Go's json.Marshal of a decoded-JSON-shaped value (json.MarshalIndent with `indent`).

    Objects keep their key order (a Go struct's field order; a caller that stands in for a
    Go map sorts first). `convert(value)`, when given, is applied to every value before it
    is written and returns what to write instead: how callers map their own types (typed
    nils, structs with omitempty, time values) onto plain ones. RawJSON goes in verbatim."""
    parts: list[str] = []
    _encode(value, parts, html, convert)
    text = "".join(parts)
    if indent is None:
        return text
    return go_indent(text, indent, prefix)


def _encode(value: Any, out: list[str], html: bool, convert: Any) -> None:
    if convert is not None:
        value = convert(value)
    if isinstance(value, RawJSON):
        out.append(value)
    elif isinstance(value, str):
        out.append(go_string(value, html=html))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(go_float(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(go_string(str(key), html=html))
            out.append(":")
            _encode(item, out, html, convert)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, html, convert)
        out.append("]")
    else:
        raise TypeError(f"json: unsupported type: {type(value).__name__}")


def go_indent(raw: bytes | str, indent: str, prefix: str = "") -> str:
    """Go's json.Indent: the same tokens, each element on a line of its own, `prefix` then
    `indent` per level; empty {} and [] stay as they are; leading whitespace is dropped,
    trailing whitespace kept."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    body = text.strip(" \t\r\n")
    trailing = text[len(text.rstrip(" \t\r\n")) :]
    out: list[str] = []
    depth = 0
    need_indent = False
    in_string = escaped = False
    newline = "\n" + prefix
    for ch in body:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch in " \t\r\n":
            continue
        if need_indent and ch not in "}]":
            need_indent = False
            out.append(newline + indent * depth)
        if ch == '"':
            in_string = True
            out.append(ch)
        elif ch in "{[":
            out.append(ch)
            depth += 1
            need_indent = True
        elif ch == ",":
            out.append("," + newline + indent * depth)
        elif ch == ":":
            out.append(": ")
        elif ch in "}]":
            depth -= 1
            if need_indent:
                need_indent = False
            else:
                out.append(newline + indent * depth)
            out.append(ch)
        else:
            out.append(ch)
    return "".join(out) + trailing
