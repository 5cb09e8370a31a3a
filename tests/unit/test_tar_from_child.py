"""commit's tar comes from a forked writer that hashes what it writes: the digest is the
sha256 of exactly the bytes read here, and a writer that fails is one clear error."""

import hashlib

import pytest

from hood.core.errors import HoodError
from hood.services.tar_child import Known, TarFromChild, hashing


def test_digest_is_the_sha256_of_what_was_read():
    data = bytes(range(256)) * 5000
    tar = TarFromChild(hashing(lambda out: (out.write(data[:1000]), out.write(data[1000:]))), "commit of x")
    try:
        assert tar.stream.read() == data
        assert tar.digest().hex == hashlib.sha256(data).hexdigest()
    finally:
        tar.close()


def test_a_failing_writer_is_one_line_after_what_it_wrote():
    def writer(out):
        out.write(b"x" * 70000)
        raise OSError("/data/big shrank while it was read")

    tar = TarFromChild(hashing(writer), "commit of x: reading its files failed")
    assert len(tar.stream.read()) == 70000
    with pytest.raises(HoodError, match=r"^commit of x: reading its files failed: /data/big shrank"):
        tar.digest()
    tar.close()


def test_closing_early_ends_a_writer_still_writing():
    tar = TarFromChild(hashing(lambda out: [out.write(b"y" * 65536) for _ in range(1000)]), "commit of x")
    tar.stream.read(10)
    tar.close()  # must not hang on a child blocked on the full pipe
    with pytest.raises(HoodError, match="^commit of x: .*Broken pipe"):
        tar.digest()


def test_the_cause_is_the_writers_failure_not_its_broken_pipe():
    def writer(out):
        out.write(b"x" * 100)
        raise OSError("/data/f shrank while it was read")

    tar = TarFromChild(hashing(writer), "commit of x: reading its files failed")
    tar.stream.read()  # the tar ends early: the extraction fails on it
    with pytest.raises(HoodError, match=r"^commit of x: reading its files failed: /data/f shrank"):
        tar.raise_cause()

    tar = TarFromChild(hashing(lambda out: [out.write(b"y" * 65536) for _ in range(1000)]), "commit of x")
    tar.stream.read(10)  # the extraction fails on its own: its error is the one to tell
    tar.raise_cause()


def _until_ended(tar: TarFromChild) -> None:
    """Until the child has ended (its pipe read to the end by the read-ahead)."""
    import os
    import time

    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{tar.pid}/stat"):
        with open(f"/proc/{tar.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return
        assert time.monotonic() < deadline, "the writer never ended"
        time.sleep(0.01)


def test_a_known_digest_stops_the_reading_before_the_end():
    data = b"z" * (8 << 20)  # far more than the pipe holds: the read-ahead takes it
    asked = []

    def known(digest):
        asked.append(digest)
        return True

    tar = TarFromChild(hashing(lambda out: out.write(data)), "commit of x", known)
    first = tar.stream.read(10)
    _until_ended(tar)
    with pytest.raises(Known):
        while tar.stream.read(1 << 20):  # what was read ahead is not handed out any more
            pass
    assert first == b"z" * 10
    assert tar.digest().hex == hashlib.sha256(data).hexdigest()
    assert [d.hex for d in asked] == [hashlib.sha256(data).hexdigest()]
    tar.close()


def test_an_unknown_digest_reads_to_the_end():
    data = bytes(range(256)) * 40000
    tar = TarFromChild(hashing(lambda out: out.write(data)), "commit of x", lambda _: False)
    got = tar.stream.read(5)
    _until_ended(tar)
    got += tar.stream.read()
    assert got == data
    assert tar.digest().hex == hashlib.sha256(data).hexdigest()
    tar.close()


def test_a_failing_writer_is_never_known():
    def writer(out):
        out.write(b"x" * 100)
        raise OSError("/data/f shrank while it was read")

    asked = []
    tar = TarFromChild(hashing(writer), "commit of x: reading its files failed", asked.append)
    assert tar.stream.read() == b"x" * 100
    with pytest.raises(HoodError, match="^commit of x: reading its files failed: /data/f"):
        tar.digest()
    assert asked == []


def test_closing_early_ends_a_writer_the_read_ahead_holds_up():
    tar = TarFromChild(hashing(lambda out: [out.write(b"y" * 65536) for _ in range(6000)]), "commit of x", lambda _: False)
    tar.stream.read(10)
    tar.close()  # 390 MB: the read-ahead is full, the child blocked; both must end
    with pytest.raises(HoodError, match="^commit of x: .*Broken pipe"):
        tar.digest()
