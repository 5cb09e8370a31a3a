"""How docker's CLI hands an inspect document to a --format template: decoded into its own
Go types first (omitempty fields, nil slices and maps, map[string]string indexes)."""

from __future__ import annotations

from typing import Any

from hood.cli.formatting import GoStruct, GoTimeText, NilMap, NilSet, NilSlice, StrMap, StructSet
from hood.core.timefmt import GO_ZERO_TIME, GoTime, parse_go_time
from hood.gotemplate import Struct
from hood.services.image_views import CONTAINER_CONFIG_FIELDS, as_str, lookup_field


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
        fields = {name: _go_value(k, lookup_field(value, name)) for name, k in _HEALTH_VIEW}
        return GoStruct(fields, type_name="container.HealthConfig", omitempty=set(fields))
    raise ValueError(kind)


def _container_config_view(value: Any) -> Any:
    if not isinstance(value, dict):
        return None
    kinds = {"int": "intptr"}
    fields = {
        name: _go_value(kinds.get(kind, kind), value.get(name))
        for name, kind, _ in CONTAINER_CONFIG_FIELDS
    }
    omit = {name for name, _, omitempty in CONTAINER_CONFIG_FIELDS if omitempty}
    return GoStruct(fields, type_name="container.Config", omitempty=omit)


def _oci_config_view(value: Any) -> Any:
    if not isinstance(value, dict):
        return None
    fields = {name: _go_value(kind, lookup_field(value, name)) for name, kind in _OCI_CONFIG_FIELDS}
    return GoStruct(fields, type_name="v1.DockerOCIImageConfig", omitempty=set(fields))


def template_data(doc: Any) -> Any:
    """An inspect document as docker's CLI hands it to a --format template."""
    if not (isinstance(doc, dict) and "RootFS" in doc and "RepoTags" in doc):
        return _generic(doc)  # a container, or anything else inspect can show
    graph = doc.get("GraphDriver") or {}
    data = graph.get("Data")
    rootfs = doc.get("RootFS") or {}
    last = (doc.get("Metadata") or {}).get("LastTagTime") or GO_ZERO_TIME
    fields: dict[str, Any] = {
        "Id": as_str(doc.get("Id")),
        "RepoTags": list(doc.get("RepoTags") or []) or NilSlice(),
        "RepoDigests": list(doc.get("RepoDigests") or []) or NilSlice(),
        "Parent": as_str(doc.get("Parent")),
        "Comment": as_str(doc.get("Comment")),
        "Created": as_str(doc.get("Created")),
        "Container": as_str(doc.get("Container")),
        "ContainerConfig": _container_config_view(doc.get("ContainerConfig")),
        "DockerVersion": as_str(doc.get("DockerVersion")),
        "Author": as_str(doc.get("Author")),
        "Config": _oci_config_view(doc.get("Config")),
        "Architecture": as_str(doc.get("Architecture")),
        "Variant": as_str(doc.get("Variant")),
        "Os": as_str(doc.get("Os")),
        "OsVersion": as_str(doc.get("OsVersion")),
        "Size": doc.get("Size") or 0,
        "VirtualSize": doc.get("Size") or 0,
        "GraphDriver": GoStruct(
            {
                "Data": StrMap(data) if isinstance(data, dict) else NilMap(),
                "Name": as_str(graph.get("Name")),
            },
            type_name="storage.DriverData",
            omitempty=set(),
        ),
        "RootFS": GoStruct(
            {
                "Type": as_str(rootfs.get("Type")),
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
    if isinstance(value, dict):
        return Struct({k: _generic(v) for k, v in value.items()}, type_name="struct")
    if isinstance(value, list):
        return [_generic(v) for v in value]
    return value
