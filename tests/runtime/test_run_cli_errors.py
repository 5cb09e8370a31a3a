"""An OSError that reaches the top becomes one line saying what failed and what to do, never
Python's `[Errno 13] Permission denied: '...'` or a traceback (issue 10, bug 11). Run as an
unprivileged user (uid 65534 through setpriv) against stores it may not touch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import fixture
import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
UID = 65534

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root (to make the stores) and setpriv",
)


@pytest.fixture(scope="module")
def roots(layers):
    """`root`: root's own store, mode 0700; `open`: root's, readable, its repositories.json
    0600; `mine`: the user's own store."""
    base = Path(tempfile.mkdtemp(prefix="hood-cli-errors-"))
    os.chmod(base, 0o755)
    for name in ("root", "open", "mine"):
        fixture.store_image(base / name, "busybox:latest", layers, {"Cmd": ["sh"]})
        (base / name / "containers").mkdir(exist_ok=True)
    os.chmod(base / "root", 0o700)
    os.chmod(base / "open" / "image/overlay2/repositories.json", 0o600)
    for dirpath, dirnames, filenames in os.walk(base / "mine"):
        for n in [dirpath, *(os.path.join(dirpath, x) for x in dirnames + filenames)]:
            os.lchown(n, UID, UID)
    (base / "home").mkdir()
    os.chown(base / "home", UID, UID)
    yield base
    shutil.rmtree(base)


def _as_user(base: Path, root: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(base / "home"),
        "PYTHONPATH": str(SRC),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.run(
        ["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups", sys.executable]
        + ["-m", "hood.cli.main", "--root", str(base / root), *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def _one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Errno" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args", [["ps", "-a"], ["images"], ["info"], ["system", "df"], ["inspect", "busybox"]]
)
def test_another_users_store(roots, args):
    line = _one_line(_as_user(roots, "root", *args))
    assert "permission denied" in line and str(roots / "root") in line
    assert "--root" in line  # what to do


def test_unreadable_repositories_json(roots):
    line = _one_line(_as_user(roots, "open", "images"))
    assert line.startswith(f"Error: cannot read {roots}/open/image/overlay2/repositories.json")
    assert "--root" in line


def test_rootless_mount(roots):
    line = _one_line(_as_user(roots, "mine", "mount", "busybox"))
    assert "permission denied" in line.lower() or "not permitted" in line.lower()
    assert "root" in line  # says that mounting needs root, and what works without it
