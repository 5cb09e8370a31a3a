"""Docker-compatible views of stored images: `docker inspect`'s JSON and `docker images`' rows.

Key order, nulls and empty objects follow docker 20.10's Go structs, because scripts
and diffs compare them byte for byte."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hood.core.digest import Digest
from hood.core.errors import HoodError
from hood.core.reference import parse as parse_reference
from hood.core.timefmt import GO_ZERO_TIME, GoTime, parse_go_time
from hood.store.images import ImageRecord, ImageStore
from hood.store.layers import LayerRecord

# container.Config field order; `None` = always present, True = omitempty.
CONTAINER_CONFIG_FIELDS: list[tuple[str, str, bool]] = [
    ("Hostname", "str", False),
    ("Domainname", "str", False),
    ("User", "str", False),
    ("AttachStdin", "bool", False),
    ("AttachStdout", "bool", False),
    ("AttachStderr", "bool", False),
    ("ExposedPorts", "set", True),
    ("Tty", "bool", False),
    ("OpenStdin", "bool", False),
    ("StdinOnce", "bool", False),
    ("Env", "list", False),
    ("Cmd", "strslice", False),
    ("Healthcheck", "health", True),
    ("ArgsEscaped", "bool", True),
    ("Image", "str", False),
    ("Volumes", "set", False),
    ("WorkingDir", "str", False),
    ("Entrypoint", "strslice", False),
    ("NetworkDisabled", "bool", True),
    ("MacAddress", "str", True),
    ("OnBuild", "list", False),
    ("Labels", "map", False),
    ("StopSignal", "str", True),
    ("StopTimeout", "int", True),
    ("Shell", "strslice", True),
]

_HEALTH_FIELDS = ["Test", "Interval", "Timeout", "StartPeriod", "Retries"]


def lookup_field(obj: dict[str, Any], key: str) -> Any:
    """Go's encoding/json matches keys case-insensitively (exact match first)."""
    if key in obj:
        return obj[key]
    lower = key.lower()
    for k, v in obj.items():
        if k.lower() == lower:
            return v
    return None


def _empty(value: Any) -> bool:
    return value in (None, "", 0, False) or (isinstance(value, (list, dict)) and not value)


def container_config(obj: Any) -> dict[str, Any]:
    """A JSON object shaped as Go's container.Config would marshal it."""
    src = obj if isinstance(obj, dict) else {}
    out: dict[str, Any] = {}
    for name, kind, omitempty in CONTAINER_CONFIG_FIELDS:
        value = lookup_field(src, name)
        if kind == "str":
            value = value if isinstance(value, str) else ""
        elif kind == "bool":
            value = bool(value) if isinstance(value, bool) else False
        elif kind == "int":
            value = value if isinstance(value, int) and not isinstance(value, bool) else None
        elif kind == "list":
            value = [str(v) for v in value] if isinstance(value, list) else None
        elif kind == "strslice":
            if isinstance(value, str):
                value = [value]
            value = [str(v) for v in value] if isinstance(value, list) else None
        elif kind in ("set", "map"):
            if isinstance(value, dict):
                value = {
                    str(k): ({} if kind == "set" else str(v)) for k, v in sorted(value.items())
                }
            else:
                value = None
        elif kind == "health":
            if isinstance(value, dict):
                health = {}
                for field in _HEALTH_FIELDS:
                    v = lookup_field(value, field)
                    if not _empty(v):
                        health[field] = v
                value = health
            else:
                value = None
        if omitempty and _empty(value) and not (kind == "health" and value == {}):
            continue
        out[name] = value
    return out


def _created(text: Any) -> str:
    parsed = parse_go_time(text) if isinstance(text, str) else None
    return parsed.rfc3339nano() if parsed else GO_ZERO_TIME


def graph_driver(store: ImageStore, layers: list[LayerRecord]) -> dict[str, Any]:
    """overlay2's metadata for an image whose layers are `layers` (lowest first)."""
    data: dict[str, str] = {}
    if layers:
        top = store.layout.layer_dir(layers[-1].cache_id)
        lowers = [str(store.layout.layer_diff(layer.cache_id)) for layer in reversed(layers[:-1])]
        if lowers:
            data["LowerDir"] = ":".join(lowers)
        data["MergedDir"] = os.path.join(top, "merged")
        data["UpperDir"] = os.path.join(top, "diff")
        data["WorkDir"] = os.path.join(top, "work")
    return {"Data": data or None, "Name": "overlay2"}


def image_inspect(store: ImageStore, record: ImageRecord) -> dict[str, Any]:
    doc = record.config.doc
    comment = doc.get("comment") if isinstance(doc.get("comment"), str) else ""
    history = record.config.history()
    if not comment and history:
        comment = history[-1].comment
    config = doc.get("config")
    layers = store.layers_of(record.config)
    size = sum(layer.size for layer in layers)
    out: dict[str, Any] = {
        "Id": str(record.id),
        "RepoTags": list(record.repo_tags),
        "RepoDigests": list(record.repo_digests),
        "Parent": as_str(doc.get("parent")),
        "Comment": comment,
        "Created": _created(doc.get("created")),
        "Container": as_str(doc.get("container")),
        "ContainerConfig": container_config(doc.get("container_config")),
        "DockerVersion": as_str(doc.get("docker_version")),
        "Author": as_str(doc.get("author")),
        "Config": container_config(config) if isinstance(config, dict) else None,
        "Architecture": as_str(doc.get("architecture")),
    }
    if as_str(doc.get("variant")):
        out["Variant"] = as_str(doc.get("variant"))
    out["Os"] = as_str(doc.get("os")) or "linux"
    if as_str(doc.get("os.version")):
        out["OsVersion"] = as_str(doc.get("os.version"))
    out["Size"] = size
    out["VirtualSize"] = size
    out["GraphDriver"] = graph_driver(store, layers)
    out["RootFS"] = {"Type": "layers", "Layers": [str(d) for d in record.config.diff_ids]}
    last = record.last_tag_time
    out["Metadata"] = {
        "LastTagTime": GoTime(last.replace(microsecond=0), last.microsecond * 1000).rfc3339nano()
        if last
        else GO_ZERO_TIME
    }
    return out


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


# --- docker images ------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRow:
    """One line of `docker images`: an image under one repository/tag (or <none>)."""

    repository: str
    tag: str
    digest: str
    id: Digest
    created: GoTime | None
    size: int
    record: ImageRecord


def _repo_of(key: str) -> tuple[str, str]:
    """`busybox:latest` → (busybox, latest); `busybox@sha256:…` → (busybox, sha256:…)."""
    try:
        ref = parse_reference(key, default_tag=False)
    except HoodError:
        return key, ""
    if ref.digest is not None:
        return ref.familiar_name, str(ref.digest)
    return ref.familiar_name, ref.tag or ""


IMAGE_FILTERS = ("dangling", "label", "before", "since", "reference", "until")


def image_rows(
    store: ImageStore,
    *,
    digests: bool,
    digest_rows: bool | None = None,
    filter_ref: str | None = None,
    filters: list[tuple[str, str]] | None = None,
) -> list[ImageRow]:
    """docker images' rows, newest image first. `digests`: show each tag once per manifest
    digest (docker does with --digests or a format using {{.Digest}}); `digest_rows`
    (default `digests`): a repository known only by digest gets one row per digest rather
    than one `<none>` row. `filter_ref` (docker images REPO[:TAG]) and `filters` (NAME,
    VALUE pairs: dangling, label, before, since, reference, until) select images and names
    as the daemon does: only the names that match make rows."""
    from hood.services.filters import Filters

    if digest_rows is None:
        digest_rows = digests
    selected = Filters(filters or ())
    if filter_ref:
        selected.add("reference", filter_ref)
    records = store.list()
    created: dict[Digest, GoTime | None] = {r.id: parse_go_time(r.config.created) for r in records}
    records.sort(key=lambda r: created[r.id].timestamp() if created[r.id] else 0.0, reverse=True)
    rows: list[ImageRow] = []
    for record, repo_tags, repo_digests in _select(store, records, created, selected):
        try:
            size = sum(layer.size for layer in store.layers_of(record.config))
        except HoodError:
            continue  # a broken layer chain is that image's problem (hood fsck names it)

        def add(
            repo: str, tag: str, digest: str, record: ImageRecord = record, size: int = size
        ) -> None:
            rows.append(ImageRow(repo, tag, digest, record.id, created[record.id], size, record))

        if not repo_tags and not repo_digests:
            add("<none>", "<none>", "<none>")
            continue
        by_repo_tags: dict[str, list[str]] = {}
        by_repo_digests: dict[str, list[str]] = {}
        for key in repo_tags:
            repo, tag = _repo_of(key)
            by_repo_tags.setdefault(repo, []).append(tag)
        for key in repo_digests:
            repo, digest = _repo_of(key)
            by_repo_digests.setdefault(repo, []).append(digest)
        for repo, tags in sorted(by_repo_tags.items()):
            known = by_repo_digests.pop(repo, [])  # never a row of their own
            shown = known if digests else []
            for tag in tags:
                if not shown:
                    add(repo, tag, "<none>")
                for dgst in shown:
                    add(repo, tag, dgst)
        for repo, dgsts in sorted(by_repo_digests.items()):
            if digest_rows:
                for dgst in dgsts:
                    add(repo, "<none>", dgst)
            else:
                add(repo, "<none>", "")
    return rows


def _select(
    store: ImageStore,
    records: list[ImageRecord],
    created: dict[Digest, GoTime | None],
    filters: Any,
) -> list[tuple[ImageRecord, list[str], list[str]]]:
    """moby's image list filtering: each image that passes, with the names of it that do."""
    from hood.core.timefmt import docker_timestamp
    from hood.services.filters import path_match

    filters.validate(IMAGE_FILTERS)
    dangling_only = filters.get_bool("dangling", False)
    before: float | None = None
    since: float | None = None
    for name in filters.get("before"):
        when = created.get(store.resolve_id(name))
        if when is not None and (before is None or when.timestamp() < before):
            before = when.timestamp()
    for value in filters.get("until"):
        import time

        try:
            seconds, nanos = docker_timestamp(value, time.time())
        except ValueError as exc:
            raise HoodError(str(exc)) from None
        if before is None or seconds + nanos / 1e9 < before:
            before = seconds + nanos / 1e9
    for name in filters.get("since"):
        when = created.get(store.resolve_id(name))
        if when is not None and (since is None or when.timestamp() > since):
            since = when.timestamp()
    patterns = filters.get("reference")
    out = []
    for record in records:
        when = created[record.id]
        if before is not None and (when is None or when.timestamp() >= before):
            continue
        if since is not None and (when is None or when.timestamp() <= since):
            continue
        if filters.contains("label"):
            config = record.config.config
            if not isinstance(config, dict):
                continue
            labels = config.get("Labels")
            if not filters.match_kv_list("label", labels if isinstance(labels, dict) else None):
                continue
        tags, digests = list(record.repo_tags), list(record.repo_digests)
        if patterns:

            def matches(key: str) -> bool:
                name = _repo_of(key)[0]
                return any(path_match(p, key) or path_match(p, name) for p in patterns)

            tags = [k for k in tags if matches(k)]
            digests = [k for k in digests if matches(k)]
        if not tags and not digests:
            if record.repo_tags or record.repo_digests or patterns:
                continue  # every name filtered out, or unnamed under a reference filter
            if filters.contains("dangling") and not dangling_only:
                continue
        elif dangling_only and tags:
            continue
        out.append((record, tags, digests))
    return out


# --- docker inspect -------------------------------------------------------------------------


def inspect_objects(
    store: ImageStore, names: list[str], kind: str = ""
) -> list[tuple[str, dict[str, Any] | None, str]]:
    """What `docker inspect` shows for each name: (name, document, ""), (name, None, "")
    when nothing by that name exists, or (name, None, why) for an image the store cannot
    read whole (a broken layer chain): the other names are still shown. `kind`: "image",
    "container" or "" (an image first, as docker looks, then a container)."""
    from contextlib import suppress

    from hood.core.errors import HoodError, NotFound
    from hood.services.container_views import inspect_container

    out: list[tuple[str, dict[str, Any] | None, str]] = []
    for name in names:
        doc, why = None, ""
        if kind in ("", "image"):
            try:
                doc = image_inspect(store, store.resolve(name))
            except NotFound:
                pass
            except HoodError as exc:  # this image is damaged; the others are not
                why = str(exc)
        if doc is None and not why and kind in ("", "container"):
            with suppress(NotFound):
                doc = inspect_container(store.layout, name)
        out.append((name, doc, why))
    return out
