"""Content digests: the Digest value type and a stream wrapper that verifies as it reads."""

from __future__ import annotations

import hashlib

from hood.errors import DigestMismatch, HoodError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

_HEX = frozenset("0123456789abcdef")
_HEX_LENGTHS = {"sha256": 64, "sha512": 128}


class InvalidDigest(HoodError):
    """A digest string that is not algorithm:hex of the right length."""


class Digest:
    """A validated `algorithm:hex` digest. Safe to use in paths and URLs once constructed.

    An immutable value: equal, hashed and ordered by (algorithm, hex)."""

    __slots__ = ("algorithm", "hex")
    algorithm: str
    hex: str

    def __init__(self, algorithm: str, hex: str) -> None:  # noqa: A002 - the field's name
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "hex", hex)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    __delattr__ = __setattr__  # type: ignore[assignment]

    def _key(self) -> tuple[str, str]:
        return (self.algorithm, self.hex)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined]

    def __lt__(self, other: Digest) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() < other._key()

    def __le__(self, other: Digest) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() <= other._key()

    def __gt__(self, other: Digest) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() > other._key()

    def __ge__(self, other: Digest) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() >= other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Digest(algorithm={self.algorithm!r}, hex={self.hex!r})"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Digest, self._key())

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
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    @classmethod
    def from_hasher(cls, hasher: hashlib._Hash) -> Digest:
        return cls(hasher.name, hasher.hexdigest())

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)

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


def chain_id(parent: Digest | None, diff_id: Digest) -> Digest:
    """One layer's chain ID: its diff ID for the first layer, else
    sha256(parent chain ID + " " + diff ID)."""
    return diff_id if parent is None else Digest.of_bytes(f"{parent} {diff_id}".encode())


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
        hasher: hashlib._Hash | None = None,
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
