"""Files of an archive or a layout directory, read without ever leaving it.

A name from a manifest.json or index.json is untrusted: absolute names, `..` and empty
names are refused, a symlink or hardlink is followed only inside the archive (docker and
skopeo write `<id>/layer.tar -> ../<diffid>.tar`), a name given twice is refused."""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
from typing import BinaryIO

from hood.core.errors import HoodError

MAX_LINKS = 40


class ArchiveError(HoodError):
    """An archive or layout that cannot be read safely or does not say what it must."""


def clean(name: str, what: str) -> str:
    """`name` as a path inside the archive, or ArchiveError naming `what`."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise ArchiveError(f"{what}: {name!r} is not a file name")
    if name.startswith("/"):
        raise ArchiveError(f"{what}: {name!r} is an absolute path; refusing it")
    norm = posixpath.normpath(name)
    if norm == "." or norm == ".." or norm.startswith("../"):
        raise ArchiveError(f"{what}: {name!r} points outside the archive; refusing it")
    return norm


class Tree:
    """A read-only set of files by relative name."""

    description = "archive"

    def open(self, name: str, what: str) -> BinaryIO:
        raise NotImplementedError

    def exists(self, name: str) -> bool:
        raise NotImplementedError

    def size(self, name: str, what: str) -> int:
        raise NotImplementedError

    def read(self, name: str, what: str, limit: int) -> bytes:
        if self.size(name, what) > limit:
            raise ArchiveError(f"{what}: {name} is larger than {limit} bytes")
        with self.open(name, what) as f:
            return f.read(limit + 1)[:limit]

    def close(self) -> None:
        pass


class DirTree(Tree):
    """A directory (an OCI layout): every name opened beneath it, no symlink followed."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.description = root
        try:
            self.fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise ArchiveError(f"cannot open {root}: {exc.strerror}") from None

    def _open_fd(self, name: str, what: str) -> int:
        from hood.layer.beneath import open_beneath

        rel = clean(name, what)
        try:
            return open_beneath(self.fd, os.fsencode(rel), os.O_RDONLY)
        except OSError:
            raise ArchiveError(
                f"{what}: {name} is missing, or a symlink (not followed in a layout)"
            ) from None

    def open(self, name: str, what: str) -> BinaryIO:
        fd = self._open_fd(name, what)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ArchiveError(f"{what}: {name} is not a regular file")
        return os.fdopen(fd, "rb")

    def exists(self, name: str) -> bool:
        try:
            os.close(self._open_fd(name, "exists"))
            return True
        except HoodError:
            return False

    def size(self, name: str, what: str) -> int:
        fd = self._open_fd(name, what)
        try:
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _Slice(io.RawIOBase):
    """`size` bytes of a file from `offset`, with a file position of its own."""

    def __init__(self, path: str, offset: int, size: int) -> None:
        self.f = open(path, "rb")  # noqa: SIM115
        self.f.seek(offset)
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        if n is None or n < 0 or n > self.left:
            n = self.left
        data = self.f.read(n)
        if not data:
            raise ArchiveError("the archive ends in the middle of a file (truncated)")
        self.left -= len(data)
        return data

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.f.close()
        super().close()


class TarTree(Tree):
    """An uncompressed tar on disk, indexed once: names to data offsets."""

    def __init__(self, path: str, description: str | None = None) -> None:
        self.path = path
        self.description = description or path
        self.members: dict[str, tarfile.TarInfo] = {}
        try:
            with tarfile.open(path, "r:") as tf:
                for info in tf:
                    name = posixpath.normpath(info.name.lstrip("/")) if info.name else ""
                    if not name or name == "." or info.isdir():
                        continue
                    if name in self.members:
                        raise ArchiveError(f"{self.description}: {name} is in the archive twice")
                    self.members[name] = info
        except (tarfile.TarError, EOFError) as exc:
            raise ArchiveError(f"{self.description}: not a readable tar archive ({exc})") from None

    def _resolve(self, name: str, what: str) -> tarfile.TarInfo:
        current = clean(name, what)
        for _ in range(MAX_LINKS):
            info = self.members.get(current)
            if info is None:
                raise ArchiveError(f"{what}: {current} is not in the archive")
            if info.issym():
                target = info.linkname
                if target.startswith("/"):
                    raise ArchiveError(f"{what}: {current} is a symlink out of the archive")
                current = clean(posixpath.join(posixpath.dirname(current), target), what)
                continue
            if info.islnk():
                current = clean(info.linkname, what)
                continue
            if not info.isreg():
                raise ArchiveError(f"{what}: {current} is not a regular file")
            return info
        raise ArchiveError(f"{what}: {name} is a chain of links that does not end")

    def open(self, name: str, what: str) -> BinaryIO:
        info = self._resolve(name, what)
        return _Slice(self.path, info.offset_data, info.size)  # type: ignore[return-value]

    def exists(self, name: str) -> bool:
        try:
            self._resolve(name, "exists")
            return True
        except HoodError:
            return False

    def size(self, name: str, what: str) -> int:
        return self._resolve(name, what).size
