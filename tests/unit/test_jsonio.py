"""The one Go-JSON writer (core.jsonio): what Go's encoding/json writes, where Python's json
module writes something else."""

from __future__ import annotations

import json

import pytest

from hood.core.jsonio import RawJSON, go_float, go_indent, go_json, go_string


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("plain é 世", '"plain é 世"'),
        ('q"b\\', '"q\\"b\\\\"'),
        ("\n\r\t\b\f", '"\\n\\r\\t\\b\\f"'),
        ("\x00\x01\x1f\x7f", '"\\u0000\\u0001\\u001f\x7f"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),  # Go escapes these always
        ("<a&b>", '"<a&b>"'),
        ("\ud800x\udfff", '"\ufffdx\ufffd"'),  # Go's decoder made U+FFFD of them
    ],
)
def test_string(text, want):
    assert go_string(text) == want


def test_string_html_and_old_go():
    assert go_string("<a&b>", html=True) == '"\\u003ca\\u0026b\\u003e"'
    assert go_string("\b\f", short_bf=False) == '"\\u0008\\u000c"'


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (1.0, "1"),
        (1.5, "1.5"),
        (-0.0, "-0"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (123456789.0, "123456789"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (-1.5e-9, "-1.5e-9"),
        (1.25e-10, "1.25e-10"),
        (0.1, "0.1"),
    ],
)
def test_float(value, want):
    assert go_float(value) == want


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_float_unsupported(value):
    with pytest.raises(ValueError, match="json: unsupported value"):
        go_float(value)


def test_encode_keeps_order_and_types():
    doc = {"b": [1, 2.5, None, True, False], "a": {}, "c": [], "d": "x"}
    assert go_json(doc) == '{"b":[1,2.5,null,true,false],"a":{},"c":[],"d":"x"}'
    assert go_json(doc) == json.dumps(doc, separators=(",", ":"))
    assert go_json({"k": RawJSON('{"raw":1}')}) == '{"k":{"raw":1}}'
    with pytest.raises(TypeError):
        go_json({"x": object()})


def test_convert_hook_applies_everywhere():
    def convert(v):
        return sorted(v) if isinstance(v, set) else v

    assert go_json({"s": {3, 1}, "l": [{2, 1}]}, convert=convert) == '{"s":[1,3],"l":[[1,2]]}'


def test_indent_as_marshal_indent():
    doc = {"a": [], "b": {}, "c": [1, "x, y", {"d": None}]}
    want = json.dumps(doc, indent=4)  # same layout as Go for plain ASCII data
    assert go_json(doc, indent="    ") == want
    assert go_json([], indent="\t") == "[]"
    assert go_indent('{"a":1}', "  ", ">") == '{\n>  "a": 1\n>}'


def test_indent_keeps_string_contents():
    raw = b'  {"a" : "x, {y}: [z]", "b":[ ]}\n'
    assert go_indent(raw, "\t") == '{\n\t"a": "x, {y}: [z]",\n\t"b": []\n}\n'


def test_loads_refuses_bad_json_with_json_decoder_error_before_json_is_imported():
    """The C scanner raises JSONDecodeError only when json.decoder is imported already: in a
    fresh process (as `hood load` is) bad input must still be a ValueError, never a
    SystemError."""
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src"
    code = (
        f"import sys; sys.path.insert(0, {str(src)!r})\n"
        "from hood.core.jsonio import loads\n"
        "assert 'json.decoder' not in sys.modules\n"
        "for bad in (b'{not json', b'[1,', b'{\"a\" 1}', b'nul'):\n"
        "    try:\n"
        "        loads(bad)\n"
        "    except ValueError:\n"
        "        continue\n"
        "    raise SystemExit(f'accepted {bad!r}')\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr
