"""Stand-ins for stdlib helpers whose imports `hood run` cannot afford.

`json`, `contextlib`, `signal` and `pathlib` each import `re`, `enum`, `functools` and
`collections` (with `urllib.parse`, `ipaddress`, `fnmatch` for pathlib): several
milliseconds of a run that should take twenty. What the run path needs of them is here,
built on the C modules they wrap; every answer is the stdlib's own (a document the fast
decoder does not take goes to `json`, which raises what it raises)."""

from __future__ import annotations

try:
    import _json
except ImportError:  # pragma: no cover - every CPython has it
    _json = None  # type: ignore[assignment]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class suppress:  # noqa: N801 - contextlib.suppress's name and use
    """contextlib.suppress without contextlib."""

    __slots__ = ("_types",)

    def __init__(self, *types: type[BaseException]) -> None:
        self._types = types

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:  # type: ignore[no-untyped-def]
        return exc_type is not None and issubclass(exc_type, self._types)


class _DecodeContext:
    """The attributes json's C scanner reads off a JSONDecoder, with json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_WHITESPACE = " \t\n\r"
_scan = _json.make_scanner(_DecodeContext()) if _json is not None else None


def loads(data: bytes | str) -> Any:
    """json.loads, for the documents hood writes (UTF-8, one value)."""
    if _scan is not None:
        try:
            text = data.decode() if isinstance(data, bytes) else data
            start = len(text) - len(text.lstrip(_WHITESPACE))
            value, end = _scan(text, start)
            if not text[end:].strip(_WHITESPACE) and not text.startswith("\ufeff"):
                return value
        except (StopIteration, ValueError):
            pass
    import json

    return json.loads(data)


def _unserializable(o: object) -> object:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj: Any, separators: tuple[str, str] = (", ", ": ")) -> str:
    """json.dumps(obj, separators=separators): ensure_ascii, no indent, keys unsorted."""
    if _json is not None:
        encode = _json.make_encoder(
            {},  # markers: circular references raise ValueError, as json's
            _unserializable,
            _json.encode_basestring_ascii,
            None,
            separators[1],
            separators[0],
            False,  # sort_keys
            False,  # skipkeys
            True,  # allow_nan
        )
        return "".join(encode(obj, 0))
    import json  # pragma: no cover

    return json.dumps(obj, separators=separators)  # pragma: no cover
