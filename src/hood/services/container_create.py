"""Creating a container as dockerd does: the image (pulled when asked), a read-write
layer on it, and the records dockerd keeps (config.v2.json and hostconfig.json, made by
services.container_records; hostname, hosts, resolv.conf) beside hood's own. Nothing
here prints: warnings go to a `warn` callback.

`hood run` comes through here on its fast path, so only the store's light parts are
imported at module level."""

from __future__ import annotations

import os

from hood.core.errors import HoodError, NotFound
from hood.core.lean import suppress
from hood.core.privilege import host_root, mapped_ids
from hood.runtime.spec import RUNTIMES, ContainerSpec, RunOptions, build_spec
from hood.services.container_lifecycle import remove_container_files, sweep_abandoned
from hood.services.container_records import add_run_config, config_v2, host_config
from hood.store.containers import (
    Container,
    ContainerStore,
    hosts_file,
    resolv_conf,
)
from hood.store.images import ImageStore
from hood.store.layout import Layout
from hood.store.rwlayers import RwLayers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from hood.core.platform import Platform
    from hood.services.volumes import ContainerVolumes
    from hood.store.images import ImageRecord

    # puller(name, platform, missing): bring the image into the store.
    Puller = Callable[[str, "Platform | None", bool], None]
    Warn = Callable[[str], None]


def _no_warning(_: str) -> None:
    pass


def _find_image(images: ImageStore, name: str) -> ImageRecord | None:
    try:
        return images.resolve(name)
    except NotFound:
        return None


def create_container(
    layout: Layout,
    image_name: str,
    opts: RunOptions,
    *,
    name: str | None = None,
    pull: str = "missing",
    platform: Platform | None = None,
    puller: Puller | None = None,
    auto_remove: bool = False,
    runtime: str = "builtin",
    starting: bool = False,
    warn: Warn = _no_warning,
) -> Container:
    """Create a container from `image_name`, pulling it as docker's `--pull` says.

    `puller(name, platform, missing)` fetches the image into the store; `platform` is
    pulled and required: an image of another platform is never run under that flag.
    `starting` (`run`): this process holds the container until it is done with it, so a
    `--rm` one it leaves behind when killed is known for abandoned (`sweep_abandoned`)."""
    from hood.core.fileio import check_safe_dir

    if runtime not in RUNTIMES:
        raise HoodError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    if os.path.lexists(layout.root):
        check_safe_dir(layout.root)
    images = ImageStore(layout)
    image = _image_to_run(images, image_name, pull, platform, puller, warn)
    if not host_root():
        _rootless_limits(layout, opts, warn)
    layers = images.layers_of(image.config)
    sweep_abandoned(layout)
    container_id = os.urandom(32).hex()
    image_config = image.config.config
    spec = build_spec(image_config, opts, container_id)
    if spec.devices:
        _check_devices(spec.devices)
    volumes = _volumes(layout, image_config, opts, spec)
    store = ContainerStore(layout)
    config = config_v2(layout, spec, image_name, str(image.id))
    add_run_config(config, image_config, opts, volumes)
    c = store.create(
        config,
        host_config(spec, auto_remove, opts, volumes),
        spec.to_json(),
        runtime=runtime,
        container_id=container_id,
        name=name,
        etc_files=_etc_files(spec, opts),
        starting=starting,
    )
    try:
        RwLayers(layout).create(container_id, layers, synced=not c.auto_remove)
    except BaseException:
        remove_container_files(layout, c)
        raise
    if volumes is not None and host_root():
        from hood.services.volumes import fill_volumes

        fill_volumes(layout, c.id, spec.mounts)
    return c


def _volumes(
    layout: Layout, image_config: dict[str, Any], opts: RunOptions, spec: ContainerSpec
) -> ContainerVolumes | None:
    """The volumes of -v, --mount and the image's VOLUMEs, made in the store and set as
    the spec's mounts; None when there are none (the volumes module stays unloaded)."""
    if not (opts.volumes or image_config.get("Volumes")):
        return None
    from hood.services.volumes import container_volumes

    volumes = container_volumes(layout, image_config, opts, spec)
    spec.mounts = volumes.mounts
    return volumes


def _etc_files(spec: ContainerSpec, opts: RunOptions) -> dict[str, str]:
    """The files dockerd writes beside a container's records and mounts into it."""
    return {
        "hostname": spec.hostname + "\n",
        "hosts": hosts_file(spec.network, opts.extra_hosts),
        "resolv.conf": resolv_conf(spec.network, opts.dns, opts.dns_search, opts.dns_options),
    }


def _image_to_run(
    images: ImageStore,
    image_name: str,
    pull: str,
    platform: Platform | None,
    puller: Puller | None,
    warn: Warn,
) -> ImageRecord:
    """The image as --pull says: the store's (unless "always", or it is of another
    platform than `platform`), else pulled (unless "never" or there is no puller); of
    `platform` when one is asked for, else a warning when it is not the host's."""
    image = None
    local_platform = None
    if pull != "always":
        image = _find_image(images, image_name)
        if image is not None and platform and not platform.matches(image.config.platform):
            local_platform, image = image.config.platform, None
    if image is None:
        if pull == "never" or puller is None:
            if local_platform is not None:
                raise HoodError(_platform_mismatch(image_name, platform, local_platform))
            hint = " (and --pull never was given)" if pull == "never" else ""
            raise NotFound(f"No such image: {image_name}{hint}")
        puller(image_name, platform, pull != "always")
        image = images.resolve(image_name)
    _check_platform(image_name, image.config.platform, platform, warn)
    return image


def _check_platform(image_name: str, have: Platform, platform: Platform | None, warn: Warn) -> None:
    """An image of another platform than --platform's is refused; without --platform,
    one that is not the host's is run with docker's warning."""
    from hood.core.platform import Platform

    if platform:
        if not platform.matches(have):
            raise HoodError(_platform_mismatch(image_name, platform, have))
    elif have.architecture and not Platform.host().matches(have):
        warn(
            f"The requested image's platform ({have.normalized()}) does not match the "
            f"detected host platform ({Platform.host()}) and no specific platform was requested"
        )


def _rootless_limits(layout: Layout, opts: RunOptions, warn: Warn) -> None:
    """Rootless: the one-id mapping noted, and resource limits the cgroups cannot give
    discarded with docker's warning ("Limitation discarded"), the run going on."""
    _note_single_id_mapping(layout, warn)
    from hood.runtime.cgroups import rootless_problem

    problem = rootless_problem(opts.memory, opts.cpus, opts.pids_limit)
    if problem:  # docker's "Limitation discarded": a warning, and the run goes on
        warn(problem)
        opts.memory = opts.cpus = opts.pids_limit = None


def _note_single_id_mapping(layout: Layout, warn: Warn) -> None:
    """Rootless without subordinate ids: say once per data root what that means."""
    from hood.runtime.user_namespace import subordinate_ids

    if mapped_ids() > 1 or subordinate_ids(os.geteuid(), os.getegid()) is not None:
        return
    marker = os.path.join(layout.hood_dir, "notes", "rootless-one-id")
    if os.path.exists(marker):
        return
    warn(
        "rootless without subordinate ids: only your uid and gid are mapped, to root in the"
        " container, so -u, chown to other ids and the image's other owners do not work;"
        " for them give your user ranges in /etc/subuid and /etc/subgid and install"
        " newuidmap/newgidmap (Debian's uidmap). Said once for this data root."
    )
    with suppress(OSError):
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        os.close(os.open(marker, os.O_CREAT | os.O_WRONLY, 0o644))


def _check_devices(devices: list[list[str]]) -> None:
    """--device HOST paths that are device nodes (or directories of them), as the daemon
    checks when it creates the container's spec."""
    import stat

    from hood.runtime.launch import ContainerError

    for host, _, _ in devices:
        what = f'error gathering device information while adding custom device "{host}"'
        try:
            st = os.stat(host)
        except OSError as exc:  # docker's CLI: 127 for "no such file or directory"
            status = 127 if exc.errno == 2 else 125
            raise ContainerError(f"{what}: {(exc.strerror or '').lower()}", status) from None
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise ContainerError(f"{what}: not a device node")


def _platform_mismatch(name: str, wanted: Platform | None, actual: Platform) -> str:
    return (
        f"image with reference {name} was found but does not match the specified platform:"
        f" wanted {wanted}, actual: {actual.normalized()}"
    )
