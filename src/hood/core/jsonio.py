"""JSON in and out, for every part of hood.

`loads` and `dumps` run json's C scanner and encoder directly: `import json` pulls in `re`
and `enum`, milliseconds that `hood run` cannot spare, and every answer here is json's own
(a document the scanner does not take goes to `json.loads`, which raises what it raises)."""

from __future__ import annotations

try:
    import _json
except ImportError:  # pragma: no cover - every CPython has it
    _json = None  # type: ignore[assignment]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


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


def dumps(
    obj: Any, separators: tuple[str, str] = (", ", ": "), *, ensure_ascii: bool = True
) -> str:
    """json.dumps(obj, separators=separators, ensure_ascii=...): no indent, keys unsorted."""
    if _json is not None:
        encode = _json.make_encoder(
            {},  # markers: circular references raise ValueError, as json's
            _unserializable,
            _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring,
            None,
            separators[1],
            separators[0],
            False,  # sort_keys
            False,  # skipkeys
            True,  # allow_nan
        )
        return "".join(encode(obj, 0))
    import json  # pragma: no cover

    return json.dumps(obj, separators=separators, ensure_ascii=ensure_ascii)  # pragma: no cover


def load_object(raw: bytes, what: str, error: type[Exception]) -> dict[str, Any]:
    """A JSON object from bytes that came from outside, or `error` naming `what`."""
    try:
        doc = loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise error(f"{what}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise error(f"{what}: not a JSON object")
    return doc
