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


def image_rows(
    store: ImageStore,
    *,
    digests: bool,
    digest_rows: bool | None = None,
    filter_ref: str | None = None,
) -> list[ImageRow]:
    """docker images' rows. `digests`: show each tag once per manifest digest (docker does
    with --digests or a format using {{.Digest}}); `digest_rows` (default `digests`): a
    repository known only by digest gets one row per digest rather than one `<none>` row."""
    if digest_rows is None:
        digest_rows = digests
    records = store.list()
    created: dict[Digest, GoTime | None] = {r.id: parse_go_time(r.config.created) for r in records}
    records.sort(key=lambda r: created[r.id].timestamp() if created[r.id] else 0.0, reverse=True)
    rows: list[ImageRow] = []
    for record in records:
        if filter_ref and not _matches(record, filter_ref):
            continue
        size = sum(layer.size for layer in store.layers_of(record.config))

        def add(
            repo: str, tag: str, digest: str, record: ImageRecord = record, size: int = size
        ) -> None:
            rows.append(ImageRow(repo, tag, digest, record.id, created[record.id], size, record))

        if not record.repo_tags and not record.repo_digests:
            add("<none>", "<none>", "<none>")
            continue
        repo_tags: dict[str, list[str]] = {}
        repo_digests: dict[str, list[str]] = {}
        for key in record.repo_tags:
            repo, tag = _repo_of(key)
            repo_tags.setdefault(repo, []).append(tag)
        for key in record.repo_digests:
            repo, digest = _repo_of(key)
            repo_digests.setdefault(repo, []).append(digest)
        for repo, tags in sorted(repo_tags.items()):
            known = repo_digests.pop(repo, [])  # never a row of their own
            shown = known if digests else []
            for tag in tags:
                if not shown:
                    add(repo, tag, "<none>")
                for dgst in shown:
                    add(repo, tag, dgst)
        for repo, dgsts in sorted(repo_digests.items()):
            if digest_rows:
                for dgst in dgsts:
                    add(repo, "<none>", dgst)
            else:
                add(repo, "<none>", "")
    return rows


def _matches(record: ImageRecord, pattern: str) -> bool:
    """docker images REPO[:TAG]: familiar name (and tag) must match, glob-style."""
    import fnmatch

    try:
        ref = parse_reference(pattern, default_tag=False)
    except HoodError:
        return False
    for key in record.repo_tags + record.repo_digests:
        repo, tag = _repo_of(key)
        if not fnmatch.fnmatchcase(repo, ref.familiar_name):
            continue
        if ref.tag is None and ref.digest is None:
            return True
        if ref.tag is not None and "@" not in key and fnmatch.fnmatchcase(tag, ref.tag):
            return True
        if ref.digest is not None and tag == str(ref.digest):
            return True
    return False
