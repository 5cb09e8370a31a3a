"""Layer application: decompression, secure extraction, tar-split, flattening."""

from hood.layer.apply import AppliedLayer, ApplyOptions, apply_layer
from hood.layer.codecs import open_decompressed, sniff_compression
from hood.layer.tarsplit import assemble_tar

__all__ = [
    "AppliedLayer",
    "ApplyOptions",
    "apply_layer",
    "assemble_tar",
    "open_decompressed",
    "sniff_compression",
]
