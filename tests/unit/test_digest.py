import hashlib
import io

import pytest

from hood.core.digest import Digest, InvalidDigest, VerifyingReader, chain_ids
from hood.core.errors import DigestMismatch


def test_parse_validates() -> None:
    good = "sha256:" + "0" * 64
    assert str(Digest.parse(good)) == good
    for bad in [
        "sha256:" + "0" * 63,
        "sha256:" + "A" * 64,
        "sha1:" + "0" * 40,
        "../etc",
        "sha256:../../x",
    ]:
        with pytest.raises(InvalidDigest):
            Digest.parse(bad)


def test_chain_ids_follow_docker_formula() -> None:
    a = Digest.of_bytes(b"a")
    b = Digest.of_bytes(b"b")
    c = Digest.of_bytes(b"c")
    chains = chain_ids([a, b, c])
    assert chains[0] == a
    second = hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chains[1].hex == second
    assert chains[2].hex == hashlib.sha256(f"sha256:{second} {c}".encode()).hexdigest()


def test_verifying_reader_accepts_exact() -> None:
    data = b"hello world" * 1000
    reader = VerifyingReader(io.BytesIO(data), Digest.of_bytes(data), len(data), "blob")
    assert reader.read() == data
    reader.finish()


@pytest.mark.parametrize("body", [b"hello worle", b"hello worl", b"hello world!"])
def test_verifying_reader_rejects(body: bytes) -> None:
    expected = b"hello world"
    reader = VerifyingReader(io.BytesIO(body), Digest.of_bytes(expected), len(expected), "blob x")
    with pytest.raises(DigestMismatch, match="blob x"):
        while reader.read(4):
            pass
        reader.finish()


def test_parse_sha256_only() -> None:
    sha512 = "sha512:" + "0" * 128
    assert Digest.parse(sha512).algorithm == "sha512"  # blob digests may be sha512
    with pytest.raises(InvalidDigest, match="only sha256"):
        Digest.parse(sha512, sha256_only=True)
    good = "sha256:" + "0" * 64
    assert str(Digest.parse(good, sha256_only=True)) == good
