"""Bounded JSON decoding for documents that come from outside (manifests, indexes, configs,
token responses, registry error bodies).

`json.loads` has no size or depth limit: a document nested ten thousand levels deep ends in
a RecursionError, and a huge one takes what memory it likes. `loads_bounded` refuses both
before decoding, with a line naming what was refused. The depth is measured by a scan that
runs at C speed (string literals removed by one regex, the brackets counted with
`accumulate`), so that refusing costs less than decoding would.

Strings are decoded as Go's encoding/json decodes them (docker reads these documents with
it): invalid UTF-8 and unpaired UTF-16 surrogate escapes (`"\\ud800"`) become U+FFFD, so
no lone surrogate is left to crash a later print or encode.

Stdlib only; `json` is imported when first needed.
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate
from typing import Any

from hood.core.errors import ManifestError

DEFAULT_MAX_DEPTH = 200

# A JSON string literal (escapes included); an unterminated one does not match.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# '[' and '{' -> +1, ']' and '}' -> -1 (0xff, read as a signed char)
_SIGNED = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
# A \uD800-\uDFFF escape in the source: only then can a lone surrogate come out.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONRefused(ManifestError):
    """A JSON document from outside that is too large, nested too deep, or not JSON."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


def json_depth(data: bytes) -> int:
    """How deeply the arrays and objects of `data` nest (0 for a scalar). Brackets inside
    string literals do not count. For malformed input the number is only an estimate, but
    it is never less than the depth the decoder would have to recurse to."""
    if data.count(b"[") + data.count(b"{") == 0:
        return 0
    structure = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if not structure:
        return 0
    steps = array("b", structure.translate(_SIGNED))
    return max(0, max(accumulate(steps)))


def loads_bounded(
    data: bytes, *, what: str, max_size: int, max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """`json.loads(data)` for a document from outside, or JSONRefused (a ManifestError)
    naming `what` when it is larger than `max_size` bytes, nested deeper than `max_depth`
    levels, or not valid JSON."""
    if len(data) > max_size:
        raise JSONRefused(what, f"JSON of {len(data)} bytes, more than the {max_size} allowed")
    # Cheap first: no document with fewer openings than the limit can be too deep.
    if data.count(b"[") + data.count(b"{") > max_depth and json_depth(data) > max_depth:
        raise JSONRefused(what, f"JSON nested deeper than {max_depth} levels")
    import json

    text = data.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise JSONRefused(what, f"not valid JSON ({exc})") from None
    if _SURROGATE_ESCAPE.search(data):
        doc = _replace_surrogates(doc)
    return doc


def _replace_surrogates(value: Any) -> Any:
    """Every lone surrogate in the strings (keys too) of a decoded document -> U+FFFD.
    (json.loads joins valid pairs into one character: any surrogate left is unpaired.)"""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value
