"""`hood mount` / `hood umount`: an image's or container's merged filesystem for looking around."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from hood.errors import NotFound
from hood.runtime import linux
from hood.runtime.rootfs import MountError, is_mounted, mount_overlay, unmount
from hood.store.layout import Layout


def _image_mount_dir(layout: Layout, hexid: str) -> Path:
    return layout.hood_dir / "mounts" / hexid


def mount_image_layers(layout: Layout, link_ids: list[str], target: Path) -> None:
    """Read-only overlay of the layers (lowest first) at `target`."""
    if not link_ids:
        raise MountError("the image has no layers to mount")
    if len(link_ids) == 1:
        src = str(layout.short_links / link_ids[0])
        linux.mount(os.path.realpath(src), str(target), None, linux.MS_BIND)
        linux.mount(None, str(target), None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)
        return
    lower = ":".join(f"l/{lid}" for lid in reversed(link_ids))
    saved = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(layout.overlay2)
        linux.mount(
            "overlay", str(target.absolute()), "overlay", linux.MS_RDONLY, f"lowerdir={lower}"
        )
    except OSError as exc:
        raise MountError(f"cannot mount the image on {target}: {exc.strerror}") from None
    finally:
        os.fchdir(saved)
        os.close(saved)


def mount_target(layout: Layout, name: str, directory: str | None) -> Path:
    from hood.containers.state import ContainerStore

    with contextlib.suppress(NotFound):
        c = ContainerStore(layout).resolve(name)
        target = Path(directory) if directory else layout.layer_dir(c.mount_id) / "merged"
        target.mkdir(parents=True, exist_ok=True)
        if not is_mounted(target):
            mount_overlay(layout, c.mount_id, target)
        return target.absolute()
    from hood.store.images import ImageStore

    images = ImageStore(layout)
    image = images.resolve(name)
    target = Path(directory) if directory else _image_mount_dir(layout, image.id.hex)
    target.mkdir(parents=True, exist_ok=True)
    if not is_mounted(target):
        mount_image_layers(layout, [la.link_id for la in images.image_layers(image.id)], target)
    return target.absolute()


def umount_target(layout: Layout, name: str) -> None:
    path = Path(name)
    if path.is_dir() and is_mounted(path):
        unmount(path)
        return
    from hood.containers.state import ContainerStore

    with contextlib.suppress(NotFound):
        c = ContainerStore(layout).resolve(name)
        unmount(layout.layer_dir(c.mount_id) / "merged")
        return
    from hood.store.images import ImageStore

    image = ImageStore(layout).resolve(name)
    target = _image_mount_dir(layout, image.id.hex)
    unmount(target)
    with contextlib.suppress(OSError):
        target.rmdir()
