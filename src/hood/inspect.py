"""Docker-compatible views of stored images: `docker inspect`'s JSON and `docker images`' rows.

Key order, nulls and empty objects follow docker 20.10's Go structs, because scripts
and diffs compare them byte for byte."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hood.digest import Digest
from hood.errors import HoodError
from hood.reference import parse as parse_reference
from hood.store.images import ImageRecord, ImageStore
from hood.store.layers import LayerRecord
from hood.timefmt import GO_ZERO_TIME, GoTime, parse_go_time

# container.Config field order; `None` = always present, True = omitempty.
_CONTAINER_CONFIG_FIELDS: list[tuple[str, str, bool]] = [
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


def _lookup(obj: dict[str, Any], key: str) -> Any:
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
    for name, kind, omitempty in _CONTAINER_CONFIG_FIELDS:
        value = _lookup(src, name)
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
                    v = _lookup(value, field)
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
        data["MergedDir"] = str(top / "merged")
        data["UpperDir"] = str(top / "diff")
        data["WorkDir"] = str(top / "work")
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
        "Parent": _str(doc.get("parent")),
        "Comment": comment,
        "Created": _created(doc.get("created")),
        "Container": _str(doc.get("container")),
        "ContainerConfig": container_config(doc.get("container_config")),
        "DockerVersion": _str(doc.get("docker_version")),
        "Author": _str(doc.get("author")),
        "Config": container_config(config) if isinstance(config, dict) else None,
        "Architecture": _str(doc.get("architecture")),
    }
    if _str(doc.get("variant")):
        out["Variant"] = _str(doc.get("variant"))
    out["Os"] = _str(doc.get("os")) or "linux"
    if _str(doc.get("os.version")):
        out["OsVersion"] = _str(doc.get("os.version"))
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


def _str(value: Any) -> str:
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
        try:
            size = sum(layer.size for layer in store.layers_of(record.config))
        except HoodError:
            continue  # a broken layer chain is that image's problem (hood fsck names it)

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


# --- --format views ------------------------------------------------------------------------


def unix_seconds(created: GoTime | None) -> int:
    return int(created.whole.timestamp()) if created else 0


def go_local_time_string(seconds: int) -> str:
    """Go's time.Unix(seconds, 0).String(): local time zone, `2006-01-02 15:04:05 -0700 MST`."""
    from datetime import UTC, datetime

    local = datetime.fromtimestamp(seconds, UTC).astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S %z ") + (local.tzname() or local.strftime("%z"))


def go_time_string(text: str) -> str:
    """Go's String() of an RFC 3339 time as docker's CLI decodes it (UTC, or a fixed zone)."""
    parsed = parse_go_time(text)
    if parsed is None:
        return "0001-01-01 00:00:00 +0000 UTC"
    w = parsed.whole
    stamp = f"{w.year:04d}-{w.month:02d}-{w.day:02d} {w.hour:02d}:{w.minute:02d}:{w.second:02d}"
    if parsed.nanos:
        stamp += "." + f"{parsed.nanos:09d}".rstrip("0")
    offset = parsed.whole.strftime("%z")
    return f"{stamp} {offset} " + ("UTC" if offset == "+0000" else offset)


# docker's CLI (28) decodes `docker inspect`'s JSON into its own image.InspectResponse before
# running a template, so templates see those Go types: omitempty fields, nil slices and maps
# that print as [] and map[], map[string]string indexes that give "" for a missing key, and
# Config as the OCI image config (docker-image-spec's DockerOCIImageConfig).
_OCI_CONFIG_FIELDS: list[tuple[str, str]] = [
    ("User", "str"),
    ("ExposedPorts", "set"),
    ("Env", "list"),
    ("Entrypoint", "list"),
    ("Cmd", "list"),
    ("Volumes", "set"),
    ("WorkingDir", "str"),
    ("Labels", "map"),
    ("StopSignal", "str"),
    ("ArgsEscaped", "bool"),
    ("Healthcheck", "health"),
    ("OnBuild", "list"),
    ("Shell", "list"),
]
_HEALTH_VIEW = [("Test", "list"), ("Interval", "int"), ("Timeout", "int")]
_HEALTH_VIEW += [("StartPeriod", "int"), ("StartInterval", "int"), ("Retries", "int")]


def _go_value(kind: str, value: Any) -> Any:
    from hood.cli.formatting import GoStruct, NilMap, NilSet, NilSlice, StrMap, StructSet
    from hood.gotemplate import Struct

    if kind == "str":
        return value if isinstance(value, str) else ""
    if kind == "bool":
        return value if isinstance(value, bool) else False
    if kind == "int":
        return value if isinstance(value, int) and not isinstance(value, bool) else 0
    if kind == "intptr":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind in ("list", "strslice"):
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value] if isinstance(value, list) else NilSlice()
    if kind == "map":
        return StrMap(sorted(value.items())) if isinstance(value, dict) else NilMap()
    if kind == "set":
        if isinstance(value, dict):
            return StructSet({k: Struct() for k in sorted(value)})
        return NilSet()
    if kind == "health":
        if not isinstance(value, dict):
            return None
        fields = {name: _go_value(k, _lookup(value, name)) for name, k in _HEALTH_VIEW}
        return GoStruct(fields, type_name="container.HealthConfig", omitempty=set(fields))
    raise ValueError(kind)


def _container_config_view(value: Any) -> Any:
    from hood.cli.formatting import GoStruct

    if not isinstance(value, dict):
        return None
    kinds = {"int": "intptr"}
    fields = {
        name: _go_value(kinds.get(kind, kind), value.get(name))
        for name, kind, _ in _CONTAINER_CONFIG_FIELDS
    }
    omit = {name for name, _, omitempty in _CONTAINER_CONFIG_FIELDS if omitempty}
    return GoStruct(fields, type_name="container.Config", omitempty=omit)


def _oci_config_view(value: Any) -> Any:
    from hood.cli.formatting import GoStruct

    if not isinstance(value, dict):
        return None
    fields = {name: _go_value(kind, _lookup(value, name)) for name, kind in _OCI_CONFIG_FIELDS}
    return GoStruct(fields, type_name="v1.DockerOCIImageConfig", omitempty=set(fields))


def template_data(doc: Any) -> Any:
    """An inspect document as docker's CLI hands it to a --format template."""
    from hood.cli.formatting import GoStruct, GoTimeText, NilMap, NilSlice, StrMap

    if not (isinstance(doc, dict) and "RootFS" in doc and "RepoTags" in doc):
        return _generic(doc)  # a container, or anything else inspect can show
    graph = doc.get("GraphDriver") or {}
    data = graph.get("Data")
    rootfs = doc.get("RootFS") or {}
    last = (doc.get("Metadata") or {}).get("LastTagTime") or GO_ZERO_TIME
    fields: dict[str, Any] = {
        "Id": _str(doc.get("Id")),
        "RepoTags": list(doc.get("RepoTags") or []) or NilSlice(),
        "RepoDigests": list(doc.get("RepoDigests") or []) or NilSlice(),
        "Parent": _str(doc.get("Parent")),
        "Comment": _str(doc.get("Comment")),
        "Created": _str(doc.get("Created")),
        "Container": _str(doc.get("Container")),
        "ContainerConfig": _container_config_view(doc.get("ContainerConfig")),
        "DockerVersion": _str(doc.get("DockerVersion")),
        "Author": _str(doc.get("Author")),
        "Config": _oci_config_view(doc.get("Config")),
        "Architecture": _str(doc.get("Architecture")),
        "Variant": _str(doc.get("Variant")),
        "Os": _str(doc.get("Os")),
        "OsVersion": _str(doc.get("OsVersion")),
        "Size": doc.get("Size") or 0,
        "VirtualSize": doc.get("Size") or 0,
        "GraphDriver": GoStruct(
            {
                "Data": StrMap(data) if isinstance(data, dict) else NilMap(),
                "Name": _str(graph.get("Name")),
            },
            type_name="storage.DriverData",
            omitempty=set(),
        ),
        "RootFS": GoStruct(
            {
                "Type": _str(rootfs.get("Type")),
                "Layers": list(rootfs.get("Layers") or []) or NilSlice(),
            },
            type_name="image.RootFS",
            omitempty={"Type", "Layers"},
        ),
        "Metadata": GoStruct(
            {"LastTagTime": GoTimeText(go_time_string(last), last)},
            type_name="image.Metadata",
            omitempty=set(),
        ),
        "Descriptor": None,
        "Manifests": NilSlice(),
    }
    omit = {"Created", "Container", "ContainerConfig", "Variant", "OsVersion", "VirtualSize"}
    omit |= {"Descriptor", "Manifests"}
    return GoStruct(fields, type_name="image.InspectResponse", omitempty=omit)


def _generic(value: Any) -> Any:
    from hood.gotemplate import Struct

    if isinstance(value, dict):
        return Struct({k: _generic(v) for k, v in value.items()}, type_name="struct")
    if isinstance(value, list):
        return [_generic(v) for v in value]
    return value
