"""A container's life after create: run (attached, or detached under a monitor process),
signal, stop, kill, remove, prune, export.

`hood run` comes through here on its fast path, so only the store's light parts are
imported at module level."""

from __future__ import annotations

import _signal as signal  # signal's ints without its enum (and enum's imports)
import os
import time

from hood.core.errors import Conflict, HoodError, NotFound
from hood.core.lean import Record, suppress
from hood.core.privilege import host_root
from hood.runtime.spec import RUNTIMES
from hood.services.container_spec import container_spec
from hood.store.containers import Container, ContainerStore, pid_alive
from hood.store.layout import Layout
from hood.store.rwlayers import RwLayers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

    from hood.core.platform import Platform

    # puller(name, platform, missing): bring the image into the store.
    Puller = Callable[[str, "Platform | None", bool], None]
    Warn = Callable[[str], None]


def _launch(layout: Layout, c: Container, detached: bool):  # type: ignore[no-untyped-def]
    from hood.runtime.launch import Launch

    return Launch(
        spec=container_spec(c),
        layout=layout,
        mount_id=RwLayers(layout).mount_id(c.id),
        container_dir=c.dir,
        log_path=c.log_path,  # kept in the foreground too, as docker's json-file log
        foreground=not detached,
    )


def _finish(layout: Layout, c: Container, status: int, error: str = "") -> None:
    """Record the exit; a container run with --rm is removed instead."""
    if c.hostconfig.get("AutoRemove"):  # nobody will read the exit status: just remove
        with suppress(OSError, HoodError):
            remove_container_files(layout, c)
        return
    with suppress(OSError, HoodError):
        if os.path.exists(c.dir):
            ContainerStore(layout).mark_exited(c, status, error)


def _runtime_name(c: Container) -> str:
    """The runtime hood runs it with: its own record's choice, else the built-in one."""
    runtime = c.hood.get("Runtime") or "builtin"
    return runtime if runtime in RUNTIMES else "builtin"


def _start(layout: Layout, c: Container, detached: bool, on_started: Callable[[int], None]) -> int:
    """Run the container's process with its runtime until it exits; its status."""
    runtime = _runtime_name(c)
    if runtime != "builtin":
        from hood.runtime.bundle import run_with_oci_runtime

        return run_with_oci_runtime(
            layout,
            c,
            container_spec(c),
            RwLayers(layout).mount_id(c.id),
            runtime,
            on_started,
            log_path=c.log_path,
            foreground=not detached,
        )
    from hood.runtime import builtin

    launch = _launch(layout, c, detached)
    launch.on_started = on_started
    return builtin.run(launch)


def run_attached(layout: Layout, c: Container, *, to_log: bool = False) -> int:
    """Run in the foreground; returns the container's exit status (raises ContainerError).
    The output goes to this process's stdout and stderr, or with `to_log` only to the
    container's json-file log (what `logs` and the Python API's capture read)."""
    from hood.runtime.launch import ContainerError

    if c.running:
        raise Conflict(f"container {c.name} is already running")
    store = ContainerStore(layout)
    store.hold(c)
    try:
        status = _start(layout, c, to_log, lambda pid: store.mark_started(c, pid))
    except ContainerError as exc:
        _finish(layout, c, exc.status, str(exc))
        raise
    except BaseException as exc:
        _finish(layout, c, 125, str(exc))
        raise
    finally:
        store.release(c)
    _finish(layout, c, status)
    return status


def start_detached(layout: Layout, c: Container) -> None:
    """Start in a monitor process that outlives us and keeps the output in the json log."""
    from hood.services.monitor import run_in_monitor

    if c.running:
        return
    store = ContainerStore(layout)
    store.hold(c)  # the monitor inherits the lock; ours is closed once it has started

    def work(said_started: Callable[[], None]) -> None:  # pragma: no cover - the monitor
        def started(child: int) -> None:
            store.mark_started(c, child)
            said_started()

        _finish(layout, c, _start(layout, c, True, started))

    def failed(status: int, message: str) -> None:  # pragma: no cover - the monitor
        _finish(layout, c, status, message)

    try:
        run_in_monitor(work, on_failure=failed)
    finally:
        store.release(c)


def signal_container(c: Container, sig: int) -> None:
    if not c.running or not c.pid:
        raise Conflict(f"Container {c.id} is not running")
    os.kill(c.pid, sig)


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Whether `pid` ended within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return not pid_alive(pid)


def stop_container(
    layout: Layout, c: Container, timeout: float = 10, sig: int | None = None
) -> None:
    if not c.running:
        return
    pid = c.pid
    first = sig or stop_signal(c)
    with suppress(ProcessLookupError):
        os.kill(pid, first)
    killed_with = first
    if not wait_for_exit(pid, timeout):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        killed_with = signal.SIGKILL
        wait_for_exit(pid, 10)
    settle(layout, c, 128 + killed_with)


def signal_number(text: str) -> int | None:
    """A signal by number or name, with or without SIG (docker's ParseSignal); None when
    there is no such signal."""
    if text.isdigit():
        return int(text)
    name = text.upper()
    value = getattr(signal, name if name.startswith("SIG") else "SIG" + name, None)
    return value if isinstance(value, int) and not name.startswith("SIG_") else None


def stop_signal(c: Container) -> int:
    """The signal `stop` sends first: the container's Config.StopSignal, else SIGTERM."""
    config = c.config.get("Config")
    text = config.get("StopSignal") if isinstance(config, dict) else None
    number = signal_number(text) if isinstance(text, str) and text else None
    return number or signal.SIGTERM


def kill_container(layout: Layout, c: Container, sig: int) -> None:
    """Send `sig`; for SIGKILL, wait for the end and record status 137 as docker does."""
    signal_container(c, sig)
    if sig == signal.SIGKILL:
        wait_for_exit(c.pid, 5)
        settle(layout, c, 137)


def settle(layout: Layout, c: Container, status: int) -> None:
    """Give the monitor a moment to record the exit; record it ourselves if it is gone."""
    store = ContainerStore(layout)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            fresh = store.load(c.id)
        except NotFound:
            return
        if not fresh.state.get("Running"):
            return
        time.sleep(0.02)
    with suppress(NotFound):
        store.mark_exited(store.load(c.id), status)


def remove_container_files(layout: Layout, c: Container, volumes: bool | None = None) -> None:
    """Remove the container; with `volumes` (default: when it was run with --rm, as
    docker's) its anonymous volumes too."""
    remove_leftover_container(layout, c.id)
    if volumes is None:
        volumes = bool(c.hostconfig.get("AutoRemove"))
    if volumes and c.config.get("MountPoints"):
        from hood.services.volumes import remove_anonymous

        remove_anonymous(layout, c)


def remove_leftover_container(layout: Layout, container_id: str) -> None:
    """Remove whatever exists of a container: its read-write layer (unmounted first), then
    its record, docker's and hood's."""
    from hood.runtime.cgroups import remove_leftover
    from hood.runtime.rootfs import unmount

    RwLayers(layout).remove(container_id, unmount=unmount)
    ContainerStore(layout).remove_record(container_id)
    if host_root():
        remove_leftover(container_id)


def abandoned_auto_remove(layout: Layout) -> list[Container]:
    """`--rm` containers a killed hood left behind (see Container.abandoned)."""
    store = ContainerStore(layout)
    out = []
    for cid in store.auto_remove_ids():  # run sweeps before each start: each load counts
        with suppress(HoodError):
            if (c := store.load(cid)).abandoned():
                out.append(c)
    return out


def sweep_abandoned(layout: Layout) -> list[str]:
    """Remove the `--rm` containers killed hoods left, as dockerd does when it restarts
    (there is no daemon: each command that looks at containers does it). Their IDs."""
    removed = []
    for c in abandoned_auto_remove(layout):
        with suppress(OSError, HoodError):
            remove_container_files(layout, c)
            removed.append(c.id)
    return removed


def remove_container(
    layout: Layout, c: Container, force: bool = False, volumes: bool = False
) -> None:
    """docker rm [-f] [-v]: `volumes` removes its anonymous volumes with it."""
    if c.running:
        if not force:
            raise Conflict(
                f"cannot remove container {c.id}: container is running: "
                "stop the container before removing or force remove"
            )
        stop_container(layout, c, timeout=0, sig=signal.SIGKILL)
    remove_container_files(layout, c, volumes or None)
    sweep_abandoned(layout)


class PruneResult(Record):
    __slots__ = ("removed", "reclaimed")

    def __init__(self, removed: list[str], reclaimed: int) -> None:
        self.removed = removed
        self.reclaimed = reclaimed


def rw_size(layout: Layout, c: Container) -> int:
    """What the container's read-write layer holds, as docker's SizeRw: files (not
    directories), hardlinks once."""
    try:
        path = layout.layer_diff(RwLayers(layout).mount_id(c.id))
    except HoodError:
        return 0
    total, seen = 0, set()
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def prune_containers(layout: Layout) -> PruneResult:
    """Remove every stopped container; what went and how many bytes that freed."""
    sweep_abandoned(layout)
    removed, reclaimed = [], 0
    for c in ContainerStore(layout).list():
        if not c.running:
            size = rw_size(layout, c)
            remove_container(layout, c)
            reclaimed += size
            removed.append(c.id)
    return PruneResult(removed, reclaimed)


def export_container(layout: Layout, c: Container, out: BinaryIO) -> None:
    """The container's filesystem as a tar stream, as `docker export` writes it."""
    import tarfile
    import tempfile

    from hood.runtime.rootfs import mount_overlay, unmount

    mount_id = RwLayers(layout).mount_id(c.id)
    with tempfile.TemporaryDirectory(prefix="hood-export-", dir=layout.root) as target:
        mount_overlay(layout, mount_id, target)
        try:
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                for dirpath, dirnames, filenames in os.walk(target):
                    dirnames.sort()
                    for name in sorted(dirnames) + sorted(filenames):
                        full = os.path.join(dirpath, name)
                        arc = os.path.relpath(full, target)
                        info = tf.gettarinfo(full, arc)
                        info.uname = info.gname = ""
                        if info.isreg():
                            with open(full, "rb") as f:
                                tf.addfile(info, f)
                        else:
                            tf.addfile(info)
        finally:
            unmount(target)


CONTAINER_PRUNE_FILTERS = ("label", "label!", "until")


def prune_stopped(layout: Layout, *, filters: list[tuple[str, str]] | None = None) -> PruneResult:
    """docker container prune: every stopped container (`filters`: label, label!, until on
    its creation time), removed; what went and the bytes their read-write layers held."""
    from hood.core.timefmt import parse_rfc3339
    from hood.services.filters import Filters

    selected = Filters(filters or ())
    selected.validate(CONTAINER_PRUNE_FILTERS)
    until = selected.until()
    removed, reclaimed = [], 0
    for c in ContainerStore(layout).list():
        if c.running:
            continue
        if until is not None:
            created = parse_rfc3339(str(c.config.get("Created", "")))
            if created is None or created.timestamp() > until:
                continue
        labels = c.labels
        if not selected.match_kv_list("label", labels):
            continue
        if selected.contains("label!") and selected.match_kv_list("label!", labels):
            continue
        size = rw_size(layout, c)
        with suppress(NotFound):
            remove_container(layout, c)
            reclaimed += size
            removed.append(c.id)
    return PruneResult(removed, reclaimed)
