"""`hood pull` and `hood push` as a person at a terminal sees them (a pty of 60 and of 200
columns), and Ctrl-C in the middle of a pull."""

from __future__ import annotations

import hashlib
import os
import re
import select
import signal
import time

import pytest
from support.faults import FaultyRegistry
from support.hood import Hood
from support.images import DOCKER_LAYER_GZIP, Entry, Layer, build_image, busybox_layers, make_tar


def _big_image():
    """busybox and a layer of 6 MiB in 4096 small files that do not compress: it takes
    longer to extract than to download from loopback, so its extraction is seen."""
    block, files = hashlib.sha256(b"hood progress").digest(), [Entry("many/", "dir")]
    for i in range(4096):
        chunk = []
        for _ in range(1536 // 32):
            block = hashlib.sha256(block).digest()
            chunk.append(block)
        files.append(Entry(f"many/f{i:04d}", data=b"".join(chunk), mode=0o644))
    layer = Layer(make_tar(files), "gzip", DOCKER_LAYER_GZIP)
    return build_image("progress", [*busybox_layers(), layer], docker=True)


IMAGE = _big_image()
ESC = re.compile(r"\x1b\[(\d*)([AB])\r?|\x1b\[2K")


def _screen(raw: str, cols: int) -> tuple[list[str], int]:
    """The terminal's lines after `raw` (cursor up/down, clear line, CR, LF, wrapping at
    `cols`), and how many times a line wrapped."""
    lines, row, col, wraps = [""], 0, 0, 0
    i = 0
    while i < len(raw):
        m = ESC.match(raw, i)
        if m:
            if m.group(2) == "A":
                row -= int(m.group(1) or 1)
            elif m.group(2) == "B":
                row += int(m.group(1) or 1)
            else:
                lines[row] = ""
            col = 0 if m.group(0).endswith("\r") or m.group(0) == "\x1b[2K" else col
            if m.group(0) == "\x1b[2K":
                col = 0
            i = m.end()
            continue
        ch = raw[i]
        i += 1
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row += 1
            col = 0
        else:
            if col >= cols:
                wraps += 1
                row += 1
                col = 0
            while len(lines) <= row:
                lines.append("")
            line = lines[row].ljust(col)
            lines[row] = line[:col] + ch + line[col + 1 :]
            col += 1
        while len(lines) <= row:
            lines.append("")
    return lines, wraps


def _pull_on_pty(hood: Hood, ref: str, env: dict, cols: int) -> tuple[str, int]:
    """`hood pull REF` on a pty of `cols` columns: what it wrote, and its exit status."""
    return _on_pty(hood, ["pull", ref], env, cols)


def _on_pty(hood: Hood, args: list[str], env: dict, cols: int) -> tuple[str, int]:
    """`hood ARGS` on a pty of `cols` columns: what it wrote, and its exit status."""
    import fcntl
    import pty
    import struct
    import termios

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child execs at once
        os.environ.clear()
        os.environ.update(hood.environ(env))
        os.execv(hood.argv()[0], hood.argv(*args))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    out = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 0.5)[0]:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return out.decode(errors="replace"), os.waitstatus_to_exitcode(status)


def _layer_lines(raw: str) -> list[str]:
    """Every text hood drew for a layer line (first drawn, or redrawn in place)."""
    texts = re.split(r"\x1b\[\d*[AB]\r?|\x1b\[2K|\r\n|\n", raw)
    return [t.strip("\r") for t in texts if re.match(r"[0-9a-f]{12}: ", t)]


@pytest.mark.parametrize("cols", [60, 200])
def test_pull_progress_fits_the_terminal(tmp_path, cols):
    """60 columns: docker drops the bar, and no layer line wraps; 200: the bar.
    Extraction shows its progress live; a second pull of the same image prints no
    `Already exists`."""
    hood = Hood(tmp_path / "root")
    big = next(la for la in IMAGE.layers if la.size > 1 << 20).digest.split(":")[1][:12]
    with FaultyRegistry(IMAGE, "none", repo="library/progress") as reg:
        raw, status = _pull_on_pty(hood, reg.ref, reg.env, cols)
        assert status == 0, raw
        drawn = _layer_lines(raw)
        too_long = [t for t in drawn if len(t) > cols]
        assert not too_long, f"layer lines wider than {cols} columns: {too_long}"
        lines, _ = _screen(raw.replace("\r\n", "\n"), cols)
        assert f"{big}: Pull complete" in lines, lines
        number = r"\s*([\d.]+[kM]?B)/([\d.]+MB)"
        downloading = [t for t in drawn if t.startswith(f"{big}: Downloading ")]
        assert downloading, drawn
        assert all(("[" in t) == (cols > 110) for t in downloading), downloading
        extracting = [
            m.groups()
            for t in drawn
            if (m := re.match(rf"{big}: Extracting (\[[=> ]+\] )?{number}", t))
        ]
        assert any(cur != total for _, cur, total in extracting), (
            f"no live Extracting progress: {extracting}"
        )
        assert all(bool(bar) == (cols > 110) for bar, _, _ in extracting), extracting
        again, status = _pull_on_pty(hood, reg.ref, reg.env, cols)
        assert status == 0
        shown = [ln for ln in again.replace("\r", "").splitlines() if ln.strip()]
        assert shown[0] == "latest: Pulling from library/progress", shown
        assert shown[1].startswith("Digest: sha256:"), shown
        assert shown[2].startswith("Status: Image is up to date for "), shown
        assert not any("Already exists" in ln for ln in shown), shown


def test_push_progress_on_a_terminal(tmp_path, plain_registry):
    """On a terminal, push redraws each layer's line as docker's does: `Pushing [=>  ]
    1.5MB/6.4MB` while the layer is compressed and sent, then `Pushed`."""
    hood = Hood(tmp_path / "root")
    with FaultyRegistry(IMAGE, "none", repo="library/progress") as reg:
        hood.run("pull", "-q", reg.ref, env=reg.env).ok()
        target = plain_registry.ref("team/progress:1")
        hood.run("tag", reg.ref, target).ok()
    big = next(la for la in IMAGE.layers if la.size > 1 << 20).diff_id.split(":")[1][:12]
    raw, status = _on_pty(hood, ["push", target], plain_registry.env, 200)
    assert status == 0, raw
    drawn = _layer_lines(raw)
    pushing = [
        m.groups()
        for t in drawn
        if (m := re.match(rf"{big}: Pushing \[[=> ]+\]\s+([\d.]+[kM]?B)/([\d.]+MB)", t))
    ]
    assert any(cur != total for cur, total in pushing), f"no live Pushing progress: {drawn}"
    lines, _ = _screen(raw.replace("\r\n", "\n"), 200)
    assert f"{big}: Pushed" in lines, lines
    assert any(ln.startswith("1: digest: sha256:") for ln in lines), lines


@pytest.mark.parametrize("fault", ["blob-throttle", "blob-slow"])
def test_ctrl_c_stops_a_pull_at_once_and_says_what_it_kept(tmp_path, fault):
    """Ctrl-C (SIGINT) in the middle of a layer's download: out within 0.5 s, exit 130,
    one line saying what the next pull will not fetch again; the next pull finishes.
    blob-slow: the registry stalls, the download thread is stuck in a read."""
    hood = Hood(tmp_path / "root")
    with FaultyRegistry(IMAGE, fault, repo="library/progress", stall=60) as reg:
        proc = hood.popen("pull", reg.ref, env=reg.env)
        partial_dir = hood.root / "hood" / "downloads"
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > 0 for p in partial_dir.glob("*.partial")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.05)
        time.sleep(0.3)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        took = time.monotonic() - start
        err = proc.stderr.read().decode()
        assert proc.returncode == 130, err
        assert took < 0.5, f"took {took:.2f} s to stop"
        assert "Traceback" not in err, err
        said = err.strip().splitlines()[-1]
        assert said.startswith("pull interrupted: 2 of 3 layers stored, "), said
        assert "of 1 partial download kept; the next pull goes on from there" in said, said
    with FaultyRegistry(IMAGE, "none", repo="library/progress") as reg:
        hood.run("pull", "-q", reg.ref, env=reg.env).ok()
        hood.run("fsck", "--quick").ok()
