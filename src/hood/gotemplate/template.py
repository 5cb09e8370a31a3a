"""A compiled template: parse once, execute against any data."""

from __future__ import annotations

from typing import Any

from hood.gotemplate.execute import State
from hood.gotemplate.nodes import Node
from hood.gotemplate.parser import Parser


class Template:
    """A parsed template; ``execute(data)`` renders it."""

    def __init__(self, text: str, name: str, root: list[Node]) -> None:
        self.text = text
        self.name = name
        self._root = root

    def execute(self, data: Any) -> str:
        state = State(self, data)
        state.walk(data, self._root)
        return "".join(state.out)


def compile_template(text: str, name: str = "") -> Template:
    """Parse a Go template; raises TemplateError with Go's wording."""
    return Template(text, name, Parser(text, name).parse())
