"""--format as docker's CLI applies it: the `table` and `json` keys, header rows, tabwriter,
and the Go types behind the values (typed nils, omitempty, time.Time, JSON methods).

Errors read as docker's ("template parsing error: template: :1:2: executing ...") and are
raised as FormatError; the command prints them as they are and exits 1."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hood.core.errors import HoodError
from hood.gotemplate import Struct


class FormatError(HoodError):
    """A template that did not parse or did not execute; the message is docker's line."""


# --- Go values the plain Python ones cannot stand for -----------------------------------


class StrMap(dict):
    """A Go map[string]string (or map[string]struct{}): a missing key is the zero value."""

    zero: Any = ""

    def get(self, key: Any, default: Any = None) -> Any:  # noqa: D102
        return super().get(key, self.zero)


class StructSet(StrMap):
    """A Go map[string]struct{} (docker's port and volume sets)."""

    zero: Any = Struct()


class NilSet(StructSet):
    """A nil Go map[string]struct{}: prints as map[], marshals as null."""


class NilSlice(list):
    """A nil Go slice: prints as [], ranges zero times, marshals as null."""


class NilMap(StrMap):
    """A nil Go map[string]string: prints as map[], indexes to "", marshals as null."""


class GoTimeText(str):
    """A Go time.Time: prints as Go's String(), marshals as RFC 3339 with nanoseconds."""

    json_text: str

    def __new__(cls, printed: str, json_text: str) -> GoTimeText:
        obj = super().__new__(cls, printed)
        obj.json_text = json_text
        return obj


class GoStruct(Struct):
    """A Go struct whose `omitempty` fields drop out of its JSON when empty."""

    def __init__(self, fields: dict[str, Any], *, type_name: str, omitempty: set[str]) -> None:
        super().__init__(fields, type_name=type_name)
        self.omitempty = omitempty


class RowContext(Struct):
    """docker's formatter contexts (image rows, history rows): their JSON is a map of the
    exported methods, keys sorted, marshalled with HTML escaping."""


def _empty(value: Any) -> bool:
    if isinstance(value, Struct):
        return False  # a struct value is never empty to encoding/json
    return (
        value is None
        or value == ""
        or value is False
        or value == 0
        or value == []
        or (isinstance(value, dict) and not value)
    )


def _go_value(value: Any) -> Any:
    """How encoding/json sees the Go values these classes stand for."""
    from hood.core.jsonio import RawJSON

    if isinstance(value, GoTimeText):
        return value.json_text
    if isinstance(value, (NilSlice, NilMap, NilSet)):
        return None
    if isinstance(value, RowContext):  # marshalled on its own, with HTML escaping
        return RawJSON(go_json(dict(value), html=True))
    if isinstance(value, GoStruct):
        return {k: v for k, v in value.items() if not (k in value.omitempty and _empty(v))}
    if isinstance(value, Struct):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, dict):  # a Go map: keys sorted
        return {str(k): value[k] for k in sorted(value)}
    from hood.gotemplate.values import MISSING

    if value is MISSING:
        return None
    if value is None or isinstance(value, (str, int, float, list, tuple)):
        return value
    return str(value)


def go_json(value: Any, *, html: bool = False) -> str:
    """encoding/json as docker's `json` template function: no HTML escaping."""
    from hood.core.jsonio import go_json as encode
    from hood.gotemplate.errors import FuncError

    try:
        return encode(value, html=html, convert=_go_value)
    except ValueError as exc:
        raise FuncError(str(exc)) from None


def _same(v: Any, *_: Any) -> Any:
    return v


# docker's templates.HeaderFunctions: the header row keeps the column names as they are.
_HEADER_FUNCS: dict[str, tuple[Callable[..., Any], tuple[str, ...], str | None]] = {
    "json": (_same, ("str",), None),
    "split": (_same, ("str", "str"), None),
    "join": (_same, ("str", "str"), None),
    "title": (_same, ("str",), None),
    "lower": (_same, ("str",), None),
    "upper": (_same, ("str",), None),
    "truncate": (_same, ("str", "int"), None),
}


_JSON_FUNC: dict[str, tuple[Callable[..., Any], tuple[str, ...], str | None]] = {
    "json": (go_json, ("any",), None)
}


def _compile(text: str) -> Any:
    from hood.gotemplate import TemplateError, compile_template

    try:
        return compile_template(text)
    except TemplateError as exc:
        raise FormatError(f"template parsing error: {exc}") from None


def execute(template: Any, data: Any) -> str:
    """Run a compiled template with docker's functions; Go's error text on failure."""
    from hood.gotemplate import TemplateError

    try:
        return template.execute(data, funcs=_JSON_FUNC)
    except TemplateError as exc:
        raise FormatError(f"template parsing error: {exc}") from None


def _preformat(fmt: str) -> tuple[bool, str]:
    """docker's Context.preFormat: `json` → {{json .}}, then gotemplate's preformat
    (strip `table`, trim, expand \\t \\n)."""
    from hood.gotemplate import preformat

    return preformat("{{json .}}" if fmt == "json" else fmt)


def render_rows(
    fmt: str, rows: list[dict[str, Any]], headers: dict[str, str], type_name: str = "struct"
) -> str:
    """docker's formatter.Context.Write: one execution per row, each followed by a newline;
    a `table` format gets the header row (from `headers`, with the header functions) and
    goes through tabwriter. Nothing is printed when a row fails."""
    from hood.cli.output import go_tabwriter
    from hood.gotemplate import TemplateError

    is_table, text = _preformat(fmt)
    template = _compile(text)
    body = "".join(execute(template, RowContext(row, type_name=type_name)) + "\n" for row in rows)
    if not is_table:
        return body
    try:
        header = template.execute(dict(headers), funcs=_HEADER_FUNCS)
    except TemplateError:
        header = ""  # docker ignores a header that does not render
    return go_tabwriter(header + "\n" + body)


# --- inspect -----------------------------------------------------------------------------

_NO_FIELD = re.compile(r"can't evaluate field (\S+) in type map$")


def render_inspect(fmt: str, items: list[tuple[Any, Any]]) -> tuple[str, list[str]]:
    """docker's TemplateInspector: each (typed, raw) element rendered with the typed view,
    falling back to the raw JSON (missing keys are errors) as docker's CLI does.

    Returns what goes to stdout and the error lines for stderr."""
    template = _compile(fmt)
    out: list[str] = []
    errors: list[str] = []
    for typed, raw in items:
        try:
            out.append(execute(template, typed) + "\n")
            continue
        except FormatError:
            pass
        try:
            out.append(execute(template, raw) + "\n")
        except FormatError as exc:
            errors.append(_NO_FIELD.sub(lambda m: f'map has no entry for key "{m[1]}"', str(exc)))
    return ("".join(out) or "\n"), errors


def raw_view(value: Any) -> Any:
    """A decoded JSON document as Go's map[string]interface{} with missingkey=error: every
    object a Struct named `map`, so a missing key fails (the message is rewritten)."""
    if isinstance(value, dict):
        return Struct({k: raw_view(value[k]) for k in sorted(value)}, type_name="map")
    if isinstance(value, list):
        return [raw_view(v) for v in value]
    return value
