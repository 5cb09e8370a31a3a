"""Flag values read as Go reads them: strconv's ParseBool, ParseInt and ParseFloat,
go-units' RAMInBytes, and strconv.Quote for the values quoted in error messages. Apart from
the declarations and the parsing, so a flag's `convert` and a handler can use them too.

This module imports nothing at load: `hood run` reads its flags with it."""

from __future__ import annotations


def go_quote(text: str) -> str:
    """Go's strconv.Quote, for the values quoted in error messages."""
    from hood.core.jsonio import go_quote as quote

    return quote(text)


_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def parse_bool(text: str) -> bool:
    """strconv.ParseBool."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"strconv.ParseBool: parsing {go_quote(text)}: invalid syntax")


def parse_int(text: str) -> int:
    """strconv.ParseInt(text, 0, 64): decimal, 0x, 0o, 0b or a leading 0 for octal."""
    body = text[1:] if text[:1] in "+-" else text
    base = 10
    if body[:2] in ("0x", "0X"):
        base, body = 16, body[2:]
    elif body[:2] in ("0o", "0O"):
        base, body = 8, body[2:]
    elif body[:2] in ("0b", "0B"):
        base, body = 2, body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, body = 8, body[1:]
    bad = ValueError(f"strconv.ParseInt: parsing {go_quote(text)}: invalid syntax")
    if not body or body.strip() != body or body[0] in "+-_" or body.endswith("_"):
        raise bad
    try:
        value = int(body, base)
    except ValueError:
        raise bad from None
    if text[:1] == "-":
        value = -value
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(text)}: value out of range")
    return value


def parse_float(text: str) -> float:
    """strconv.ParseFloat(text, 64)."""
    bad = ValueError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax")
    if not text or text.strip() != text or "_" in text:
        raise bad
    try:
        return float(text)
    except ValueError:
        raise bad from None


def ram_in_bytes(text: str) -> int:
    """docker/go-units RAMInBytes: `64m`, `1.5g`, `512 KiB`, `100` (bytes), binary units."""
    bad = ValueError(f"invalid size: '{text}'")
    i = 0
    while i < len(text) and (text[i].isdigit() or (text[i] == "." and i > 0)):
        i += 1
    number, unit = text[:i], text[i:]
    if not number or not number[0].isdigit() or number.endswith("."):
        raise bad
    unit = unit.removeprefix(" ").lower()
    if unit.endswith("b"):
        unit = unit[:-1]
    if unit.endswith("i") and len(unit) == 2:
        unit = unit[:-1]
    if unit not in ("", "k", "m", "g", "t", "p"):
        raise bad
    try:
        size = float(number)
    except ValueError:
        raise bad from None
    return int(size * 1024 ** ("", "k", "m", "g", "t", "p").index(unit))
