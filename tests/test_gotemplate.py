"""The Go text/template subset behind --format (hood.gotemplate)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from hood.core.errors import HoodError
from hood.gotemplate import (
    Struct,
    TemplateError,
    compile_template,
    go_json,
    go_sprint,
    preformat,
    split_table_prefix,
)

DATA = {
    "Name": "web",
    "Count": 3,
    "Zero": 0,
    "Ratio": 1.5,
    "Big": 1e6,
    "On": True,
    "Off": False,
    "Nil": None,
    "Empty": "",
    "List": ["a", "b", "c"],
    "Nums": [3, 1, 2],
    "NoList": [],
    "Map": {"b": 2, "a": 1},
    "Labels": {"com.x": "1", "app": "web"},
    "Nested": {"Inner": {"Deep": "down"}},
    "Obj": Struct({"Z": 1, "A": "x", "Tags": ["t1"]}, type_name="types.Obj"),
    "Html": "<a&b>",
}

CASES = [
    # text, fields, printing
    ("plain text", "plain text"),
    ("", ""),
    ("{{.Name}}", "web"),
    ("{{.Count}} {{.Ratio}} {{.Big}}", "3 1.5 1e+06"),
    ("{{.On}} {{.Off}}", "true false"),
    ("{{.Nil}}", "<nil>"),
    ("{{.Missing}}", "<no value>"),
    ("{{.Missing.Deeper}}", "<no value>"),
    ("{{.List}}", "[a b c]"),
    ("{{.NoList}}", "[]"),
    ("{{.Map}}", "map[a:1 b:2]"),
    ("{{.Nested.Inner.Deep}}", "down"),
    ("{{.Nested}}", "map[Inner:map[Deep:down]]"),
    ("{{.Obj}}", "{1 x [t1]}"),
    ("{{.Obj.A}}", "x"),
    ("{{$.Name}}", "web"),
    ("{{with .Nested}}{{$.Name}}/{{.Inner.Deep}}{{end}}", "web/down"),
    # literals
    ('{{"a\\tb\\u00e9\\x41"}}', "a\tbéA"),
    ("{{`raw\\n`}}", "raw\\n"),
    ("{{'a'}} {{'\\n'}}", "97 10"),
    ("{{1}} {{-1}} {{+2}} {{1_000}} {{0x1F}} {{0o17}} {{017}} {{0b101}}", "1 -1 2 1000 31 15 15 5"),
    (
        "{{1.0}} {{1e6}} {{1.5e-7}} {{123456.0}} {{1234567.0}}",
        "1 1e+06 1.5e-07 123456 1.234567e+06",
    ),
    ("{{true}} {{false}}", "true false"),
    # trim markers and comments
    ("a  {{- .Name -}}  b", "awebb"),
    ("a \n {{- .Name}} \n b", "aweb \n b"),
    ("a {{.Name -}} \n\t b", "a webb"),
    ("x{{/* a comment */}}y", "xy"),
    ("x {{- /* c */ -}} y", "xy"),
    ("{{-3}}", "-3"),
    # variables
    ("{{$x := .Name}}{{$x}}", "web"),
    ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
    ("{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{end}}{{$x}}", "21"),
    ("{{with .Obj}}{{$.Count}}{{.A}}{{end}}", "3x"),
    # pipelines and parentheses
    ("{{.Name | len}}", "3"),
    ('{{.Name | printf "%s-%s" "x"}}', "x-web"),
    ('{{print 1 2 | printf "%s-%v" "a"}}', "a-1 2"),
    ("{{(index .List 1) | upper}}", "B"),
    ("{{(.Nested.Inner).Deep}}", "down"),
    ('{{len (split "a,b,c" ",")}}', "3"),
    # if / else if / else
    ("{{if .On}}y{{else}}n{{end}}", "y"),
    ("{{if .Off}}y{{else}}n{{end}}", "n"),
    ("{{if .Zero}}a{{else if .Empty}}b{{else if .List}}c{{else}}d{{end}}", "c"),
    ("{{if .Missing}}a{{else}}b{{end}}", "b"),
    ("{{if .Nil}}a{{else}}b{{end}}", "b"),
    ("{{if .NoList}}a{{else}}b{{end}}", "b"),
    ("{{if .Obj}}a{{end}}", "a"),
    ("{{if .Ratio}}a{{end}}", "a"),
    ("{{if $v := .Name}}{{$v}}{{else}}{{$v}}!{{end}}", "web"),
    # with
    ("{{with .Name}}<{{.}}>{{end}}", "<web>"),
    ("{{with .Empty}}<{{.}}>{{else}}none{{end}}", "none"),
    ('{{with .Empty}}x{{else with "w"}}{{.}}{{end}}', "w"),
    ('{{with $x := "v"}}{{.}}{{$x}}{{end}}', "vv"),
    # range
    ("{{range .List}}[{{.}}]{{end}}", "[a][b][c]"),
    ("{{range $i, $e := .List}}{{$i}}={{$e}} {{end}}", "0=a 1=b 2=c "),
    ("{{range $e := .List}}{{$e}}{{end}}", "abc"),
    ("{{range $k, $v := .Map}}{{$k}}:{{$v}};{{end}}", "a:1;b:2;"),
    ("{{range .Map}}{{.}}{{end}}", "12"),
    ("{{range .NoList}}x{{else}}empty{{end}}", "empty"),
    ("{{range .Missing}}x{{else}}none{{end}}", "none"),
    ("{{range .Nil}}x{{else}}nil{{end}}", "nil"),
    ("{{range 3}}{{.}}{{end}}", "012"),
    ('{{range .List}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}', "ac"),
    ('{{range .List}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}', "a"),
    ("{{range .List}}{{$.Name}}{{end}}", "webwebweb"),
    # and / or / not (short-circuit, return the deciding value)
    ('{{and 1 0 2}} {{or 0 "" "x"}} {{not 0}} {{not .List}}', "0 x true false"),
    ("{{and 1 2}} {{or 0 false}}", "2 false"),
    ("{{or .Missing .Name}}", "web"),
    ("{{and .Missing (index .List 99)}}", "<no value>"),
    # len / index / slice
    ('{{len .List}} {{len .Map}} {{len "héllo"}}', "3 2 6"),
    ('{{index .List 2}} {{index .Map "b"}} {{index "abc" 1}}', "c 2 98"),
    ('{{index .Map "zz"}}', "<no value>"),
    ('{{index .Labels "com.x"}}', "1"),
    ('{{index .Nested "Inner" "Deep"}}', "down"),
    ("{{index .List}}", "[a b c]"),
    ('{{slice "hello" 1 3}} {{slice "hello" 2}} {{slice .List 1}}', "el llo [b c]"),
    ("{{slice .List 0 1 2}}", "[a]"),
    # comparisons
    ('{{eq 1 1}} {{eq "a" "b"}} {{eq "a" "b" "a"}} {{ne 1 2}}', "true false true true"),
    ('{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge 1.5 1.5}} {{lt "a" "b"}}', "true true false true true"),
    ("{{eq .Missing .Nil}} {{eq .Missing 1}} {{eq .On true}}", "true false true"),
    ('{{if eq .Name "web"}}yes{{end}}', "yes"),
    # print family
    ('{{print 1 2 "a" "b" 3}}', "1 2ab3"),
    ('{{print "a" 1 2 "b"}}', "a1 2b"),
    ('{{println 1 "a"}}', "1 a\n"),
    ("{{print .Missing}} {{print nil}}", "<nil> <nil>"),
    ("{{print .List .Map .Obj}}", "[a b c] map[a:1 b:2] {1 x [t1]}"),
    # printf
    ('{{printf "%s|%d|%v|%q|%t|%x|%X" "s" 42 1.5 "q" true 255 "hi"}}', 's|42|1.5|"q"|true|ff|6869'),
    (
        '{{printf "%5s|%-5s|%05d|%+d|%.2f|%8.3f|%e|%g" "ab" "cd" 42 5 3.14159 2.5 1e6 1e6}}',
        "   ab|cd   |00042|+5|3.14|   2.500|1.000000e+06|1e+06",
    ),
    ('{{printf "%-10s|" .Name}}', "web       |"),
    ('{{printf "%q %v %d %s %%" 65 true 1.5 42}}', "'A' true %!d(float64=1.5) %!s(int=42) %"),
    ('{{printf "%s %d"}}', "%!s(MISSING) %!d(MISSING)"),
    ('{{printf "%s" "a" "b"}}', "a%!(EXTRA string=b)"),
    ('{{printf "%s" nil}}', "%!s(<nil>)"),
    ('{{printf "%v|%s|%q" .List .List .List}}', '[a b c]|[a b c]|["a" "b" "c"]'),
    ('{{printf "%v" .Map}} {{printf "%+v" .Obj}}', "map[a:1 b:2] {Z:1 A:x Tags:[t1]}"),
    ('{{printf "%T %T %T %T %T" 1 "s" 1.5 true .List}}', "int string float64 bool []interface {}"),
    ('{{printf "%c %U %o %#o %#x %b" 65 65 8 8 255 5}}', "A U+0041 10 010 0xff 101"),
    ('{{printf "%6.2v|%.2s|% x|%#q" 3.14159 "abc" "ab" "x"}}', "   3.1|ab|61 62|`x`"),
    ('{{printf "%q" "tab\\there\\x01é"}}', '"tab\\there\\x01é"'),
    ('{{printf "%v %v %g" 0.0001 0.00001 123456789.0}}', "0.0001 1e-05 1.23456789e+08"),
    # docker's functions
    ("{{json .Name}}", '"web"'),
    (
        "{{json .List}} {{json .NoList}} {{json .Nil}} {{json .Missing}}",
        '["a","b","c"] [] null null',
    ),
    ("{{json .Map}}", '{"a":1,"b":2}'),
    ("{{json .Obj}}", '{"Z":1,"A":"x","Tags":["t1"]}'),
    ("{{json .Html}}", '"<a&b>"'),
    (
        "{{json .Ratio}} {{json .Big}} {{json 1e21}} {{json 1e-7}} {{json 0.000001}}",
        "1.5 1000000 1e+21 1e-7 0.000001",
    ),
    ('{{json "\\b\\f\\n\\x01\\u2028\\"\\\\"}}', '"\\b\\f\\n\\u0001\\u2028\\"\\\\"'),
    ('{{join .List ", "}}', "a, b, c"),
    ('{{split "a,b,,c" ","}} {{split "abc" ""}} {{len (split "" ",")}}', "[a b  c] [a b c] 1"),
    ('{{join (split "a:b" ":") "-"}}', "a-b"),
    ('{{lower "AbC"}} {{upper "aBc"}} {{upper "straße"}}', "abc ABC STRAßE"),
    (
        '{{title "hello wORLD foo-bar don\'t x.y 1st élan"}}',
        "Hello WORLD Foo-Bar Don'T X.Y 1st Élan",
    ),
    ('{{pad "ab" 2 3}}|{{pad "" 2 3}}|', "  ab   ||"),
    (
        '{{truncate "abcdef" 3}}|{{truncate "abc" 3}}|{{truncate "ab" 5}}|{{truncate "abc" 0}}|',
        "abc|abc|ab||",
    ),
    ('{{.Name | upper | printf "%s!"}}', "WEB!"),
]


@pytest.mark.parametrize(("text", "want"), CASES, ids=[c[0][:40] for c in CASES])
def test_render(text: str, want: str) -> None:
    assert compile_template(text).execute(DATA) == want


def test_top_level_values() -> None:
    assert compile_template("{{.}}").execute(None) == "<nil>"
    assert compile_template("{{.}}").execute([1, "a", None, 2.5, True]) == "[1 a <nil> 2.5 true]"
    assert (
        compile_template("{{.}}").execute({"b": [1], "a": {"x": None}})
        == "map[a:map[x:<nil>] b:[1]]"
    )
    assert compile_template("{{.}}").execute("s") == "s"
    assert compile_template("{{.}} {{.}}").execute(1e21) == "1e+21 1e+21"


def test_go_sprint_and_json_helpers() -> None:
    assert go_sprint(float("inf")) == "+Inf"
    assert go_sprint(-0.5) == "-0.5"
    assert go_sprint(1e-5) == "1e-05"
    assert go_sprint(100000.0) == "100000"
    assert go_json(Struct(B=1, A=[Struct(Y=None, X="é")])) == '{"B":1,"A":[{"Y":null,"X":"é"}]}'
    assert go_json({"b": 1, "a": 2}) == '{"a":2,"b":1}'
    assert go_json(1e20) == "100000000000000000000"
    assert go_json(-1.5e-9) == "-1.5e-9"


def test_struct_methods_are_called() -> None:
    data = Struct(ID=lambda: "abc123", Short=lambda n: "abc123"[:n])
    assert (
        compile_template("{{.ID}} {{.Short 3}} {{4 | .Short}}").execute(data) == "abc123 abc abc1"
    )


def test_template_is_reusable() -> None:
    t = compile_template("{{range .}}{{.}},{{end}}")
    assert t.execute([1, 2]) == "1,2,"
    assert t.execute([]) == ""


def test_table_prefix() -> None:
    assert split_table_prefix("table {{.ID}}\t{{.Name}}") == (True, "{{.ID}}\t{{.Name}}")
    assert split_table_prefix("{{.ID}}") == (False, "{{.ID}}")
    assert split_table_prefix("table") == (True, "")
    assert preformat("table  {{.ID}}\\t{{.Name}}\\n ") == (True, "{{.ID}}\t{{.Name}}\n")
    assert preformat("{{.ID}}\\t") == (False, "{{.ID}}\t")


PARSE_ERRORS = [
    ("{{if}}", "template: :1: missing value for if"),
    ("{{range}}", "template: :1: missing value for range"),
    ("{{}}", "template: :1: missing value for command"),
    ("{{.}", "template: :1: bad character U+007D '}'"),
    ("{{ } }}", 'template: :1: unexpected "}" in command'),
    ('{{"a"}', 'template: :1: unexpected "}" in operand'),
    ("{{if .X}}x", "template: :1: unexpected EOF"),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{else}}", "template: :1: unexpected {{else}}"),
    ("{{else if 1}}", "template: :1: unexpected {{else}}"),
    ("{{.X.}}", "template: :1: unexpected <.> in operand"),
    ("{{range 1}}{{break 1}}{{end}}", 'template: :1: unexpected "1" in {{break}}'),
    ('{{"unterminated}}', "template: :1: unterminated quoted string"),
    ("{{`raw}}", "template: :1: unterminated raw quoted string"),
    ("{{foo 1}}", 'template: :1: function "foo" not defined'),
    ("{{$x}}", 'template: :1: undefined variable "$x"'),
    ("{{if true}}{{$y := 1}}{{end}}{{$y}}", 'template: :1: undefined variable "$y"'),
    ("{{range $i, $e, $f := 1}}{{end}}", "template: :1: too many declarations in range"),
    ('{{"a" | "b"}}', "template: :1: non executable command in pipeline stage 2"),
    ("{{.X", "template: :1: unclosed action"),
    ("{{/* x }}", "template: :1: unclosed comment"),
    ("{{/* x */ .X}}", "template: :1: comment ends before closing delimiter"),
    ("{{break}}", "template: :1: {{break}} outside {{range}}"),
    ("{{(1}}", "template: :1: unclosed left paren"),
    ("{{1)}}", "template: :1: unexpected right paren"),
    ("a\nb\n{{if}}", "template: :3: missing value for if"),
    ('{{template "x"}}', "template: :1: {{template}} is not supported"),
    ("{{if 1}}{{else}}{{else}}{{end}}", "template: :1: expected end; found {{else}}"),
]


@pytest.mark.parametrize(("text", "msg"), PARSE_ERRORS, ids=[c[0] for c in PARSE_ERRORS])
def test_parse_errors(text: str, msg: str) -> None:
    with pytest.raises(TemplateError) as ei:
        compile_template(text)
    assert str(ei.value) == msg
    assert isinstance(ei.value, HoodError)


EXEC_ERRORS = [
    (
        "{{.Obj.Nope}}",
        'template: :1:6: executing "" at <.Obj.Nope>: can\'t evaluate field Nope in type types.Obj',
    ),
    (
        "{{.Name.X}}",
        'template: :1:7: executing "" at <.Name.X>: can\'t evaluate field X in type string',
    ),
    (
        "l1\n{{.Count.Y}}",
        'template: :2:8: executing "" at <.Count.Y>: can\'t evaluate field Y in type int',
    ),
    (
        "{{.Nil.X}}",
        'template: :1:6: executing "" at <.Nil.X>: nil pointer evaluating interface {}.X',
    ),
    ("{{len 3}}", 'template: :1:2: executing "" at <len 3>: error calling len: len of type int'),
    (
        '{{index .Obj "x"}}',
        'template: :1:2: executing "" at <index .Obj "x">: error calling index: can\'t index item of type types.Obj',
    ),
    (
        "{{index .List 5}}",
        'template: :1:2: executing "" at <index .List 5>: error calling index: index out of range: 5',
    ),
    (
        '{{slice "abc" 2 1}}',
        'template: :1:2: executing "" at <slice "abc" 2 1>: error calling slice: invalid slice index: 2 > 1',
    ),
    (
        "{{eq 1 1.0}}",
        'template: :1:2: executing "" at <eq 1 1.0>: error calling eq: incompatible types for comparison',
    ),
    (
        '{{lt 1 "a"}}',
        'template: :1:2: executing "" at <lt 1 "a">: error calling lt: incompatible types for comparison',
    ),
    (
        "{{lt true false}}",
        'template: :1:2: executing "" at <lt true false>: error calling lt: invalid type for comparison',
    ),
    (
        "{{and}}",
        'template: :1:2: executing "" at <and>: wrong number of args for and: want at least 1 got 0',
    ),
    (
        "{{not 1 2}}",
        'template: :1:2: executing "" at <not 1 2>: wrong number of args for not: want 1 got 2',
    ),
    ("{{nil}}", 'template: :1:2: executing "" at <nil>: nil is not a command'),
    (
        '{{"a" 1}}',
        'template: :1:2: executing "" at <"a">: can\'t give argument to non-function "a"',
    ),
    (
        '{{range "ab"}}{{end}}',
        'template: :1:8: executing "" at <"ab">: range can\'t iterate over ab',
    ),
    (
        "{{upper 1}}",
        'template: :1:8: executing "" at <1>: expected string; found 1',
    ),
    (
        '{{join "a" ","}}',
        'template: :1:7: executing "" at <"a">: can\'t handle "a" for arg of type []string',
    ),
    (
        '{{join .Name ","}}',
        'template: :1:7: executing "" at <.Name>: wrong type for value; expected []string; got string',
    ),
    (
        '{{pad "a" "b" 1}}',
        'template: :1:10: executing "" at <"b">: expected integer; found "b"',
    ),
    (
        "{{upper .Count}}",
        'template: :1:8: executing "" at <.Count>: wrong type for value; expected string; got int',
    ),
    (
        "{{upper .Missing}}",
        'template: :1:8: executing "" at <.Missing>: invalid value; expected string',
    ),
    (
        "{{.Map.a 1}}",
        'template: :1:6: executing "" at <.Map.a>: a is not a method but has arguments',
    ),
    ("{{$x = 1}}", 'template: :1:7: executing "" at <1>: undefined variable: $x'),
]


@pytest.mark.parametrize(("text", "msg"), EXEC_ERRORS, ids=[c[0] for c in EXEC_ERRORS])
def test_exec_errors(text: str, msg: str) -> None:
    t = compile_template(text)
    with pytest.raises(TemplateError) as ei:
        t.execute(DATA)
    assert str(ei.value) == msg


def test_template_name_in_messages() -> None:
    with pytest.raises(
        TemplateError, match=r'^template: version:1:2: executing "version" at <\.X>'
    ):
        compile_template("{{.X}}", name="version").execute(Struct())
    with pytest.raises(TemplateError, match="^template: version:1: missing value for if$"):
        compile_template("{{if}}", name="version")


# ----------------------------------------------------------------- the real docker client

DOCKER = shutil.which("docker")


def _docker(fmt: str) -> subprocess.CompletedProcess:
    assert DOCKER
    return subprocess.run(
        [DOCKER, "context", "inspect", "default", "--format", fmt],
        capture_output=True,
        text=True,
        timeout=30,
    )


def _context_data():
    out = _docker("{{json .}}")
    if out.returncode != 0:
        pytest.skip("docker context inspect default failed")
    raw = json.loads(out.stdout)

    def conv(v, is_map=False):
        if isinstance(v, dict):
            d = {k: conv(x, is_map=k in ("Endpoints", "TLSMaterial")) for k, x in v.items()}
            return d if is_map else Struct(d)
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return conv(raw)


DOCKER_CASES = [
    '{{printf "%08.3f|%-8.2e|%+v|% d|%x|%X|%#X" -3.14159 12345.678 1.5 5 -255 3.5 255}}',
    '{{printf "%3c|%-4q|%U|%#U|%.0f %.1f %.3g %.10g %G" 66 "a" 9731 9731 2.5 0.05 1234.5 1.0 1e-7}}',
    '{{printf "%*d|%-*d|%.*f|%05s|%.1s|%x|% X" 5 1 4 2 2 3.14159 "abc" "é!" "héllo" "ab"}}',
    '{{printf "%q" "a\\x00\\u00a0\\U0001F600\\u200b"}} {{printf "%d %d" 1 2 3 "x"}} {{printf "%z" 1}}',
    "{{print 1.0 2.5e10 -0.0 1e-300}} {{0x1p4}} {{.5}} {{-.5}} {{json 5e-324}} {{json -0.0}}",
    '{{len "日本"}} {{slice "日本" 0 3}} {{title "ǆx ñu"}} {{and "" 1}}|{{or nil 0}}',
    '{{printf "%5s|%-5s|%05d|%+d|%.2f|%e|%g|%q|%x" "ab" "cd" 42 5 3.14159 1e6 1e6 "hi" 255}}',
    '{{printf "%v %v %v %d %s" 1234567.0 123456.0 0.00001 1.5 42}}',
    "{{1e6}} {{1.5}} {{100000000000000000000.0}} {{0x10}} {{3.0}} {{017}} {{'a'}}",
    '{{print 1 2 "a" "b" 3}}{{println 1 "a"}}',
    '{{json "<a>&\\b\\u2028"}} {{json 1e21}} {{json 1e-7}} {{json (split "a,b" ",")}}',
    '{{title "don\'t it\'s_a x.y ab-cd"}} {{upper "x"}} {{lower "X"}}',
    '{{pad "ab" 2 3}}|{{truncate "abcdef" 3}}|{{join (split "a,,b" ",") "+"}}',
    'a  {{- "b" -}}  c {{- /* x */ -}} d {{/* y */}} e',
    '{{if 0}}a{{else if ""}}b{{else if true}}c{{else}}d{{end}}',
    '{{with $x := "v"}}{{.}}{{$x}}{{end}}{{with ""}}x{{else with "w"}}{{.}}{{end}}',
    '{{range $i, $e := split "a,b" ","}}{{$i}}={{$e}};{{end}}{{range 3}}{{.}}{{end}}',
    '{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}} {{and 1 0}} {{or 0 "x"}} {{not 0}}',
    '{{eq "a" "b" "a"}} {{lt 1 2}} {{slice "hello" 1 3}} {{index "abc" 1}} {{len "é"}}',
    "{{.Name}} {{.Name | len}} {{.Storage.TLSPath}} {{json .Storage}}",
    "{{json .}}",
    "{{json .Endpoints}}|{{.Endpoints.docker.SkipTLSVerify}}|{{.Storage}}",
    '{{index .Endpoints "nope"}}|{{.Endpoints.nope}}|{{.Endpoints.nope.X}}',
    "{{range $k, $v := .Endpoints}}{{$k}}={{$v.SkipTLSVerify}}{{end}}",
]


@pytest.mark.skipif(DOCKER is None, reason="docker client not installed")
@pytest.mark.parametrize("fmt", DOCKER_CASES)
def test_matches_docker_cli(fmt: str) -> None:
    data = _context_data()
    real = _docker(fmt)
    assert real.returncode == 0, real.stderr
    assert compile_template(fmt).execute(data) + "\n" == real.stdout


DOCKER_ERRORS = [
    "{{if}}",
    "{{.}",
    "{{ } }}",
    '{{"a" | "b"}}',
    "{{foo 1}}",
    "{{len 3}}",
    "{{.Name.X}}",
    '{{slice "abc" 2 1}}',
    "{{eq 1 1.0}}",
    "{{nil}}",
    "{{.X.}}",
    "{{else if 1}}",
    '{{pad "a" "b" 1}}',
    "{{printf 1}}",
    '{{index "abc" 3}}',
    '{{eq (split "a" ",") 1}}',
    "{{range $i, $e := 3}}{{end}}",
    "a\nb {{.Name.Nope}}",
]


@pytest.mark.skipif(DOCKER is None, reason="docker client not installed")
@pytest.mark.parametrize("fmt", DOCKER_ERRORS)
def test_errors_match_docker_cli(fmt: str) -> None:
    data = _context_data()
    real = _docker(fmt)
    assert real.returncode != 0
    with pytest.raises(TemplateError) as ei:
        compile_template(fmt).execute(data)
    assert f"template parsing error: {ei.value}" in real.stderr
