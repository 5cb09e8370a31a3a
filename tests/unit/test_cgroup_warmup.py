"""cgroups.expedite_attach: the thread that takes the kernel's cgroup lock early for `run`
moves this process nowhere, ends when told (or by itself), and lets the next run warm."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hood.runtime import cgroups

OWN = Path("/proc/self/cgroup")
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="root only: it writes its cgroup")


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _wait_for(condition, seconds: float = 2.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def test_warmup_moves_nothing_and_ends_when_attached():
    if cgroups._own_threads_file() is None:
        pytest.skip("no writable cgroup here")
    assert _wait_for(lambda: not cgroups._warm)  # one an earlier test started has ended
    before, threads = OWN.read_text(), _threads()
    cgroups.expedite_attach()
    assert len(cgroups._warm) == 1 and _threads() == threads + 1
    (_, fd), = cgroups._warm  # the thread's own cgroup file: one thread moves, not the process
    assert os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[1] in ("tasks", "cgroup.threads")
    cgroups.expedite_attach()  # one already warms: no second thread
    assert len(cgroups._warm) == 1 and _threads() == threads + 1
    cgroups.attached()
    assert not cgroups._warm
    assert _wait_for(lambda: _threads() == threads)
    assert OWN.read_text() == before


def test_warmup_left_alone_ends_by_itself_and_the_next_warms():
    if cgroups._own_threads_file() is None:
        pytest.skip("no writable cgroup here")
    assert _wait_for(lambda: not cgroups._warm)
    threads = _threads()
    cgroups.expedite_attach()  # a run that fails before its attach: nobody says attached()
    assert cgroups._warm
    assert _wait_for(lambda: not cgroups._warm and _threads() == threads)
    cgroups.expedite_attach()
    assert cgroups._warm
    cgroups.attached()
    assert _wait_for(lambda: _threads() == threads)


def test_a_forked_child_does_not_inherit_the_warmup():
    if cgroups._own_threads_file() is None:
        pytest.skip("no writable cgroup here")
    assert _wait_for(lambda: not cgroups._warm)
    cgroups.expedite_attach()
    (_, fd), = cgroups._warm
    pid = os.fork()
    if pid == 0:  # the child: nothing to stop, and not the thread's file
        code = 0 if not cgroups._warm and not os.path.exists(f"/proc/self/fd/{fd}") else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    cgroups.attached()
    assert os.waitstatus_to_exitcode(status) == 0
