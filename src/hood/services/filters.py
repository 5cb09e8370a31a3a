"""docker's `--filter NAME=VALUE` arguments (moby's api/types/filters.Args): the sets of
values per name and the ways the daemon matches them, with its error messages."""

from __future__ import annotations

from collections.abc import Iterable

from hood.core.errors import HoodError


class InvalidFilter(HoodError):
    """A filter name the command does not know, or a value it cannot take."""


class Filters:
    """NAME -> the set of values given for it (a value given twice counts once)."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self.fields: dict[str, dict[str, None]] = {}
        for name, value in pairs:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self.fields.setdefault(name, {})[value] = None

    def __bool__(self) -> bool:
        return bool(self.fields)

    def contains(self, name: str) -> bool:
        return name in self.fields

    def get(self, name: str) -> list[str]:
        return list(self.fields.get(name, {}))

    def validate(self, accepted: Iterable[str]) -> None:
        allowed = set(accepted)
        for name in self.fields:
            if name not in allowed:
                raise InvalidFilter(f"invalid filter '{name}'")

    def get_bool(self, name: str, default: bool) -> bool:
        """GetBoolOrDefault: true/1 or false/0, not both."""
        values = self.fields.get(name)
        if values is None:
            return default
        is_false = "0" in values or "false" in values
        is_true = "1" in values or "true" in values
        if is_false == is_true:
            raise InvalidFilter(f"invalid filter '{name}=[{' '.join(values)}]'")
        return is_true

    def until(self) -> float | None:
        """The prune commands' `until` filter as seconds since the epoch (None when not
        given): a time docker takes (RFC 3339, Unix seconds, or a duration before now)."""
        import time

        from hood.core.timefmt import docker_timestamp

        values = self.get("until")
        if len(values) > 1:
            raise HoodError("more than one until filter specified")
        if not values:
            return None
        try:
            seconds, nanos = docker_timestamp(values[0], time.time())
        except ValueError as exc:
            raise HoodError(str(exc)) from None
        return seconds + nanos / 1e9

    def exact_match(self, name: str, source: str) -> bool:
        values = self.fields.get(name)
        return not values or source in values

    def match(self, name: str, source: str) -> bool:
        """Any value equal to `source`, or (as a Go regular expression) found in it."""
        if self.exact_match(name, source):
            return True
        import re

        for pattern in self.fields.get(name, {}):
            try:
                if re.search(pattern, source):
                    return True
            except re.error:
                continue
        return False

    def match_kv_list(self, name: str, source: dict[str, str] | None) -> bool:
        """Every KEY or KEY=VALUE given is among `source`'s (labels)."""
        values = self.fields.get(name)
        if not values:
            return True
        if not source:
            return False
        for value in values:
            key, eq, want = value.partition("=")
            if key not in source or (eq and source[key] != want):
                return False
        return True


def path_match(pattern: str, name: str) -> bool:
    """Go's path.Match: `*` and `?` stop at '/', [classes] (^ negates) do not, `\\`
    escapes.
    A malformed pattern raises InvalidFilter("syntax error in pattern"), as docker says."""
    import re

    bad = InvalidFilter("syntax error in pattern")
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i >= n:
                raise bad
            out.append(re.escape(pattern[i]))
            i += 1
        elif ch == "[":
            cls = ["["]
            if i < n and pattern[i] == "^":
                cls.append("^")
                i += 1
            ranges = 0
            while True:
                if i >= n:
                    raise bad
                if pattern[i] == "]" and ranges:
                    i += 1
                    break
                lo, i = _class_char(pattern, i, bad)
                if i < n and pattern[i] == "-":
                    hi, i = _class_char(pattern, i + 1, bad)
                    if hi < lo:
                        raise bad
                    cls.append(f"{re.escape(lo)}-{re.escape(hi)}")
                else:
                    cls.append(re.escape(lo))
                ranges += 1
            out.append("".join(cls) + "]")
        else:
            out.append(re.escape(ch))
    return re.fullmatch("".join(out), name, re.DOTALL) is not None


def _class_char(pattern: str, i: int, bad: InvalidFilter) -> tuple[str, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        raise bad
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise bad
    return pattern[i], i + 1
