"""Go's fmt.Sprintf: flags, width, precision and verbs, with fmt's %!verb(...) complaints."""

from __future__ import annotations

import math
from typing import Any

from hood.core.jsonio import go_quote
from hood.gotemplate.printing import go_float, go_sprint
from hood.gotemplate.values import MISSING, Struct, go_type, sorted_keys


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
        return _pad(go_quote(chr(v), "'") if 0 <= v <= 0x10FFFF else "'\ufffd'", width, flags)
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
        return _pad(go_float(v), width, flags, zero_ok=False)
    neg = math.copysign(1.0, v) < 0
    if verb == "v" and prec is not None:
        verb = "g"
    if verb in "xX":
        body = _hex_float(abs(v), verb == "X")
    elif verb == "v" or (verb in "gG" and prec is None):
        body = go_float(abs(v), upper=verb == "G")
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
        return _pad(go_quote(v), width, flags)
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
            for k in sorted_keys(v)
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


def sprintf(fmt: str, args: list[Any]) -> str:
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
