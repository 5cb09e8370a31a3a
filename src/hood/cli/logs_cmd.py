"""logs: what a container wrote to stdout and stderr, each to its own stream, with the
window (--since, --until, --tail) and the timestamps docker's logs takes."""

from __future__ import annotations

import sys

from hood.cli.flags import LEAN, Command, Flag, UsageError


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
        settings=LEAN,
    )  # fmt: skip


COMMANDS = {"logs": _logs}


def cmd_logs(args) -> int:
    import time

    from hood.core.timefmt import docker_timestamp, rfc3339_nano_fixed
    from hood.services.container_logs import container_logs
    from hood.store.containers import ContainerStore
    from hood.store.layout import Layout

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
    layout = Layout(args.root)
    c = ContainerStore(layout).resolve(args.container)
    out = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    for entry in container_logs(layout, c, follow=args.follow, tail=tail, **when):
        stream = out[entry.stream]
        if args.timestamps:
            stream.write(rfc3339_nano_fixed(entry.time).encode() + b" ")
        stream.write(entry.data)
        stream.flush()
    return 0
