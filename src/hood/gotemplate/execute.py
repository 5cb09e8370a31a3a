"""Runs a parse tree over data, with Go's execution error messages."""

from __future__ import annotations

from typing import Any

from hood.core.errors import HoodError
from hood.gotemplate import nodes
from hood.gotemplate.errors import FuncError, TemplateError
from hood.gotemplate.functions import FUNCS, GO_KIND_NAMES, FuncMap
from hood.gotemplate.printing import go_sprint
from hood.gotemplate.values import MISSING, Struct, go_type, sorted_keys, truth

_NOARG = object()  # "no piped value" marker


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class State:
    def __init__(self, name: str, text: str, data: Any, funcs: FuncMap | None = None) -> None:
        self.name = name
        self.text = text
        self.funcs = {**FUNCS, **funcs} if funcs else FUNCS
        self.vars: list[list[Any]] = [["$", data]]
        self.out: list[str] = []
        self.node: nodes.Node | None = None

    # errors -----------------------------------------------------------------
    def error(self, msg: str) -> None:
        text = self.text
        node = self.node
        pos = node.pos if node is not None else 0
        prefix = text[:pos]
        line = prefix.count("\n") + 1
        col = len(prefix[prefix.rfind("\n") + 1 :].encode("utf-8", errors="surrogatepass"))
        name = self.name
        raise TemplateError(f'template: {name}:{line}:{col}: executing "{name}" at <{node}>: {msg}')

    # variables ----------------------------------------------------------------
    def var_value(self, name: str) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        self.error(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        self.error(f"undefined variable: {name}")

    # walking ------------------------------------------------------------------
    def walk(self, dot: Any, items: list[nodes.Node]) -> None:
        for node in items:
            if isinstance(node, nodes.Text):
                self.out.append(node.text)
            elif isinstance(node, nodes.Action):
                val = self.eval_pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.out.append(go_sprint(val))
            elif isinstance(node, nodes.Control):
                if node.kind == "range":
                    self.walk_range(dot, node)
                else:
                    self.walk_if_with(dot, node)
            elif isinstance(node, nodes.Marker):
                if node.kind == "break":
                    raise _Break
                raise _Continue

    def walk_if_with(self, dot: Any, node: nodes.Control) -> None:
        mark = len(self.vars)
        val = self.eval_pipeline(dot, node.pipe)
        if truth(val):
            self.walk(val if node.kind == "with" else dot, node.body)
        elif node.else_body is not None:
            self.walk(dot, node.else_body)
        del self.vars[mark:]

    def walk_range(self, dot: Any, node: nodes.Control) -> None:
        mark = len(self.vars)
        self.node = node.pipe.cmds[-1]
        val = self.eval_pipeline(dot, node.pipe)
        decl = node.pipe.decl
        items: Any
        if val is None or val is MISSING:
            items = []
        elif isinstance(val, (Struct, str, float)):
            self.node = node.pipe.cmds[-1]
            self.error(f"range can't iterate over {go_sprint(val)}")
        elif isinstance(val, dict):
            items = [(k, val[k]) for k in sorted_keys(val)]
        elif isinstance(val, (list, tuple)):
            items = list(enumerate(val))
        elif isinstance(val, int) and not isinstance(val, bool):
            if len(decl) > 1:
                self.node = node.pipe.cmds[-1]
                self.error(f"can't use {val} to iterate over more than one variable")
            items = [(i, i) for i in range(val)]
        else:
            self.node = node.pipe.cmds[-1]
            self.error(f"range can't iterate over {go_sprint(val)}")
        try:
            for index, elem in items:
                if decl:
                    if node.pipe.is_assign:
                        if len(decl) > 1:
                            self.set_var(decl[0].name, index)
                            self.set_var(decl[1].name, elem)
                        else:
                            self.set_var(decl[0].name, elem)
                    else:
                        self.vars[-1][1] = elem
                        if len(decl) > 1:
                            self.vars[-2][1] = index
                vmark = len(self.vars)
                try:
                    self.walk(elem, node.body)
                except _Continue:
                    pass
                finally:
                    del self.vars[vmark:]
        except _Break:
            pass
        if not items and node.else_body is not None:
            self.walk(dot, node.else_body)
        del self.vars[mark:]

    # evaluation ---------------------------------------------------------------
    def eval_pipeline(self, dot: Any, pipe: nodes.Pipe) -> Any:
        value: Any = _NOARG
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for v in pipe.decl:
            if pipe.is_assign:
                self.set_var(v.name, value)
            else:
                self.vars.append([v.name, value])
        return value

    def not_a_function(self, args: list[nodes.Node], final: Any) -> None:
        if len(args) > 1 or final is not _NOARG:
            self.error(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Any, cmd: nodes.Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, nodes.Field):
            self.node = first
            return self.eval_field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, nodes.Chain):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, nodes.Ident):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, nodes.Pipe):
            self.node = first
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, nodes.Variable):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        assert isinstance(first, nodes.Literal)
        if first.kind == "nil":
            self.error("nil is not a command")
        if first.kind == "dot":
            return dot
        return first.value

    def eval_chain(self, dot: Any, chain: nodes.Chain, args: list[nodes.Node], final: Any) -> Any:
        self.node = chain
        receiver = self.eval_arg(dot, chain.node)
        self.node = chain
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable(
        self, dot: Any, var: nodes.Variable, args: list[nodes.Node], final: Any
    ) -> Any:
        self.node = var
        value = self.var_value(var.name)
        if not var.idents:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, var, var.idents, args, final)

    def eval_field_chain(
        self, dot: Any, receiver: Any, node: nodes.Node, idents: list[str], args: list, final: Any
    ) -> Any:
        for name in idents[:-1]:
            receiver = self.eval_field(dot, name, node, [], _NOARG, receiver)
        return self.eval_field(dot, idents[-1], node, args, final, receiver)

    def eval_field(
        self, dot: Any, name: str, node: nodes.Node, args: list, final: Any, receiver: Any
    ) -> Any:
        if receiver is MISSING:
            return MISSING
        has_args = len(args) > 1 or final is not _NOARG
        if isinstance(receiver, Struct):
            if name in receiver:
                value = receiver[name]
                if callable(value):
                    argv = [self.eval_arg(dot, a) for a in args[1:]]
                    if final is not _NOARG:
                        argv.append(final)
                    self.node = node
                    try:
                        return value(*argv)
                    except TypeError as e:
                        self.error(f"wrong number of args for {name}: {e}")
                    except HoodError as e:
                        self.error(f"error calling {name}: {e}")
                if has_args:
                    self.error(f"{name} has arguments but cannot be invoked as function")
                return value
            self.error(f"can't evaluate field {name} in type {receiver.type_name}")
        if isinstance(receiver, dict):
            if has_args:
                self.error(f"{name} is not a method but has arguments")
            return receiver.get(name, MISSING)
        if receiver is None:
            self.error(f"nil pointer evaluating interface {{}}.{name}")
        self.error(f"can't evaluate field {name} in type {go_type(receiver)}")

    def eval_arg(self, dot: Any, node: nodes.Node) -> Any:
        self.node = node
        if isinstance(node, nodes.Literal):
            return dot if node.kind == "dot" else node.value
        if isinstance(node, nodes.Field):
            return self.eval_field_chain(dot, dot, node, node.idents, [node], _NOARG)
        if isinstance(node, nodes.Variable):
            return self.eval_variable(dot, node, [node], _NOARG)
        if isinstance(node, nodes.Pipe):
            return self.eval_pipeline(dot, node)
        if isinstance(node, nodes.Ident):
            return self.eval_function(dot, node, node, [node], _NOARG)
        if isinstance(node, nodes.Chain):
            return self.eval_chain(dot, node, [node], _NOARG)
        self.error(f"can't handle {node} as an argument")

    def check_literal(self, node: nodes.Literal, kind: str) -> None:
        """Go's wording for a constant of the wrong kind passed to a typed parameter."""
        self.node = node
        if kind == "str" and node.kind != "string":
            self.error(f"expected string; found {node}")
        if kind == "int" and not (node.kind == "number" and isinstance(node.value, int)):
            self.error(f"expected integer; found {node}")
        if kind == "strlist":
            self.error(f"can't handle {node} for arg of type []string")

    def check_type(self, value: Any, kind: str) -> Any:
        if kind == "value":
            return value
        if kind == "any":
            return None if value is MISSING else value
        want = GO_KIND_NAMES[kind]
        if value is None or value is MISSING:
            self.error(f"invalid value; expected {want}")
        ok = (
            (kind == "str" and isinstance(value, str))
            or (kind == "int" and isinstance(value, int) and not isinstance(value, bool))
            or (
                kind == "strlist"
                and isinstance(value, (list, tuple))
                and all(isinstance(x, str) for x in value)
            )
        )
        if not ok:
            self.error(f"wrong type for value; expected {want}; got {go_type(value)}")
        return value

    def eval_function(
        self, dot: Any, ident: nodes.Ident, cmd: nodes.Node, args: list[nodes.Node], final: Any
    ) -> Any:
        name = ident.name
        fn, params, variadic = self.funcs[name]
        self.node = cmd
        arg_nodes = args[1:]
        num_in = len(arg_nodes) + (final is not _NOARG)
        if variadic is not None:
            if num_in < len(params):
                self.error(
                    f"wrong number of args for {name}: want at least {len(params)} got {num_in}"
                )
        elif num_in != len(params):
            self.error(f"wrong number of args for {name}: want {len(params)} got {num_in}")
        if fn is None:  # and / or: short-circuit
            v: Any = None
            for n in arg_nodes:
                v = self.eval_arg(dot, n)
                if truth(v) == (name == "or"):
                    return v
            if final is not _NOARG:
                v = final
            return v
        values = []
        for i, n in enumerate(arg_nodes):
            kind = params[i] if i < len(params) else variadic
            if isinstance(n, nodes.Literal) and n.kind != "dot" and kind in GO_KIND_NAMES:
                self.check_literal(n, kind)
            v = self.eval_arg(dot, n)
            self.node = n
            values.append(self.check_type(v, kind or "any"))
        if final is not _NOARG:
            i = len(arg_nodes)
            self.node = cmd
            values.append(
                self.check_type(final, (params[i] if i < len(params) else variadic) or "any")
            )
        self.node = cmd
        try:
            return fn(*values)
        except FuncError as e:
            self.error(f"error calling {name}: {e}")
