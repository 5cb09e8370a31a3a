"""login and logout: check credentials against a registry and keep them where docker does."""

from __future__ import annotations

import sys

from hood.cli.common import registry_client
from hood.cli.flags import Command, Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.cli.flags import Args

DOCKER_HUB = "docker.io"


def _login() -> Command:
    return Command(
        "[OPTIONS] [SERVER]",
        "Authenticate to a registry",
        [
            Flag("password", "p", kind="str", help="Password or Personal Access Token (PAT)"),
            Flag("password-stdin", help="Take the Password or Personal Access Token (PAT) "
                 "from stdin"),
            Flag("username", "u", kind="str", help="Username"),
        ],
        ("server?",),
        cmd_login,
        long="Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.",
    )  # fmt: skip


def _logout() -> Command:
    return Command(
        "[SERVER]",
        "Log out from a registry",
        [],
        ("server?",),
        cmd_logout,
        long="Log out from a registry.\nIf no server is specified, the default is Docker Hub.",
    )


COMMANDS = {"login": _login, "logout": _logout}


def _registry_host(server: str) -> str:
    """`https://host:5000/v1/` or `host:5000` → the host to talk to."""
    text = server.strip()
    for prefix in ("https://", "http://"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    text = text.split("/", 1)[0]
    if text in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return "registry-1.docker.io"
    return text


def cmd_login(args: Args) -> int:
    from hood.core.errors import HoodError
    from hood.registry import credentials

    host = _registry_host(args.server or DOCKER_HUB)
    if not host:
        raise HoodError(f"invalid registry address {args.server or DOCKER_HUB!r}")
    if args.password and args.password_stdin:
        raise HoodError("--password and --password-stdin are mutually exclusive")
    username = args.username
    password = args.password
    if args.password:
        print(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
            file=sys.stderr,
        )
    if args.password_stdin:
        if not username:
            raise HoodError("must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    if not username:
        if not sys.stdin.isatty():
            raise HoodError("cannot ask for a username: stdin is not a terminal; use -u")
        username = input("Username: ").strip()
    if not password:
        if not sys.stdin.isatty():
            raise HoodError(
                "cannot ask for a password: stdin is not a terminal; use --password-stdin"
            )
        import getpass

        password = getpass.getpass("Password: ")
    if not username or not password:
        raise HoodError("username and password are both required")
    creds = credentials.Credentials(username=username, password=password)
    with registry_client(args, host, credentials=creds) as client:
        client.check_login()
    where = credentials.save(host, creds)
    if where == str(credentials.config_path()):
        print(f"WARNING! Your password will be stored unencrypted in {where}.", file=sys.stderr)
    print("Login Succeeded")
    return 0


def cmd_logout(args: Args) -> int:
    from hood.registry import credentials

    host = _registry_host(args.server or DOCKER_HUB)
    key = credentials.server_key(host)
    if credentials.remove(host):
        print(f"Removing login credentials for {key}")
    else:
        print(f"Not logged in to {key}")
    return 0
