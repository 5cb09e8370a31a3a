"""create / start / stop / remove: what the CLI commands do, without the printing."""

from __future__ import annotations

import _signal as signal  # signal's ints without its enum (and enum's imports)
import os
import sys
import time

from hood.containers.state import Container, ContainerStore
from hood.errors import HoodError, NotFound
from hood.runtime.lean import dumps, loads, suppress
from hood.runtime.spec import RunOptions, build_spec
from hood.store.layout import Layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Puller = Callable[[str, "str | None", bool], None]


def create_container(
    layout: Layout,
    image_name: str,
    opts: RunOptions,
    *,
    name: str | None = None,
    pull: str = "missing",
    platform: str | None = None,
    puller: Puller | None = None,
    auto_remove: bool = False,
    runtime: str = "builtin",
) -> Container:
    """Create a container from `image_name`, pulling it as docker's `--pull` says.

    `puller(name, platform, missing)` fetches the image into the store (the CLI's, which
    knows the registry options and prints progress); `platform` (os/arch[/variant]) is
    pulled and required: an image of another platform is never run under that flag."""
    from hood.runtime.image import host_platform, load_image, platform_matches
    from hood.runtime.rootfs import check_safe_dir, create_layer

    if os.path.exists(layout.root):
        check_safe_dir(layout.root)
    image = None
    local_platform = None
    if pull != "always":
        try:
            image = load_image(layout, image_name)
        except NotFound:
            image = None
        if image is not None and platform and not platform_matches(platform, image.platform):
            local_platform, image = image.platform, None
    if image is None:
        if pull == "never" or puller is None:
            if local_platform is not None:
                raise HoodError(_platform_mismatch(image_name, platform or "", local_platform))
            hint = " (and --pull never was given)" if pull == "never" else ""
            raise NotFound(f"No such image: {image_name}{hint}")
        puller(image_name, platform, pull != "always")
        image = load_image(layout, image_name)
    if platform:
        if not platform_matches(platform, image.platform):
            raise HoodError(_platform_mismatch(image_name, platform, image.platform))
    elif image.platform and not platform_matches(host_platform(), image.platform):
        print(
            f"WARNING: The requested image's platform ({image.platform}) does not match the "
            f"detected host platform ({host_platform()}) and no specific platform was requested",
            file=sys.stderr,
        )
    if os.geteuid() != 0:
        from hood.runtime.cgroups import rootless_problem

        problem = rootless_problem(opts.memory, opts.cpus, opts.pids_limit)
        if problem:  # docker's "Limitation discarded": a warning, and the run goes on
            print(f"WARNING: {problem}", file=sys.stderr)
            opts.memory = opts.cpus = opts.pids_limit = None
    container_id = os.urandom(32).hex()
    spec = build_spec(image.config, opts, container_id)
    parent = image.layers[-1][0] if image.layers else ""
    mount_id = create_layer(layout, container_id, [link for _, _, link in image.layers], parent)
    hostconfig = {
        "Binds": [f"{b.source}:{b.target}{':ro' if b.readonly else ''}" for b in spec.binds]
        or None,
        "NetworkMode": spec.network,
        "AutoRemove": auto_remove,
        "ReadonlyRootfs": spec.read_only,
        "Tmpfs": spec.tmpfs or None,
        "Memory": spec.memory or 0,
        "NanoCpus": int((spec.cpus or 0) * 1e9),
        "PidsLimit": spec.pids_limit,
        "Runtime": runtime,
        "LogConfig": {"Type": "json-file", "Config": {}},
        "Privileged": False,
        "CapAdd": None,
        "CapDrop": None,
    }
    store = ContainerStore(layout)
    try:
        return store.create(
            spec,
            name=name,
            image_name=image_name,
            image_id=image.id,
            mount_id=mount_id,
            hostconfig=hostconfig,
        )
    except BaseException:
        from hood.runtime.rootfs import remove_layer

        remove_layer(layout, container_id)
        raise


def _platform_mismatch(name: str, wanted: str, actual: str) -> str:
    return (
        f"image with reference {name} was found but does not match the specified platform:"
        f" wanted {wanted}, actual: {actual}"
    )


def _launch(layout: Layout, c: Container, log: bool):
    from hood.runtime.builtin import Launch

    return Launch(
        spec=c.spec,
        layout=layout,
        mount_id=c.mount_id,
        container_dir=c.dir,
        log_path=c.log_path if log else None,
    )


def _finish(store: ContainerStore, c: Container, status: int, error: str = "") -> None:
    if c.hostconfig.get("AutoRemove"):  # nobody will read the exit status: just remove
        with suppress(OSError, HoodError):
            store.remove(c)
        return
    with suppress(OSError, HoodError):
        if os.path.exists(c.dir):
            store.mark_exited(c, status, error)


def run_attached(layout: Layout, c: Container) -> int:
    """Run in the foreground; returns the container's exit status (raises ContainerError)."""
    from hood.runtime import builtin

    if c.running:
        raise HoodError(f"container {c.name} is already running")
    store = ContainerStore(layout)
    launch = _launch(layout, c, log=False)
    launch.on_started = lambda pid: store.mark_started(c, pid)
    runtime = c.hostconfig.get("Runtime", "builtin")
    try:
        if runtime in ("runc", "crun"):
            from hood.runtime.bundle import run_with_oci_runtime

            status = run_with_oci_runtime(layout, c, runtime, launch.on_started)
        else:
            status = builtin.run(launch)
    except builtin.ContainerError as exc:
        _finish(store, c, exc.status, str(exc))
        raise
    except BaseException as exc:
        _finish(store, c, 125, str(exc))
        raise
    _finish(store, c, status)
    return status


def start_detached(layout: Layout, c: Container) -> None:
    """Start in a monitor process that outlives us and keeps the output in the json log."""
    from hood.runtime import builtin

    if c.running:
        return
    store = ContainerStore(layout)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the monitor
        try:
            os.close(r)
            os.setsid()
            if os.fork():
                os._exit(0)
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.close(null)
            launch = _launch(layout, c, log=True)

            def started(child: int) -> None:
                store.mark_started(c, child)
                os.write(w, b'[0, ""]\n')
                os.close(w)

            launch.on_started = started
            try:
                status = builtin.run(launch)
            except builtin.ContainerError as exc:
                with suppress(OSError):
                    os.write(w, dumps([exc.status, str(exc)]).encode() + b"\n")
                _finish(store, c, exc.status, str(exc))
                os._exit(0)
            except BaseException as exc:  # noqa: BLE001
                with suppress(OSError):
                    os.write(w, dumps([125, str(exc)]).encode() + b"\n")
                _finish(store, c, 125, str(exc))
                os._exit(0)
            _finish(store, c, status)
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    data = b""
    while b"\n" not in data:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    try:
        status, message = loads(data.split(b"\n", 1)[0] or b'[125, "the monitor died"]')
    except ValueError:
        status, message = 125, "the monitor died"
    if status:
        raise builtin.ContainerError(message, status)


def signal_container(c: Container, sig: int) -> None:
    pid = c.state.get("Pid") or 0
    if not c.running or not pid:
        raise HoodError(f"Container {c.id} is not running")
    os.kill(pid, sig)


def stop_container(
    layout: Layout, c: Container, timeout: float = 10, sig: int | None = None
) -> None:
    from hood.runtime.builtin import wait_for_exit

    if not c.running:
        return
    pid = c.state["Pid"]
    first = sig or signal.SIGTERM
    with suppress(ProcessLookupError):
        os.kill(pid, first)
    killed_with = first
    if not wait_for_exit(pid, timeout):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        killed_with = signal.SIGKILL
        wait_for_exit(pid, 10)
    settle(layout, c, 128 + killed_with)


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


def remove_container(layout: Layout, c: Container, force: bool = False) -> None:
    store = ContainerStore(layout)
    if c.running:
        if not force:
            raise HoodError(
                f"cannot remove container {c.id}: container is running: "
                "stop the container before removing or force remove"
            )
        stop_container(layout, c, timeout=0, sig=signal.SIGKILL)
    store.remove(c)


def export_container(layout: Layout, c: Container, out) -> None:
    """The container's filesystem as a tar stream, as `docker export` writes it."""
    import tarfile
    import tempfile
    from pathlib import Path

    from hood.runtime.rootfs import mount_overlay, unmount

    with tempfile.TemporaryDirectory(prefix="hood-export-", dir=layout.root) as tmp:
        target = Path(tmp)
        mount_overlay(layout, c.mount_id, target)
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
    _ = sys
