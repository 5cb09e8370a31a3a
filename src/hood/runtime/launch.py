"""What both sides of a built-in start share: the Launch (what to start and how), the
ContainerError a start fails with (the child sends it up the error pipe), the start
handshake's two bytes and the signals hood passes on to the container. A module of its
own so that the child's modules need not import the parent's (builtin)."""

from __future__ import annotations

import _signal as signal  # signal's ints without its enum (and enum's imports)

from hood.core.errors import HoodError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from hood.runtime.spec import ContainerSpec
    from hood.store.layout import Layout

READY, GO = b"R", b"G"  # the child's and the parent's half of the start handshake
FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGCONT,
    signal.SIGWINCH,
)


class ContainerError(HoodError):
    """The container's process could not be started; `status` is docker's exit code for it."""

    def __init__(self, message: str, status: int = 125) -> None:
        super().__init__(message)
        self.status = status


class Launch:
    __slots__ = (
        "spec",
        "layout",
        "mount_id",
        "container_dir",
        "log_path",
        "foreground",
        "on_started",
        "warn",
        "join",
        "privileged",
    )

    def __init__(
        self,
        spec: ContainerSpec,
        layout: Layout,
        mount_id: str,
        container_dir: str,
        log_path: str | None = None,  # docker's json-file log of the output
        foreground: bool = True,  # attached to our stdio (and teed into the log)
        on_started: Callable[[int], None] | None = None,
        warn: Callable[[str], None] | None = None,
        join: int = 0,  # exec: the host PID of a running container's process to join
        privileged: bool = False,  # every capability, no seccomp (exec --privileged)
    ) -> None:
        self.spec = spec
        self.layout = layout
        self.mount_id = mount_id
        self.container_dir = container_dir
        self.log_path = log_path
        self.foreground = foreground
        self.on_started = on_started
        self.warn = warn
        self.join = join
        self.privileged = privileged

    @property
    def confined(self) -> bool:
        """Under a seccomp filter: the parent makes it (or reads it from its cache) while
        the child sets up, and sends it after "G"."""
        spec = self.spec
        return not (spec.seccomp == "unconfined" or self.privileged or spec.privileged)
