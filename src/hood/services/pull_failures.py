"""How a pull that stops short says so: a disk error placed in the layer it hit
(in_layer), and what an interrupted pull kept for the next one (Kept)."""

from __future__ import annotations

from hood.core.digest import Digest
from hood.core.fileio import DiskError, disk_error, is_disk_error


def in_layer(
    exc: BaseException, layer: Digest, path: str, doing: str = "writing"
) -> BaseException:
    """A disk error (raw OSError or DiskError) said to be in `layer`; others unchanged.
    `path` is what a raw OSError that names no file was writing."""
    if isinstance(exc, DiskError):
        return exc if "layer " in exc.where else exc.within(f"layer {layer}")
    if is_disk_error(exc):
        assert isinstance(exc, OSError)
        named = exc.filename2 or exc.filename
        return disk_error(exc, "writing" if named else doing, named or path, f"layer {layer}")
    return exc


class Kept:
    """What an interrupted pull leaves for the next one."""

    def __init__(self, layers: int) -> None:
        self.layers = layers
        self.had = 0  # in the store before this pull
        self.registered = 0  # brought in by this pull
        self.partials = 0
        self.partial_bytes = 0

    def describe(self) -> str:
        from hood.core.timefmt import human_size

        if not self.layers:
            return "pull interrupted before any layer was fetched: nothing to keep"
        stored = self.had + self.registered
        text = f"pull interrupted: {stored} of {self.layers} layers stored"
        if self.partials:
            text += (
                f", {human_size(self.partial_bytes)} of {self.partials} partial "
                f"download{'s' if self.partials > 1 else ''} kept"
            )
        return text + "; the next pull goes on from there"
