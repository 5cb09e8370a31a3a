"""stop, kill, rm and container prune: containers ended by a signal, and removed."""

from __future__ import annotations

import sys

from hood.cli.flags import LEAN, Command, Flag


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
        settings=LEAN,
    )


def _kill() -> Command:
    return Command(
        "[OPTIONS] CONTAINER [CONTAINER...]",
        "Kill one or more running containers",
        [Flag("signal", "s", kind="str", help="Signal to send to the container")],
        ("containers+",),
        cmd_kill,
        settings=LEAN,
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
        settings=LEAN,
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
        settings=LEAN,
    )


COMMANDS = {"stop": _stop, "kill": _kill, "rm": _rm, "container prune": _prune}


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


# --- helpers ---------------------------------------------------------------------------------


def _layout(args):
    from hood.store.layout import Layout

    return Layout(args.root)


def _containers(args):
    from hood.store.containers import ContainerStore

    return ContainerStore(_layout(args))


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
