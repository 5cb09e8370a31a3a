"""A subset of Go's text/template, as docker's ``--format`` flag uses it.

``compile_template(text)`` parses a template (raising :class:`TemplateError` with
Go-style messages) and returns a :class:`Template` whose ``execute(data)``
renders Python data the way Go would render the equivalent Go values:

* ``dict`` behaves like a Go ``map[string]interface{}``: a missing key yields
  ``<no value>``, ``{{.}}`` prints ``map[k:v ...]`` with sorted keys and ``json``
  sorts the keys (as ``encoding/json`` does for maps);
* :class:`Struct` (a ``dict`` subclass) behaves like a Go struct: a missing
  field is an error, ``{{.}}`` prints ``{v1 v2}``, ``json`` keeps insertion
  order, and callable values are invoked like methods;
* ``list``/``tuple`` are slices, ``None`` is a nil pointer (prints ``<nil>``,
  ``null`` in json, ranges zero times), ``int``/``float``/``str``/``bool`` are
  Go's ``int``/``float64``/``string``/``bool``.

Functions: Go's builtins (``and or not len index slice print printf println eq
ne lt le gt ge``) and docker's (``json join split lower upper title pad
truncate``).  ``define``/``template``/``block`` are not supported.

The package: ``values`` (Go's view of Python data), ``printing`` and ``printf`` (fmt and
encoding/json), ``functions``, ``lexer``, ``literals``, ``nodes``, ``parser``, ``execute``,
``template`` (compile/execute) and ``docker_format`` (docker's ``table`` prefix).
"""

from __future__ import annotations

from hood.gotemplate.docker_format import preformat, split_table_prefix
from hood.gotemplate.errors import TemplateError
from hood.gotemplate.functions import FuncMap
from hood.gotemplate.printing import go_json, go_sprint
from hood.gotemplate.template import Template, compile_template
from hood.gotemplate.values import Struct

__all__ = [
    "FuncMap",
    "Struct",
    "Template",
    "TemplateError",
    "compile_template",
    "go_json",
    "go_sprint",
    "preformat",
    "split_table_prefix",
]
