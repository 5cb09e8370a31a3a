"""A container that cannot start leaves nothing behind in the process that tried: no open
descriptor, no cgroup, no signal handler (the Python API runs many containers in one
process, so a leak there adds up)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from hood.runtime import builtin
from hood.runtime.launch import ContainerError, Launch
from hood.runtime.spec import ContainerSpec
from hood.store.layout import Layout

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _launch(tmp_path: Path, **kw) -> Launch:
    spec = ContainerSpec(id="c" * 64, hostname="x", args=["true"], env=[], cwd="/", user="", **kw)
    return Launch(spec, Layout(tmp_path / "root"), "m" * 64, str(tmp_path), log_path=str(tmp_path / "log"))


@pytest.mark.parametrize("tty", [False, True])
def test_a_failed_fork_closes_everything_it_opened(monkeypatch, tmp_path, tty):
    def gone(*_a):
        raise ContainerError("container process 1234 is gone")

    monkeypatch.setattr(builtin, "_fork_in_pid_namespace", gone)
    handlers = {s: signal.getsignal(s) for s in builtin.FORWARDED}
    before = _fds()
    with pytest.raises(ContainerError, match="is gone"):
        builtin.run(_launch(tmp_path, tty=tty, pids_limit=10))
    assert _fds() == before
    assert {s: signal.getsignal(s) for s in builtin.FORWARDED} == handlers
    assert not [p for p in Path("/sys/fs/cgroup").glob("*/hood/" + "c" * 64)]
    assert not Path("/sys/fs/cgroup/hood", "c" * 64).exists()
