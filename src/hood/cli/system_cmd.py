"""version, info, system df: what hood is, the host it runs on, what its data root holds."""

from __future__ import annotations

import sys

from hood.cli.flags import FORMAT_HELP, INSPECT_FORMAT_HELP, Command, Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from hood.cli.flags import Args



def _format_flag(help_text: str = INSPECT_FORMAT_HELP) -> Flag:
    return Flag("format", "f", kind="str", help=help_text)


def _version() -> Command:
    return Command("[OPTIONS]", "", [_format_flag()], (), cmd_version)


def _info() -> Command:
    return Command("[OPTIONS]", "", [_format_flag()], (), cmd_info)


def _df() -> Command:
    return Command("[OPTIONS]", "", [Flag("format", kind="str", help=FORMAT_HELP)], (), cmd_df)


COMMANDS = {"version": _version, "info": _info, "system df": _df}


def _render(fmt: str, data: dict[str, Any]) -> int:
    """A --format template over one document (docker's version/info formatting)."""
    from hood.cli.formatting import FormatError, render_rows
    from hood.cli.output import write

    try:
        write(render_rows(fmt, [data], {}, "types.Info"))
    except FormatError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def cmd_version(args: Args) -> int:
    from hood.services.system import version_info

    info = version_info()
    if args.format:
        return _render(args.format, info)
    rows = [
        ("Version", info["Version"]),
        ("Python version", f"{info['PythonVersion']} ({info['PythonImplementation']})"),
        ("OS/Arch", f"{info['Os']}/{info['Arch']}"),
        ("Storage driver", "overlay2"),
    ]
    for key, value in rows:
        print(f"{key + ':':<18} {value}")
    return 0


def bytes_size(size: float) -> str:
    """docker/go-units BytesSize: binary units, 4 significant digits (`23.54GiB`)."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    i = 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{units[i]}"


def cmd_info(args: Args) -> int:
    from hood.services.system import system_info

    info = system_info(_layout(args))
    info["Debug"] = bool(args.debug)
    if args.format:
        return _render(args.format, info)
    lines = [
        f"Containers: {info['Containers']}",
        f" Running: {info['ContainersRunning']}",
        f" Paused: {info['ContainersPaused']}",
        f" Stopped: {info['ContainersStopped']}",
        f"Images: {info['Images']}",
        f"Server Version: {info['ServerVersion']}",
        f"Storage Driver: {info['Driver']}",
        *(f" {key}: {value}" for key, value in info["DriverStatus"]),
        f"Logging Driver: {info['LoggingDriver']}",
        f"Cgroup Driver: {info['CgroupDriver']}",
        f"Cgroup Version: {info['CgroupVersion']}",
        f"Runtimes: {' '.join(sorted(info['Runtimes']))}",
        f"Default Runtime: {info['DefaultRuntime']}",
        f"Rootless: {str(info['Rootless']).lower()}",
    ]
    if info["SecurityOptions"]:
        lines.append("Security Options:")
        lines += [f" {opt.removeprefix('name=')}" for opt in info["SecurityOptions"]]
    lines += [
        f"Kernel Version: {info['KernelVersion']}",
        f"Operating System: {info['OperatingSystem']}",
        f"OSType: {info['OSType']}",
        f"Architecture: {info['Architecture']}",
        f"CPUs: {info['NCPU']}",
        f"Total Memory: {bytes_size(info['MemTotal'])}",
        f"Name: {info['Name']}",
        f"Hood Root Dir: {info['DockerRootDir']}",
        f"Debug Mode: {str(info['Debug']).lower()}",
    ]
    print("\n".join(lines))
    return 0


DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}
_DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"


def cmd_df(args: Args) -> int:
    from hood.cli.formatting import FormatError, render_rows
    from hood.cli.output import write
    from hood.core.timefmt import human_size
    from hood.services.system import disk_usage

    usage = disk_usage(_layout(args))
    rows = []
    for row in usage.rows:
        reclaimable = human_size(row.reclaimable, 4)
        if row.of > 0 and row.type != "Build Cache":
            reclaimable += f" ({row.reclaimable * 100 // row.of}%)"
        rows.append(
            {
                "Type": row.type,
                "TotalCount": str(row.total),
                "Active": str(row.active),
                "Size": human_size(row.size, 4),
                "Reclaimable": reclaimable,
            }
        )
    fmt = args.format or "table"
    try:
        write(render_rows(_DF_TABLE if fmt == "table" else fmt, rows, DF_HEADERS))
    except FormatError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def _layout(args: Args) -> Any:
    from hood.store.layout import Layout

    return Layout(args.root)
