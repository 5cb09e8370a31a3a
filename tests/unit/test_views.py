"""docker's formatter pieces hood reproduces: tabwriter, ellipsis, json.Indent, Go-typed views."""

from __future__ import annotations

import pytest

from hood.cli.formatting import FormatError, render_rows
from hood.cli.output import go_tabwriter
from hood.cli.template_views import go_time_string, template_data
from hood.core.jsonio import go_indent
from hood.core.timefmt import human_size
from hood.services.history import ellipsis


def test_tabwriter_pads_all_but_the_last_cell():
    out = go_tabwriter("A\tBB\tC\nlonger cell\tx\ty\n")
    assert out == "A" + " " * 13 + "BB" + " " * 8 + "C\nlonger cell   x" + " " * 9 + "y\n"


def test_tabwriter_column_blocks_break_on_lines_without_the_cell():
    # the middle line has no tab: the blocks above and below are aligned separately
    out = go_tabwriter("a\tb\nno tabs here at all\nccccccccccccc\td\n")
    assert out == "a         b\nno tabs here at all\nccccccccccccc   d\n"


def test_ellipsis_counts_display_width():
    assert ellipsis("x" * 45, 45) == "x" * 45
    assert ellipsis("x" * 46, 45) == "x" * 44 + "…"
    assert ellipsis("界" * 30, 45) == "界" * 22 + "…"


def test_go_indent_keeps_tokens_and_empty_containers():
    raw = b'{"a": [], "b":{ }, "c":[1,"x, y"]}\n'
    assert (
        go_indent(raw, "\t") == '{\n\t"a": [],\n\t"b": {},\n\t"c": [\n\t\t1,\n\t\t"x, y"\n\t]\n}\n'
    )


def _rows():
    return [{"ID": "abc", "Size": "1B", "Comment": "<x>"}]


def test_table_header_uses_header_functions():
    out = render_rows(
        "table {{upper .ID}}\\t{{json .Size}}", _rows(), {"ID": "IMAGE", "Size": "SIZE"}
    )
    assert out == 'IMAGE     SIZE\nABC       "1B"\n'


def test_row_json_sorted_and_html_escaped():
    out = render_rows("json", _rows(), {})
    assert out == '{"Comment":"\\u003cx\\u003e","ID":"abc","Size":"1B"}\n'


def test_unknown_field_is_docker_error():
    with pytest.raises(FormatError) as info:
        render_rows("{{.Nope}}", _rows(), {}, "*image.historyContext")
    assert str(info.value) == (
        'template parsing error: template: :1:2: executing "" at <.Nope>: '
        "can't evaluate field Nope in type *image.historyContext"
    )


def _doc():
    return {
        "Id": "sha256:" + "a" * 64,
        "RepoTags": [],
        "RepoDigests": [],
        "Parent": "",
        "Comment": "",
        "Created": "2023-11-14T22:13:20Z",
        "Container": "",
        "ContainerConfig": {"Env": None, "Labels": None},
        "DockerVersion": "",
        "Author": "",
        "Config": {"Env": ["A=1"], "Cmd": ["sh"], "Labels": {"k": "v"}, "Hostname": ""},
        "Architecture": "amd64",
        "Os": "linux",
        "Size": 5,
        "VirtualSize": 5,
        "GraphDriver": {"Data": None, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": ["sha256:" + "b" * 64]},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }


@pytest.mark.parametrize(
    ("fmt", "want"),
    [
        ("{{json .Config}}", '{"Env":["A=1"],"Cmd":["sh"],"Labels":{"k":"v"}}'),
        ('{{index .Config.Labels "missing"}}', ""),
        ("{{.ContainerConfig.Labels}}", "map[]"),
        ("{{.Config.Entrypoint}}", "[]"),
        ("{{json .ContainerConfig.Env}}", "null"),
        ("{{.Metadata}}", "{0001-01-01 00:00:00 +0000 UTC}"),
        ("{{.Variant}}", ""),
        ("{{json .GraphDriver}}", '{"Data":null,"Name":"overlay2"}'),
    ],
)
def test_inspect_view_is_docker_cli_typed(fmt, want):
    from hood.cli.formatting import _compile, execute

    assert execute(_compile(fmt), template_data(_doc())) == want


def test_time_and_size_helpers():
    assert go_time_string("2023-11-14T22:13:20.5Z") == "2023-11-14 22:13:20.5 +0000 UTC"
    assert human_size(1984244, 4) == "1.984MB"
