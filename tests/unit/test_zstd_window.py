"""zstd layer frames: the window a frame may ask for is capped at zstd's default (128 MiB)."""

from __future__ import annotations

import io
import resource

import pytest
from support.faults import zstd_frame

from hood.core.errors import LayerError
from hood.layer.codecs import MAX_ZSTD_WINDOW, open_decompressed

PAYLOAD = b"layer bytes\n" * 20_000


def _decompress(blob: bytes) -> bytes:
    reader = open_decompressed(io.BytesIO(blob), "zstd")
    try:
        return reader.read()
    finally:
        reader.close()


@pytest.mark.parametrize("window_log", [20, 26, 27])
def test_windows_up_to_128mib_decode(window_log):
    assert _decompress(zstd_frame(PAYLOAD, window_log)) == PAYLOAD


@pytest.mark.parametrize("window_log", [28, 31])
def test_bigger_windows_are_refused_without_allocating_them(window_log):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(LayerError, match="window larger than 128 MiB"):
        _decompress(zstd_frame(PAYLOAD, window_log))
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024, f"{grown_kib} KiB more memory for a refused frame"
    assert MAX_ZSTD_WINDOW == 1 << 27
