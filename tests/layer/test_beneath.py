"""open_beneath: the one way apply, flatten and tarsplit reach a path under a root."""

from __future__ import annotations

import errno
import os

import pytest

from hood.layer.beneath import open_beneath


@pytest.fixture
def root(tmp_path):
    (tmp_path / "a/b").mkdir(parents=True)
    (tmp_path / "a/b/f").write_text("f")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/f").write_text("outside")
    os.symlink(tmp_path / "outside", tmp_path / "a/link")
    os.symlink("b/f", tmp_path / "a/flink")
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def test_directories_and_files(root):
    for rel in (b"a/b", "a/b", b"a", ""):
        fd = open_beneath(root, rel)
        try:
            assert os.path.isdir(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
    fd = open_beneath(root, b"a/b/f", os.O_RDONLY)
    try:
        assert os.read(fd, 10) == b"f"
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("rel", "flags", "code"),
    [
        (b"a/link/f", os.O_RDONLY, errno.ENOTDIR),  # a symlink in a parent
        (b"a/link", None, errno.ENOTDIR),  # a symlink as the directory
        (b"a/flink", os.O_RDONLY, errno.ELOOP),  # a symlink as the file
        (b"a/b/f/x", os.O_RDONLY, errno.ENOTDIR),  # a file in a parent
        (b"a/missing/x", os.O_RDONLY, errno.ENOENT),
    ],
)
def test_never_through_a_symlink(root, rel, flags, code):
    before = sorted(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError) as err:
        open_beneath(root, rel) if flags is None else open_beneath(root, rel, flags)
    assert err.value.errno in (code, errno.ELOOP)
    assert sorted(os.listdir("/proc/self/fd")) == before, "an fd leaked"
