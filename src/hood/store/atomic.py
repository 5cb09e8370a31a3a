"""Crash-safe writes: temp file in the same directory, fsync, rename, fsync the directory.

A reader sees the old content or the new, never a torn file."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from hood.store.disk import disk_error, is_disk_error


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Raises DiskError naming `path` when the disk is full or fails."""
    try:
        _write_atomic(path, data, mode)
    except OSError as exc:
        if is_disk_error(exc):
            raise disk_error(exc, "writing", path) from None
        raise


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    os.close(fd)
    try:
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    write_atomic(path, text.encode(), mode)


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Build a directory beside `final` and rename it into place when the block succeeds.

    If `final` appears meanwhile (another process won the race), the staged copy is dropped.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(final)
    tmp.mkdir()
    try:
        yield tmp
        for child in tmp.iterdir():
            if child.is_file():
                fd = os.open(child, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        fsync_dir(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise
            remove_tree(tmp)
        fsync_dir(final.parent)
    except OSError as exc:
        remove_tree(tmp)
        if is_disk_error(exc):
            raise disk_error(exc, "writing", final) from None
        raise
    except BaseException:
        remove_tree(tmp)
        raise


def remove_tree(path: Path) -> None:
    """rm -rf that never follows symlinks and clears immutable-looking modes on the way."""
    import shutil

    def _onerror(func, p, exc_info):  # type: ignore[no-untyped-def]
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            func(p)

    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
        return
    if path.exists():
        shutil.rmtree(path, onerror=_onerror)
