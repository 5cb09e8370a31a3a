"""wait, rename, restart, top and cp."""

from __future__ import annotations

import os
import sys

from hood.cli.common import open_store
from hood.cli.flags import Command, Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.cli.flags import Args


def _wait() -> Command:
    return Command(
        "CONTAINER [CONTAINER...]",
        "Block until one or more containers stop, then print their exit codes",
        [],
        ("containers+",),
        cmd_wait,
    )


def _rename() -> Command:
    return Command("CONTAINER NEW_NAME", "Rename a container", [], ("container", "new_name"), cmd_rename)


def _restart() -> Command:
    return Command(
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Restart one or more containers",
        [Flag("time", "t", kind="int", default=10, help="Seconds to wait before killing the container")],
        ("containers+",),
        cmd_restart,
    )


def _top() -> Command:
    return Command(
        "CONTAINER [ps OPTIONS]",
        "Display the running processes of a container",
        [],
        ("container", "ps_args*"),
        cmd_top,
        interspersed=False,
    )


def _cp() -> Command:
    return Command(
        "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\thood cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        "Copy files/folders between a container and the local filesystem",
        [
            Flag("archive", "a", help="Archive mode (copy all uid/gid information)"),
            Flag("follow-link", "L", help="Always follow symbol link in SRC_PATH"),
        ],
        ("src", "dest"),
        cmd_cp,
        long="Copy files/folders between a container and the local filesystem\n\n"
        "Use '-' as the source to read a tar archive from stdin\n"
        "and extract it to a directory destination in a container.\n"
        "Use '-' as the destination to stream a tar archive of a\n"
        "container source to stdout.",
    )


def _exec() -> Command:
    return Command(
        "[OPTIONS] CONTAINER COMMAND [ARG...]",
        "Execute a command in a running container",
        [
            Flag("detach", "d", help="Detached mode: run command in the background"),
            Flag("env", "e", kind="list", help="Set environment variables"),
            Flag("env-file", kind="list", help="Read in a file of environment variables"),
            Flag("interactive", "i", help="Keep STDIN open even if not attached"),
            Flag("privileged", help="Give extended privileges to the command"),
            Flag("tty", "t", help="Allocate a pseudo-TTY"),
            Flag("user", "u", kind="str", help="Username or UID (format: \"<name|uid>[:<group|gid>]\")"),
            Flag("workdir", "w", kind="str", help="Working directory inside the container"),
        ],
        ("container", "args+"),
        cmd_exec,
        interspersed=False,
        settings={"error_status": 126},
    )  # fmt: skip


COMMANDS = {"exec": _exec, "wait": _wait, "rename": _rename, "restart": _restart, "top": _top, "cp": _cp}


def _containers(args: Args):  # type: ignore[no-untyped-def]
    from hood.store.containers import ContainerStore

    return ContainerStore(open_store(args).layout)


def cmd_exec(args: Args) -> int:
    from hood.cli.run_options import environment
    from hood.core.errors import Conflict, HoodError
    from hood.runtime.launch import ContainerError
    from hood.services.container_ops import ExecOptions, exec_in_container

    if args.tty and args.interactive and not args.detach and not os.isatty(0):
        print("the input device is not a TTY", file=sys.stderr)
        return 1
    store = _containers(args)
    try:
        c = store.resolve(args.container)
        opts = ExecOptions(
            args=list(args.args),
            env=environment(args.env_file or [], args.env or []),
            user=args.user,
            workdir=args.workdir,
            tty=args.tty,
            interactive=args.interactive,
            detach=args.detach,
            privileged=args.privileged,
        )
        return exec_in_container(store.layout, c, opts)
    except ContainerError as exc:
        print(f"hood: {exc}", file=sys.stderr)
        return exc.status
    except (Conflict, HoodError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1


def cmd_wait(args: Args) -> int:
    from hood.core.errors import HoodError
    from hood.services.container_ops import wait_container

    store = _containers(args)
    status = 0
    for name in args.containers:
        try:
            print(wait_container(store.layout, store.resolve(name)), flush=True)
        except HoodError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            status = 1
    return status


def cmd_rename(args: Args) -> int:
    from hood.services.container_ops import rename_container

    store = _containers(args)
    rename_container(store.layout, store.resolve(args.container), args.new_name)
    return 0


def cmd_restart(args: Args) -> int:
    from hood.services.container_ops import restart_container

    store = _containers(args)
    for name in args.containers:
        restart_container(store.layout, store.resolve(name), args.time)
        print(name)
    return 0


def cmd_top(args: Args) -> int:
    from hood.cli.output import go_tabwriter
    from hood.services.container_ops import top

    found = top(_containers(args).resolve(args.container), args.ps_args or None)
    lines = ["\t".join(found.titles)] + ["\t".join(row) for row in found.rows]
    print(go_tabwriter("\n".join(lines), minwidth=0, padding=4))
    return 0


def _split(arg: str) -> tuple[str | None, str]:
    """docker cp's CONTAINER:PATH, or a local path (one with a `/` before any `:`)."""
    if arg == "-" or arg.startswith(("/", ".")):
        return None, arg
    name, colon, path = arg.partition(":")
    if not colon or "/" in name:
        return None, arg
    return name, path


def cmd_cp(args: Args) -> int:
    from hood.core.errors import HoodError

    src_c, src = _split(args.src)
    dest_c, dest = _split(args.dest)
    if (src_c is None) == (dest_c is None):
        raise HoodError("copying between containers or between local paths is not supported: give one CONTAINER:PATH")
    store = _containers(args)
    if src_c is not None:
        return _copy_out(store, store.resolve(src_c), src, dest, args.follow_link)
    assert dest_c is not None
    return _copy_in(store, store.resolve(dest_c), src, dest, args.archive, args.follow_link)


def _copy_out(store, c, src: str, dest: str, follow: bool) -> int:  # type: ignore[no-untyped-def]
    from hood.core.errors import HoodError
    from hood.services.container_cp import copy_from_container, copy_out

    if dest != "-":
        copy_out(store.layout, c, src, dest, follow=follow)
        return 0
    if sys.stdout.isatty():
        raise HoodError("cowardly refusing to write a tar to a terminal: redirect it")
    copy_from_container(store.layout, c, src, sys.stdout.buffer, follow=follow)
    sys.stdout.buffer.flush()
    return 0


def _copy_in(store, c, src: str, dest: str, archive: bool, follow: bool) -> int:  # type: ignore[no-untyped-def]
    from hood.services.container_cp import copy_in, copy_to_container

    if src == "-":
        copy_to_container(store.layout, c, dest, sys.stdin.buffer, archive=archive)
    else:
        copy_in(store.layout, c, src, dest, archive=archive, follow=follow)
    return 0
