"""--format: Go templates over docker's field names, with the `table` prefix."""

from __future__ import annotations

from typing import Any

from hood.cli.output import tabwrite


def render_rows(fmt: str, rows: list[dict[str, Any]], headers: dict[str, str]) -> str:
    """One template execution per row; `table …` adds docker's header and aligns columns."""
    from hood.gotemplate import Struct, compile_template, split_table_prefix

    is_table, text = split_table_prefix(fmt)
    template = compile_template(text)
    rendered = [template.execute(Struct(row)) for row in rows]
    if not is_table:
        return "".join(r + "\n" for r in rendered)
    header = template.execute(
        Struct({k: headers.get(k, k.upper()) for k in (rows[0] if rows else headers)})
    )
    lines = [header, *rendered]
    table = [line.split("\t") for line in lines]
    return tabwrite(table)


def render_each(fmt: str, values: list[Any]) -> str:
    from hood.gotemplate import compile_template

    template = compile_template(fmt)
    return "".join(template.execute(v) + "\n" for v in values)
