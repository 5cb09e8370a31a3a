"""What every image transfer (pull, push, load, copy) shares: the progress it reports, as
docker words it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    """One step of one layer (or of the whole image when `id` is ''): `status` in docker's
    words ("Downloading", "Pull complete", "Pushed", "Mounted from ...", "Loading layer"),
    `id` the layer's 12-hex short digest, `current` of `total` bytes when it moves data."""

    status: str
    id: str = ""
    current: int = 0
    total: int = 0


# Where a transfer sends its ProgressEvents.
EventSink = Callable[[ProgressEvent], None]

