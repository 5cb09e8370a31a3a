"""The values of Go string, character and number constants written in a template."""

from __future__ import annotations

_SIMPLE_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def unquote(lit: str) -> str:
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


def parse_number(text: str) -> int | float:
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
