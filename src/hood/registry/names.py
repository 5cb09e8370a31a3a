"""Repository names as the distribution spec allows them."""

from __future__ import annotations

import re

from hood.core.errors import RegistryError

_REPO = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)


def check_repository(repo: str) -> str:
    """`repo`, or RegistryError when the API would not accept it as a repository name."""
    if len(repo) > 255 or not _REPO.fullmatch(repo):
        raise RegistryError(f"invalid repository name {repo[:80]!r}")
    return repo
