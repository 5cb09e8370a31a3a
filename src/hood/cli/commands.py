"""Every command hood has, the module that holds it and every path that calls it, as plain
data: main finds `hood run`'s module here and imports that one alone.

A command module defines `COMMANDS = {key: builder}`; `builder()` returns the command's
flags.Command. Keys are the commands' canonical paths."""

from __future__ import annotations

# key -> (module under hood.cli, short description)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run_cmd", "Create and run a new container from an image"),
    "create": ("run_cmd", "Create a new container"),
    "start": ("run_cmd", "Start one or more stopped containers"),
    "ps": ("ps_cmd", "List containers"),
    "logs": ("logs_cmd", "Fetch the logs of a container"),
    "stop": ("container_stop_cmd", "Stop one or more running containers"),
    "kill": ("container_stop_cmd", "Kill one or more running containers"),
    "rm": ("container_stop_cmd", "Remove one or more containers"),
    "export": ("rootfs_cmd", "Export a container's filesystem as a tar archive"),
    "container prune": ("container_stop_cmd", "Remove all stopped containers"),
    "container inspect": ("images_cmd", "Display detailed information on one or more containers"),
    "mount": ("rootfs_cmd", "Mount an image's or a container's filesystem"),
    "umount": ("rootfs_cmd", "Unmount what 'hood mount' mounted"),
    "bundle": ("rootfs_cmd", "Write an OCI runtime bundle (config.json and rootfs)"),
    "pull": ("images_cmd", "Download an image from a registry"),
    "images": ("images_cmd", "List images"),
    "inspect": ("images_cmd", "Return low-level information on images and containers"),
    "image inspect": ("images_cmd", "Display detailed information on one or more images"),
    "tag": ("images_cmd", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "rmi": ("images_cmd", "Remove one or more images"),
    "image prune": ("images_cmd", "Remove unused images"),
    "history": ("digests_cmd", "Show the history of an image"),
    "digests": ("digests_cmd", "Show every sha256 of an image: what it hashes, recomputed now"),
    "fsck": ("digests_cmd", "Re-verify the store; name what is wrong and what to do"),
    "unpack": ("rootfs_cmd", "Flatten an image's layers into a plain directory"),
    "login": ("registry_cmd", "Authenticate to a registry"),
    "logout": ("registry_cmd", "Log out from a registry"),
    "manifest inspect": ("manifest_cmd", "Display an image manifest, or manifest list"),
    "version": ("system_cmd", "Show the hood version information"),
    "info": ("system_cmd", "Display system-wide information"),
    "system df": ("system_cmd", "Show hood disk usage"),
    "save": ("transfer_cmd", "Save one or more images to a tar archive (streamed to STDOUT by default)"),
    "load": ("transfer_cmd", "Load an image from a tar archive or STDIN"),
    "push": ("push_cmd", "Upload an image to a registry"),
    "copy": ("push_cmd", "Copy an image between places (registries, archives, OCI layouts, the store)"),
    "diff": ("build_cmd", "Inspect changes to files or directories on a container's filesystem"),
    "commit": ("build_cmd", "Create a new image from a container's changes"),
    "import": ("build_cmd", "Import the contents from a tarball to create a filesystem image"),
    "exec": ("container_ops_cmd", "Execute a command in a running container"),
    "wait": ("container_ops_cmd", "Block until one or more containers stop, then print their exit codes"),
    "rename": ("container_ops_cmd", "Rename a container"),
    "restart": ("container_ops_cmd", "Restart one or more containers"),
    "top": ("container_ops_cmd", "Display the running processes of a container"),
    "cp": ("container_ops_cmd", "Copy files/folders between a container and the local filesystem"),
    "volume create": ("volume_cmd", "Create a volume"),
    "volume inspect": ("volume_cmd", "Display detailed information on one or more volumes"),
    "volume ls": ("volume_cmd", "List volumes"),
    "volume rm": ("volume_cmd", "Remove one or more volumes"),
    "volume prune": ("volume_cmd", "Remove unused local volumes"),
}  # fmt: skip

# Management commands: name -> description.
GROUPS: dict[str, str] = {
    "container": "Manage containers",
    "image": "Manage images",
    "manifest": "Manage image manifests and manifest lists",
    "system": "Manage hood",
    "volume": "Manage volumes",
}

# Every path that calls a command (docker's group forms and aliases) -> key.
PATHS: dict[str, str] = {key: key for key in COMMANDS}
PATHS.update(
    {
        "container run": "run",
        "container create": "create",
        "container start": "start",
        "container ls": "ps",
        "container list": "ps",
        "container ps": "ps",
        "container logs": "logs",
        "container stop": "stop",
        "container kill": "kill",
        "container rm": "rm",
        "container remove": "rm",
        "container export": "export",
        "image ls": "images",
        "image list": "images",
        "image pull": "pull",
        "image tag": "tag",
        "image rm": "rmi",
        "image remove": "rmi",
        "image history": "history",
        "system info": "info",
        "image save": "save",
        "image load": "load",
        "image push": "push",
        "image import": "import",
        "container diff": "diff",
        "container commit": "commit",
        "container exec": "exec",
        "container wait": "wait",
        "container rename": "rename",
        "container restart": "restart",
        "container top": "top",
        "container cp": "cp",
        "volume list": "volume ls",
        "volume remove": "volume rm",
    }
)

# docker's "Common Commands", in docker's order.
COMMON = ("run", "ps", "pull", "images", "login", "logout", "version", "info")


def aliases(key: str) -> tuple[str, ...]:
    """Every path of a command that has more than one, group forms first (docker's order:
    `docker container ls, docker container list, docker container ps, docker ps`)."""
    paths = [p for p, k in PATHS.items() if k == key]
    if len(paths) < 2:
        return ()
    return tuple(sorted(paths, key=lambda p: (" " not in p, paths.index(p))))


def resolve(argv: list[str]) -> tuple[str, str | None, list[str]]:
    """(path, key, the rest) for the command at the front of argv. key is None for a group
    named without a known subcommand (path is then the group) or an unknown command."""
    if not argv:
        return "", None, []
    first = argv[0]
    if first in GROUPS:
        if len(argv) > 1 and not argv[1].startswith("-"):
            path = f"{first} {argv[1]}"
            return path, PATHS.get(path), argv[2:]
        return first, None, argv[1:]
    if first in PATHS and " " not in first:
        return first, PATHS[first], argv[1:]
    return first, None, argv[1:]


def subcommands(group: str) -> list[tuple[str, str]]:
    """(name, description) of a group's subcommands, sorted as cobra lists them."""
    rows = []
    for path, key in PATHS.items():
        head, _, name = path.partition(" ")
        if head == group and name and (path == key or _first_alias(path, key)):
            rows.append((name, COMMANDS[key][1]))
    return sorted(rows)


def _first_alias(path: str, key: str) -> bool:
    """A group lists each command once, under its first name there (ls, not list or ps)."""
    group = path.partition(" ")[0]
    for p, k in PATHS.items():
        if k == key and p.partition(" ")[0] == group and " " in p:
            return p == path
    return False
