"""The less common run flags read as docker's CLI reads them, and the rules docker applies
to them (capabilities, hosts and resolv.conf files), without running anything."""

from __future__ import annotations

import pytest

from hood.cli import run_flags as rf
from hood.cli.mount_specs import parse_mount, parse_volume
from hood.core.errors import HoodError
from hood.runtime.capabilities import DEFAULT_CAP_MASK, cap_mask, effective_caps
from hood.runtime.mount_spec import Bind, VolumeRequest
from hood.runtime.spec_errors import SpecError
from hood.store.containers import DEFAULT_HOSTS, hosts_file, resolv_conf


def test_caps_tweaked_as_docker():
    assert effective_caps([], []) is None
    assert cap_mask(None) == DEFAULT_CAP_MASK
    caps = effective_caps(["net_admin", "CAP_SYS_PTRACE"], ["chown", "Cap_Kill"])
    assert "CAP_NET_ADMIN" in caps and "CAP_SYS_PTRACE" in caps
    assert "CAP_CHOWN" not in caps and "CAP_KILL" not in caps
    assert cap_mask(caps) == 0xA80C35DA  # docker's CapEff for these flags
    assert effective_caps(["chown"], ["all"]) == ["CAP_CHOWN"]
    everything = effective_caps(["ALL"], ["mknod"])
    assert len(everything) == 40 and "CAP_MKNOD" not in everything
    # a cap both dropped and added: dropped from the defaults, then added back
    assert "CAP_CHOWN" in effective_caps(["chown"], ["chown"])
    with pytest.raises(SpecError, match='invalid CapAdd: unknown capability: "CAP_BOGUS"'):
        effective_caps(["bogus"], [])
    with pytest.raises(SpecError, match="invalid CapDrop"):
        effective_caps([], ["CAP_NOPE"])


@pytest.mark.parametrize(
    "text,expected",
    [
        ("nofile=100:200", ("nofile", 100, 200)),
        ("nproc=50", ("nproc", 50, 50)),
        ("core=-1", ("core", -1, -1)),
        ("memlock=1:-1", ("memlock", 1, -1)),
    ],
)
def test_ulimits(text, expected):
    assert rf.parse_ulimit(text) == expected


@pytest.mark.parametrize(
    "text,message",
    [
        ("nofile", "invalid ulimit argument: nofile"),
        ("nofiles=1", "invalid ulimit type: nofiles"),
        ("nofile=2:1", "ulimit soft limit must be less than or equal to hard limit: 2 > 1"),
        ("nofile=1:2:3", "too many limit value arguments - 1:2:3"),
        ("nofile=x", "invalid syntax"),
    ],
)
def test_bad_ulimits(text, message):
    with pytest.raises(HoodError, match=message):
        rf.parse_ulimit(text)


def test_devices():
    assert rf.parse_device("/dev/fuse") == ("/dev/fuse", "/dev/fuse", "rwm")
    assert rf.parse_device("/dev/sda:r") == ("/dev/sda", "/dev/sda", "r")
    assert rf.parse_device("/dev/sda:/dev/xvda") == ("/dev/sda", "/dev/xvda", "rwm")
    assert rf.parse_device("/dev/sda:/dev/xvda:rw") == ("/dev/sda", "/dev/xvda", "rw")
    for bad in ("/dev/sda:/dev/x:rwx", "/dev/sda:rel", "a:b:c:d"):
        with pytest.raises(HoodError):
            rf.parse_device(bad)


def test_volumes_and_binds():
    assert parse_volume("/data") == VolumeRequest("volume", "", "/data")
    assert parse_volume("name:/data:ro") == VolumeRequest("volume", "name", "/data", True)
    assert parse_volume("name:/data:nocopy").nocopy
    assert parse_volume("/host:/data:ro") == Bind("/host", "/data", True)
    with pytest.raises(HoodError, match="includes invalid characters for a local volume name"):
        parse_volume("a:/data")
    with pytest.raises(HoodError, match="mount path must be absolute"):
        parse_volume("name:data")
    with pytest.raises(HoodError, match="invalid mode: xx"):
        parse_volume("name:/data:xx")


def test_mounts_as_dockers_csv(tmp_path):
    m = parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770,ro")
    assert (m.kind, m.target, m.readonly, m.data) == ("tmpfs", "/t", True, "ro,mode=1770,size=1m")
    assert m.spec == {"Type": "tmpfs", "Target": "/t", "ReadOnly": True,
                      "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}}  # fmt: skip
    assert parse_mount("type=tmpfs,dst=/t,tmpfs-size=1536k").data == "size=1536k"
    v = parse_mount("source=data,target=/d,volume-nocopy")
    assert (v.kind, v.source, v.nocopy) == ("volume", "data", True)
    assert v.spec == {"Type": "volume", "Source": "data", "Target": "/d",
                      "VolumeOptions": {"NoCopy": True}}  # fmt: skip
    b = parse_mount(f"type=bind,src={tmp_path},destination=/b,readonly=true")
    assert (b.kind, b.source, b.readonly) == ("bind", str(tmp_path), True)
    for bad, message in (
        ("type=bind,src=/nope/x,dst=/b", "bind source path does not exist: /nope/x"),
        ("type=tmpfs,src=x,dst=/t", "field Source must not be specified"),
        ("type=volume", "target is required"),
        ("type=volume,dst=rel", "mount path must be absolute"),
        ("type=what,dst=/x", "mount type unknown"),
        ("type=volume,dst=/x,foo=1", "unexpected key 'foo'"),
        ("type=volume,dst=/x,junk", "must be a key=value pair"),
    ):
        with pytest.raises(HoodError, match=message):
            parse_mount(bad)


def test_labels_and_attach(tmp_path):
    f = tmp_path / "labels"
    f.write_text("# c\na=1\n\n  b=2\nc\n")
    assert rf.labels([str(f)], ["a=3", "d"]) == {"a": "3", "b": "2", "c": "", "d": ""}
    assert rf.parse_attach(["STDOUT", "stderr", "stdout"]) == ["stdout", "stderr"]
    with pytest.raises(HoodError, match="valid streams are STDIN, STDOUT and STDERR"):
        rf.parse_attach(["stdnope"])


def test_add_host():
    assert rf.parse_host("foo:1.2.3.4") == "foo:1.2.3.4"
    assert rf.parse_host("bar:::1") == "bar:::1"
    for bad in ("foo", "foo:notanip", ":1.2.3.4"):
        with pytest.raises(HoodError):
            rf.parse_host(bad)


def test_hosts_file():
    assert hosts_file("none") == DEFAULT_HOSTS
    text = hosts_file("host", ["foo:1.2.3.4", "bar:::1"])
    assert text == DEFAULT_HOSTS + "1.2.3.4\tfoo\n::1\tbar\n"


def test_resolv_conf():
    assert resolv_conf("host", ["9.9.9.9", "1.1.1.1"], ["a.example", "b"], ["ndots:2"]) == (
        "search a.example b\nnameserver 9.9.9.9\nnameserver 1.1.1.1\noptions ndots:2\n"
    )
    # what is not given comes from the host's (here its name servers)
    text = resolv_conf("host", None, ["x.example"], None)
    assert text.startswith("search x.example\n")
