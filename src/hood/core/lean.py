"""Value classes and `suppress` for the modules `hood run` loads.

`dataclasses` imports `inspect` (and with it `ast`, `dis`, `enum`, `re`, ...) and
`contextlib` imports `collections` and `functools`: together more than `hood run` spends
on everything else before it forks. The core's values and the run path's records are
`Record`s instead: equality, hash (frozen ones) and repr by their `__slots__`, as a
dataclass would give them. Modules off the run path use dataclasses and contextlib."""

from __future__ import annotations


class Record:
    """A plain value: equal by its `__slots__`, shown as `Name(field=value, ...)`."""

    __slots__ = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({inner})"

    __hash__ = None  # type: ignore[assignment]


class Frozen(Record):
    """An immutable Record, hashable by its fields. Subclasses set fields with `_init`."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    __delattr__ = __setattr__  # type: ignore[assignment]

    def __hash__(self) -> int:
        return hash(self._values())

    def _init(self, **values: object) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)


class suppress:  # noqa: N801 - contextlib.suppress's name and use
    """contextlib.suppress."""

    __slots__ = ("_types",)

    def __init__(self, *types: type[BaseException]) -> None:
        self._types = types

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:  # type: ignore[no-untyped-def]
        return exc_type is not None and issubclass(exc_type, self._types)
