"""`hood run`'s hand parser (no argparse on the fast path) against the argparse parser it stands
in for: whatever it accepts, it must parse exactly as argparse does; the rest it leaves to
argparse (None)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from hood.cli import containers_cmd, main  # noqa: E402

ACCEPTED = [
    ["busybox"],
    ["--rm", "busybox", "true"],
    ["--rm", "busybox", "echo", "--rm", "-e", "x"],
    ["-it", "busybox", "sh"],
    ["-dit", "--name", "web", "busybox"],
    ["-e", "A=1", "--env", "B=2", "--env=C=3", "-e", "D", "busybox", "env"],
    ["--env-file", "/tmp/e", "--env-file=/tmp/f", "busybox"],
    ["-v", "/a:/b:ro", "--volume=/c:/d", "--tmpfs", "/run:size=1m", "busybox"],
    ["-w", "/srv", "-u", "1000:1000", "--entrypoint", "", "busybox", "ls"],
    ["--entrypoint=", "-h", "box", "--hostname", "b2", "busybox"],
    ["--network", "none", "--net=host", "--read-only", "busybox"],
    ["--pull", "never", "--platform", "linux/amd64", "busybox:1.36"],
    ["-m", "64m", "--memory=32m", "--cpus", "0.5", "--pids-limit", "20", "busybox"],
    ["--cpus=2", "--pids-limit=0", "--runtime", "runc", "busybox"],
    ["--security-opt", "no-new-privileges", "--security-opt=no-new-privileges:false", "img"],
    ["--name=x", "--name", "y", "localhost:5000/a/b@sha256:" + "0" * 64, "a", "b"],
]
LEFT_TO_ARGPARSE = [
    [],
    ["--rm"],
    ["--help"],
    ["--inter", "busybox"],  # an abbreviation
    ["--", "busybox"],
    ["-d", "busybox", "--", "x"],
    ["-e"],
    ["-e", "-x", "busybox"],
    ["-eA=1", "busybox"],
    ["-ie", "A=1", "busybox"],
    ["--cpus", "x", "busybox"],
    ["--pids-limit", "-1", "busybox"],
    ["--network", "bridge", "busybox"],
    ["--rm=1", "busybox"],
    ["--bogus", "busybox"],
    ["-1", "busybox"],
]


def _argparse(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="hood")
    sub = parser.add_subparsers(dest="command")
    containers_cmd.register(sub)
    ns = parser.parse_args(["run", *argv])
    return vars(ns)


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_same_as_argparse(argv: list[str]) -> None:
    fast = containers_cmd.parse_run(argv)
    assert fast is not None
    assert fast == _argparse(argv)


@pytest.mark.parametrize("argv", LEFT_TO_ARGPARSE, ids=" ".join)
def test_left_to_argparse(argv: list[str]) -> None:
    assert containers_cmd.parse_run(argv) is None


def test_globals() -> None:
    args = main.parse_fast(["--debug", "--root", "/r", "--insecure-registry=h:5", "run", "x"])
    assert args is not None
    assert (args.root, args.debug, args.insecure_registry) == ("/r", True, ["h:5"])
    assert args.image == "x" and args.args == [] and args.handler is containers_cmd.cmd_run
    assert main.parse_fast(["--root", "/r", "ps"]) is None
    assert main.parse_fast(["--root"]) is None
    assert main.parse_fast(["run", "--root", "/r", "x"]) is None
