"""Places named as skopeo names them: `docker://REF`, `docker-archive:PATH[:REF]`,
`oci:DIR[:REF]`, `oci-archive:PATH[:REF]`, and `hood:REF` for the store. After the
transport, the text splits at its first `:` (PATH, then REF), as skopeo splits it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hood.core import reference
from hood.core.errors import HoodError
from hood.places.model import ImageDestination, ImageSource

if TYPE_CHECKING:
    from hood.registry.client import RegistryClient
    from hood.store.images import ImageStore

TRANSPORTS = ("docker", "docker-archive", "oci", "oci-archive", "hood")


@dataclass(frozen=True)
class PlaceName:
    transport: str
    path: str  # the file or directory (archives, layouts); the reference (docker, hood)
    ref: str  # what names the image inside the file or directory ('' if nothing)

    def __str__(self) -> str:
        if self.transport == "docker":
            return f"docker://{self.path}"
        if self.transport == "hood":
            return f"hood:{self.path}"
        return f"{self.transport}:{self.path}" + (f":{self.ref}" if self.ref else "")


def is_place(text: str) -> bool:
    """Whether `text` names a place with a transport (rather than a store image)."""
    transport, colon, _ = text.partition(":")
    return bool(colon) and transport in TRANSPORTS


def parse(text: str) -> PlaceName:
    transport, colon, rest = text.partition(":")
    if not colon or transport not in TRANSPORTS:
        raise HoodError(
            f"invalid place {text!r}: expected TRANSPORT:NAME with TRANSPORT one of "
            "docker://, docker-archive:, oci:, oci-archive:, hood:"
        )
    if transport == "docker":
        if not rest.startswith("//"):
            raise HoodError(f"invalid place {text!r}: docker references start with docker://")
        name = rest[2:]
        reference.parse(name)  # InvalidReference names what is wrong
        return PlaceName("docker", name, "")
    if transport == "hood":
        if not rest:
            raise HoodError(f"invalid place {text!r}: hood:NAME needs an image name or ID")
        return PlaceName("hood", rest, "")
    path, _, ref = rest.partition(":")
    if not path:
        raise HoodError(f"invalid place {text!r}: no path")
    if transport == "docker-archive" and ref and not ref.startswith("@"):
        reference.parse(ref)
    return PlaceName(transport, path, ref)


@dataclass
class Opener:
    """What opening a place needs: the store (hood:, and its temp dir), and a registry
    client for a host (docker://)."""

    store: ImageStore
    client: Callable[[str], RegistryClient]

    @property
    def spool(self) -> str:
        os.makedirs(self.store.layout.tmp, exist_ok=True)
        return self.store.layout.tmp


def open_source(name: PlaceName, opener: Opener) -> ImageSource:
    from hood.places.layout import LayoutSource
    from hood.places.tree import DirTree

    if name.transport == "docker":
        from hood.places.registry import RegistrySource

        ref = reference.parse(name.path)
        return RegistrySource(opener.client(ref.registry_host), ref)
    if name.transport == "hood":
        from hood.places.store import StoreSource

        return StoreSource(opener.store, name.path)
    if name.transport == "oci":
        layout = LayoutSource(DirTree(name.path), name.ref)
        layout.description = str(name)
        return layout
    from hood.places.archive import DockerArchiveSource, open_input

    tree, spool = open_input(name.path, None, opener.spool)  # type: ignore[arg-type]
    try:
        if name.transport == "oci-archive":
            source: ImageSource = LayoutSource(tree, name.ref)
        else:
            source = DockerArchiveSource(tree, name.ref)
    except BaseException:
        tree.close()
        _drop(spool)
        raise
    source.description = str(name)
    if spool is not None:
        source.close = _also_drop(source.close, spool)  # type: ignore[method-assign]
    return source


def _drop(path: str | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _also_drop(close: Callable[[], None], path: str) -> Callable[[], None]:
    def closing() -> None:
        try:
            close()
        finally:
            _drop(path)

    return closing


def open_destination(name: PlaceName, opener: Opener) -> ImageDestination:
    from hood.places.layout import DirSink, LayoutDestination, TarSink

    if name.transport == "docker":
        from hood.places.registry import RegistryDestination

        ref = reference.parse(name.path)
        return RegistryDestination(opener.client(ref.registry_host), ref)
    if name.transport == "hood":
        from hood.places.store import StoreDestination

        return StoreDestination(opener.store)
    if name.transport == "oci":
        return LayoutDestination(DirSink(name.path), ref=name.ref, description=str(name))
    if name.transport == "oci-archive":
        return LayoutDestination(TarSink(path=name.path), ref=name.ref, description=str(name))
    if name.ref.startswith("@"):
        raise HoodError(f"{name}: a destination is named NAME:TAG, not @N")
    return LayoutDestination(
        TarSink(path=name.path), docker_save=True, uncompressed=True, description=str(name)
    )


def destination_names(name: PlaceName) -> list[str] | None:
    """The names a copy gives the image at `name` (None: the source's names)."""
    if name.transport in ("docker", "hood"):
        if name.transport == "hood" and reference.is_full_id(name.path.removeprefix("sha256:")):
            return None
        try:
            return [str(reference.parse(name.path))]
        except HoodError:
            return None if name.transport == "hood" else []
    if name.transport == "docker-archive":
        return [name.ref] if name.ref else None
    return None  # layouts: REF names the index.json entry
