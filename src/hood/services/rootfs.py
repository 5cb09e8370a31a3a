"""An image's root filesystem outside a container: `unpack` (flattened into a plain
directory, umoci unpack's job), `bundle` (an OCI runtime bundle runc runs as is) and
`mount`/`umount` (an overlay to look around in)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from hood.core.errors import HoodError, NotFound
from hood.core.fileio import DiskError, disk_error, is_disk_error, remove_tree
from hood.runtime.rootfs import MountError, is_mounted, mount_overlay, mount_read_only, unmount
from hood.store.containers import ContainerStore
from hood.store.images import ImageStore
from hood.store.layout import Layout
from hood.store.rwlayers import RwLayers


def unpack(layout: Layout, image_name: str, directory: str | os.PathLike[str]) -> Path:
    """The image's layers flattened into `directory` (made if missing, else empty).
    A failure removes what was written, and says so."""
    from hood.layer.flatten import flatten

    images = ImageStore(layout)
    record = images.resolve(image_name)
    dest = Path(directory)
    if dest.is_symlink():
        raise HoodError(f"refusing to unpack into {dest}: it is a symlink")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise HoodError(f"refusing to unpack into {dest}: not an empty directory")
    with images.locked():
        layers = images.layers_of(record.config)
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        flatten([Path(layer.diff_dir) for layer in layers], dest)
    except (HoodError, OSError) as exc:
        # Never leave a half-written tree that looks like an unpacked image.
        _remove_written(dest, created)
        said = f"unpack of {image_name} into {dest} failed; what was written is removed"
        if isinstance(exc, DiskError):
            raise exc.within(said) from None
        if isinstance(exc, OSError) and is_disk_error(exc):
            raise disk_error(exc, "writing", dest, said) from None
        raise HoodError(f"{exc} ({said})") from None
    return dest


def _remove_written(dest: Path, created: bool) -> None:
    with contextlib.suppress(OSError):
        if created:
            remove_tree(dest)
        else:
            for child in dest.iterdir():
                remove_tree(child)


def write_bundle(layout: Layout, image_name: str, directory: str | os.PathLike[str]) -> Path:
    """An OCI runtime bundle: DIR/config.json for the image's own command, DIR/rootfs."""
    from hood.runtime.bundle import runtime_config, write_config
    from hood.runtime.spec import RunOptions, build_spec

    bundle = Path(directory)
    rootfs = bundle / "rootfs"
    if rootfs.exists() and any(rootfs.iterdir()):
        raise HoodError(f"{rootfs} exists and is not empty")
    record = ImageStore(layout).resolve(image_name)
    spec = build_spec(record.config.config, RunOptions(), os.urandom(32).hex())
    unpack(layout, str(record.id), rootfs)
    write_config(str(bundle), runtime_config(spec, str(rootfs)))
    return bundle


def _image_mount_dir(layout: Layout, hexid: str) -> str:
    return os.path.join(layout.hood_dir, "mounts", hexid)


def mount_image_layers(layout: Layout, link_ids: list[str], target: str) -> None:
    """Read-only view of the layers (lowest first) at `target`."""
    if not link_ids:
        raise MountError("the image has no layers to mount")
    mount_read_only(layout, [f"l/{lid}" for lid in reversed(link_ids)], target)


def mount_target(layout: Layout, name: str, directory: str | None) -> str:
    """Mount a container's (read-write) or an image's (read-only) filesystem; where."""
    with contextlib.suppress(NotFound):
        c = ContainerStore(layout).resolve(name)
        mount_id = RwLayers(layout).mount_id(c.id)
        target = directory or os.path.join(layout.layer_dir(mount_id), "merged")
        os.makedirs(target, exist_ok=True)
        if not is_mounted(target):
            mount_overlay(layout, mount_id, target)
        return os.path.abspath(target)
    images = ImageStore(layout)
    image = images.resolve(name)
    target = directory or _image_mount_dir(layout, image.id.hex)
    os.makedirs(target, exist_ok=True)
    if not is_mounted(target):
        mount_image_layers(layout, [la.link_id for la in images.layers_of(image.config)], target)
    return os.path.abspath(target)


def umount_target(layout: Layout, name: str) -> None:
    if os.path.isdir(name) and is_mounted(name):
        unmount(name)
        return
    with contextlib.suppress(NotFound):
        c = ContainerStore(layout).resolve(name)
        unmount(os.path.join(layout.layer_dir(RwLayers(layout).mount_id(c.id)), "merged"))
        return
    image = ImageStore(layout).resolve(name)
    target = _image_mount_dir(layout, image.id.hex)
    unmount(target)
    with contextlib.suppress(OSError):
        os.rmdir(target)
