"""The two ways a template fails: while parsing or executing, and inside a function."""

from __future__ import annotations

from hood.core.errors import HoodError


class TemplateError(HoodError):
    """A template that does not parse, or fails while executing."""


class FuncError(Exception):
    """An error returned by a template function (reported as 'error calling f: ...')."""
