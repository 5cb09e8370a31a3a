"""`hood inspect CONTAINER` against `docker inspect` of a container made the same way: the same
keys in the same order (docker 20.10's), and the same values where they do not depend on the
daemon (IDs, times, paths)."""

from __future__ import annotations

import json
import subprocess

import pytest

pytestmark = pytest.mark.dockerd


def _keys(doc: dict) -> list[str]:
    return list(doc)


def _empties(value, path: str = "") -> dict[str, str]:
    """Every null, [] and {} in a document, by path: where docker prints [] hood must not
    print null, nor the other way round."""
    if value is None:
        return {path: "null"}
    if isinstance(value, list):
        return {path: "[]"} if not value else {}
    if isinstance(value, dict):
        if not value:
            return {path: "{}"}
        out: dict[str, str] = {}
        for key, item in value.items():
            if not f"{path}.{key}".startswith(".NetworkSettings.Networks"):  # per network
                out.update(_empties(item, f"{path}.{key}"))
        return out
    return {}


def test_container_inspect_like_docker(hood, dockerd):
    opts = ["--name", "inspected", "-e", "A=b", "-w", "/tmp", "-u", "alice", "--read-only"]
    opts += ["-v", "/etc:/data:ro", "--tmpfs", "/run"]
    cmd = ["sh", "-c", "echo hi"]
    d = subprocess.run(
        [*dockerd, "create", *opts, "hoodtest/busybox", *cmd], capture_output=True, text=True
    )
    assert d.returncode == 0, d.stderr
    h = hood("create", *opts, "busybox", *cmd)
    assert h.returncode == 0, h.stderr
    try:
        [dd] = json.loads(subprocess.check_output([*dockerd, "inspect", "inspected"]))
        r = hood("inspect", "inspected")
        assert r.returncode == 0, r.stderr
        [hd] = json.loads(r.stdout)
        assert _keys(hd) == _keys(dd)
        for key in ("State", "Config", "GraphDriver", "NetworkSettings"):
            assert _keys(hd[key]) == _keys(dd[key]), key
        assert set(hd["HostConfig"]) == set(dd["HostConfig"])
        assert _keys(hd["HostConfig"]) == _keys(dd["HostConfig"])
        d_empty, h_empty = _empties(dd), _empties(hd)
        for path in sorted(set(d_empty) | set(h_empty)):
            assert h_empty.get(path) == d_empty.get(path), path
        assert set(hd["GraphDriver"]["Data"]) == set(dd["GraphDriver"]["Data"])
        same = ("Path", "Args", "Name", "RestartCount", "Driver", "Platform", "ExecIDs", "Mounts")
        for key in same:
            assert hd[key] == dd[key], key
        for key in ("Status", "Running", "Pid", "ExitCode", "StartedAt", "FinishedAt"):
            assert hd["State"][key] == dd["State"][key], key
        for key in ("User", "Env", "Cmd", "WorkingDir", "Entrypoint", "Tty", "OpenStdin"):
            assert hd["Config"][key] == dd["Config"][key], key
        assert hd["Id"] == hd["Config"]["Hostname"] + hd["Id"][12:]
        assert hd["HostConfig"]["ReadonlyRootfs"] is True
        assert hd["Image"] == json.loads(hood("inspect", "busybox").stdout)[0]["Id"]

        assert hood("start", "-a", "inspected").returncode == 0
        [hd] = json.loads(hood("inspect", "inspected").stdout)
        assert hd["State"]["Status"] == "exited" and hd["State"]["ExitCode"] == 0
        assert hd["State"]["StartedAt"] <= hd["State"]["FinishedAt"]
        fmt = hood("inspect", "-f", "{{.State.Status}} {{.Name}}", "inspected")
        assert fmt.stdout == "exited /inspected\n"
    finally:
        hood("rm", "-f", "inspected")
        subprocess.run([*dockerd, "rm", "-f", "inspected"], capture_output=True)


def test_inspect_unknown_is_an_error(hood):
    r = hood("inspect", "no-such-container-or-image")
    assert r.returncode == 1
    assert "No such object: no-such-container-or-image" in r.stderr
