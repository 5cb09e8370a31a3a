"""Text from outside (a registry's error messages, media types, platform strings) made safe
to print: quoted and escaped as Go's `%q` (strconv.Quote) does, so that control characters,
terminal escape sequences, newlines and invisible format characters never reach a terminal
raw. Dependency-free (stdlib only, nothing imported)."""

from __future__ import annotations

_SHORT = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}


def quote_untrusted(text: str, limit: int | None = None) -> str:
    """`text` as Go's `%q` prints it: in double quotes, `"` and `\\` escaped, printable
    characters kept (any script), everything else escaped (`\\n`, `\\x1b`, `\\u202e`,
    `\\U000e0001`). Lone surrogates from `surrogateescape` decoding come out as the `\\xNN`
    of the byte they stand for, as Go shows invalid UTF-8. With `limit`, at most that many
    characters of `text` are shown, followed by `...` after the closing quote."""
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[:limit]
    if text.isprintable() and '"' not in text and "\\" not in text:
        body = text
    else:
        body = "".join(_escape(c) for c in text)
    return f'"{body}"...' if cut else f'"{body}"'


def _escape(c: str) -> str:
    short = _SHORT.get(c)
    if short is not None:
        return short
    if c.isprintable():
        return c
    code = ord(c)
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # a byte smuggled in by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
