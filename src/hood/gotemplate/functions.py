"""The functions a template can call: Go's builtins and the ones docker adds."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from hood.gotemplate.errors import FuncError
from hood.gotemplate.printf import sprintf
from hood.gotemplate.printing import go_json, go_sprint
from hood.gotemplate.values import MISSING, Struct, go_type, truth


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
        raise FuncError("missing argument for comparison")
    ka = _kind(a)
    for b in bs:
        kb = _kind(b)
        if ka != kb:
            if "invalid" not in (ka, kb):
                raise FuncError("incompatible types for comparison")
            truth = False
        elif ka == "other":
            raise FuncError(f"non-comparable type {go_sprint(a)}: {go_type(a)}")
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
        raise FuncError("invalid type for comparison")
    if ka != kb:
        raise FuncError("incompatible types for comparison")
    return a < b


def _fn_le(a: Any, b: Any) -> bool:
    return _fn_lt(a, b) or _fn_eq(a, b)


def _fn_gt(a: Any, b: Any) -> bool:
    return not _fn_le(a, b)


def _fn_ge(a: Any, b: Any) -> bool:
    return not _fn_lt(a, b)


def _fn_not(v: Any) -> bool:
    return not truth(v)


def _fn_len(v: Any) -> int:
    if v is None or v is MISSING:
        raise FuncError("len of nil pointer")
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, (list, tuple)) or (isinstance(v, dict) and not isinstance(v, Struct)):
        return len(v)
    raise FuncError(f"len of type {go_type(v)}")


def _index_arg(x: Any, limit: int) -> int:
    if x is None or x is MISSING:
        raise FuncError("cannot index slice/array with nil")
    if isinstance(x, bool) or not isinstance(x, int):
        raise FuncError(f"cannot index slice/array with type {go_type(x)}")
    if x < 0 or x > limit:
        raise FuncError(f"index out of range: {x}")
    return x


def _fn_index(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise FuncError("index of untyped nil")
    for x in indexes:
        if item is None or item is MISSING:
            raise FuncError("index of nil pointer")
        if isinstance(item, (str, list, tuple)):
            seq = item.encode() if isinstance(item, str) else item
            i = _index_arg(x, len(seq))
            if i == len(seq):
                if isinstance(item, str):
                    raise FuncError("reflect: string index out of range")
                raise FuncError(f"index out of range: {i}")
            item = seq[i]
        elif isinstance(item, dict) and not isinstance(item, Struct):
            if x is None or x is MISSING:
                raise FuncError("value is nil; should be of type string")
            if not isinstance(x, str):
                raise FuncError(f"value has type {go_type(x)}; should be string")
            item = item.get(x, MISSING)
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def _fn_slice(item: Any, *indexes: Any) -> Any:
    if item is None or item is MISSING:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        seq: Any = item.encode()
    elif isinstance(item, (list, tuple)):
        seq = item
    else:
        raise FuncError(f"can't slice item of type {go_type(item)}")
    idx = [0, len(seq)]
    for i, x in enumerate(indexes):
        v = _index_arg(x, len(seq))
        if i < 2:
            idx[i] = v
        else:
            idx.append(v)
    if idx[0] > idx[1]:
        raise FuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(idx) == 3 and idx[1] > idx[2]:
        raise FuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
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
    return sprintf(fmt, list(args))


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
        raise FuncError("strings: negative Repeat count")
    return " " * prefix + s + " " * suffix


def _fn_truncate(s: str, length: int) -> str:
    b = s.encode()
    if len(b) < length:
        return s
    if length < 0:
        raise FuncError(f"runtime error: slice bounds out of range [:{length}]")
    if length > len(b):
        raise FuncError(
            f"runtime error: slice bounds out of range [:{length}] with length {len(b)}"
        )
    return b[:length].decode("utf-8", errors="replace")


# name -> (function, fixed parameter kinds, variadic kind or None)
# kinds: "value" (anything, missing stays missing), "any" (missing becomes nil),
# "str", "int", "strlist"
# name -> (implementation, parameter kinds, kind of the variadic rest or None)
FuncMap = dict[str, tuple[Callable[..., Any] | None, tuple[str, ...], str | None]]

FUNCS: FuncMap = {
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

GO_KIND_NAMES = {"str": "string", "int": "int", "strlist": "[]string"}
