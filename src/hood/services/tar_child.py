"""commit's tar, written by a forked child: the extraction reading it here runs on another
core (both sides are Python, and one process has one GIL), and the sha256 of the tar is
the child's work, which balances the two.

With `known`, the pipe is read ahead by a thread: the child then ends (and says the tar's
digest) long before the extraction has gone through the tar, and when the store has that
layer already (a container committed again unchanged) the extraction stops there, rather
than writing every file and removing them all again as dockerd does."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import BinaryIO

from hood.core.digest import Digest, new_hasher
from hood.core.errors import HoodError

_PIPE_SIZE = 1 << 20
_LOST_READER = 2  # the child's exit status when the extraction went away first


class Known(Exception):  # noqa: N818 - a stop, not a failure
    """Raised by a read of the tar once its digest is known and `known` said yes: what
    follows need not be read."""


class _HashingWriter:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.hasher = new_hasher("sha256")

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        return self.out.write(data)


def hashing(write: Callable[[BinaryIO], object]) -> Callable[[BinaryIO], str]:
    """A writer of a tar as one that also says its sha256 (hex), for TarFromChild."""

    def run(out: BinaryIO) -> str:
        hashed = _HashingWriter(out)
        write(hashed)  # type: ignore[arg-type]
        return hashed.hasher.hexdigest()

    return run


class TarFromChild:
    """A tar (or commit's hollow form of it) that `write(out)` writes in a forked child and
    whose sha256 (hex) it returns; `stream` reads it. `known(digest)`: asked once the child
    has ended, before the tar is read to its end; True stops the reading (Known)."""

    def __init__(
        self,
        write: Callable[[BinaryIO], str],
        failed: str,
        known: Callable[[Digest], bool] | None = None,
    ) -> None:
        self.failed = failed
        r, w = os.pipe()
        with contextlib.suppress(OSError):  # the child runs further ahead (the default: 64 KiB)
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        report_r, report_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child
            os.close(r)
            os.close(report_r)
            os._exit(self._child(write, w, report_w))
        os.close(w)
        os.close(report_w)
        self.report_fd = report_r
        self.report: str | None = None
        self.ok = self.lost_reader = False
        self._lock = threading.Lock()
        self.stream: BinaryIO
        if known is None:
            # Unbuffered: a read returns what has come so far, and the extraction starts on it.
            self.stream = open(r, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        else:
            self.stream = _ReadAhead(r, lambda: self._ended(known))  # type: ignore[assignment]

    @staticmethod
    def _child(write: Callable[[BinaryIO], str], w: int, report_w: int) -> int:  # pragma: no cover
        try:
            # Written on every 64 KiB, so the extraction has something to start on early.
            with open(w, "wb", buffering=1 << 16) as out:
                digest = write(out)
            os.write(report_w, b"sha256:" + digest.encode())
            return 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            os.write(report_w, str(exc).encode()[:4000])
            return _LOST_READER if isinstance(exc, BrokenPipeError) else 1

    def _ended(self, known: Callable[[Digest], bool]) -> bool:
        """The read-ahead's question at the tar's end: is what follows not needed?"""
        with contextlib.suppress(HoodError, ValueError):
            return known(Digest.parse(self._wait(close=False), sha256_only=True))
        return False

    def _wait(self, close: bool = True) -> str:
        """The child's report once it has ended; raises what it failed with. `close`: our
        end of the pipe first (a child still writing then ends on a broken pipe)."""
        if close:
            self.stream.close()
        with self._lock:
            if self.report is None:
                _, status = os.waitpid(self.pid, 0)
                with open(self.report_fd, "rb") as f:
                    text = f.read().decode(errors="replace")
                self.ok = status == 0
                self.lost_reader = os.waitstatus_to_exitcode(status) == _LOST_READER
                self.report = text if self.ok else f"{self.failed}: {text or 'the writer died'}"
        if not self.ok:
            raise HoodError(self.report)
        return self.report

    def digest(self) -> Digest:
        """The tar's sha256, once it has been read to its end (or stopped: Known)."""
        return Digest.parse(self._wait(), sha256_only=True)

    def close(self) -> None:
        with contextlib.suppress(HoodError):  # what failed is raised by digest()
            self._wait()

    def raise_cause(self) -> None:
        """After the extraction failed: raise what the child failed with, when that made the
        tar end early (and not the extraction's failure, the child's broken pipe)."""
        self.close()
        if not self.ok and not self.lost_reader:
            raise HoodError(self.report)


class _ReadAhead(io.RawIOBase):
    """The pipe `fd`, read by a thread into memory as fast as the child writes it (at most
    AHEAD bytes ahead of the reader); at its end the thread asks `at_end()`, and True makes
    the next read raise Known. Closed early, the thread closes the pipe: the child's next
    write fails (broken pipe) and it ends."""

    # A hollow tar is ~0.5 KiB a file (its headers and crc64): some 120,000 files, within
    # a bounded memory; a bigger commit reads the rest as it comes.
    AHEAD = 64 << 20

    def __init__(self, fd: int, at_end: Callable[[], bool]) -> None:
        super().__init__()
        self._fd = fd
        self._at_end = at_end
        self._chunks: deque[bytes] = deque()
        self._held = 0
        self._eof = self._stop = self._gone = False
        self._answered = False  # at_end() has said (a reader at the end waits for it)
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="tar-read-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while self._held >= self.AHEAD and not self._gone:
                        self._cond.wait()
                    if self._gone:
                        break
                data = os.read(self._fd, 1 << 20)
                if not data:
                    break
                with self._cond:
                    self._chunks.append(data)
                    self._held += len(data)
                    self._cond.notify_all()
        except OSError:
            pass  # the child's failure is its report's to tell
        finally:
            os.close(self._fd)
            with self._cond:
                self._eof = True
                self._cond.notify_all()
        stop = False
        if not self._gone:
            try:
                stop = self._at_end()
            except Exception:  # noqa: BLE001 - then the tar is read to its end, as without
                stop = False
        with self._cond:
            self._stop = stop
            self._answered = True
            self._cond.notify_all()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        with self._cond:
            while not self._chunks and not self._stop and not (self._eof and self._answered):
                self._cond.wait()
            if self._stop:
                raise Known
            if not self._chunks:
                return b""
            data = self._chunks.popleft()
            if n < len(data):
                data, rest = data[:n], data[n:]
                self._chunks.appendleft(rest)
            self._held -= len(data)
            self._cond.notify_all()
            return data

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def, override]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with self._cond:
            self._gone = True
            self._chunks.clear()
            self._cond.notify_all()
        super().close()
