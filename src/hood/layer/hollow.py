"""A layer tar without its files' content, for commit's own walk of a local tree.

`hood commit` tars a container's upper dir in a child and extracts the tar in the parent,
on two cores. Sent whole through a pipe, a big commit's content is copied twice in user
space and checksummed again on the far side. A hollow tar is the tar with each file's
content replaced by its 8-byte crc64 (big-endian): the writer reads every file once,
hashing the whole tar (the diff ID) and the content's crc64 (tar-split) as it goes; the
reader applies it with apply's own header reader, extraction and tar-split, and copies
each file's content in the kernel (copy_file_range) from the same file under the source
root, opened without following a symlink anywhere.

Only for a tree that stays still while both run (a stopped or paused container): the
content copied must be the content hashed. A tar from elsewhere goes to `apply_layer`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

from fastcrc import crc64

from hood.core.errors import LayerError
from hood.layer.apply import AppliedLayer, ApplyOptions, Input, apply_input
from hood.layer.beneath import DIR_FLAGS, open_beneath
from hood.layer.export import TarEntries, write_tree_tar

_crc = crc64.go_iso
_CRC_SIZE = 8
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_EARLY = 1 << 20  # a file this big has its header sent before its content is read


class _HollowTar:
    """What write_tree_tar writes: every byte hashed, and sent on but for file content."""

    __slots__ = ("out", "sha")

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.out.write(data)


class _HollowEntries(TarEntries):
    """Entries whose content is hashed as part of the tar, and sent as its crc64 only."""

    def __init__(self, tar: _HollowTar) -> None:
        super().__init__()
        self.tar = tar
        self.view = memoryview(bytearray(1 << 20))

    def content(self, out: BinaryIO, path: bytes, size: int) -> None:
        tar = self.tar
        if size >= _EARLY:  # the reader copies the file while it is hashed here
            tar.out.flush()
        view, sha = self.view, tar.sha
        crc = 0
        fd = os.open(path, _READ)
        try:
            left = size
            while left:
                n = os.readv(fd, [view[: min(left, len(view))]])
                if not n:
                    raise OSError(f"{os.fsdecode(path)} shrank while it was read")
                sha.update(view[:n])
                crc = _crc(view[:n], initial=crc)
                left -= n
        finally:
            os.close(fd)
        tar.out.write(crc.to_bytes(_CRC_SIZE, "big"))


def write_hollow_tar(root: str | bytes, out: BinaryIO) -> str:
    """The hollow tar of everything below `root` (a container's upper dir) into `out`;
    returns the sha256 (hex) of the whole tar, as write_tree_tar would write it."""
    tar = _HollowTar(out)
    write_tree_tar(root, tar, entries=_HollowEntries(tar))  # type: ignore[arg-type]
    return tar.sha.hexdigest()


class _HollowInput(Input):
    """The hollow tar, its files' content copied from the files under the source root."""

    def __init__(self, stream: BinaryIO, chunk: int, source_fd: int) -> None:
        super().__init__(stream, chunk)
        self.source_fd = source_fd
        self.dir: bytes | None = None  # the last file's directory, kept open
        self.dir_fd = -1

    def copy(self, n: int, fd: int, rel: bytes, what: str) -> int:
        if not n:
            return 0
        if fd >= 0:  # before the crc64 comes: the writer may be reading the file still
            src = self._open(rel, what)
            try:
                left = n
                while left:
                    k = os.copy_file_range(src, fd, left)
                    if not k:
                        raise LayerError(f"{what}: its source shrank while it was copied")
                    left -= k
            finally:
                os.close(src)
        crc = self.take(_CRC_SIZE)
        if len(crc) < _CRC_SIZE:
            raise LayerError(f"{what}: unexpected end of layer inside the file's content")
        self.offset += n - _CRC_SIZE  # offsets stay those of the whole tar, for messages
        return int.from_bytes(crc, "big")

    def _open(self, rel: bytes, what: str) -> int:
        head, _, tail = rel.rpartition(b"/")
        try:
            if head != self.dir:
                self.close()
                self.dir_fd = open_beneath(self.source_fd, head)
                self.dir = head
            return os.open(tail, _READ, dir_fd=self.dir_fd)
        except OSError as exc:
            raise LayerError(f"{what}: cannot open its source: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
        self.dir, self.dir_fd = None, -1


def apply_hollow(
    stream: BinaryIO, target: Path, source: str | bytes, *, tar_split: BinaryIO | None
) -> AppliedLayer:
    """Extract the hollow tar `stream`, written by write_hollow_tar of `source`, into the
    empty directory `target`: the same entries and tar-split apply_layer makes of the
    whole tar."""
    opts = ApplyOptions()
    source_fd = os.open(source, DIR_FLAGS)
    inp = _HollowInput(stream, opts.read_size, source_fd)
    try:
        return apply_input(inp, target, tar_split=tar_split, options=opts)
    finally:
        inp.close()
        os.close(source_fd)
