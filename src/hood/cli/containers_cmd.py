"""Container commands: run, create, start, ps, logs, stop, kill, rm, container prune, export,
mount, umount, bundle. Imports nothing heavy at module level: `hood run` must start fast."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

# `run`'s options for the hand parser below: name -> (attribute, kind). kind: "flag" (store_true),
# "value" (last one wins), "append", or a converter/choices tuple. Must say what
# _add_run_options says; tests/runtime/test_run_parser.py holds the two side by side.
_RUN_OPTIONS: dict[str, tuple[str, object]] = {
    "-d": ("detach", "flag"),
    "--detach": ("detach", "flag"),
    "--name": ("name", "value"),
    "-i": ("interactive", "flag"),
    "--interactive": ("interactive", "flag"),
    "-t": ("tty", "flag"),
    "--tty": ("tty", "flag"),
    "-e": ("env", "append"),
    "--env": ("env", "append"),
    "--env-file": ("env_file", "append"),
    "-v": ("volume", "append"),
    "--volume": ("volume", "append"),
    "--tmpfs": ("tmpfs", "append"),
    "-w": ("workdir", "value"),
    "--workdir": ("workdir", "value"),
    "-u": ("user", "value"),
    "--user": ("user", "value"),
    "--entrypoint": ("entrypoint", "value"),
    "-h": ("hostname", "value"),
    "--hostname": ("hostname", "value"),
    "--network": ("network", ("host", "none")),
    "--net": ("network", ("host", "none")),
    "--read-only": ("read_only", "flag"),
    "--pull": ("pull", ("missing", "always", "never")),
    "--platform": ("platform", "value"),
    "-m": ("memory", "value"),
    "--memory": ("memory", "value"),
    "--cpus": ("cpus", float),
    "--pids-limit": ("pids_limit", int),
    "--runtime": ("runtime", ("builtin", "runc", "crun")),
    "--rm": ("rm", "flag"),
    "--security-opt": ("security_opt", "append"),
}


def run_defaults() -> dict[str, object]:
    """`run`'s attributes when no option is given, as argparse's defaults make them."""
    out: dict[str, object] = {}
    for attr, kind in _RUN_OPTIONS.values():
        out[attr] = False if kind == "flag" else [] if kind == "append" else None
    out.update(network="host", pull="missing", runtime="builtin")
    return out


def parse_run(argv: list[str]) -> dict[str, object] | None:
    """`run`'s arguments without argparse (whose import costs `hood run` milliseconds).

    Takes the plain forms only: exact option names, `--opt=value`, bundled short flags
    (`-it`), values that do not start with '-'. Anything else (`--help`, abbreviations,
    `--`, a bad value, a missing image) returns None and argparse parses it, with its own
    errors: what this accepts, it parses as argparse does."""
    if "--" in argv:  # argparse drops the first one, wherever it is
        return None
    out = run_defaults()
    out.update(handler=cmd_run, error_status=125, fast_exit=True, command="run")
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            out["image"] = arg
            out["args"] = argv[i + 1 :]
            return out
        name, eq, value = arg.partition("=")
        if not name.startswith("--"):
            if eq or len(arg) < 2:
                return None
            if len(arg) > 2:  # bundled short flags: -it, -dit
                kinds = [_RUN_OPTIONS.get("-" + c, ("", ""))[1] for c in arg[1:]]
                if any(k != "flag" for k in kinds):
                    return None
                for c in arg[1:]:
                    out[_RUN_OPTIONS["-" + c][0]] = True
                i += 1
                continue
        spec = _RUN_OPTIONS.get(name)
        if spec is None:
            return None
        attr, kind = spec
        i += 1
        if kind == "flag":
            if eq:
                return None
            out[attr] = True
            continue
        if not eq:
            if i >= len(argv):
                return None
            value = argv[i]
            i += 1
            if value.startswith("-"):
                return None
        if kind == "append":
            out[attr] = [*out[attr], value]  # type: ignore[misc]
        elif kind == "value":
            out[attr] = value
        elif isinstance(kind, tuple):
            if value not in kind:
                return None
            out[attr] = value
        else:
            try:
                out[attr] = kind(value)  # type: ignore[operator]
            except ValueError:
                return None
    return None


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("-v", "--volume", action="append", default=[])
    p.add_argument("--tmpfs", action="append", default=[])
    p.add_argument("-w", "--workdir")
    p.add_argument("-u", "--user")
    p.add_argument("--entrypoint")
    p.add_argument("-h", "--hostname")
    p.add_argument("--network", "--net", default="host", choices=["host", "none"])
    p.add_argument("--read-only", action="store_true")
    p.add_argument("--pull", default="missing", choices=["missing", "always", "never"])
    p.add_argument("--platform")
    p.add_argument("-m", "--memory")
    p.add_argument("--cpus", type=float)
    p.add_argument("--pids-limit", type=int)
    p.add_argument("--runtime", default="builtin", choices=["builtin", "runc", "crun"])
    p.add_argument("--rm", action="store_true")
    p.add_argument("--security-opt", action="append", default=[])
    p.add_argument("image")
    p.add_argument("args", nargs="...")  # argparse.REMAINDER


def register(sub) -> None:
    p = sub.add_parser("run", help="create and start a container", add_help=False)
    p.add_argument("--help", action="help")
    p.add_argument("-d", "--detach", action="store_true")
    _add_run_options(p)
    p.set_defaults(handler=cmd_run, error_status=125, fast_exit=True)

    p = sub.add_parser("create", help="create a container", add_help=False)
    p.add_argument("--help", action="help")
    _add_run_options(p)
    p.set_defaults(handler=cmd_create, error_status=125)

    p = sub.add_parser("start", help="start stopped containers")
    p.add_argument("-a", "--attach", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("containers", nargs="+")
    p.set_defaults(handler=cmd_start)

    p = sub.add_parser("ps", help="list containers")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format")
    p.set_defaults(handler=cmd_ps)

    p = sub.add_parser("logs", help="show a container's output")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("container")
    p.set_defaults(handler=cmd_logs)

    p = sub.add_parser("stop", help="stop running containers")
    p.add_argument("-t", "--time", type=float, default=10)
    p.add_argument("-s", "--signal")
    p.add_argument("containers", nargs="+")
    p.set_defaults(handler=cmd_stop)

    p = sub.add_parser("kill", help="kill running containers")
    p.add_argument("-s", "--signal", default="KILL")
    p.add_argument("containers", nargs="+")
    p.set_defaults(handler=cmd_kill)

    p = sub.add_parser("rm", help="remove containers")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("containers", nargs="+")
    p.set_defaults(handler=cmd_rm)

    p = sub.add_parser("container", help="manage containers")
    csub = p.add_subparsers(dest="container_command", metavar="COMMAND")
    csub.required = True
    pp = csub.add_parser("prune", help="remove all stopped containers")
    pp.add_argument("-f", "--force", action="store_true")
    pp.set_defaults(handler=cmd_prune)
    for name, fn in (("ls", cmd_ps),):
        lp = csub.add_parser(name, help="list containers")
        lp.add_argument("-a", "--all", action="store_true")
        lp.add_argument("-q", "--quiet", action="store_true")
        lp.add_argument("--no-trunc", action="store_true")
        lp.add_argument("--format")
        lp.set_defaults(handler=fn)

    p = sub.add_parser("export", help="a container's filesystem as a tar archive")
    p.add_argument("-o", "--output")
    p.add_argument("container")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("mount", help="mount an image's or container's filesystem")
    p.add_argument("target", metavar="IMAGE|CONTAINER")
    p.add_argument("dir", nargs="?")
    p.set_defaults(handler=cmd_mount)

    p = sub.add_parser("umount", help="unmount what `hood mount` mounted")
    p.add_argument("target", metavar="IMAGE|CONTAINER|DIR")
    p.set_defaults(handler=cmd_umount)

    p = sub.add_parser("bundle", help="write an OCI runtime bundle (config.json + rootfs)")
    p.add_argument("image")
    p.add_argument("dir")
    p.set_defaults(handler=cmd_bundle)


# --- helpers -----------------------------------------------------------------------------


def _layout(args):
    from hood.store.layout import Layout

    return Layout(args.root)


def _parse_size(text: str) -> int:
    from hood.core.errors import HoodError

    units = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    t = (
        text.strip().lower().rstrip("b")
        if text.lower().endswith(("kb", "mb", "gb", "tb"))
        else (text.strip().lower())
    )
    mult = 1
    if t and t[-1] in units:
        mult = units[t[-1]]
        t = t[:-1]
    try:
        return int(float(t) * mult)
    except ValueError:
        raise HoodError(f"invalid size: '{text}'") from None


def _options(args):
    import os

    from hood.core.errors import HoodError
    from hood.runtime.spec import Bind, RunOptions

    env: list[str] = []
    for path in args.env_file:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise HoodError(f"open {path}: {exc.strerror}") from None
        for line in lines:
            line = line.lstrip()
            if line and not line.startswith("#"):
                env.append(line)
    env += args.env
    resolved = []
    for item in env:
        if "=" in item:
            if item.startswith("="):
                raise HoodError(f"invalid environment variable: {item}")
            resolved.append(item)
        elif item in os.environ:
            resolved.append(f"{item}={os.environ[item]}")
    tmpfs = {}
    for item in args.tmpfs:
        dest, _, opts = item.partition(":")
        if not dest.startswith("/"):
            raise HoodError(f"invalid tmpfs mount: {item}: destination must be absolute")
        tmpfs[dest] = opts
    cmd = list(args.args)
    if cmd[:1] == ["--"]:
        cmd = cmd[1:]
    return RunOptions(
        args=cmd,
        entrypoint=args.entrypoint,
        env=resolved,
        workdir=args.workdir,
        user=args.user,
        hostname=args.hostname,
        tty=args.tty,
        stdin=args.interactive,
        network=args.network,
        read_only=args.read_only,
        binds=[Bind.parse(v) for v in args.volume],
        tmpfs=tmpfs,
        memory=_parse_size(args.memory) if args.memory else None,
        cpus=args.cpus,
        pids_limit=args.pids_limit,
        no_new_privs=_no_new_privs(args.security_opt),
        seccomp=_seccomp(args.security_opt),
    )


def _no_new_privs(opts: list[str]) -> bool:
    from hood.core.errors import HoodError

    value = False
    for opt in opts:
        key, _, val = opt.replace("=", ":", 1).partition(":")
        if key == "seccomp":
            continue
        if key != "no-new-privileges" or val not in ("", "true", "false"):
            raise HoodError(f"unsupported --security-opt: {opt}")
        value = val != "false"
    return value


def _seccomp(opts: list[str]) -> str:
    """`--security-opt seccomp=unconfined|PROFILE.json`, read here as the docker CLI does;
    "" for docker's default profile."""
    from hood.core.errors import HoodError

    value = ""
    for opt in opts:
        key, _, val = opt.replace("=", ":", 1).partition(":")
        if key != "seccomp":
            continue
        if not val:
            raise HoodError(f"invalid --security-opt: {opt}")
        if val == "unconfined":
            value = val
            continue
        try:
            with open(val, encoding="utf-8") as f:
                value = f.read()
        except OSError as exc:
            raise HoodError(
                f"opening seccomp profile ({val}) failed: open {val}: {exc.strerror.lower()}"
            ) from None
        from hood.runtime.seccomp import ProfileError, parse_profile

        try:
            parse_profile(value)
        except ProfileError as exc:
            raise HoodError(f"Decoding seccomp profile failed: {exc}") from None
    return value


def _warn(text: str) -> None:
    print(f"WARNING: {text}", file=sys.stderr)


def _create(args, starting: bool = False):
    from hood.services.containers import create_container

    platform = None
    if args.platform:
        from hood.core.platform import Platform

        platform = Platform.parse(args.platform)
    return create_container(
        _layout(args),
        args.image,
        _options(args),
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
    from hood.runtime.builtin import ContainerError
    from hood.services.containers import run_attached, start_detached

    c = _create(args, starting=True)
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
    from hood.runtime.builtin import ContainerError
    from hood.services.containers import run_attached, start_detached

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
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
}
PS_TABLE = ("ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names")


def cmd_ps(args) -> int:
    from hood.cli.output import go_tabwriter
    from hood.services.containers import container_rows

    trunc = not args.no_trunc
    rows = container_rows(_layout(args), all=args.all, trunc=trunc)
    if args.quiet:
        for row in rows:
            print(row.fields["ID"])
        return 0
    if args.format:
        from hood.cli.formatting import render_rows

        fields = [row.fields for row in rows]
        sys.stdout.write(render_rows(args.format, fields, PS_HEADERS, type_name="containerContext"))
        return 0
    lines = ["\t".join(PS_HEADERS[k] for k in PS_TABLE)]
    lines += ["\t".join(row.fields[k] for k in PS_TABLE) for row in rows]
    for line in go_tabwriter("\n".join(lines)).split("\n"):
        print(line.rstrip())
    return 0


def cmd_logs(args) -> int:
    from hood.services.containers import read_logs

    c = _containers(args).resolve(args.container)
    out = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    for entry in read_logs(_layout(args), c, follow=args.follow):
        stream = out[entry.stream]
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
    from hood.services.containers import stop_container

    layout = _layout(args)
    store = _containers(args)
    for name in args.containers:
        c = store.resolve(name)
        stop_container(layout, c, args.time, _signal(args.signal) if args.signal else None)
        print(name)
    return 0


def cmd_kill(args) -> int:
    from hood.services.containers import kill_container

    layout = _layout(args)
    store = _containers(args)
    sig = _signal(args.signal)
    for name in args.containers:
        kill_container(layout, store.resolve(name), sig)
        print(name)
    return 0


def cmd_rm(args) -> int:
    from hood.core.errors import HoodError
    from hood.services.containers import remove_container

    layout = _layout(args)
    store = _containers(args)
    status = 0
    for name in args.containers:
        try:
            remove_container(layout, store.resolve(name), args.force)
            print(name)
        except HoodError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            status = 1
    return status


def cmd_prune(args) -> int:
    from hood.core.timefmt import human_size
    from hood.services.containers import prune_containers

    if not args.force:
        sys.stdout.write(
            "WARNING! This will remove all stopped containers.\n"
            "Are you sure you want to continue? [y/N] "
        )
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print()
            return 0
    result = prune_containers(_layout(args))
    if result.removed:
        print("Deleted Containers:")
        for cid in result.removed:
            print(cid)
        print()
    print(f"Total reclaimed space: {human_size(result.reclaimed)}")
    return 0


def cmd_export(args) -> int:
    from hood.core.errors import HoodError
    from hood.services.containers import export_container

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
