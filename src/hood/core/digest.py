"""Content digests: the Digest value type and a stream wrapper that verifies as it reads."""

from __future__ import annotations

from hood.core.errors import DigestMismatch, HoodError
from hood.core.lean import Frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hashlib import _Hash
    from typing import BinaryIO

_HEX = frozenset("0123456789abcdef")
_HEX_LENGTHS = {"sha256": 64, "sha512": 128}
_SMALL = 1 << 20  # below this, the built-in sha256 is as quick as loading OpenSSL's


class InvalidDigest(HoodError):
    """A digest string that is not algorithm:hex of the right length."""


class Digest(Frozen):
    """A validated `algorithm:hex` digest. Safe to use in paths and URLs once constructed.

    An immutable value: equal, hashed and ordered by (algorithm, hex)."""

    __slots__ = ("algorithm", "hex")
    algorithm: str
    hex: str

    def __init__(self, algorithm: str, hex: str) -> None:  # noqa: A002 - the field's name
        self._init(algorithm=algorithm, hex=hex)

    def __lt__(self, other: Digest) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() < other._values()

    def __le__(self, other: Digest) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() <= other._values()

    def __gt__(self, other: Digest) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() > other._values()

    def __ge__(self, other: Digest) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() >= other._values()

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Digest, self._values())

    @classmethod
    def parse(cls, text: str, *, sha256_only: bool = False) -> Digest:
        """sha256 or sha512 (blob digests); sha256_only for what docker keys by sha256
        alone: image IDs (config digests), diff_ids and so chain IDs."""
        algorithm, sep, hexpart = text.partition(":")
        length = _HEX_LENGTHS.get(algorithm)
        shown = text if len(text) <= 80 else text[:77] + "..."
        if not sep or len(hexpart) != length or not _HEX.issuperset(hexpart):
            expected = "sha256:<64 lowercase hex>"
            if not sha256_only:
                expected += " or sha512:<128 lowercase hex>"
            raise InvalidDigest(f"invalid digest {shown!r}: expected {expected}")
        if sha256_only and algorithm != "sha256":
            raise InvalidDigest(
                f"unsupported digest {shown!r}: only sha256 is supported here (as in docker)"
            )
        return cls(algorithm, hexpart)

    @classmethod
    def of_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        if algorithm == "sha256" and len(data) < _SMALL:
            return cls(algorithm, sha256_hex(data))
        hasher = new_hasher(algorithm)
        hasher.update(data)
        return cls(algorithm, hasher.hexdigest())

    @classmethod
    def from_hasher(cls, hasher: _Hash) -> Digest:
        return cls(hasher.name, hasher.hexdigest())

    def hasher(self) -> _Hash:
        return new_hasher(self.algorithm)

    def verify_bytes(self, data: bytes, what: str = "content") -> None:
        actual = Digest.of_bytes(data, self.algorithm)
        if actual != self:
            raise DigestMismatch(f"{what}: digest mismatch: expected {self}, got {actual}")

    @property
    def short(self) -> str:
        """Docker's 12-hex short form."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def new_hasher(algorithm: str = "sha256") -> _Hash:
    """A fresh hash object. hashlib (OpenSSL: the fastest over layers) is imported on first
    use; small inputs on `hood run`'s path take the built-in sha256, which loads no library."""
    import hashlib

    return hashlib.new(algorithm)


def sha256_hex(data: bytes) -> str:
    """sha256 of a small input (a config, a chain ID's text) without loading OpenSSL."""
    try:
        from _sha256 import sha256
    except ImportError:  # pragma: no cover - builds that name it _sha2
        from hashlib import sha256
    return sha256(data).hexdigest()


def chain_id(parent: Digest | None, diff_id: Digest) -> Digest:
    """One layer's chain ID: its diff ID for the first layer, else
    sha256(parent chain ID + " " + diff ID)."""
    return diff_id if parent is None else Digest("sha256", sha256_hex(f"{parent} {diff_id}".encode()))


def chain_ids(diff_ids: list[Digest]) -> list[Digest]:
    """Docker's chain IDs of a whole image, lowest layer first."""
    chains: list[Digest] = []
    for diff_id in diff_ids:
        chains.append(chain_id(chains[-1] if chains else None, diff_id))
    return chains


class VerifyingReader:
    """Wraps a binary stream; hashes and counts what passes through.

    `finish()` raises DigestMismatch unless the stream ended at exactly `size`
    bytes with the expected digest. Reading past `size` fails at once, so a lying
    server cannot make us buffer an endless body.
    """

    def __init__(
        self,
        raw: BinaryIO,
        expected: Digest,
        size: int | None,
        what: str,
        hasher: _Hash | None = None,
        already: int = 0,
    ) -> None:
        self._raw = raw
        self.expected = expected
        self.size = size
        self.what = what
        self._hasher = hasher or expected.hasher()
        self.count = already

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self.count += len(data)
            if self.size is not None and self.count > self.size:
                raise DigestMismatch(
                    f"{self.what}: more than the {self.size} bytes its descriptor promises"
                )
            self._hasher.update(data)
        return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Nothing to release: the wrapped stream belongs to whoever opened it."""

    def digest(self) -> Digest:
        """The digest of what passed so far."""
        return Digest.from_hasher(self._hasher.copy())

    def finish(self) -> Digest:
        if self.size is not None and self.count != self.size:
            raise DigestMismatch(
                f"{self.what}: size mismatch: expected {self.size} bytes, got {self.count}"
            )
        actual = Digest.from_hasher(self._hasher)
        if actual != self.expected:
            raise DigestMismatch(
                f"{self.what}: digest mismatch: expected {self.expected}, got {actual}"
            )
        return actual
