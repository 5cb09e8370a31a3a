"""Container commands: run, create, start, ps, logs, stop, kill, rm, container prune, export,
mount, umount, bundle. Imports nothing heavy at module level: `hood run` must start fast."""

from __future__ import annotations

import sys

from hood.cli.flags import Command, Flag, UsageError
from hood.cli.run_options import check_run_options, run_flags, run_options

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass

_FORMAT_HELP = (
    "Format output using a custom template:\n"
    "'table':            Print output in table format with column headers (default)\n"
    "'table TEMPLATE':   Print output in table format using the given Go template\n"
    "'json':             Print in JSON format\n"
    "'TEMPLATE':         Print output using the given Go template.\n"
    "Refer to https://docs.docker.com/go/formatting/ for more information about formatting "
    "output with templates"
)
_LEAN = {"lean": True}  # needs nothing from site-packages (see main.enable_site)


# --- the commands ----------------------------------------------------------------------------


_RUN_EXAMPLES = """\
  $ hood run --rm busybox echo hello
  $ hood run -it --rm -v /srv/data:/data:ro busybox sh
  $ hood run -d --name web -e PORT=8080 -m 256m --cpus 0.5 app:1.2
  $ hood run --rm --runtime runc --pull always registry:5000/team/app:1.2
  $ hood run --rm --init --cap-add NET_ADMIN --ulimit nofile=1024:2048 -v data:/data busybox sh
  $ hood run --rm --mount type=tmpfs,dst=/scratch,tmpfs-size=64m --add-host db:10.0.0.5 busybox"""


def _run() -> Command:
    flags = [Flag("detach", "d", help="Run container in background and print container ID")]
    return Command(
        "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "Create and run a new container from an image",
        flags + run_flags(),
        ("image", "args*"),
        cmd_run,
        interspersed=False,
        examples=_RUN_EXAMPLES,
        settings={"error_status": 125, "fast_exit": True, **_LEAN},
    )


def _create() -> Command:
    return Command(
        "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "Create a new container",
        run_flags(),
        ("image", "args*"),
        cmd_create,
        interspersed=False,
        settings={"error_status": 125, "detach": True, **_LEAN},
    )


def _start() -> Command:
    return Command(
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Start one or more stopped containers",
        [
            Flag("attach", "a", help="Attach STDOUT/STDERR and forward signals"),
            Flag("interactive", "i", help="Attach container's STDIN"),
        ],
        ("containers+",),
        cmd_start,
        settings=_LEAN,
    )


def _ps() -> Command:
    F = Flag
    return Command(
        "[OPTIONS]",
        "List containers",
        [
            F("all", "a", help="Show all containers (default shows just running)"),
            F("filter", "f", kind="filter", help="Filter output based on conditions provided"),
            F("format", kind="str", help=_FORMAT_HELP),
            F("last", "n", kind="int", default=-1,
              help="Show n last created containers (includes all states)"),
            F("latest", "l", help="Show the latest created container (includes all states)"),
            F("no-trunc", help="Don't truncate output"),
            F("quiet", "q", help="Only display container IDs"),
            F("size", "s", help="Display total file sizes"),
        ],
        (),
        cmd_ps,
        settings=_LEAN,
    )  # fmt: skip


def _logs() -> Command:
    F = Flag
    when = '(e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)'
    return Command(
        "[OPTIONS] CONTAINER",
        "Fetch the logs of a container",
        [
            F("follow", "f", help="Follow log output"),
            F("since", kind="str", help=f"Show logs since timestamp {when}"),
            F("tail", "n", kind="str", default="all",
              help="Number of lines to show from the end of the logs"),
            F("timestamps", "t", help="Show timestamps"),
            F("until", kind="str", help=f"Show logs before a timestamp {when}"),
        ],
        ("container",),
        cmd_logs,
        examples="  $ hood logs --tail 20 -t web\n  $ hood logs --since 42m --until 10m web",
        settings=_LEAN,
    )  # fmt: skip


def _stop() -> Command:
    return Command(
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Stop one or more running containers",
        [
            Flag("signal", "s", kind="str", help="Signal to send to the container"),
            Flag("timeout", "t", kind="int", help="Seconds to wait before killing the container"),
            Flag("time", kind="int", dest="timeout", hidden=True),
        ],
        ("containers+",),
        cmd_stop,
        settings=_LEAN,
    )


def _kill() -> Command:
    return Command(
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Kill one or more running containers",
        [Flag("signal", "s", kind="str", help="Signal to send to the container")],
        ("containers+",),
        cmd_kill,
        settings=_LEAN,
    )


def _rm() -> Command:
    return Command(
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Remove one or more containers",
        [
            Flag("force", "f", help="Force the removal of a running container (uses SIGKILL)"),
            Flag("volumes", "v", help="Remove anonymous volumes associated with the container"),
        ],
        ("containers+",),
        cmd_rm,
        settings=_LEAN,
    )


def _prune() -> Command:
    return Command(
        "[OPTIONS]",
        "Remove all stopped containers",
        [
            Flag("filter", kind="filter", help='Provide filter values (e.g. "until=<timestamp>")'),
            Flag("force", "f", help="Do not prompt for confirmation"),
        ],
        (),
        cmd_prune,
        settings=_LEAN,
    )


def _export() -> Command:
    return Command(
        "[OPTIONS] CONTAINER",
        "Export a container's filesystem as a tar archive",
        [Flag("output", "o", kind="str", help="Write to a file, instead of STDOUT")],
        ("container",),
        cmd_export,
        settings=_LEAN,
    )


def _mount() -> Command:
    return Command(
        "IMAGE|CONTAINER [DIR]",
        "Mount an image's or a container's filesystem",
        [],
        ("target", "dir?"),
        cmd_mount,
        long="Mount an image's or a container's filesystem (an overlay, read-write for a\n"
        "container) and print where. Without DIR it is mounted under the data root.",
        settings=_LEAN,
    )


def _umount() -> Command:
    return Command(
        "IMAGE|CONTAINER|DIR",
        "Unmount what 'hood mount' mounted",
        [],
        ("target",),
        cmd_umount,
        settings=_LEAN,
    )


def _bundle() -> Command:
    return Command(
        "IMAGE DIR",
        "Write an OCI runtime bundle (config.json and rootfs)",
        [],
        ("image", "dir"),
        cmd_bundle,
        long="Write an OCI runtime bundle of IMAGE in DIR: config.json and rootfs, which\n"
        "`runc run` runs as is.",
        settings=_LEAN,
    )


COMMANDS = {
    "run": _run,
    "create": _create,
    "start": _start,
    "ps": _ps,
    "logs": _logs,
    "stop": _stop,
    "kill": _kill,
    "rm": _rm,
    "container prune": _prune,
    "export": _export,
    "mount": _mount,
    "umount": _umount,
    "bundle": _bundle,
}


# --- helpers -----------------------------------------------------------------------------


def _layout(args):
    from hood.store.layout import Layout

    return Layout(args.root)


def _warn(text: str) -> None:
    print(f"WARNING: {text}", file=sys.stderr)


def _create(args, starting: bool = False):
    from hood.services.container_create import create_container

    check_run_options(args)
    platform = None
    if args.platform:
        from hood.core.platform import Platform

        platform = Platform.parse(args.platform)
    return create_container(
        _layout(args),
        args.image,
        run_options(args),
        name=args.name,
        pull=args.pull,
        platform=platform,
        puller=lambda name, platform, missing: _pull(args, name, platform, missing),
        auto_remove=args.rm,
        runtime=args.runtime,
        starting=starting,
        warn=_warn,
    )


def _pull(args, name: str, platform, missing: bool) -> None:
    """Pull for run/create as the docker CLI does: all of it on stderr."""
    from hood.cli.main import enable_site

    enable_site()
    from hood.cli.common import open_store, registry_client
    from hood.cli.progress import PullPrinter
    from hood.core import reference
    from hood.services.pull import pull_image

    ref = reference.parse(name)
    if missing:
        print(f"Unable to find image '{ref.familiar()}' locally", file=sys.stderr, flush=True)
    store = open_store(args)
    with registry_client(args, ref.registry_host) as client:
        result = pull_image(store, client, ref, platform=platform, events=PullPrinter(sys.stderr))
    word = "Downloaded newer image" if result.updated else "Image is up to date"
    print(f"Status: {word} for {ref.familiar()}", file=sys.stderr, flush=True)


def _container_error(exc) -> int:
    print(f"hood: {exc}", file=sys.stderr)
    return exc.status


def _containers(args):
    from hood.store.containers import ContainerStore

    return ContainerStore(_layout(args))


# --- commands ----------------------------------------------------------------------------


def cmd_run(args) -> int:
    from hood.runtime.launch import ContainerError
    from hood.services.container_lifecycle import run_attached, start_detached

    try:
        c = _create(args, starting=True)
    except ContainerError as exc:  # what the daemon refuses at start, docker refuses here
        return _container_error(exc)
    try:
        if args.detach:
            start_detached(_layout(args), c)
            print(c.id)
            return 0
        return run_attached(_layout(args), c)
    except ContainerError as exc:
        return _container_error(exc)


def cmd_create(args) -> int:
    print(_create(args).id)
    return 0


def cmd_start(args) -> int:
    from hood.runtime.launch import ContainerError
    from hood.services.container_lifecycle import run_attached, start_detached

    layout = _layout(args)
    store = _containers(args)
    status = 0
    for name in args.containers:
        c = store.resolve(name)
        try:
            if args.attach or args.interactive:
                status = run_attached(layout, c)
            else:
                start_detached(layout, c)
                print(name)
        except ContainerError as exc:
            status = _container_error(exc)
    return status


# docker's container formatter's header row, field by field.
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "State": "STATE",
    "Ports": "PORTS",
    "Names": "NAMES",
    "Size": "SIZE",
    "Labels": "LABELS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
}
PS_TABLE = ("ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names")


def cmd_ps(args) -> int:
    from hood.cli.output import go_tabwriter
    from hood.services.container_list import list_containers

    if args.format and args.quiet:
        _warn("Ignoring custom format, because both --format and --quiet are set.")
    size = args.size
    if args.format and not args.quiet and not size and "size" not in args.given_flags:
        size = ".Size" in args.format  # docker asks for sizes when the template shows them
    limit = 1 if args.latest and args.last == -1 else args.last
    rows = list_containers(
        _layout(args),
        all=args.all,
        filters=args.filter,
        limit=limit,
        size=size,
        trunc=not args.no_trunc,
    )
    if args.quiet:
        for row in rows:
            print(row.fields["ID"])
        return 0
    if args.format and args.format != "table":
        from hood.cli.formatting import FormatError, render_rows

        try:
            out = render_rows(
                args.format, [row.fields for row in rows], PS_HEADERS, "*formatter.ContainerContext"
            )
        except FormatError as exc:
            print(exc, file=sys.stderr)
            return 1
        sys.stdout.write(out)
        return 0
    columns = PS_TABLE + (("Size",) if size else ())
    lines = ["\t".join(PS_HEADERS[k] for k in columns)]
    lines += ["\t".join(row.fields[k] for k in columns) for row in rows]
    for line in go_tabwriter("\n".join(lines)).split("\n"):
        print(line.rstrip())
    return 0


def cmd_logs(args) -> int:
    import time

    from hood.core.timefmt import docker_timestamp, rfc3339_nano_fixed
    from hood.services.container_logs import container_logs

    when = {}
    for name in ("since", "until"):
        value = getattr(args, name)
        if value:
            try:
                when[name] = docker_timestamp(value, time.time())
            except ValueError as exc:
                raise UsageError(f'invalid value for "{name}": {exc}', 1) from None
    try:
        tail = int(args.tail, 10)
    except ValueError:
        tail = -1  # docker: anything but a number is "all"
    c = _containers(args).resolve(args.container)
    out = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    for entry in container_logs(
        _layout(args), c, follow=args.follow, tail=tail, **when
    ):
        stream = out[entry.stream]
        if args.timestamps:
            stream.write(rfc3339_nano_fixed(entry.time).encode() + b" ")
        stream.write(entry.data)
        stream.flush()
    return 0


def _signal(text: str) -> int:
    import signal

    from hood.core.errors import HoodError

    if text.isdigit():
        return int(text)
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(getattr(signal, name))
    except AttributeError:
        raise HoodError(f"invalid signal: {text}") from None


def cmd_stop(args) -> int:
    from hood.services.container_lifecycle import stop_container

    layout = _layout(args)
    store = _containers(args)
    for name in args.containers:
        c = store.resolve(name)
        timeout = 10 if args.timeout is None else args.timeout
        stop_container(layout, c, timeout, _signal(args.signal) if args.signal else None)
        print(name)
    return 0


def cmd_kill(args) -> int:
    from hood.services.container_lifecycle import kill_container

    layout = _layout(args)
    store = _containers(args)
    sig = _signal(args.signal or "KILL")
    for name in args.containers:
        kill_container(layout, store.resolve(name), sig)
        print(name)
    return 0


def cmd_rm(args) -> int:
    from hood.core.errors import HoodError
    from hood.services.container_lifecycle import remove_container

    layout = _layout(args)
    store = _containers(args)
    status = 0
    for name in args.containers:
        try:
            remove_container(layout, store.resolve(name), args.force, args.volumes)
            print(name)
        except HoodError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            status = 1
    return status


def cmd_prune(args) -> int:
    from hood.cli.output import confirm, print_prune
    from hood.services.container_lifecycle import prune_stopped

    if not args.force and not confirm("WARNING! This will remove all stopped containers."):
        return 0  # docker: cancelled, nothing said
    result = prune_stopped(_layout(args), filters=args.filter)
    print_prune("Deleted Containers", result.removed, result.reclaimed)
    return 0


def cmd_export(args) -> int:
    from hood.core.errors import HoodError
    from hood.services.container_lifecycle import export_container

    layout = _layout(args)
    c = _containers(args).resolve(args.container)
    if args.output:
        with open(args.output, "wb") as f:
            export_container(layout, c, f)
        return 0
    if sys.stdout.isatty():
        raise HoodError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    export_container(layout, c, sys.stdout.buffer)
    return 0


def cmd_mount(args) -> int:
    from hood.services.rootfs import mount_target

    print(mount_target(_layout(args), args.target, args.dir))
    return 0


def cmd_umount(args) -> int:
    from hood.services.rootfs import umount_target

    umount_target(_layout(args), args.target)
    return 0


def cmd_bundle(args) -> int:
    from hood.services.rootfs import write_bundle

    write_bundle(_layout(args), args.image, args.dir)
    return 0
