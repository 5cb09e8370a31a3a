"""docker's rules for what a container runs, in-process (runtime.spec)."""

from __future__ import annotations

import pytest

from hood.runtime.exec_user import resolve_user
from hood.runtime.mount_spec import Bind
from hood.runtime.spec import RunOptions, build_spec, merge_env
from hood.runtime.spec_errors import SpecError

CID = "a" * 64


def test_args_replace_cmd_and_entrypoint_stays():
    spec = build_spec({"Entrypoint": ["/ep"], "Cmd": ["c1"]}, RunOptions(args=["x"]), CID)
    assert spec.args == ["/ep", "x"]


def test_entrypoint_flag_drops_the_image_cmd():
    spec = build_spec({"Entrypoint": ["/ep"], "Cmd": ["c1"]}, RunOptions(entrypoint="/new"), CID)
    assert spec.args == ["/new"]


def test_empty_entrypoint_resets_it():
    spec = build_spec({"Entrypoint": ["/ep"], "Cmd": ["c1"]}, RunOptions(entrypoint=""), CID)
    assert spec.args == ["c1"]


def test_no_command_at_all_is_an_error():
    with pytest.raises(SpecError, match="No command specified"):
        build_spec({}, RunOptions(), CID)


def test_env_order_and_overrides():
    image = {"Cmd": ["sh"], "Env": ["PATH=/bin", "A=image", "B=image"]}
    spec = build_spec(image, RunOptions(env=["A=user", "C=new"], tty=True), CID)
    assert spec.env == ["PATH=/bin", f"HOSTNAME={CID[:12]}", "TERM=xterm", "A=user", "C=new", "B=image"]
    assert merge_env(["A=1", "B=2"], ["A", "C=3"]) == ["B=2", "C=3"]


def test_relative_workdir_flag_is_refused():
    with pytest.raises(SpecError, match="absolute path"):
        build_spec({"Cmd": ["sh"]}, RunOptions(workdir="srv"), CID)


def test_image_workdir_is_normalised():
    assert build_spec({"Cmd": ["sh"], "WorkingDir": "srv//app/"}, RunOptions(), CID).cwd == "/srv/app"


def test_bind_parsing():
    assert Bind.parse("/a/../b:/c:ro") == Bind("/b", "/c", True)
    with pytest.raises(SpecError):
        Bind.parse("name:/c")


def test_user_resolution():
    passwd = "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"
    group = "root:x:0:\nstaff:x:50:alice\n"
    alice = resolve_user("alice", passwd, group)
    assert (alice.uid, alice.gid, alice.groups, alice.home) == (1000, 1000, (50,), "/home/alice")
    assert resolve_user("1234:50", passwd, group).uid == 1234
