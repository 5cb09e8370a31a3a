"""Image configs: the JSON whose sha256 is the image ID, read as docker reads it.

Kept apart from the manifest types: `hood run` reads a stored config on its fast path."""

from __future__ import annotations

from hood.core.digest import Digest, InvalidDigest
from hood.core.errors import ManifestError
from hood.core.jsonio import load_object
from hood.core.lean import Frozen
from hood.core.platform import Platform

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Limit against hostile documents (bytes).
MAX_CONFIG_SIZE = 8 * 1024 * 1024


class HistoryEntry(Frozen):
    __slots__ = ("created", "created_by", "comment", "empty_layer", "author")
    created: str | None
    created_by: str
    comment: str
    empty_layer: bool
    author: str

    def __init__(
        self, created: str | None, created_by: str, comment: str, empty_layer: bool, author: str
    ) -> None:
        self._init(
            created=created,
            created_by=created_by,
            comment=comment,
            empty_layer=empty_layer,
            author=author,
        )


class ImageConfig(Frozen):
    """An image config blob, parsed. `doc` is the JSON as stored; `raw` the exact bytes."""

    __slots__ = ("raw", "doc", "diff_ids")
    raw: bytes
    doc: dict[str, Any]
    diff_ids: tuple[Digest, ...]

    def __init__(self, raw: bytes, doc: dict[str, Any], diff_ids: tuple[Digest, ...]) -> None:
        self._init(raw=raw, doc=doc, diff_ids=diff_ids)

    def __hash__(self) -> int:
        return hash(self.raw)

    @classmethod
    def parse(cls, raw: bytes, what: str = "image config", *, bounded: bool = True) -> ImageConfig:
        """`bounded` for a config from outside (core.jsonlimits' nesting and string checks);
        the store reads back what it checked so on the way in without them."""
        if len(raw) > MAX_CONFIG_SIZE:
            raise ManifestError(f"{what}: larger than {MAX_CONFIG_SIZE} bytes")
        doc = load_object(raw, what, ManifestError, bounded=bounded)
        rootfs = doc.get("rootfs")
        if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
            raise ManifestError(f"{what}: no rootfs.diff_ids")
        try:
            diff_ids = tuple(Digest.parse(str(d), sha256_only=True) for d in rootfs["diff_ids"])
        except InvalidDigest as exc:
            raise ManifestError(f"{what}: rootfs.diff_ids: {exc}") from None
        return cls(raw, doc, diff_ids)

    @property
    def id(self) -> Digest:
        return Digest.of_bytes(self.raw)

    @property
    def config(self) -> dict[str, Any]:
        c = self.doc.get("config")
        return c if isinstance(c, dict) else {}

    @property
    def os(self) -> str:
        return str(self.doc.get("os", ""))

    @property
    def architecture(self) -> str:
        return str(self.doc.get("architecture", ""))

    @property
    def variant(self) -> str:
        return str(self.doc.get("variant", "") or "")

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.variant)

    @property
    def created(self) -> str | None:
        c = self.doc.get("created")
        return c if isinstance(c, str) else None

    def history(self) -> list[HistoryEntry]:
        entries = self.doc.get("history")
        if not isinstance(entries, list):
            return []
        out = []
        for h in entries:
            if not isinstance(h, dict):
                continue
            out.append(
                HistoryEntry(
                    h.get("created") if isinstance(h.get("created"), str) else None,
                    str(h.get("created_by", "")),
                    str(h.get("comment", "")),
                    bool(h.get("empty_layer", False)),
                    str(h.get("author", "")),
                )
            )
        return out
