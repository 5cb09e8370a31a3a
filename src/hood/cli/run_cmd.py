"""run, create and start: a container made from an image (pulled first when run and create
need it) and started, attached or in the background.

`hood run` must start fast: nothing heavy is imported at module level, and the services
are imported by the handlers that call them."""

from __future__ import annotations

import sys

from hood.cli.flags import LEAN, Command, Flag
from hood.cli.run_options import check_run_options, run_flags, run_options

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
        settings={"error_status": 125, "fast_exit": True, **LEAN},
    )


def _create() -> Command:
    return Command(
        "[OPTIONS] IMAGE [COMMAND] [ARG...]",
        "Create a new container",
        run_flags(),
        ("image", "args*"),
        cmd_create,
        interspersed=False,
        settings={"error_status": 125, "detach": True, **LEAN},
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
        settings=LEAN,
    )


COMMANDS = {"run": _run, "create": _create, "start": _start}


def cmd_run(args) -> int:
    from hood.runtime.cgroups import expedite_attach

    expedite_attach()  # first: the attach's kernel wait overlaps the imports and the creation
    from hood.runtime.launch import ContainerError
    from hood.services.container_lifecycle import run_attached, start_detached

    try:
        c = _create_container(args, starting=True)
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
    print(_create_container(args).id)
    return 0


def cmd_start(args) -> int:
    from hood.runtime.launch import ContainerError
    from hood.services.container_lifecycle import run_attached, start_detached
    from hood.store.containers import ContainerStore

    layout = _layout(args)
    store = ContainerStore(layout)
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


# --- helpers ---------------------------------------------------------------------------------


def _layout(args):
    from hood.store.layout import Layout

    return Layout(args.root)


def _warn(text: str) -> None:
    print(f"WARNING: {text}", file=sys.stderr)


def _create_container(args, starting: bool = False):
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
    from hood.cli.progress import ProgressPrinter
    from hood.core import reference
    from hood.services.pull import pull_image

    ref = reference.parse(name)
    if missing:
        print(f"Unable to find image '{ref.familiar()}' locally", file=sys.stderr, flush=True)
    store = open_store(args)
    with registry_client(args, ref.registry_host) as client:
        result = pull_image(store, client, ref, platform=platform, events=ProgressPrinter(sys.stderr))
    word = "Downloaded newer image" if result.updated else "Image is up to date"
    print(f"Status: {word} for {ref.familiar()}", file=sys.stderr, flush=True)


def _container_error(exc) -> int:
    print(f"hood: {exc}", file=sys.stderr)
    return exc.status
