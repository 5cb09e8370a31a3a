"""quote_untrusted (Go's %q) and loads_bounded (JSON from outside: size, depth, surrogates)."""

from __future__ import annotations

import time

import pytest

from hood.core.errors import ManifestError
from hood.core.jsonlimits import JSONRefused, json_depth, loads_bounded
from hood.core.textsafe import quote_untrusted


@pytest.mark.parametrize(
    "text, quoted",
    [
        ("plain", '"plain"'),
        ("", '""'),
        ('say "hi" \\ bye', '"say \\"hi\\" \\\\ bye"'),
        ("line1\nline2\r\t", '"line1\\nline2\\r\\t"'),
        ("\x1b[31mred\x1b[0m", '"\\x1b[31mred\\x1b[0m"'),
        ("\x1b]0;title\x07", '"\\x1b]0;title\\a"'),
        ("\x00\x7f\x85", '"\\x00\\x7f\\u0085"'),
        ("bidi \u202eevil", '"bidi \\u202eevil"'),
        ("nbsp\u00a0zwsp\u200b", '"nbsp\\u00a0zwsp\\u200b"'),
        ("tag \U000e0041", '"tag \\U000e0041"'),
        ("日本語 ümlaut ✓ 😀", '"日本語 ümlaut ✓ 😀"'),
        ("\ufffd", '"\ufffd"'),
        (b"bad\xffbyte".decode("utf-8", "surrogateescape"), '"bad\\xffbyte"'),
        ("\ud800", '"\\ud800"'),
    ],
)
def test_quote_untrusted_is_go_percent_q(text, quoted):
    assert quote_untrusted(text) == quoted


def test_quote_untrusted_limit():
    assert quote_untrusted("abcdef", 3) == '"abc"...'
    assert quote_untrusted("abc", 3) == '"abc"'


def test_json_depth_ignores_brackets_in_strings():
    assert json_depth(b"1") == 0
    assert json_depth(b'[{"a": [1, "]]]]", "[[[["]}]') == 3
    assert json_depth(b'["\\"[[[", [[]]]') == 3


def test_loads_bounded_depth_limit():
    ok = b"[" * 200 + b"]" * 200
    assert loads_bounded(ok, what="doc", max_size=1000) is not None
    for deep in (b"[" * 201 + b"]" * 201, b"[" * 100_000, b'{"a":' * 50_000):
        with pytest.raises(JSONRefused, match="doc: JSON nested deeper than 200 levels"):
            loads_bounded(deep, what="doc", max_size=1 << 20)
    with pytest.raises(JSONRefused, match="deeper than 5"):
        loads_bounded(b"[[[[[[1]]]]]]", what="doc", max_size=100, max_depth=5)


def test_loads_bounded_size_limit_and_invalid_json():
    with pytest.raises(JSONRefused, match="manifest x: JSON of 12 bytes, more than the 10 allowed"):
        loads_bounded(b'"0123456789"', what="manifest x", max_size=10)
    with pytest.raises(JSONRefused, match="not valid JSON") as err:
        loads_bounded(b"{nope", what="d", max_size=100)
    assert isinstance(err.value, ManifestError)


def test_loads_bounded_decodes_as_go():
    # lone surrogates and invalid UTF-8 become U+FFFD (keys too); pairs stay pairs
    doc = loads_bounded(
        b'{"a": "\\ud800x", "\\udc00k": ["\\ud83d\\ude00", "\\ud800\\u0041"], "b": "\xff"}',
        what="d",
        max_size=1000,
    )
    assert doc == {"a": "\ufffdx", "\ufffdk": ["😀", "\ufffdA"], "b": "\ufffd"}
    assert "".join(doc["\ufffdk"]).encode()  # encodable: nothing left to crash a print


def test_depth_check_is_cheap_on_big_input():
    big = b"[" + b",".join([b"[[[[1]]]]"] * 400_000) + b"]"  # 4 MB, shallow
    start = time.monotonic()
    assert json_depth(big) == 5
    hostile = b"[" * (4 << 20) + b"]" * (4 << 20)  # 8 MiB of brackets
    with pytest.raises(JSONRefused):
        loads_bounded(hostile, what="d", max_size=8 << 20)
    assert time.monotonic() - start < 5
