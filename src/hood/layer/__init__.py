"""Layers: reading and applying tars securely, tar-split, flattening, (de)compression,
and writing a directory back as a layer tar. Import the modules themselves: this package
imports nothing, so `hood run` (which needs only layer.overlay) loads nothing more."""
