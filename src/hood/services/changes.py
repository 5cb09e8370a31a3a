"""`-c` changes for `commit` and `import`: the Dockerfile instructions docker accepts there
(CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, USER, VOLUME, WORKDIR), applied
to a container.Config as a dict."""

from __future__ import annotations

import posixpath
import shlex
from typing import Any

from hood.core.errors import HoodError
from hood.core.jsonio import loads

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR")


class ChangeError(HoodError):
    """A -c change docker would refuse."""


def zero_config() -> dict[str, Any]:
    """Go's zero container.Config, as docker import writes it."""
    return {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": None,
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }


def _json_or_shell(rest: str) -> list[str]:
    """Exec form (a JSON array of strings) or shell form (`/bin/sh -c TEXT`)."""
    text = rest.strip()
    if text.startswith("["):
        try:
            value = loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", text]


def _pairs(rest: str, what: str) -> list[tuple[str, str]]:
    """`K=V K2="V 2"`, or the old form `K V W` (one pair, the rest is the value)."""
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise ChangeError(f"{what}: {exc}") from None
    if not words:
        raise ChangeError(f"{what} requires at least one argument")
    if "=" not in words[0]:
        if len(words) < 2:
            raise ChangeError(f"{what} must have two arguments")
        return [(words[0], rest.strip()[len(words[0]) :].strip())]
    out = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise ChangeError(f"{what}: {word!r} is not KEY=VALUE")
        out.append((key, value))
    return out


def apply_change(config: dict[str, Any], text: str) -> None:
    """Apply one change (`CMD ["sh"]`, `ENV A=1`, ...) to `config` in place."""
    keyword, _, rest = text.strip().partition(" ")
    if "\t" in keyword:
        keyword, _, more = keyword.partition("\t")
        rest = more + " " + rest
    instruction = keyword.upper()
    if instruction not in ALLOWED:
        raise ChangeError(f"{keyword.lower()} is not a valid change command")
    if instruction == "CMD":
        config["Cmd"] = _json_or_shell(rest)
    elif instruction == "ENTRYPOINT":
        config["Entrypoint"] = _json_or_shell(rest)
        config["Cmd"] = None
    elif instruction == "ENV":
        env = list(config.get("Env") or [])
        for key, value in _pairs(rest, "ENV"):
            item = f"{key}={value}"
            for i, old in enumerate(env):
                if old.split("=", 1)[0] == key:
                    env[i] = item
                    break
            else:
                env.append(item)
        config["Env"] = env
    elif instruction == "LABEL":
        labels = dict(config.get("Labels") or {})
        for key, value in _pairs(rest, "LABEL"):
            labels[key] = value
        config["Labels"] = labels
    elif instruction == "EXPOSE":
        ports = dict(config.get("ExposedPorts") or {})
        for port in rest.split():
            ports[port if "/" in port else f"{port}/tcp"] = {}
        if not ports:
            raise ChangeError("EXPOSE requires at least one argument")
        config["ExposedPorts"] = ports
    elif instruction == "VOLUME":
        volumes = dict(config.get("Volumes") or {})
        text = rest.strip()
        paths = loads(text) if text.startswith("[") else text.split()
        if not paths or not all(isinstance(p, str) for p in paths):
            raise ChangeError("VOLUME requires at least one path")
        for path in paths:
            volumes[path] = {}
        config["Volumes"] = volumes
    elif instruction == "USER":
        config["User"] = rest.strip()
    elif instruction == "WORKDIR":
        path = rest.strip()
        if not path:
            raise ChangeError("WORKDIR requires exactly one argument")
        config["WorkingDir"] = posixpath.normpath(
            path if path.startswith("/") else posixpath.join("/", config.get("WorkingDir") or "", path)
        )
    elif instruction == "ONBUILD":
        config["OnBuild"] = [*(config.get("OnBuild") or []), rest.strip()]
    elif instruction == "HEALTHCHECK":
        kind, _, cmd = rest.strip().partition(" ")
        if kind.upper() == "NONE":
            config["Healthcheck"] = {"Test": ["NONE"]}
        elif kind.upper() == "CMD":
            test = _json_or_shell(cmd)
            config["Healthcheck"] = {
                "Test": ["CMD", *test] if cmd.strip().startswith("[") else ["CMD-SHELL", cmd.strip()]
            }
        else:
            raise ChangeError("HEALTHCHECK takes CMD or NONE")


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    out = dict(config)
    for text in changes:
        apply_change(out, text)
    return out
