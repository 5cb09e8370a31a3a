"""hood as a Python library: the same services the command line calls, as one `Store` per
data root. Nothing here prints or exits; failures are `hood.HoodError` subclasses.

    import hood
    store = hood.Store("/var/lib/hood")
    image = store.pull("registry:5000/team/app:1.2")
    result = store.run("app:1.2", ["echo", "hi"], remove=True, capture=True)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hood.core.digest import chain_ids
from hood.services.pull import PullEvent
from hood.store.images import ImageRecord, ImageStore
from hood.store.layout import Layout, default_root

__all__ = ["Image", "Layer", "PullEvent", "RunResult", "Store"]


@dataclass(frozen=True)
class Layer:
    """One layer of an image: what its uncompressed tar hashes to (diff ID), its place in
    the image's chain (chain ID) and the bytes its files take."""

    diff_id: str
    chain_id: str
    size: int


@dataclass(frozen=True)
class Image:
    """A stored image. `config` is its config JSON (the bytes whose sha256 is `id`)."""

    id: str
    repo_tags: list[str]
    repo_digests: list[str]
    config: dict[str, Any]
    layers: list[Layer]

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]


@dataclass(frozen=True)
class RunResult:
    """How a container ended; with `capture`, what it wrote."""

    status: int
    container_id: str
    stdout: bytes = b""
    stderr: bytes = b""
    warnings: list[str] = field(default_factory=list)


class Store:
    """Images and containers of one data root (default: hood's, as `hood` uses it)."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        insecure_registries: Iterable[str] = (),
    ) -> None:
        from hood.core.fileio import check_safe_dir

        self.layout = Layout(root if root is not None else default_root())
        if os.path.lexists(self.layout.root):
            check_safe_dir(self.layout.root)
        self.insecure_registries = list(insecure_registries)
        self._images = ImageStore(self.layout)

    def __repr__(self) -> str:
        return f"hood.Store({self.layout.root!r})"

    # --- images ----------------------------------------------------------------------------
    def _image(self, record: ImageRecord) -> Image:
        chains = chain_ids(list(record.config.diff_ids))
        layers = []
        for diff_id, chain in zip(record.config.diff_ids, chains, strict=True):
            stored = self._images.layers.get(chain)
            layers.append(Layer(str(diff_id), str(chain), stored.size if stored else 0))
        return Image(
            str(record.id),
            list(record.repo_tags),
            list(record.repo_digests),
            dict(record.config.doc),
            layers,
        )

    def images(self) -> list[Image]:
        """Every stored image."""
        return [self._image(r) for r in self._images.list()]

    def image(self, name: str) -> Image:
        """An image by reference, ID or ID prefix; hood.NotFound if there is none."""
        return self._image(self._images.resolve(name))

    def pull(
        self,
        reference: str,
        *,
        platform: str | None = None,
        progress: Callable[[PullEvent], None] | None = None,
        max_concurrent_downloads: int = 3,
    ) -> Image:
        """Bring an image from its registry (credentials as docker keeps them)."""
        from hood.core import reference as references
        from hood.core.platform import Platform
        from hood.services.pull import pull_image
        from hood.services.registries import open_registry

        ref = references.parse(reference)
        with open_registry(ref.registry_host, insecure_registries=self.insecure_registries) as c:
            result = pull_image(
                self._images,
                c,
                ref,
                platform=Platform.parse(platform) if platform else None,
                max_concurrent_downloads=max_concurrent_downloads,
                events=progress or _ignore,
            )
        return self._image(self._images.get(result.image_id))

    def tag(self, source: str, target: str) -> Image:
        """Give the image `source` names the name `target` too."""
        from hood.services.images import tag_image

        return self._image(self._images.get(tag_image(self._images, source, target)))

    def remove(self, name: str, *, force: bool = False) -> list[str]:
        """`rmi`: untag `name`, and delete the image with its last name; what was untagged
        and deleted, as `Untagged: …` / `Deleted: …` says it."""
        from hood.services.images import remove_image

        done = remove_image(self._images, name, force=force)
        return [*(f"Untagged: {k}" for k in done.untagged), *(f"Deleted: {d}" for d in done.deleted)]

    def inspect(self, name: str) -> dict[str, Any]:
        """What `hood inspect` prints for an image."""
        from hood.services.image_views import image_inspect

        return image_inspect(self._images, self._images.resolve(name))

    def digests(self, name: str, *, verify: bool = True) -> dict[str, object]:
        """What `hood digests --json` prints: every sha256 of the image and what it hashes,
        recomputed now (`verify`: rebuild each layer's tar to check its diff ID)."""
        from hood.services.explain import explain_image

        return explain_image(self._images, self._images.resolve(name), verify=verify).to_json()

    def unpack(self, name: str, directory: str | os.PathLike[str]) -> str:
        """The image's root filesystem, flattened, in `directory` (new or empty)."""
        from hood.services.rootfs import unpack

        return str(unpack(self.layout, name, directory))

    # --- containers --------------------------------------------------------------------------
    def run(
        self,
        image: str,
        args: Sequence[str] | None = None,
        *,
        name: str | None = None,
        env: Sequence[str] = (),
        workdir: str | None = None,
        user: str | None = None,
        network: str = "host",
        remove: bool = False,
        capture: bool = False,
    ) -> RunResult:
        """Run a container of `image` in the foreground until it exits. `args` left out:
        the image's own command. With `capture`, its output is returned (and kept in its
        log) instead of going to this process's stdout and stderr."""
        from hood.runtime.spec import RunOptions
        from hood.services.container_create import create_container
        from hood.services.container_lifecycle import remove_container, run_attached
        from hood.services.container_logs import read_logs

        warnings: list[str] = []
        opts = RunOptions(
            args=list(args or []), env=list(env), workdir=workdir, user=user, network=network
        )
        c = create_container(
            self.layout,
            image,
            opts,
            name=name,
            pull="never",
            auto_remove=remove and not capture,
            warn=warnings.append,
        )
        try:
            status = run_attached(self.layout, c, to_log=capture)
            out, err = b"", b""
            if capture:
                for entry in read_logs(self.layout, c):
                    if entry.stream == "stderr":
                        err += entry.data
                    else:
                        out += entry.data
        finally:
            if remove and capture:
                remove_container(self.layout, c, force=True)
        return RunResult(status, c.id, out, err, warnings)


def _ignore(_: PullEvent) -> None:
    pass
