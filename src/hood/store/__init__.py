"""The data root, laid out exactly as dockerd's overlay2 one; the store owns every byte
under it."""
