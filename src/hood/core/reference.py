"""Image references parsed and normalised as docker does (distribution/reference).

The grammar is checked character by character, not with `re`: references are ASCII by that
grammar (a Cyrillic `е` in a tag is refused, where `\\w` would take it), and `hood run`
parses its image name without importing `re`."""

from __future__ import annotations

from hood.core.digest import Digest, InvalidDigest
from hood.core.errors import InvalidReference
from hood.core.lean import Frozen

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
DEFAULT_TAG = "latest"
OFFICIAL_NAMESPACE = "library"
MAX_NAME = 255
MAX_TAG = 128

_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALNUM = _LOWER_ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WORD = _ALNUM | frozenset("_")
_TAG_CHARS = _WORD | frozenset(".-")
_HEX = frozenset("0123456789abcdef")
_HEX_ANY_CASE = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")


class Reference(Frozen):
    """A fully normalised reference: domain, path, and a tag and/or digest."""

    __slots__ = ("domain", "path", "tag", "digest")
    domain: str
    path: str
    tag: str | None
    digest: Digest | None

    def __init__(
        self, domain: str, path: str, tag: str | None = None, digest: Digest | None = None
    ) -> None:
        self._init(domain=domain, path=path, tag=tag, digest=digest)

    @property
    def repository(self) -> str:
        """`docker.io/library/busybox`: the canonical name."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """Docker's short form: `busybox`, `user/repo`, `host:5000/repo`."""
        if self.domain == DEFAULT_DOMAIN:
            prefix = OFFICIAL_NAMESPACE + "/"
            if self.path.startswith(prefix) and "/" not in self.path[len(prefix) :]:
                return self.path[len(prefix) :]
            return self.path
        return self.repository

    @property
    def registry_host(self) -> str:
        """The host:port to talk HTTP to."""
        return "registry-1.docker.io" if self.domain == DEFAULT_DOMAIN else self.domain

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: Digest) -> Reference:
        return Reference(self.domain, self.path, None, digest)

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def familiar(self) -> str:
        text = self.familiar_name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_path_component(text: str) -> bool:
    """`[a-z0-9]+` runs joined by one separator each: `.`, `_`, `__` or one or more `-`."""
    if not text or text[0] not in _LOWER_ALNUM or text[-1] not in _LOWER_ALNUM:
        return False
    sep = ""
    for c in text:
        if c in _LOWER_ALNUM:
            if sep and sep not in (".", "_", "__") and sep.strip("-"):
                return False
            sep = ""
        elif c in "._-":
            sep += c
        else:
            return False
    return True


def is_tag(text: str) -> bool:
    """`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`, ASCII only."""
    return 0 < len(text) <= MAX_TAG and text[0] in _WORD and _TAG_CHARS.issuperset(text)


def _is_domain_component(text: str) -> bool:
    if not text or not _ALNUM.issuperset(text.replace("-", "")):
        return False
    return text[0] in _ALNUM and text[-1] in _ALNUM


def is_domain(text: str) -> bool:
    """A host name (dot-separated components of letters, digits and inner `-`) or a
    bracketed IPv6 address, with an optional `:port`."""
    host, port = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return False
        host, rest = text[: end + 1], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                return False
            port = rest[1:]
            if not port:
                return False
        inner = host[1:-1]
        if not inner or not (_HEX_ANY_CASE | {":"}).issuperset(inner):
            return False
    else:
        host, colon, port = text.partition(":")
        if colon and not port:
            return False
        if not all(_is_domain_component(c) for c in host.split(".")):
            return False
    return not port or _DIGITS.issuperset(port)


def is_full_id(text: str) -> bool:
    """64 lowercase hex characters: an image ID, never a repository name."""
    return len(text) == 64 and _HEX.issuperset(text)


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or (
        "." not in first and ":" not in first and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = f"{OFFICIAL_NAMESPACE}/{remainder}"
    return domain, remainder


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse a user's reference. `fedora` → docker.io/library/fedora:latest.

    With `default_tag`, a reference with neither tag nor digest gets `latest`.
    """
    if not text:
        raise InvalidReference("invalid reference format: empty reference")
    if is_full_id(text):
        raise InvalidReference(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    if not text.isascii():
        raise InvalidReference(
            f"invalid reference format {text!r}: references are ASCII (a look-alike letter?)"
        )
    name, at, digest_text = text.partition("@")
    digest: Digest | None = None
    if at:
        try:
            digest = Digest.parse(digest_text)
        except InvalidDigest as exc:
            raise InvalidReference(f"invalid reference format {text!r}: {exc}") from None
    tag: str | None = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not is_tag(tag):
            raise InvalidReference(
                f"invalid reference format {text!r}: bad tag {tag!r} "
                "(up to 128 of letters, digits, '_', '.', '-'; not starting with '.' or '-')"
            )
    if not name:
        raise InvalidReference(f"invalid reference format {text!r}: empty repository name")
    domain, path = _split_domain(name)
    if domain != DEFAULT_DOMAIN and not is_domain(domain):
        raise InvalidReference(f"invalid reference format {text!r}: bad registry host {domain!r}")
    for component in path.split("/"):
        if not component:
            raise InvalidReference(f"invalid reference format {text!r}: empty path component")
        if not is_path_component(component):
            if component.lower() != component:
                raise InvalidReference(
                    f"invalid reference format {text!r}: repository name must be lowercase"
                )
            raise InvalidReference(
                f"invalid reference format {text!r}: bad repository name component {component!r}"
            )
    if len(f"{domain}/{path}") > MAX_NAME:
        raise InvalidReference(
            f"invalid reference format {text!r}: repository name longer than {MAX_NAME} characters"
        )
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)
