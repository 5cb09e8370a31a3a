"""Image references parsed and normalised as docker does (distribution/reference)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hood.digest import Digest, InvalidDigest
from hood.errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
DEFAULT_TAG = "latest"
OFFICIAL_NAMESPACE = "library"

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_HEX64 = re.compile(r"[a-f0-9]{64}")
_MAX_NAME = 255


@dataclass(frozen=True)
class Reference:
    """A fully normalised reference: domain, path, and a tag and/or digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

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
    if _HEX64.fullmatch(text):
        raise InvalidReference(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
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
        if not _TAG.fullmatch(tag):
            raise InvalidReference(
                f"invalid reference format {text!r}: bad tag {tag!r} "
                "(up to 128 of letters, digits, '_', '.', '-'; not starting with '.' or '-')"
            )
    if not name:
        raise InvalidReference(f"invalid reference format {text!r}: empty repository name")
    domain, path = _split_domain(name)
    if domain != DEFAULT_DOMAIN and not _DOMAIN.fullmatch(domain):
        raise InvalidReference(f"invalid reference format {text!r}: bad registry host {domain!r}")
    for component in path.split("/"):
        if not component:
            raise InvalidReference(f"invalid reference format {text!r}: empty path component")
        if not _PATH_COMPONENT.fullmatch(component):
            if component.lower() != component:
                raise InvalidReference(
                    f"invalid reference format {text!r}: repository name must be lowercase"
                )
            raise InvalidReference(
                f"invalid reference format {text!r}: bad repository name component {component!r}"
            )
    if len(f"{domain}/{path}") > _MAX_NAME:
        raise InvalidReference(
            f"invalid reference format {text!r}: repository name longer than {_MAX_NAME} characters"
        )
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)
