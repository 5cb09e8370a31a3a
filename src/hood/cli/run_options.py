"""`run` and `create`'s flags and what they become: the RunOptions the services take, each
value checked and read as docker's CLI reads it. On `hood run`'s path: nothing heavy is
imported at module level (the rare flags' parsers are in run_flags, loaded when used)."""

from __future__ import annotations

from hood.cli.flag_values import ram_in_bytes
from hood.cli.flags import Flag, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hood.cli.flags import Args
    from hood.runtime.mount_spec import Bind
    from hood.runtime.spec import RunOptions


def parse_cpus(text: str) -> float:
    """docker's NanoCPUs: a rational number (`1.5`, `3/2`, `2e-1`) that is a whole number
    of nano-CPUs."""
    bad = ValueError(f"failed to parse {text} as a rational number")
    num, slash, den = text.partition("/")
    try:
        if slash:
            n, d = int(num), int(den)
            if d == 0:
                raise bad
            nano_exact = (n * 10**9) % d == 0
            value = n / d
        else:
            mantissa, _, exp = num.lower().partition("e")
            sign = -1 if mantissa.startswith("-") else 1
            whole, _, frac = mantissa.lstrip("+-").partition(".")
            if not (whole + frac).isdigit():
                raise bad
            scale = len(frac) - (int(exp) if exp else 0)
            digits = int(whole + frac)
            nano_exact = scale <= 9 or digits % 10 ** (scale - 9) == 0
            value = sign * float(text)
    except ValueError as exc:
        raise bad from exc
    if not nano_exact:
        raise ValueError("value is too precise")
    return value


def run_flags() -> list[Flag]:
    """Every flag `run` and `create` share, with docker's help text."""
    F = Flag
    return [
        F("name", kind="str", help="Assign a name to the container"),
        F("interactive", "i", help="Keep STDIN open even if not attached"),
        F("tty", "t", help="Allocate a pseudo-TTY"),
        F("env", "e", kind="list", help="Set environment variables"),
        F("env-file", kind="list", help="Read in a file of environment variables"),
        F("volume", "v", kind="list", help="Bind mount a volume"),
        F("tmpfs", kind="list", help="Mount a tmpfs directory"),
        F("workdir", "w", kind="str", help="Working directory inside the container"),
        F("user", "u", kind="str", help="Username or UID (format: <name|uid>[:<group|gid>])"),
        F("entrypoint", kind="str", help="Overwrite the default ENTRYPOINT of the image"),
        F("hostname", "h", kind="str", help="Container host name"),
        F("network", kind="str", default="host", choices=("host", "none"), type_word="network",
          help='Connect a container to a network: "host" (its network, as is) or "none"'),
        F("net", kind="str", dest="network", choices=("host", "none"), hidden=True),
        F("read-only", help="Mount the container's root filesystem as read only"),
        F("pull", kind="str", default="missing",
          help='Pull image before running ("always", "missing", "never")'),
        F("platform", kind="str", help="Set platform if server is multi-platform capable"),
        F("memory", "m", kind="str", type_word="bytes", convert=ram_in_bytes,
          help="Memory limit"),
        F("cpus", kind="str", type_word="decimal", convert=parse_cpus, help="Number of CPUs"),
        F("pids-limit", kind="int", help="Tune container pids limit (set -1 for unlimited)"),
        F("runtime", kind="str", default="builtin", choices=("builtin", "runc", "crun"),
          help="Runtime to use for this container: the built-in one, runc or crun"),
        F("rm", help="Automatically remove the container and its associated anonymous "
          "volumes when it exits"),
        F("security-opt", kind="list", help="Security Options"),
        F("add-host", kind="list", help="Add a custom host-to-IP mapping (host:ip)"),
        F("attach", "a", kind="list", help="Attach to STDIN, STDOUT or STDERR"),
        F("cap-add", kind="list", help="Add Linux capabilities"),
        F("cap-drop", kind="list", help="Drop Linux capabilities"),
        F("device", kind="list", help="Add a host device to the container"),
        F("dns", kind="list", help="Set custom DNS servers"),
        F("dns-option", kind="list", help="Set DNS options"),
        F("dns-opt", kind="list", dest="dns_option", hidden=True),
        F("dns-search", kind="list", help="Set custom DNS search domains"),
        F("init", help="Run an init inside the container that forwards signals and reaps "
          "processes"),
        F("label", "l", kind="list", help="Set meta data on a container"),
        F("label-file", kind="list", help="Read in a line delimited file of labels"),
        F("mount", kind="list", type_word="mount",
          help="Attach a filesystem mount to the container"),
        F("privileged", help="Give extended privileges to this container"),
        F("shm-size", kind="str", type_word="bytes", convert=ram_in_bytes,
          help="Size of /dev/shm"),
        F("stop-signal", kind="str", help="Signal to stop the container"),
        F("ulimit", kind="list", type_word="ulimit", help="Ulimit options"),
    ]  # fmt: skip


def environment(env_files: list[str], env: list[str]) -> list[str]:
    """-e and --env-file as docker reads them: files first, `KEY` alone takes this
    process's value (or is dropped when it has none)."""
    import os

    from hood.core.errors import HoodError

    items: list[str] = []
    for path in env_files:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise HoodError(f"open {path}: {exc.strerror}") from None
        for line in lines:
            line = line.lstrip()
            if line and not line.startswith("#"):
                items.append(line)
    resolved = []
    for item in [*items, *env]:
        if "=" in item:
            if item.startswith("="):
                raise HoodError(f"invalid environment variable: {item}")
            resolved.append(item)
        elif item in os.environ:
            resolved.append(f"{item}={os.environ[item]}")
    return resolved


def run_options(args: Args) -> RunOptions:
    """The flags of `run` and `create` as the runtime's RunOptions: their values checked
    and read as docker's CLI reads them (rare flags by run_flags, loaded only when given)."""
    from hood.runtime.spec import RunOptions

    resolved = environment(args.env_file, args.env)
    tmpfs = _tmpfs(args.tmpfs)
    binds, extra = _binds_and_rare_options(args)
    seccomp = _seccomp(args.security_opt)
    security = _security_opts(args, seccomp)
    return RunOptions(
        **extra,
        cap_add=list(args.cap_add),
        cap_drop=list(args.cap_drop),
        privileged=args.privileged,
        init=True if args.init else None,
        dns=list(args.dns),
        dns_search=list(args.dns_search),
        dns_options=list(args.dns_option),
        stop_signal=_stop_signal(args.stop_signal),
        shm_size=_shm_size(args.shm_size),
        security_opt=security,
        systempaths=_systempaths(args.security_opt),
        args=list(args.args),
        entrypoint=args.entrypoint,
        env=resolved,
        workdir=args.workdir,
        user=args.user,
        hostname=args.hostname,
        tty=args.tty,
        stdin=args.interactive,
        network=args.network,
        read_only=args.read_only,
        binds=binds,
        tmpfs=tmpfs,
        memory=args.memory,
        cpus=args.cpus,
        pids_limit=args.pids_limit,
        no_new_privs=_no_new_privs(args.security_opt),
        seccomp=seccomp,
    )


def _tmpfs(items: list[str]) -> dict[str, str]:
    """--tmpfs DIR[:OPTIONS], by destination."""
    from hood.core.errors import HoodError

    tmpfs = {}
    for item in items:
        dest, _, opts = item.partition(":")
        if not dest.startswith("/"):
            raise HoodError(f"invalid tmpfs mount: {item}: destination must be absolute")
        tmpfs[dest] = opts
    return tmpfs


def _binds_and_rare_options(args: Args) -> tuple[list[Bind], dict[str, Any]]:
    """-v's binds, and the RunOptions fields of the rare flags: their parsers (run_flags)
    are loaded only when one of them is used."""
    rare = (
        args.mount,
        args.ulimit,
        args.device,
        args.label,
        args.label_file,
        args.add_host,
        args.attach,
        [v for v in args.volume if not v.startswith("/") or ":" not in v],
    )
    if any(rare):
        from hood.cli.run_flags import rare_options

        return rare_options(args)
    from hood.runtime.mount_spec import Bind

    return [Bind.parse(v) for v in args.volume], {}


def _security_opts(args: Args, seccomp: str) -> list[str]:
    """--security-opt as docker's CLI sends it (a seccomp profile's file read in); with
    --privileged, label=disable unless a label option is given."""
    # docker's CLI sends systempaths=unconfined as empty MaskedPaths and ReadonlyPaths
    security = [
        _recorded_security_opt(o, seccomp)
        for o in args.security_opt
        if o != "systempaths=unconfined"
    ]
    if args.privileged and not any(o.startswith(("label=", "label:")) for o in security):
        security.append("label=disable")  # dockerd's generateSecurityOpt does so
    return security


def _no_new_privs(opts: list[str]) -> bool:
    from hood.core.errors import HoodError

    value = False
    for opt in opts:
        key, _, val = opt.replace("=", ":", 1).partition(":")
        if key in ("seccomp", "label", "apparmor", "systempaths"):
            continue  # label and apparmor: recorded; hood has no SELinux or AppArmor
        if key != "no-new-privileges" or val not in ("", "true", "false"):
            raise HoodError(f"Invalid --security-opt: {opt!r}")
        value = val != "false"
    return value


def _recorded_security_opt(opt: str, profile: str) -> str:
    """As docker's CLI sends it: seccomp=FILE becomes seccomp=the profile, compacted."""
    key, _, val = opt.replace("=", ":", 1).partition(":")
    if key != "seccomp" or val == "unconfined":
        return opt
    from hood.core.jsonio import dumps, loads

    return "seccomp=" + dumps(loads(profile), separators=(",", ":"), ensure_ascii=False)


def _systempaths(opts: list[str]) -> bool:
    """--security-opt systempaths=unconfined: no masked or read-only /proc, /sys paths."""
    from hood.core.errors import HoodError

    value = False
    for opt in opts:
        key, _, val = opt.replace("=", ":", 1).partition(":")
        if key == "systempaths":
            if val != "unconfined":
                raise HoodError(f"invalid --security-opt 2: {opt!r}")
            value = True
    return value


def _stop_signal(text: str | None) -> str | None:
    from hood.core.errors import HoodError
    from hood.services.container_lifecycle import signal_number

    if text is not None and signal_number(text) is None:  # refused at create, as docker's
        raise HoodError(f"Invalid signal: {text}")
    return text


def _shm_size(size: int | None) -> int | None:
    from hood.core.errors import HoodError

    if size is not None and size <= 0:
        raise HoodError("SHM size can not be less than 0")
    return size


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
        from hood.runtime.seccomp_json import parse_profile
        from hood.runtime.seccomp_profile import ProfileError

        try:
            parse_profile(value)
        except ProfileError as exc:
            raise HoodError(f"Decoding seccomp profile failed: {exc}") from None
    return value


def check_run_options(args: Args) -> None:
    """What docker's run checks before it creates anything: the --pull value, and a TTY
    to attach to when -i and -t ask for one (`echo x | docker run -it` fails at once)."""
    if args.pull not in ("always", "missing", "never"):
        raise UsageError(
            f'hood: invalid pull option: \'{args.pull}\': must be one of "always", "missing"'
            f" or \"never\"\n\nRun 'hood {args.command_path} --help' for more information",
            125,
        )
    if args.tty and args.interactive and not args.detach:
        import os

        if not os.isatty(0):
            raise UsageError("the input device is not a TTY", 1)
