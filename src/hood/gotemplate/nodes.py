"""The parse tree of a template; str() of a node is how Go's error messages show it."""

from __future__ import annotations

from typing import Any


class Node:
    pos = 0


class Text(Node):
    def __init__(self, text: str, pos: int) -> None:
        self.text, self.pos = text, pos


class Field(Node):
    def __init__(self, idents: list[str], pos: int) -> None:
        self.idents, self.pos = idents, pos

    def __str__(self) -> str:
        return "".join("." + i for i in self.idents)


class Variable(Node):
    def __init__(self, name: str, idents: list[str], pos: int) -> None:
        self.name, self.idents, self.pos = name, idents, pos

    def __str__(self) -> str:
        return self.name + "".join("." + i for i in self.idents)


class Chain(Node):
    def __init__(self, node: Node, fields: list[str], pos: int) -> None:
        self.node, self.fields, self.pos = node, fields, pos

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, Pipe) else str(self.node)
        return inner + "".join("." + f for f in self.fields)


class Ident(Node):
    def __init__(self, name: str, pos: int) -> None:
        self.name, self.pos = name, pos

    def __str__(self) -> str:
        return self.name


class Literal(Node):
    """dot, nil, bool, number and string constants."""

    def __init__(self, kind: str, value: Any, text: str, pos: int) -> None:
        self.kind, self.value, self.text, self.pos = kind, value, text, pos

    def __str__(self) -> str:
        return self.text


class Command(Node):
    def __init__(self, pos: int) -> None:
        self.args: list[Node] = []
        self.pos = pos

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, Pipe) else str(a) for a in self.args)


class Pipe(Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.decl: list[Variable] = []
        self.is_assign = False
        self.cmds: list[Command] = []

    def __str__(self) -> str:
        s = ""
        if self.decl:
            s = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return s + " | ".join(str(c) for c in self.cmds)


class Action(Node):
    def __init__(self, pipe: Pipe, pos: int) -> None:
        self.pipe, self.pos = pipe, pos

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class Control(Node):
    def __init__(self, kind: str, pipe: Pipe, body: list, else_body: list | None, pos: int):
        self.kind, self.pipe, self.body, self.else_body, self.pos = kind, pipe, body, else_body, pos


class Marker(Node):
    """{{end}}, {{else}}, {{break}}, {{continue}}."""

    def __init__(self, kind: str, pos: int) -> None:
        self.kind, self.pos = kind, pos

    def __str__(self) -> str:
        return "{{" + self.kind.split()[0] + "}}"
