"""Races the store must settle, and `run -d` handing the container to the runtime asked for."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest


def test_concurrent_creates_with_one_name_one_wins(hood):
    """The name is claimed under the store lock: of eight creates at once, exactly one."""
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: hood("create", "--name", "race", "busybox", "true"), range(8)))
    won = [r for r in results if r.returncode == 0]
    lost = [r for r in results if r.returncode != 0]
    try:
        assert len(won) == 1, [r.stderr for r in results]
        assert all(r.returncode == 125 and "is already in use" in r.stderr for r in lost)
        names = hood("ps", "-a", "--format", "{{.Names}}").stdout.split()
        assert names.count("race") == 1
    finally:
        hood("rm", "-f", "race")


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")
def test_run_detached_with_runc_uses_runc(hood, data_root):
    cid = hood("run", "-d", "--runtime", "runc", "busybox", "sleep", "30").stdout.strip()
    assert len(cid) == 64, cid
    try:
        listed = ""
        deadline = time.monotonic() + 10
        while cid[:32] not in listed and time.monotonic() < deadline:
            listed = subprocess.run(
                ["runc", "--root", str(data_root / "hood" / "runc"), "list"],
                capture_output=True,
                text=True,
            ).stdout
            time.sleep(0.1)
        assert cid[:32] in listed, listed  # runc knows the container: it runs it
        ps = hood("ps", "--no-trunc", "--format", "{{.ID}} {{.State}}").stdout
        assert f"{cid} running" in ps
    finally:
        hood("rm", "-f", cid)
    assert cid not in hood("ps", "-a", "--no-trunc", "-q").stdout
    assert not os.path.exists(data_root / "containers" / cid)
