"""Docker's preparation of a --format string: the ``table`` prefix, ``\\t`` and ``\\n``."""

from __future__ import annotations


def split_table_prefix(text: str) -> tuple[bool, str]:
    """Docker's ``table`` format prefix: (is_table, template without the prefix).

    Like docker, any format starting with ``table`` is a table; the rest is
    stripped of surrounding spaces.
    """
    if text.startswith("table"):
        return True, text[len("table") :].strip(" ")
    return False, text


def preformat(text: str) -> tuple[bool, str]:
    """Docker's formatter preprocessing: strip ``table``, trim spaces, expand ``\\t`` ``\\n``."""
    is_table, rest = split_table_prefix(text)
    rest = rest.strip(" ")
    out, i = [], 0
    while i < len(rest):
        if rest.startswith("\\t", i):
            out.append("\t")
            i += 2
        elif rest.startswith("\\n", i):
            out.append("\n")
            i += 2
        else:
            out.append(rest[i])
            i += 1
    return is_table, "".join(out)
