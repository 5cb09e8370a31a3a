"""Builds the parse tree from the tokens, with Go's parse error messages."""

from __future__ import annotations

from typing import Any

from hood.core.jsonio import go_quote
from hood.gotemplate.errors import TemplateError
from hood.gotemplate.functions import FUNCS
from hood.gotemplate.lexer import (
    ASSIGN,
    BOOL,
    CHAR,
    CHARCONST,
    DECLARE,
    DOT,
    EOF,
    ERROR,
    FIELD,
    IDENT,
    KEYWORD,
    LDELIM,
    LPAREN,
    NIL,
    NUMBER,
    PIPE,
    RAW,
    RDELIM,
    RPAREN,
    SPACE,
    STRING,
    TEXT,
    VAR,
    Tok,
    lex,
)
from hood.gotemplate.literals import parse_number, unquote
from hood.gotemplate.nodes import (
    Action,
    Chain,
    Command,
    Control,
    Field,
    Ident,
    Literal,
    Marker,
    Node,
    Pipe,
    Text,
    Variable,
)

_COMMAND_START = (
    BOOL,
    CHARCONST,
    DOT,
    FIELD,
    IDENT,
    NUMBER,
    NIL,
    RAW,
    STRING,
    VAR,
    LPAREN,
)


class Parser:
    def __init__(self, text: str, name: str) -> None:
        self.toks = lex(text)
        self.p = 0
        self.name = name
        self.vars = ["$"]
        self.range_depth = 0
        self.last = self.toks[0]

    def next(self) -> Tok:
        t = self.toks[self.p]
        if self.p < len(self.toks) - 1:
            self.p += 1
        self.last = t
        return t

    def backup(self) -> None:
        self.p -= 1

    def peek(self) -> Tok:
        return self.toks[self.p]

    def next_nonspace(self) -> Tok:
        t = self.next()
        while t.kind == SPACE:
            t = self.next()
        return t

    def peek_nonspace(self) -> Tok:
        t = self.next_nonspace()
        self.backup()
        return t

    def errorf(self, msg: str, tok: Tok | None = None) -> None:
        line = (tok or self.last).line
        raise TemplateError(f"template: {self.name}:{line}: {msg}")

    def unexpected(self, tok: Tok, context: str) -> None:
        if tok.kind == ERROR:
            self.errorf(tok.val, tok)
        self.errorf(f"unexpected {tok} in {context}", tok)

    def expect(self, kind: int, context: str) -> Tok:
        t = self.next_nonspace()
        if t.kind != kind:
            self.unexpected(t, context)
        return t

    def parse(self) -> list[Node]:
        root: list[Node] = []
        while self.peek().kind != EOF:
            node = self.text_or_action()
            if isinstance(node, Marker) and node.kind.startswith(("end", "else")):
                self.errorf(f"unexpected {node}")
            root.append(node)
        return root

    def text_or_action(self) -> Node:
        t = self.next_nonspace()
        if t.kind == TEXT:
            return Text(t.val, t.pos)
        if t.kind == LDELIM:
            return self.action()
        self.unexpected(t, "input")
        raise AssertionError  # unreachable

    def action(self) -> Node:
        t = self.next_nonspace()
        if t.kind == KEYWORD:
            kw = t.val
            if kw == "end":
                self.expect(RDELIM, "end")
                return Marker("end", t.pos)
            if kw == "else":
                nxt = self.peek_nonspace()
                if nxt.kind == KEYWORD and nxt.val in ("if", "with"):
                    return Marker("else " + nxt.val, t.pos)
                self.expect(RDELIM, "else")
                return Marker("else", t.pos)
            if kw in ("if", "with", "range"):
                return self.control(kw, t)
            if kw in ("break", "continue"):
                self.expect(RDELIM, f"{{{{{kw}}}}}")
                if self.range_depth == 0:
                    self.errorf(f"{{{{{kw}}}}} outside {{{{range}}}}", t)
                return Marker(kw, t.pos)
            self.errorf(f"{{{{{kw}}}}} is not supported", t)
        self.backup()
        start = self.peek_nonspace()
        return Action(self.pipeline("command", RDELIM), start.pos)

    def control(self, kind: str, tok: Tok) -> Control:
        mark = len(self.vars)
        pipe = self.pipeline(kind, RDELIM)
        if kind == "range":
            self.range_depth += 1
        body, nxt = self.item_list()
        if kind == "range":
            self.range_depth -= 1
        else_body: list | None = None
        if nxt.kind.startswith("else"):
            if nxt.kind == "else " + kind and kind != "range":
                kw = self.next_nonspace()  # the 'if'/'with' after else
                else_body = [self.control(kind, kw)]
            elif nxt.kind != "else":
                self.errorf(f"unexpected <{nxt.kind.split()[1]}> in input")
            else:
                else_body, end = self.item_list()
                if end.kind != "end":
                    self.errorf(f"expected end; found {end}")
        del self.vars[mark:]
        return Control(kind, pipe, body, else_body, tok.pos)

    def item_list(self) -> tuple[list[Node], Marker]:
        items: list[Node] = []
        while self.peek_nonspace().kind != EOF:
            node = self.text_or_action()
            if isinstance(node, Marker) and node.kind.startswith(("end", "else")):
                return items, node
            items.append(node)
        self.errorf("unexpected EOF", self.peek())
        raise AssertionError  # unreachable

    def pipeline(self, context: str, end: int) -> Pipe:
        pipe = Pipe(self.peek_nonspace().pos)
        while True:
            save = self.p
            v = self.peek_nonspace()
            if v.kind != VAR:
                break
            self.next_nonspace()
            nxt = self.peek_nonspace()
            if nxt.kind in (ASSIGN, DECLARE):
                pipe.is_assign = nxt.kind == ASSIGN
                self.next_nonspace()
                pipe.decl.append(Variable(v.val, [], v.pos))
                self.vars.append(v.val)
                break
            if nxt.kind == CHAR and nxt.val == ",":
                self.next_nonspace()
                pipe.decl.append(Variable(v.val, [], v.pos))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_nonspace().kind in (VAR, RDELIM, RPAREN):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            self.p = save
            break
        while True:
            t = self.next_nonspace()
            if t.kind == end:
                self.check_pipeline(pipe, context)
                return pipe
            if t.kind in _COMMAND_START:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(t, context)

    def check_pipeline(self, pipe: Pipe, context: str) -> None:
        if not pipe.cmds:
            self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            first = c.args[0]
            if isinstance(first, Literal):
                self.errorf(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> Command:
        cmd = Command(self.peek_nonspace().pos)
        while True:
            self.peek_nonspace()
            op = self.operand()
            if op is not None:
                cmd.args.append(op)
            t = self.next()
            if t.kind == SPACE:
                continue
            if t.kind in (RDELIM, RPAREN):
                self.backup()
            elif t.kind != PIPE:
                self.unexpected(t, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind == FIELD:
            pos = self.peek().pos
            fields = []
            while self.peek().kind == FIELD:
                fields.append(self.next().val[1:])
            if isinstance(node, Field):
                return Field(node.idents + fields, pos)
            if isinstance(node, Variable):
                return Variable(node.name, node.idents + fields, pos)
            if isinstance(node, Literal):
                self.errorf(f"unexpected . after term {str(node)!r}".replace("'", '"'))
            return Chain(node, fields, pos)
        return node

    def term(self) -> Node | None:
        t = self.next_nonspace()
        k = t.kind
        if k == IDENT:
            if t.val not in FUNCS:
                self.errorf(f'function "{t.val}" not defined', t)
            return Ident(t.val, t.pos)
        if k == DOT:
            return Literal("dot", None, ".", t.pos)
        if k == NIL:
            return Literal("nil", None, "nil", t.pos)
        if k == VAR:
            if t.val not in self.vars:
                self.errorf(f'undefined variable "{t.val}"', t)
            return Variable(t.val, [], t.pos)
        if k == FIELD:
            return Field([t.val[1:]], t.pos)
        if k == BOOL:
            return Literal("bool", t.val == "true", t.val, t.pos)
        if k == NUMBER:
            try:
                value: Any = parse_number(t.val)
            except ValueError:
                self.errorf(f"illegal number syntax: {go_quote(t.val)}", t)
            return Literal("number", value, t.val, t.pos)
        if k == CHARCONST:
            try:
                s = unquote(t.val)
            except ValueError:
                s = ""
            if len(s) != 1:
                self.errorf(f"malformed character constant: {t.val}", t)
            return Literal("number", ord(s), t.val, t.pos)
        if k == LPAREN:
            return self.pipeline("parenthesized pipeline", RPAREN)
        if k == STRING:
            try:
                return Literal("string", unquote(t.val), t.val, t.pos)
            except ValueError:
                self.errorf("invalid syntax", t)
        if k == RAW:
            return Literal("string", t.val[1:-1].replace("\r", ""), t.val, t.pos)
        self.backup()
        return None
