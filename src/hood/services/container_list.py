"""What `docker ps` lists: the containers its filters select, as its formatter's rows."""

from __future__ import annotations

import os
import time

from hood.core.errors import HoodError
from hood.core.lean import Record, suppress
from hood.services.container_lifecycle import rw_size, sweep_abandoned
from hood.store.containers import (
    ZERO_TIME,
    Container,
    ContainerStore,
)
from hood.store.images import ImageStore
from hood.store.layout import Layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hood.services.filters import Filters


class ContainerRow(Record):
    """One `ps` row, in docker's formatter's field names."""

    __slots__ = ("fields", "container")

    def __init__(self, fields: dict[str, str], container: Container) -> None:
        self.fields = fields
        self.container = container


def status_text(c: Container, now: float | None = None) -> str:
    """docker ps's STATUS: `Up 2 minutes`, `Exited (0) 3 seconds ago`, `Created`."""
    from datetime import UTC, datetime

    from hood.core.timefmt import human_duration, parse_rfc3339

    st = c.state
    current = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    if c.running:
        started = parse_rfc3339(str(st.get("StartedAt", ""))) or current
        return "Up " + human_duration(current - started)
    if st.get("StartedAt", ZERO_TIME) == ZERO_TIME:
        return "Created"
    finished = (
        parse_rfc3339(str(st.get("FinishedAt", ""))) if st.get("FinishedAt") != ZERO_TIME else None
    )
    code = st.get("ExitCode", 0)
    if st.get("Running"):  # the process vanished with its hood: treat as killed
        code = 137
        finished = None
    if finished is None:
        finished = datetime.fromtimestamp(
            os.stat(os.path.join(c.dir, "config.v2.json")).st_mtime, UTC
        )
    return f"Exited ({code}) {human_duration(current - finished)} ago"


def command_line(c: Container) -> str:
    """The container's command as the daemon lists it: Path and Args, an argument with a
    space in it between single quotes."""
    args = [f"'{a}'" if " " in a else a for a in map(str, c.config.get("Args") or [])]
    path = str(c.config.get("Path", ""))
    return f"{path} {' '.join(args)}" if args else path


def _command_text(c: Container, trunc: bool) -> str:
    """docker ps's COMMAND: command_line, cut to 20 columns, quoted as Go's %q."""
    from hood.core.jsonio import go_quote
    from hood.services.history import ellipsis

    text = command_line(c)
    return go_quote(ellipsis(text, 20) if trunc else text)


def container_rows(layout: Layout, *, all: bool = False, trunc: bool = True) -> list[ContainerRow]:  # noqa: A002
    """`ps` (and `ps -a`): newest first, as docker's formatter names the fields."""
    return list_containers(layout, all=all, trunc=trunc)


PS_FILTERS = (
    "ancestor", "before", "exited", "expose", "health", "id", "isolation", "is-task", "label",
    "name", "network", "publish", "since", "status", "volume",
)  # fmt: skip
STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")


def select_containers(
    layout: Layout,
    *,
    all: bool = False,  # noqa: A002
    filters: list[tuple[str, str]] | None = None,
    limit: int = -1,
) -> list[Container]:
    """The containers `docker ps` lists, newest first, by the daemon's rules: running ones
    unless `all` (or a status filter, or a `limit` > 0: the last N created), then the
    filters (ancestor, before, since, exited, id, label, name, status, network, volume, ...)."""
    from hood.services.filters import Filters

    selected = Filters(filters or ())
    selected.validate(PS_FILTERS)
    sweep_abandoned(layout)  # what a killed `--rm` run left is gone, not listed
    exited = _exit_codes(selected)
    if _status_given(selected):
        all = True  # noqa: A001
    _check_health(selected)
    is_task = selected.get_bool("is-task", False)
    store = ContainerStore(layout)
    containers = store.list()  # newest first
    before = since = None
    for value in selected.get("before"):
        before = store.resolve(value).id
    for value in selected.get("since"):
        since = store.resolve(value).id
    ancestors = _ancestor_ids(layout, selected)
    ids = selected.get("id")
    if ids:
        containers = [c for c in containers if any(c.id.startswith(i) for i in ids)]
    out: list[Container] = []
    for c in containers:
        if before is not None:
            if c.id == before:
                before = None
            continue
        if since is not None and c.id == since:
            break
        running = c.running
        if not running and not all and limit <= 0:
            continue
        if not _matches_before_count(c, selected, is_task):
            continue
        if limit > 0 and len(out) == limit:
            break
        if not _matches_after_count(c, running, selected, exited, ancestors):
            continue
        out.append(c)
    return out


def _exit_codes(selected: Filters) -> list[int]:
    """The `exited` filter's codes, each a base-10 integer as Go's strconv.Atoi takes it."""
    from hood.services.filters import InvalidFilter

    codes = []
    for value in selected.get("exited"):
        try:
            codes.append(int(value, 10))
        except ValueError:
            raise InvalidFilter(
                f"invalid filter 'exited={value}': strconv.Atoi: parsing \"{value}\": invalid syntax"
            ) from None
    return codes


def _status_given(selected: Filters) -> bool:
    """Whether a `status` filter was given (which lists stopped containers too), each of
    its values one of docker's STATES."""
    from hood.services.filters import InvalidFilter

    values = selected.get("status")
    for value in values:
        if value not in STATES:
            raise InvalidFilter(
                f"invalid filter 'status={value}': invalid value for state ({value}): "
                f"must be one of {', '.join(STATES)}"
            )
    return bool(values)


def _check_health(selected: Filters) -> None:
    """The `health` filter's values are docker's (none of hood's containers has a health
    check, so only `none` matches)."""
    from hood.services.filters import InvalidFilter

    for value in selected.get("health"):
        if value not in ("starting", "healthy", "unhealthy", "none"):
            raise InvalidFilter(
                f"invalid filter 'health={value}': Unrecognised filter value for health: {value}"
            )


def _ancestor_ids(layout: Layout, selected: Filters) -> set[str] | None:
    """The image IDs the `ancestor` filter names (None: no such filter); a name that
    resolves to no image matches nothing."""
    if not selected.contains("ancestor"):
        return None
    images = ImageStore(layout)
    ancestors = set()
    for value in selected.get("ancestor"):
        with suppress(HoodError):  # docker: a warning in its log, and no match
            ancestors.add(str(images.resolve_id(value)))
    return ancestors


def _matches_before_count(c: Container, selected: Filters, is_task: bool) -> bool:
    """The filters the daemon applies before it counts a container against `limit`:
    name (with or without its leading /), id, is-task, label and isolation."""
    return (
        (selected.match("name", c.name) or selected.match("name", "/" + c.name))
        and selected.match("id", c.id)
        and not (selected.contains("is-task") and is_task)
        and selected.match_kv_list("label", c.labels)
        and selected.exact_match("isolation", "")
    )


def _matches_after_count(
    c: Container,
    running: bool,
    selected: Filters,
    exited: list[int],
    ancestors: set[str] | None,
) -> bool:
    """The filters the daemon applies after it counts a container against `limit`:
    exited, status, health, volume, ancestor, network, publish and expose."""
    return (
        _exited_matches(c, running, exited)
        and selected.match("status", c.status_word())
        and selected.exact_match("health", "none")
        and _volume_matches(c, selected)
        and (ancestors is None or str(c.config.get("Image", "")) in ancestors)
        and _network_matches(c, selected)
        # no container of hood's publishes or exposes a port
        and not (selected.contains("publish") or selected.contains("expose"))
    )


def _exited_matches(c: Container, running: bool, exited: list[int]) -> bool:
    """`exited`: a container that ran and stopped with one of the codes."""
    if not exited:
        return True
    started = c.state.get("StartedAt", ZERO_TIME) not in (ZERO_TIME, "")
    return not running and started and c.exit_code in exited


def _volume_matches(c: Container, selected: Filters) -> bool:
    """`volume`: a mount point whose destination, or volume name or source, is given."""
    if not selected.contains("volume"):
        return True
    wanted = selected.get("volume")
    for point in (c.config.get("MountPoints") or {}).values():
        if not isinstance(point, dict):
            continue
        keys = {point.get("Destination"), point.get("Name") or point.get("Source")}
        if keys & set(wanted):
            return True
    return False


def _network_matches(c: Container, selected: Filters) -> bool:
    """`network`: the container is on one of the networks given."""
    if not selected.contains("network"):
        return True
    networks = c.config.get("NetworkSettings", {}).get("Networks") or {}
    return any(v in networks for v in selected.get("network"))


def container_size(layout: Layout, c: Container) -> tuple[int, int]:
    """docker's SizeRw and SizeRootFs: the read-write layer's bytes, and those plus the
    image's layers."""
    rw = rw_size(layout, c)
    images = ImageStore(layout)
    image = 0
    with suppress(HoodError, ValueError):
        from hood.core.digest import Digest

        config = images.load_config(Digest.parse(str(c.config.get("Image", ""))))
        image = sum(layer.size for layer in images.layers_of(config))
    return rw, rw + image


def list_containers(
    layout: Layout,
    *,
    all: bool = False,  # noqa: A002
    filters: list[tuple[str, str]] | None = None,
    limit: int = -1,
    size: bool = False,
    trunc: bool = True,
) -> list[ContainerRow]:
    """`docker ps`'s rows: select_containers' containers, with the fields docker's
    container formatter shows (Size only when `size`)."""
    from datetime import UTC, datetime

    from hood.core.timefmt import human_duration, human_size, parse_rfc3339
    from hood.services.history import ellipsis

    now = time.time()
    current = datetime.fromtimestamp(now, UTC)
    names = ImageStore(layout)
    rows = []
    for c in select_containers(layout, all=all, filters=filters, limit=limit):
        created = parse_rfc3339(str(c.config.get("Created", ""))) or current
        config = c.config.get("Config") if isinstance(c.config.get("Config"), dict) else {}
        mounts = []
        local = 0
        for point in (c.config.get("MountPoints") or {}).values():
            if not isinstance(point, dict):
                continue
            name = str(point.get("Name") or point.get("Source") or "")
            mounts.append(ellipsis(name, 15) if trunc else name)
            local += point.get("Driver") == "local"
        networks = c.config.get("NetworkSettings", {}).get("Networks") or {}
        labels = c.labels
        fields = {
            "ID": c.id[:12] if trunc else c.id,
            "Image": _image_text(names, c, str(config.get("Image", "")), trunc),
            "Command": _command_text(c, trunc),
            "CreatedAt": created.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
            "RunningFor": human_duration(current - created) + " ago",
            "Status": status_text(c, now),
            "State": c.status_word(),
            "Ports": "",
            "Names": c.name,
            "Labels": ",".join(sorted(f"{k}={v}" for k, v in labels.items())),
            "Mounts": ",".join(mounts),
            "LocalVolumes": str(local),
            "Networks": ",".join(networks) if isinstance(networks, dict) else "",
        }
        if size:
            rw, rootfs = container_size(layout, c)
            text = human_size(rw)
            fields["Size"] = f"{text} (virtual {human_size(rootfs)})" if rootfs > 0 else text
        rows.append(ContainerRow(fields, c))
    return rows


def _image_text(images: ImageStore, c: Container, name: str, trunc: bool) -> str:
    """docker ps's IMAGE: the name it was created from while that name still means its
    image, else the image ID (the daemon's refreshImage); cut as docker's CLI cuts it."""
    image_id = str(c.config.get("Image", ""))
    if name and name != image_id:
        try:
            if str(images.resolve_id(name)) != image_id:
                name = image_id
        except HoodError:
            name = image_id
    if not name:
        return "<no image>"
    if not trunc:
        return name
    short = image_id.partition(":")[2][:12] if ":" in image_id else image_id[:12]
    if short and short == (name.partition(":")[2] if name.startswith("sha256:") else name)[:12]:
        return short
    from hood.core import reference

    try:
        ref = reference.parse(name, default_tag=False)
    except HoodError:
        return name
    if ref.tag is not None:
        return f"{ref.familiar_name}:{ref.tag}"
    return ref.familiar_name
