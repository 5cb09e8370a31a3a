"""commit's tar comes from a forked writer that hashes what it writes: the digest is the
sha256 of exactly the bytes read here, and a writer that fails is one clear error."""

import hashlib

import pytest

from hood.core.errors import HoodError
from hood.services.build import _TarFromChild, hashing


def test_digest_is_the_sha256_of_what_was_read():
    data = bytes(range(256)) * 5000
    tar = _TarFromChild(hashing(lambda out: (out.write(data[:1000]), out.write(data[1000:]))), "commit of x")
    try:
        assert tar.stream.read() == data
        assert tar.digest().hex == hashlib.sha256(data).hexdigest()
    finally:
        tar.close()


def test_a_failing_writer_is_one_line_after_what_it_wrote():
    def writer(out):
        out.write(b"x" * 70000)
        raise OSError("/data/big shrank while it was read")

    tar = _TarFromChild(hashing(writer), "commit of x: reading its files failed")
    assert len(tar.stream.read()) == 70000
    with pytest.raises(HoodError, match=r"^commit of x: reading its files failed: /data/big shrank"):
        tar.digest()
    tar.close()


def test_closing_early_ends_a_writer_still_writing():
    tar = _TarFromChild(hashing(lambda out: [out.write(b"y" * 65536) for _ in range(1000)]), "commit of x")
    tar.stream.read(10)
    tar.close()  # must not hang on a child blocked on the full pipe
    with pytest.raises(HoodError, match="^commit of x: .*Broken pipe"):
        tar.digest()


def test_the_cause_is_the_writers_failure_not_its_broken_pipe():
    def writer(out):
        out.write(b"x" * 100)
        raise OSError("/data/f shrank while it was read")

    tar = _TarFromChild(hashing(writer), "commit of x: reading its files failed")
    tar.stream.read()  # the tar ends early: the extraction fails on it
    with pytest.raises(HoodError, match=r"^commit of x: reading its files failed: /data/f shrank"):
        tar.raise_cause()

    tar = _TarFromChild(hashing(lambda out: [out.write(b"y" * 65536) for _ in range(1000)]), "commit of x")
    tar.stream.read(10)  # the extraction fails on its own: its error is the one to tell
    tar.raise_cause()
