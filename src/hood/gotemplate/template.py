"""A compiled template: parse once, execute against any data."""

from __future__ import annotations

from typing import Any

from hood.gotemplate.execute import State
from hood.gotemplate.functions import FuncMap
from hood.gotemplate.nodes import Node
from hood.gotemplate.parser import Parser


class Template:
    """A parsed template; ``execute(data)`` renders it."""

    def __init__(self, text: str, name: str, root: list[Node]) -> None:
        self.text = text
        self.name = name
        self._root = root

    def execute(self, data: Any, funcs: FuncMap | None = None) -> str:
        """Render against `data`; `funcs` replaces built-in functions for this run only
        (like Go's Funcs, but per execution, so one template serves header and rows)."""
        state = State(self.name, self.text, data, funcs)
        state.walk(data, self._root)
        return "".join(state.out)


def compile_template(text: str, name: str = "") -> Template:
    """Parse a Go template; raises TemplateError with Go's wording."""
    return Template(text, name, Parser(text, name).parse())
